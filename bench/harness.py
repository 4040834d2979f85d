"""One benchmark scale end to end: simulate a city, run the pipeline, floors, one more day.

Every measured command runs as its own process (`cirm simulate`, `cirm run`), so its CPU time and
memory cover everything it does, dbt's subprocesses included, and nothing of the harness. Stage
boundaries come from the run's Dagster event log (see bench.stages).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import results as res
from bench.events import RunEvents, dbt_nodes, find_run_id, read_run_events
from bench.floors import ingest_floor, transform_floor
from bench.monitor import Measured, run_monitored
from bench.rows import database_rows, load_rows, source_rows, stage_rows
from bench.stages import PIPELINE_STAGES, STAGES, Window, stage_metrics, stage_windows, whole_process
from cirm.errors import CirmError
from cirm.settings import DEMO_MARKER, Settings, load_settings

SEED = 42
MARKER = ".cirm-bench"  # the harness only ever wipes a folder it created
PIPELINE_JOB = "cirm_pipeline"
_INSTANCE_TEMPLATE = res.REPO_DIR / "orchestration" / "instance" / "dagster.yaml"
_RUN_LINE = re.compile(r"^run ([0-9a-f-]{36}) (succeeded|FAILED)", re.MULTILINE)
# Steps of the ingest stage that have no counterpart in the ingest floor (the calendar is generated).
_NOT_IN_INGEST_FLOOR = {"raw__public_holidays"}
_ENV_DROPPED = ("CIRM_SOURCE_URL", "CIRM_DAGSTER_PG_URL", "CIRM_WAREHOUSE_PATH", "DBT_TARGET_PATH", "CIRM_EXECUTOR")


@dataclass(frozen=True)
class Scale:
    name: str
    citizens: int
    days: int
    hidden: bool = False  # smoke-test size: never written into latest.json


SCALES = {
    "XS": Scale("XS", 2_000, 60, hidden=True),
    "S": Scale("S", 20_000, 365),
    "M": Scale("M", 200_000, 730),
    "L": Scale("L", 1_000_000, 1_095),
}


def default_data_dir(scale: str, settings: Settings | None = None) -> Path:
    return (settings or load_settings()).data_dir / "bench" / scale


def prepare_data_dir(path: Path) -> Path:
    """An empty folder for one benchmark; refuses to wipe anything the harness did not create."""
    path = path.expanduser().resolve()
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise CirmError(f"{path} is not empty and not a benchmark folder; choose another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("created by the cirm benchmark harness; deleted and rebuilt by each run\n")
    return path


def bench_env(data_dir: Path, executor: str | None = None) -> dict[str, str]:
    """The environment of every measured command: this data folder, its own Dagster instance, the
    local SQLite source, and otherwise the caller's settings (column lineage, secrets, time zone)."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(_INSTANCE_TEMPLATE, home / "dagster.yaml")
    env.update(CIRM_DATA_DIR=str(data_dir), DAGSTER_HOME=str(home), PYTHONUNBUFFERED="1")
    if executor:
        env["CIRM_EXECUTOR"] = executor
    return env


def _cirm(*args: object) -> list[str]:
    return [sys.executable, "-m", "cirm.cli", *(str(a) for a in args)]


def _check(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        raise CirmError(f"{what} exited with status {measured.returncode}; its output: {measured.log_path}")


def _run_id(measured: Measured) -> str:
    match = _RUN_LINE.search(measured.log_path.read_text()) if measured.log_path else None
    if match is None:
        raise CirmError(f"no run id in the output of {' '.join(measured.argv)}: {measured.log_path}")
    return match.group(1)


@dataclass
class PipelineRun:
    measured: Measured
    events: RunEvents
    windows: list[Window]
    stages: dict[str, dict[str, float]]
    dbt_elapsed: dict[str, float]

    def stage_wall(self, stage: str, exclude_steps: set[str] | frozenset[str] = frozenset()) -> float:
        return sum(w.seconds for w in self.windows if w.stage == stage and w.step not in exclude_steps)

    def summary(self) -> dict:
        m = self.measured
        in_stages = sum(s["wall_s"] for s in self.stages.values())
        return {
            "run_id": self.events.run_id,
            "process_wall_s": round(m.wall_s, 3),
            "run_wall_s": round(self.events.run_wall_s, 3),
            "cpu_s": round(m.cpu_s, 3),
            "peak_rss_mb": round(m.peak_rss_mb, 1),
            "max_process_rss_mb": round(m.max_process_rss_mb, 1),
            "other_cpu_s": round(m.other_cpu_s, 1),
            "unattributed_s": round(m.wall_s - in_stages, 3),
            "dbt_elapsed_s": {k: round(v, 3) for k, v in self.dbt_elapsed.items()},
            "steps": len(self.events.steps),
        }


def pipeline_run(data_dir: Path, env: dict[str, str], label: str) -> PipelineRun:
    """`cirm run` as a monitored process, then its stages from the event log and dbt's run results."""
    measured = run_monitored(_cirm("run", "--no-counts"), env=env, log_path=data_dir / "logs" / f"bench-{label}.log")
    _check(measured, f"cirm run ({label})")
    run_id = _run_id(measured)
    events = read_run_events(data_dir, Path(env["DAGSTER_HOME"]), run_id)
    nodes, elapsed = dbt_nodes(run_id)
    windows = stage_windows(events, nodes)
    stages = stage_metrics(windows, measured)
    for stage in PIPELINE_STAGES:
        stages.setdefault(stage, {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0, "steps": 0})
    return PipelineRun(measured, events, windows, stages, elapsed)


def _copy_source(data_dir: Path, target: Path) -> None:
    """The freshly simulated city (source, drops, truth), for a second full run on identical input."""
    prepare_data_dir(target)
    shutil.copy2(data_dir / "operational.db", target / "operational.db")
    if (data_dir / DEMO_MARKER).exists():
        shutil.copy2(data_dir / DEMO_MARKER, target / DEMO_MARKER)
    for folder in ("drops", "truth"):
        if (data_dir / folder).exists():
            shutil.copytree(data_dir / folder, target / folder)


def run_scale(
    scale_name: str,
    *,
    data_dir: Path | None = None,
    floors: bool = True,
    orchestration: bool | None = None,
    results_path: Path = res.LATEST,
    readme: Path = res.README,
    echo: Callable[[str], None] = print,
) -> dict:
    """Benchmark one scale and, for S/M/L, merge the result into `results_path` and the README."""
    if scale_name not in SCALES:
        raise CirmError(f"unknown scale {scale_name!r}; choose one of {', '.join(res.PUBLIC_SCALES)}")
    scale = SCALES[scale_name]
    orchestration = scale.name == "S" if orchestration is None else orchestration
    data_dir = prepare_data_dir(data_dir or default_data_dir(scale.name))
    env = bench_env(data_dir)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    started_at = res.now_utc()
    # The code being measured is what is on disk when the commands start: record HEAD now.
    commit = res.git_commit()
    load_before = _loadavg()
    echo(f"{scale.name}: {scale.citizens:,} citizens × {scale.days} days in {data_dir}")

    echo(f"{scale.name}: simulate")
    sim = run_monitored(
        _cirm("simulate", "--citizens", scale.citizens, "--days", scale.days, "--seed", SEED),
        env=env,
        log_path=logs / "bench-simulate.log",
    )
    _check(sim, "cirm simulate")
    settings = load_settings(env)  # after simulate: the folder is a demo city now (DEMO_MARKER)
    if orchestration:
        for executor in ("in_process", "multiprocess"):
            _copy_source(data_dir, data_dir / "orchestration" / executor)

    echo(f"{scale.name}: full pipeline run (cirm run)")
    full = pipeline_run(data_dir, env, "full")
    echo(f"{scale.name}: full run {full.measured.wall_s:.1f}s; counting rows")
    source = source_rows(settings.source_url, settings.drops_dir)
    warehouse = database_rows(settings.warehouse_path)
    serving = database_rows(settings.serving_path)
    checked = [key for step in full.events.steps for key in step.check_assets]
    rows = stage_rows(source, warehouse, serving, checked, full.events.check_evaluations)
    stages = {"simulate": whole_process(sim), **full.stages}
    stages = {name: {**stages.get(name, {}), **rows[name]} for name in STAGES}

    result: dict = {
        "citizens": scale.citizens,
        "days": scale.days,
        "seed": SEED,
        "measured_at": started_at,
        "commit": commit,
        "machine": res.machine_info(),
        "load_average": {"before": load_before},
        "settings": {
            "executor": "in_process (cirm run)",
            "CIRM_DBT_COLUMN_LINEAGE": env.get("CIRM_DBT_COLUMN_LINEAGE", "true"),
        },
        "stages": stages,
        "full_wall_s": round(full.measured.wall_s, 3),
        "full_cpu_s": round(full.measured.cpu_s, 3),
        "full_peak_rss_mb": round(full.measured.peak_rss_mb, 1),
        "unattributed_s": full.summary()["unattributed_s"],
        "full_run": full.summary(),
        "source_rows": source,
    }

    if floors:
        echo(f"{scale.name}: floors")
        result["floors"], result["ratios"] = _floors(full, settings, data_dir / "floors")

    echo(f"{scale.name}: one more day (cirm simulate --continue --days 1), then the daily run")
    more = run_monitored(_cirm("simulate", "--continue", "--days", 1), env=env, log_path=logs / "bench-continue.log")
    _check(more, "cirm simulate --continue")
    daily = pipeline_run(data_dir, env, "incremental")
    result["incremental_wall_s"] = round(daily.measured.wall_s, 3)
    result["incremental"] = {
        "simulate_wall_s": round(more.wall_s, 3),
        **daily.summary(),
        "stages": daily.stages,
        "rows": load_rows(settings.warehouse_path, daily.events.run_id),
    }
    result["load_average"]["after"] = _loadavg()
    if res.git_commit() != commit:
        result["commit_at_end"] = res.git_commit()  # someone committed or edited meanwhile

    orchestration_result = None
    if orchestration:
        echo(f"{scale.name}: orchestration overhead, in-process vs multiprocess executor")
        orchestration_result = measure_orchestration(scale.name, data_dir / "orchestration", echo)
        result["orchestration"] = orchestration_result

    (data_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    if not scale.hidden:
        merged = res.merge(res.load(results_path), scale.name, result, orchestration=orchestration_result)
        res.save(merged, results_path)
        res.render_readme(merged, readme)
        echo(f"{scale.name}: results merged into {results_path} and {readme}")
    else:
        echo(f"{scale.name}: smoke-test scale, results only in {data_dir / 'result.json'}")
    return result


def _floors(full: PipelineRun, settings: Settings, work_dir: Path) -> tuple[dict, dict]:
    """Both floors after the full load (the source and raw are exactly what the run loaded), as
    ratios of the matching pipeline time."""
    ingest = ingest_floor(settings.source_url, settings.drops_dir, work_dir / "ingest")
    transform = transform_floor(settings.warehouse_path, work_dir / "transform", settings)
    # The floors' databases are as large as raw plus every layer: at L they would need tens of GB
    # more disk, and only their timings matter.
    shutil.rmtree(work_dir, ignore_errors=True)
    pipeline_ingest = full.stage_wall("ingest", _NOT_IN_INGEST_FLOOR)
    pipeline_transform = full.stage_wall("transform")
    floors = {
        "ingest": {**ingest.as_dict(), "pipeline_wall_s": round(pipeline_ingest, 3)},
        "transform": {**transform.as_dict(), "pipeline_wall_s": round(pipeline_transform, 3)},
    }
    ratios = {
        "transform": round(pipeline_transform / transform.wall_s, 3),
        "ingest": round(pipeline_ingest / ingest.wall_s, 3),
    }
    return floors, ratios


def _today_partition() -> str:
    # The pipeline's daily partitions are UTC days and today's is the catch-up partition.
    return datetime.now(UTC).date().isoformat()


def measure_orchestration(scale: str, work_dir: Path, echo: Callable[[str], None] = print) -> dict:
    """The same full run under each executor (via `dagster job execute`, which honours the code
    location's executor, unlike execute_in_process); overhead = run wall − time inside steps."""
    out: dict = {"scale": scale, "measured_at": res.now_utc(), "commit": res.git_commit()}
    for executor in ("in_process", "multiprocess"):
        data_dir = work_dir / executor
        env = bench_env(data_dir, executor)
        token = uuid.uuid4().hex
        today = _today_partition()
        tags = {
            "dagster/asset_partition_range_start": today,
            "dagster/asset_partition_range_end": today,
            "cirm/bench": token,
        }
        argv = [sys.executable, "-m", "dagster", "job", "execute", "-m", "orchestration.definitions"]
        argv += ["-j", PIPELINE_JOB, "--tags", json.dumps(tags)]
        measured = run_monitored(argv, env=env, cwd=res.REPO_DIR, log_path=data_dir / f"bench-{executor}.log")
        run_id = find_run_id(data_dir, Path(env["DAGSTER_HOME"]), ("cirm/bench", token))
        if run_id is None:
            raise CirmError(f"the {executor} run left no run in its instance; output: {measured.log_path}")
        events = read_run_events(data_dir, Path(env["DAGSTER_HOME"]), run_id)
        steps = len(events.steps)
        overhead = events.run_wall_s - events.step_union_s
        out[executor] = {
            "run_id": run_id,
            "status": events.status,
            "process_wall_s": round(measured.wall_s, 3),
            "run_wall_s": round(events.run_wall_s, 3),
            "step_s": round(events.step_union_s, 3),
            "step_sum_s": round(events.step_seconds, 3),
            "overhead_s": round(overhead, 3),
            "overhead_per_step_s": round(overhead / steps, 3) if steps else None,
            "steps": steps,
            "cpu_s": round(measured.cpu_s, 3),
            "peak_rss_mb": round(measured.peak_rss_mb, 1),
        }
        echo(
            f"  {executor}: run {events.run_wall_s:.1f}s, in steps {events.step_union_s:.1f}s, "
            f"overhead {overhead:.1f}s ({events.status})"
        )
    out["conclusion"] = _orchestration_conclusion(out)
    return out


def _orchestration_conclusion(out: dict) -> str:
    a, b = out.get("in_process", {}), out.get("multiprocess", {})
    if not a or not b:
        return ""
    faster = "in_process" if a["run_wall_s"] <= b["run_wall_s"] else "multiprocess"
    measured = (
        f"The {faster} executor finished the same run faster ({a['run_wall_s']:.0f} s in-process, "
        f"{b['run_wall_s']:.0f} s multiprocess; overhead {a['overhead_s']:.0f} s vs {b['overhead_s']:.0f} s)."
    )
    if faster == "in_process":
        return (
            f"{measured} Warehouse steps are serialized by the duckdb_warehouse pool either way, so a process "
            "per step buys no parallelism, only start-up cost: the default executor stays in_process."
        )
    return f"{measured} This contradicts the in_process default: re-measure, then consider CIRM_EXECUTOR."


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
