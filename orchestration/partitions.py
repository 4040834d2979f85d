"""The one daily partitioning shared by ingestion and the incremental facts.

Today's partition is the catch-up partition: run alone, it means "everything not yet processed"
(ingestion from its cursor or manifest, the facts from their watermark). Any other day, or a
backfilled range of days, owns exactly its window: a failed day shows as a missing partition and
is backfilled in one run (single-run backfill policy).
"""

from datetime import UTC, datetime

import dagster as dg

# Wide enough for the open-data samples (2017 on) and any simulated history. end_offset=1 adds
# today's partition, the catch-up one.
PARTITIONS_START = "2015-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
single_run_backfill = dg.BackfillPolicy.single_run()


def catch_up_partition_key(as_of: datetime) -> str:
    """The catch-up partition of a run created at `as_of`: with end_offset=1 the last partition is
    the day that holds the current time, so it is the day of `as_of`."""
    return daily_partitions.get_partition_key_for_timestamp(as_of.timestamp())


def is_catch_up_range(start: str, end: str, run_created_at: datetime) -> bool:
    """Whether a run of partitions [start, end] is the catch-up run: today's partition alone, today
    being the day the run was created. Judged at each step's own time instead, a run that crossed
    midnight (UTC) caught up in its first steps and ran the later ones (the facts) as the past day's
    window."""
    return start == end == catch_up_partition_key(run_created_at)


def is_catch_up(context: dg.AssetExecutionContext) -> bool:
    keys = context.partition_key_range
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    return is_catch_up_range(keys.start, keys.end, created)


def explicit_window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime] | None:
    """The run's window as naive UTC bounds (start inclusive, end exclusive); None for catch-up."""
    if is_catch_up(context):
        return None
    window = context.partition_time_window
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
