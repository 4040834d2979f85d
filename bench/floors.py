"""Floors: the same work done the most direct way, on the same data, on the same machine.

- Transform floor: dbt's compiled SQL of every model (and the snapshot's first run as a plain
  table), executed in dependency order in one DuckDB connection over a copy of the raw schema.
- Ingest floor: each case-system table read whole into Arrow with connectorx and created in a
  fresh DuckDB file; each channel's drop files read by DuckDB (every column text) and inserted.

Only the execution is timed; copying raw and compiling the project are preparation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from bench.monitor import self_cpu_s
from bench.rows import drop_reader
from cirm.dbt_paths import DBT_EXECUTABLE, DBT_PROJECT_DIR
from cirm.errors import CirmError
from cirm.pseudonym import install_pseudonym_key
from cirm.settings import Settings
from ingest.case_system import read_arrow
from ingest.drops import channel_files
from ingest.warehouse import layer_row_counts, quote_ident
from simulator.drops import DROP_CHANNELS, DROP_TABLES
from simulator.schema import CASE_SYSTEM_TABLES

# dbt writes compiled SQL with this catalog name: the floor file must carry it too.
FLOOR_DATABASE = "warehouse"
_COPIED_SCHEMAS = ("raw", "meta")
_EXECUTED = {"table": "TABLE", "incremental": "TABLE", "view": "VIEW", "snapshot": "TABLE"}


@dataclass
class FloorResult:
    wall_s: float
    cpu_s: float
    rows: dict[str, dict[str, int]]  # schema -> table -> rows, what the floor built
    detail: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "rows": sum(sum(t.values()) for t in self.rows.values()),
            **self.detail,
        }


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def ingest_floor(source_url: str, drops_dir: Path, work_dir: Path) -> FloorResult:
    """Source tables and drop files into a fresh DuckDB file, the fastest straightforward way."""
    database = _fresh(work_dir) / "ingest.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA raw")
    started, cpu = time.perf_counter(), self_cpu_s()
    for table in CASE_SYSTEM_TABLES:
        con.register("batch", read_arrow(source_url, f"SELECT * FROM {quote_ident(table)}"))
        con.execute(f"CREATE TABLE raw.{quote_ident(table)} AS SELECT * FROM batch")
        con.unregister("batch")
    for channel, table in DROP_TABLES.items():
        files = channel_files(drops_dir, channel)
        if files:
            con.execute(f"CREATE TABLE raw.{quote_ident(table)} AS SELECT * FROM {drop_reader(channel, files)}")
    con.execute("CHECKPOINT")
    wall, cpu = time.perf_counter() - started, self_cpu_s() - cpu
    rows = layer_row_counts(con)
    con.close()
    return FloorResult(wall, cpu, rows, {"tables": len(CASE_SYSTEM_TABLES) + len(DROP_CHANNELS)})


def copy_schemas(warehouse: Path, target: Path, schemas: tuple[str, ...] = _COPIED_SCHEMAS) -> None:
    """Copy `schemas` of the warehouse (read-only) into a new DuckDB file at `target`."""
    con = duckdb.connect(str(target))
    con.execute(f"ATTACH '{warehouse}' AS source (READ_ONLY)")
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = 'source' AND table_type = 'BASE TABLE' AND list_contains(?, table_schema)",
        [list(schemas)],
    ).fetchall()
    for schema in {s for s, _ in tables}:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    for schema, table in tables:
        name = f"{quote_ident(schema)}.{quote_ident(table)}"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM source.{name}")
    con.execute("DETACH source")
    con.close()


def compile_project(warehouse: Path, target_dir: Path, settings: Settings) -> dict:
    """`dbt compile` of models and snapshots against `warehouse`; returns the manifest.

    Against a warehouse holding only raw, every incremental model compiles to its first (full) build,
    which is what the pipeline's full run executes. Target and logs stay out of the project's own
    target folder, which the Dagster code location reads.
    """
    env = {
        **os.environ,
        # The profile's plugin loads the settings again in dbt's process: same city, same key rules.
        "CIRM_DATA_DIR": str(settings.data_dir),
        "CIRM_DEMO_MODE": "true" if settings.demo_mode else "false",
        "CIRM_WAREHOUSE_PATH": str(warehouse),
        "CIRM_CITY_TIMEZONE": settings.city_timezone,
        "CIRM_HOLIDAY_COUNTRY": settings.holiday_country,
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(target_dir / "logs"),
    }
    argv = [DBT_EXECUTABLE, "compile", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)]
    argv += ["--select", "resource_type:model resource_type:snapshot"]
    done = subprocess.run(argv, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CirmError(f"dbt compile for the transform floor failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads((target_dir / "manifest.json").read_text())


def execution_plan(manifest: dict) -> list[dict]:
    """Models (ephemerals are inlined by dbt) and snapshots in dependency order, ties by name."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "snapshot") and node["config"].get("materialized") in _EXECUTED
    }
    waiting = {uid: {d for d in nodes[uid]["depends_on"]["nodes"] if d in nodes} for uid in nodes}
    ordered: list[dict] = []
    while waiting:
        ready = sorted(uid for uid, deps in waiting.items() if not deps)
        if not ready:
            raise CirmError(f"dbt models depend on each other in a cycle: {sorted(waiting)}")
        for uid in ready:
            ordered.append(nodes[uid])
            del waiting[uid]
        for deps in waiting.values():
            deps.difference_update(ready)
    return ordered


def node_sql(node: dict) -> str:
    """The statement that builds one node as its first run would."""
    code = node["compiled_code"]
    kind = _EXECUTED[node["config"]["materialized"]]
    relation = node["relation_name"]
    if node["resource_type"] != "snapshot":
        return f"CREATE OR REPLACE {kind} {relation} AS (\n{code}\n)"
    # A snapshot's first run is its query plus the validity columns, every row current.
    config = node["config"]
    key = quote_ident(config["unique_key"])
    valid_from = quote_ident(config["updated_at"]) if config.get("updated_at") else "now()::TIMESTAMP"
    return (
        f"CREATE OR REPLACE TABLE {relation} AS SELECT *, "
        f"md5(coalesce(CAST({key} AS VARCHAR), '') || '|' || coalesce(CAST({valid_from} AS VARCHAR), '')) "
        f"AS dbt_scd_id, {valid_from} AS dbt_updated_at, {valid_from} AS dbt_valid_from, "
        f"CAST(NULL AS TIMESTAMP) AS dbt_valid_to FROM (\n{code}\n) AS snapshot_query"
    )


def transform_floor(warehouse: Path, work_dir: Path, settings: Settings) -> FloorResult:
    """Every model's compiled SQL over a copy of the warehouse's raw schema, in one connection."""
    floor = _fresh(work_dir) / f"{FLOOR_DATABASE}.duckdb"
    prepared = time.perf_counter()
    copy_schemas(warehouse, floor)
    manifest = compile_project(floor, work_dir / "target", settings)
    plan = execution_plan(manifest)
    statements = [node_sql(node) for node in plan]
    schemas = sorted({node["schema"] for node in plan})
    prepare_s = time.perf_counter() - prepared

    con = duckdb.connect(str(floor))
    install_pseudonym_key(con, settings.pseudonym_secret)
    for schema in schemas:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    started, cpu = time.perf_counter(), self_cpu_s()
    for statement in statements:
        con.execute(statement)
    con.execute("CHECKPOINT")
    wall, cpu = time.perf_counter() - started, self_cpu_s() - cpu
    rows = {schema: tables for schema, tables in layer_row_counts(con).items() if schema in schemas}
    con.close()
    return FloorResult(wall, cpu, rows, {"nodes": len(plan), "prepare_s": round(prepare_s, 1)})
