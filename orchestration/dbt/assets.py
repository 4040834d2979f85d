"""dbt models as Dagster assets, split by how they run.

- staging, intermediate and quarantine: rebuilt each run (tables), except the drop channels'
  gates, which judge only new loads (incremental tables; their staging and quarantine are views);
- dimensions, with the snapshots they read: rebuilt each run (`dbt build` takes the type-2
  snapshot before the dimensions read it, in the same invocation: each dbt start costs ~5 s);
- incremental facts: partitioned by day, the window reaching dbt as vars `min_date`/`max_date`;
  a range of days runs as one dbt invocation (single-run backfill policy);
- reporting marts: rebuilt from the facts.
"""

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, dbt_assets

from cirm.settings import Settings
from orchestration.dbt.args import build_args, window_vars
from orchestration.dbt.column_metadata import attach_column_metadata
from orchestration.dbt.project import DBT_EXECUTABLE, CirmDbtCliResource, dbt_project, ensure_manifest
from orchestration.dbt.translator import CirmDbtTranslator
from orchestration.partitions import daily_partitions, explicit_window, single_run_backfill
from orchestration.resources import WAREHOUSE_POOL, CirmSettings

STAGING_SELECT = "path:models/staging path:models/intermediate path:models/quarantine"
SNAPSHOT_SELECT = "resource_type:snapshot"
FACTS_SELECT = "tag:partitioned"
DIMENSIONS_SELECT = "path:models/marts/core"
REPORTING_SELECT = "path:models/marts/reporting"

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# dagster-dbt names each invocation's target folder `<op>-<run id[:7]>-<uuid[:7]>`.
_INVOCATION_FOLDER = re.compile(r"^\w+-[0-9a-f]{7}-[0-9a-f]{7}$")
# About ten runs (four dbt steps each): enough to debug recent runs and for the benchmark, which
# reads a run's results after it ends.
KEPT_INVOCATIONS = 40
MANIFEST = ensure_manifest()
TRANSLATOR = CirmDbtTranslator()


def dbt_environment(settings: Settings) -> None:
    """dbt runs as a subprocess and reads its settings from the environment."""
    os.environ["CIRM_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["CIRM_CITY_TIMEZONE"] = settings.city_timezone
    os.environ["CIRM_HOLIDAY_COUNTRY"] = settings.holiday_country


def _stream(
    dbt: DbtCliResource, context: dg.AssetExecutionContext, settings: Settings, args: list[str]
) -> Iterator[Any]:
    invocation = dbt.cli(args, context=context)
    try:
        yield from _events(invocation, settings.column_metadata_dir)
    finally:
        project_target = dbt_project.project_dir / dbt_project.target_path
        if reusable_parse_state(args):
            keep_partial_parse(invocation.target_path, project_target)
        prune_invocation_folders(project_target)


def reusable_parse_state(args: Sequence[str]) -> bool:
    """Whether the steps after this invocation can start from its parse state.

    dbt keys that state by the invocation's vars: the state of a partition run (`--vars` with the
    day's window, new every day) made the next step, run without vars, parse the whole project
    again (3.0 s of the reporting step at scale M). Kept back, the next step starts from the last
    state made without vars.
    """
    return "--vars" not in args


def keep_partial_parse(invocation_target: Path, project_target: Path) -> None:
    """Hand this invocation's parse state to the next one.

    dagster-dbt seeds each invocation from `target/partial_parse.msgpack`, but dbt discards that
    state when the rendered profile differs, and the profile holds the warehouse path of the data
    folder. Without this every step of a run re-parsed the whole project (~5 s each).
    """
    state = invocation_target / PARTIAL_PARSE_FILE
    if not state.exists():
        return
    staged = project_target / f".{PARTIAL_PARSE_FILE}.{os.getpid()}"
    shutil.copyfile(state, staged)
    os.replace(staged, project_target / PARTIAL_PARSE_FILE)  # atomic for a concurrent reader


def prune_invocation_folders(project_target: Path, keep: int = KEPT_INVOCATIONS) -> list[Path]:
    """Remove all but the newest `keep` invocation folders; returns those removed.

    Each holds a manifest, the compiled SQL and the run results, 2-10 MB: a city running daily
    would otherwise fill its disk. Newest by modification time, so a folder another data folder's
    run is writing right now is among those kept.
    """
    folders: list[tuple[float, Path]] = []
    for path in project_target.iterdir():
        if _INVOCATION_FOLDER.match(path.name):
            with contextlib.suppress(OSError):  # pruned meanwhile by a concurrent step
                folders.append((path.stat().st_mtime, path))
    folders.sort(reverse=True)
    removed = [path for _, path in folders[keep:]]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _events(invocation: DbtCliInvocation, column_metadata_dir: Path) -> Iterator[Any]:
    events = invocation.stream()
    if not column_lineage_enabled():
        yield from events
        return
    # Column schema and column-level lineage (sqlglot over the compiled SQL) for the UI, fetched
    # after the dbt process ends, when the writer lock is free, and reused while a model's inputs
    # stay the same. dbt's in-process adapter changes the working directory: put it back for the
    # steps that follow.
    collected, failure = _drain(events)
    cwd = os.getcwd()
    try:
        yield from attach_column_metadata(invocation, collected, column_metadata_dir)
        if failure is not None:
            raise failure
    finally:
        os.chdir(cwd)
        _release_adapter_connection()


def _drain(events: Iterator[Any]) -> tuple[list[Any], Exception | None]:
    """Every event of a finished dbt process, and the error that ended it, if any.

    The metadata pass needs the warehouse, which dbt's DuckDB holds until the process exits: on
    DuckDB dagster-dbt holds every event until then anyway. (dagster-dbt's own pass also waited
    in a loop with no sleep, `dagster._core.utils.imap`, holding one of the two cores while dbt ran.)
    """
    collected: list[Any] = []
    try:
        collected.extend(events)
    except Exception as exc:  # a failed dbt step: report what it did build, then its error
        return collected, exc
    return collected, None


def column_lineage_enabled() -> bool:
    """CIRM_DBT_COLUMN_LINEAGE (default on): column schema and lineage metadata cost a query per model."""
    return os.environ.get("CIRM_DBT_COLUMN_LINEAGE", "true").lower() not in ("0", "false", "no", "off")


def _release_adapter_connection() -> None:
    """dbt-duckdb caches its database in a class-level environment; close it so that the next step
    (another dbt process, a check, the publish) can open the warehouse."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _full_rebuild_step(name: str, command: str, select: str, exclude: str | None = None) -> dg.AssetsDefinition:
    """One unpartitioned dbt step: the same command over a selection on every run."""

    @dbt_assets(
        manifest=MANIFEST,
        select=select,
        exclude=exclude,
        name=name,
        dagster_dbt_translator=TRANSLATOR,
        project=dbt_project,
        pool=WAREHOUSE_POOL,
    )
    def _step(context: dg.AssetExecutionContext, dbt: DbtCliResource, cirm: CirmSettings) -> Iterator[Any]:
        settings = cirm.load()
        dbt_environment(settings)
        yield from _stream(dbt, context, settings, build_args(command))

    return _step


dbt_staging = _full_rebuild_step("dbt_staging", "build", STAGING_SELECT)
dbt_dimensions = _full_rebuild_step(
    "dbt_dimensions", "build", f"{DIMENSIONS_SELECT} {SNAPSHOT_SELECT}", exclude=FACTS_SELECT
)


@dbt_assets(
    manifest=MANIFEST,
    select=FACTS_SELECT,
    name="dbt_incremental_facts",
    partitions_def=daily_partitions,
    backfill_policy=single_run_backfill,
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
)
def dbt_incremental_facts(context: dg.AssetExecutionContext, dbt: DbtCliResource, cirm: CirmSettings) -> Iterator[Any]:
    settings = cirm.load()
    dbt_environment(settings)
    window = explicit_window(context)
    dbt_vars = window_vars(*window, full=False) if window else {}
    context.log.info(f"incremental window: {dbt_vars or 'everything changed since the last build'}")
    yield from _stream(dbt, context, settings, build_args("build", extra_vars=dbt_vars))


dbt_reporting = _full_rebuild_step("dbt_reporting", "build", REPORTING_SELECT)

dbt_asset_defs = [dbt_staging, dbt_dimensions, dbt_incremental_facts, dbt_reporting]
dbt_resource = CirmDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
