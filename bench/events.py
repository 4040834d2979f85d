"""What a pipeline run did and when: its steps from the Dagster event log, its dbt nodes from dbt's
run results. Dagster is reached only through orchestration.runner, which owns the instance."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cirm.dbt_paths import DBT_PROJECT_DIR
from cirm.settings import load_settings

_RUN_START = {"RUN_START", "PIPELINE_START"}
_RUN_END = {"RUN_SUCCESS", "PIPELINE_SUCCESS", "RUN_FAILURE", "PIPELINE_FAILURE"}


@dataclass
class StepRecord:
    key: str
    start: float  # epoch seconds
    end: float
    status: str  # success | failure
    asset_keys: list[tuple[str, ...]] = field(default_factory=list)  # materialized in this step
    check_assets: list[tuple[str, ...]] = field(default_factory=list)  # one entry per check evaluation

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class RunEvents:
    run_id: str
    status: str
    run_start: float
    run_end: float
    steps: list[StepRecord]
    check_evaluations: int

    @property
    def run_wall_s(self) -> float:
        return self.run_end - self.run_start

    @property
    def step_seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def step_union_s(self) -> float:
        """Wall time inside at least one step: equals step_seconds when steps never overlap (in
        process), and does not double-count when a multiprocess run overlaps two."""
        total, reach = 0.0, float("-inf")
        for step in sorted(self.steps, key=lambda s: s.start):
            if step.end > reach:
                total += step.end - max(step.start, reach)
                reach = step.end
        return total


@dataclass(frozen=True)
class DbtNode:
    unique_id: str
    step: str  # the Dagster step (dbt invocation) that ran it
    start: float
    end: float

    @property
    def kind(self) -> str:
        return self.unique_id.split(".", 1)[0]  # model | snapshot | test | seed


@contextlib.contextmanager
def _instance(data_dir: Path, dagster_home: Path) -> Iterator[object]:
    """The bench's own instance, whatever DAGSTER_HOME this process was started with."""
    from orchestration.runner import dagster_instance

    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "CIRM_DATA_DIR")}
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["CIRM_DATA_DIR"] = str(data_dir)
    instance = dagster_instance(load_settings())
    try:
        yield instance
    finally:
        instance.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def find_run_id(data_dir: Path, dagster_home: Path, tag: tuple[str, str] | None = None) -> str | None:
    """The newest run of the instance (carrying `tag` when given); newest first is the storage's order."""
    with _instance(data_dir, dagster_home) as instance:
        for run in instance.get_runs(limit=100):  # type: ignore[attr-defined]
            if tag is None or run.tags.get(tag[0]) == tag[1]:
                return run.run_id
    return None


def read_run_events(data_dir: Path, dagster_home: Path, run_id: str) -> RunEvents:
    """Step windows, materialized assets and check evaluations of one run, from its event log."""
    with _instance(data_dir, dagster_home) as instance:
        entries = []
        cursor = None
        while True:
            conn = instance.get_records_for_run(run_id, cursor=cursor, limit=5000)  # type: ignore[attr-defined]
            entries += [r.event_log_entry for r in conn.records]
            cursor = conn.cursor
            if not conn.has_more:
                break
        run = instance.get_run_by_id(run_id)  # type: ignore[attr-defined]
        status = run.status.value if run is not None else "UNKNOWN"
    steps: dict[str, StepRecord] = {}
    run_start = run_end = None
    checks = 0
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind in _RUN_START:
            run_start = entry.timestamp
        elif kind in _RUN_END:
            run_end = entry.timestamp
        elif kind == "STEP_START":
            steps[entry.step_key] = StepRecord(entry.step_key, entry.timestamp, entry.timestamp, "started")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in steps:
            steps[entry.step_key].end = entry.timestamp
            steps[entry.step_key].status = "success" if kind == "STEP_SUCCESS" else "failure"
        elif kind == "ASSET_MATERIALIZATION" and entry.step_key in steps:
            steps[entry.step_key].asset_keys.append(tuple(event.asset_key.path))
        elif kind == "ASSET_CHECK_EVALUATION":
            checks += 1
            if entry.step_key in steps:
                steps[entry.step_key].check_assets.append(tuple(event.event_specific_data.asset_key.path))
    if run_start is None or run_end is None:
        raise ValueError(f"run {run_id} has no start or end event: is it finished?")
    ordered = sorted(steps.values(), key=lambda s: s.start)
    return RunEvents(run_id, status, run_start, run_end, ordered, checks)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def dbt_nodes(run_id: str, project_dir: Path = DBT_PROJECT_DIR) -> tuple[list[DbtNode], dict[str, float]]:
    """Every dbt node the run executed, with its window, and dbt's own elapsed time per invocation.

    dagster-dbt gives each invocation its own target folder, `<op>-<run id[:7]>-<uuid>`, holding
    run_results.json with per-node compile and execute timestamps.
    """
    target = Path(os.environ.get("DBT_TARGET_PATH") or project_dir / "target")
    if not target.is_absolute():
        target = project_dir / target
    nodes: list[DbtNode] = []
    elapsed: dict[str, float] = {}
    for results in sorted(target.glob(f"*-{run_id[:7]}-*/run_results.json")):
        step = results.parent.name.rsplit("-", 2)[0]
        data = json.loads(results.read_text())
        elapsed[step] = elapsed.get(step, 0.0) + float(data.get("elapsed_time") or 0.0)
        for result in data.get("results", []):
            timing = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
            if timing:
                start = min(_epoch(t["started_at"]) for t in timing)
                end = max(_epoch(t["completed_at"]) for t in timing)
                nodes.append(DbtNode(result["unique_id"], step, start, end))
    return nodes, elapsed
