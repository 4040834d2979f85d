"""When things run: the daily pipeline, weekly retraining, a drop-folder sensor, freshness checks,
and a readable summary when a run fails."""

import hashlib
import json
from datetime import timedelta

import dagster as dg

from cirm.settings import load_settings
from ingest.drops import channel_files
from orchestration.partitions import daily_partitions
from simulator.drops import DROP_TABLES

PIPELINE_JOB = "cirm_pipeline"

pipeline_job = dg.define_asset_job(
    PIPELINE_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
    description="Everything, from ingestion to the published outputs.",
)
retrain_job = dg.define_asset_job(
    "retrain_models",
    selection=dg.AssetSelection.groups("ml"),
    description="Refit the segmentation and the demand forecast on the current marts.",
)
drop_ingest_job = dg.define_asset_job(
    "ingest_channel_drops",
    selection=dg.AssetSelection.assets(*[dg.AssetKey(["raw", t]) for t in DROP_TABLES.values()]),
    description="Load newly delivered channel drop files.",
)

# 02:00 city time, after the case system's nightly close. The job's partitioned assets get
# today's (catch-up) partition.
daily_pipeline_schedule = dg.ScheduleDefinition(
    name="daily_pipeline",
    job=pipeline_job,
    cron_schedule="0 2 * * *",
    execution_timezone=load_settings().city_timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 4 * * 1",
    execution_timezone=load_settings().city_timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def drop_folder_state(drops_dir) -> dict[str, list[str]]:  # noqa: ANN001
    """File name, size and mtime per channel: a change in any of them is a new delivery."""
    state: dict[str, list[str]] = {}
    for channel in DROP_TABLES:
        state[channel] = [
            f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in channel_files(drops_dir, channel)
        ]
    return state


@dg.sensor(
    name="new_drop_files",
    job=drop_ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts drop ingestion when new or re-sent files appear in the drop folder.",
)
def new_drop_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    state = drop_folder_state(load_settings().drops_dir)
    seen = json.loads(context.cursor) if context.cursor else {}
    new = {ch: sorted(set(files) - set(seen.get(ch, []))) for ch, files in state.items()}
    new = {ch: files for ch, files in new.items() if files}
    if not new:
        return dg.SensorResult(skip_reason="no new drop files", cursor=json.dumps(state, sort_keys=True))
    digest = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:16]
    assets = [dg.AssetKey(["raw", DROP_TABLES[ch]]) for ch in new]
    count = sum(len(files) for files in new.values())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"drops-{digest}",
                asset_selection=assets,
                # The catch-up partition: it loads every file not loaded before, whatever its day.
                partition_key=daily_partitions.get_last_partition_key(),
                tags={"cirm/new_drop_files": str(count)},
            )
        ],
        cursor=json.dumps(state, sort_keys=True),
    )


def failure_summary(context: dg.RunFailureSensorContext) -> str:
    """One readable paragraph per failed run: which steps failed and why, without the stack."""
    lines = [f"Run {context.dagster_run.run_id} of {context.dagster_run.job_name} failed."]
    for event in context.get_step_failure_events():
        error = event.event_specific_data.error if event.event_specific_data else None
        # The user-facing cause is the innermost error: Dagster wraps it in its own step error.
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error is not None else "no error message"
        lines.append(f"  step {event.step_key}: {message}")
    return "\n".join(lines)


@dg.run_failure_sensor(name="explain_failed_runs", default_status=dg.DefaultSensorStatus.RUNNING)
def explain_failed_runs(context: dg.RunFailureSensorContext) -> None:
    context.log.error(failure_summary(context))


def freshness_checks(raw_keys: list[dg.AssetKey], mart_keys: list[dg.AssetKey]) -> list:
    """Raw tables and marts must have been updated within a day (plus slack for the nightly run)."""
    return [
        *dg.build_last_update_freshness_checks(assets=raw_keys, lower_bound_delta=timedelta(hours=26)),
        *dg.build_last_update_freshness_checks(assets=mart_keys, lower_bound_delta=timedelta(hours=28)),
    ]
