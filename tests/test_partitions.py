"""Which run is the catch-up run: today's partition alone, today being the day the run was created."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.partitions import daily_partitions, is_catch_up, is_catch_up_range

BEFORE_MIDNIGHT = datetime(2026, 12, 7, 23, 59, 18, tzinfo=UTC)


def test_a_run_created_before_midnight_stays_a_catch_up_run() -> None:
    # Its steps after midnight still see the partition of the day it was created on as today's.
    assert is_catch_up_range("2026-12-07", "2026-12-07", BEFORE_MIDNIGHT)
    assert not is_catch_up_range("2026-12-08", "2026-12-08", BEFORE_MIDNIGHT)  # not yet today
    assert is_catch_up_range("2026-12-08", "2026-12-08", BEFORE_MIDNIGHT + timedelta(minutes=1))


def test_a_past_day_or_a_range_is_a_window() -> None:
    assert not is_catch_up_range("2026-12-06", "2026-12-06", BEFORE_MIDNIGHT)
    assert not is_catch_up_range("2026-12-06", "2026-12-07", BEFORE_MIDNIGHT)


def test_steps_judge_by_their_run_record() -> None:
    seen: dict[str, bool] = {}

    @dg.asset(partitions_def=daily_partitions)
    def probe(context: dg.AssetExecutionContext) -> None:
        seen[context.partition_key] = is_catch_up(context)

    today = daily_partitions.get_last_partition_key()
    yesterday = (datetime.strptime(today, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
    with dg.DagsterInstance.ephemeral() as instance:
        for key in (today, yesterday):
            assert dg.materialize([probe], partition_key=key, instance=instance).success
    assert seen == {today: True, yesterday: False}
