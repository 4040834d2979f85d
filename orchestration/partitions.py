"""The one daily partitioning shared by ingestion and the incremental facts.

Today's partition is the catch-up partition: run alone, it means "everything not yet processed"
(ingestion from its cursor or manifest, the facts from their watermark). Any other day, or a
backfilled range of days, owns exactly its window: a failed day shows as a missing partition and
is backfilled in one run (single-run backfill policy).
"""

from datetime import datetime

import dagster as dg

# Wide enough for the open-data samples (2017 on) and any simulated history. end_offset=1 adds
# today's partition, the catch-up one.
PARTITIONS_START = "2015-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
single_run_backfill = dg.BackfillPolicy.single_run()


def is_catch_up(context: dg.AssetExecutionContext) -> bool:
    keys = context.partition_key_range
    return keys.start == keys.end == daily_partitions.get_last_partition_key()


def explicit_window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime] | None:
    """The run's window as naive UTC bounds (start inclusive, end exclusive); None for catch-up."""
    if is_catch_up(context):
        return None
    window = context.partition_time_window
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
