"""Headless runs for `cirm run`: execute the pipeline job in process and report progress.

The job runs in a worker thread; this thread follows the run's event log and prints each step as
it starts and ends, so a long run is never silent.
"""

import contextlib
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.instance.ref import InstanceRef
from dagster._core.utils import make_new_run_id

from cirm.locking import data_folder_lock
from cirm.settings import Settings

RUNNER_TAG = "cirm/runner"
INSTANCE_TEMPLATES = Path(__file__).with_name("instance")
_STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


@dataclass
class RunReport:
    run_id: str
    success: bool
    seconds: float
    steps_total: int
    steps_succeeded: list[str] = field(default_factory=list)
    steps_failed: dict[str, str] = field(default_factory=dict)
    steps_skipped: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)
    log_path: Path | None = None


# `cirm run` keeps the run's output in logs/run-<id>.log. Dagster's own capture of it mirrors the
# file through `tail -F` subprocesses that a run can leave behind: in CI, orphaned tails of finished
# runs held the callers' stderr pipes open, and tests waiting for the output hung.
_NO_COMPUTE_LOGS = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


def dagster_instance(settings: Settings, *, compute_logs: bool = True) -> dg.DagsterInstance:
    """The persistent instance under DAGSTER_HOME (default: <data>/dagster_home), shared with the UI.

    `compute_logs=False` is the same instance without Dagster's capture of step output (`cirm run`)."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    pg_url = os.environ.get("CIRM_DAGSTER_PG_URL")
    if pg_url:
        # dagster-postgres binds NOTIFY payloads client-side, which only psycopg2 does; SQLAlchemy 2.1
        # maps a bare postgresql:// to psycopg 3, so name the driver.
        os.environ["CIRM_DAGSTER_PG_URL"] = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", pg_url)
    if not config.exists():
        template = "dagster.postgres.yaml" if pg_url else "dagster.yaml"
        shutil.copyfile(INSTANCE_TEMPLATES / template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    if compute_logs:
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=_NO_COMPUTE_LOGS))


def release_stale_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs this runner started whose process died (killed, crashed) still look "started" (or, killed
    between creating the run and starting it, "not started") and may hold pool slots; with the lock
    held none of them can be alive, so mark them failed and free their slots."""
    unfinished = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    stale = instance.get_runs(filters=dg.RunsFilter(statuses=unfinished, tags={RUNNER_TAG: "cli"}))
    for run in stale:
        instance.report_run_failed(run, message="the process running it stopped before it finished")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in stale]


def _failure_message(event: dg.EventLogEntry) -> str:
    data = event.dagster_event.step_failure_data if event.dagster_event else None
    if data is None or data.error is None:
        return "failed"
    error = data.error
    # The user-facing cause is the innermost error: Dagster wraps it in its own step error.
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_pipeline(
    settings: Settings,
    *,
    job_name: str | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunReport:
    """Run a job in process, one run per data folder at a time (the lock also covers creating the
    instance's storage, which two first runs would otherwise race to create)."""
    console = sys.stdout
    if echo is None:

        def echo(line: str) -> None:
            console.write(line + "\n")
            console.flush()

    settings.pseudonym_secret  # noqa: B018 - refuse the public development key before any work starts
    # Assets read their settings again; pin the data folder so a relative default cannot drift.
    os.environ["CIRM_DATA_DIR"] = str(settings.data_dir)
    with data_folder_lock(settings.data_dir, echo):
        return _run_locked(settings, job_name, asset_selection, tags, echo)


def _run_locked(
    settings: Settings,
    job_name: str | None,
    asset_selection: list[dg.AssetKey] | None,
    tags: dict[str, str] | None,
    echo: Callable[[str], None],
) -> RunReport:
    import quality
    from orchestration.definitions import PIPELINE_JOB, defs
    from orchestration.partitions import daily_partitions
    from orchestration.serving import REPORT_STEP

    instance = dagster_instance(settings, compute_logs=False)
    job = defs.resolve_job_def(job_name or PIPELINE_JOB)
    run_id = make_new_run_id()
    # A selection runs its assets' checks too: count the steps of the subset, not the assets.
    planned = job if asset_selection is None else job.get_subset(asset_selection=set(asset_selection))
    steps_total = len(planned.graph.nodes)
    outcome: dict[str, object] = {}
    if tags is None:
        # Today's partition is the catch-up partition: its incremental models process whatever
        # changed since they last ran (see orchestration.dbt.assets).
        today = daily_partitions.get_last_partition_key()
        tags = {"dagster/asset_partition_range_start": today, "dagster/asset_partition_range_end": today}

    def work() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                asset_selection=asset_selection,
                tags=tags,
                # The console stays ours: progress lines here, full logs in the Dagster UI.
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
        except BaseException as exc:  # surfaced below; the thread must not die silently
            outcome["error"] = exc

    # dbt's console output goes to the run's log file; this console shows progress lines only.
    tags = {**tags, RUNNER_TAG: "cli"}
    log_path = settings.data_dir / "logs" / f"run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report = RunReport(run_id, False, 0.0, steps_total, log_path=log_path)
    with (
        open(log_path, "w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),  # library warnings: without Dagster's capture they reached the console
        _library_logs_to(log),
    ):
        for stale in release_stale_runs(instance):
            echo(f"marked run {stale} failed: its process had stopped")
        worker = threading.Thread(target=work, name="cirm-run", daemon=True)
        worker.start()
        _follow_until_done(worker, instance, run_id, started, report, echo)
    report.seconds = time.monotonic() - started
    # Dagster emits no event for a step it never starts because something upstream failed (or a
    # blocking check did): list those here, so the summary accounts for every step.
    started_steps = {*report.steps_succeeded, *report.steps_failed, *report.steps_skipped}
    for node in planned.graph.nodes:
        if node.name not in started_steps:
            report.steps_skipped.append(node.name)
    if REPORT_STEP not in report.steps_succeeded and settings.quality_docs_dir.exists():
        # The report step builds the Data Docs index; a run that stopped short of it still ran
        # checks whose pages the index must list.
        quality.build_docs_index(settings.quality_docs_dir)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    result = outcome["result"]
    report.success = bool(result.success) and not report.steps_failed  # type: ignore[attr-defined]
    return report


@contextlib.contextmanager
def _library_logs_to(stream: TextIO) -> Iterator[None]:
    """Python log records of the libraries (dagster-dbt's notices about column lineage it cannot
    build, with tracebacks) go to the run's log file. With no handler configured, Python prints
    warnings on stderr: the console would show tracebacks for what is no fault of the data."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _follow_until_done(
    worker: threading.Thread,
    instance: dg.DagsterInstance,
    run_id: str,
    started: float,
    report: RunReport,
    echo: Callable[[str], None],
) -> None:
    steps_total = report.steps_total
    cursor = None
    done = 0

    def follow() -> None:
        nonlocal cursor, done
        conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=_STEP_EVENTS)
        cursor = conn.cursor
        for record in conn.records:
            entry = record.event_log_entry
            ev = entry.dagster_event
            step = entry.step_key or "?"
            elapsed = time.monotonic() - started
            if ev.event_type == DagsterEventType.STEP_START:
                echo(f"[{done}/{steps_total}] {elapsed:6.1f}s  running {step}")
            elif ev.event_type == DagsterEventType.STEP_SUCCESS:
                done += 1
                report.steps_succeeded.append(step)
                echo(f"[{done}/{steps_total}] {elapsed:6.1f}s  done    {step}")
            elif ev.event_type == DagsterEventType.STEP_FAILURE:
                done += 1
                report.steps_failed[step] = _failure_message(entry)
                echo(f"[{done}/{steps_total}] {elapsed:6.1f}s  FAILED  {step}: {report.steps_failed[step]}")
            elif ev.event_type == DagsterEventType.STEP_SKIPPED:
                done += 1
                report.steps_skipped.append(step)
                echo(f"[{done}/{steps_total}] {elapsed:6.1f}s  skipped {step} (an upstream step failed)")
            elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = ev.event_specific_data
                if not evaluation.passed:
                    name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                    report.checks_failed.append(name)
                    echo(f"          check failed: {name} ({evaluation.severity.value})")

    while worker.is_alive():
        worker.join(timeout=0.5)
        follow()
    follow()
