"""Schedules, sensors and partitions as the definitions declare them; the drop sensor reacts to files."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.partitions import daily_partitions
from orchestration.schedules import new_drop_files


def test_definitions_hold_schedules_sensor_and_partitions() -> None:
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["daily_pipeline"].cron_schedule == "0 2 * * *"
    assert schedules["weekly_retrain"].cron_schedule == "0 4 * * 1"
    assert {s.name for s in defs.sensors} >= {"new_drop_files", "explain_failed_runs", "freshness_checks_sensor"}
    graph = defs.resolve_asset_graph()
    facts = dg.AssetKey(["marts", "fct_service_requests"])
    partitions = graph.get(facts).partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert graph.get(dg.AssetKey(["marts", "dim_service"])).partitions_def is None
    # Ingestion shares the facts' days, so one backfill range covers source to fact.
    for raw in (["raw", "service_requests"], ["raw", "hotline_calls"], ["raw", "web_events"]):
        node = graph.get(dg.AssetKey(raw))
        assert node.partitions_def == partitions, raw
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), raw
    freshness = [k for k in graph.asset_check_keys if "freshness" in k.name]
    assert dg.AssetKey(["raw", "service_requests"]) in {k.asset_key for k in freshness}
    assert facts in {k.asset_key for k in freshness}


def test_drop_sensor_requests_a_run_for_new_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path))
    hotline = tmp_path / "drops" / "hotline"
    hotline.mkdir(parents=True)
    with dg.instance_for_test() as instance:
        first = new_drop_files(dg.build_sensor_context(instance=instance))
        assert not first.run_requests and first.skip_reason

        (hotline / "hotline_2025-03-01.csv").write_text("call_id\n1\n")
        second = new_drop_files(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert len(second.run_requests) == 1
        request = second.run_requests[0]
        assert request.asset_selection == [dg.AssetKey(["raw", "hotline_calls"])]
        assert request.tags["cirm/new_drop_files"] == "1"
        # Today's partition: the catch-up one, which loads every file not loaded before.
        assert request.partition_key == daily_partitions.get_last_partition_key()

        # Nothing new since: no run. A re-sent (changed) file is a delivery again.
        third = new_drop_files(dg.build_sensor_context(instance=instance, cursor=second.cursor))
        assert not third.run_requests
        (hotline / "hotline_2025-03-01.csv").write_text("call_id\n1\n2\n")
        fourth = new_drop_files(dg.build_sensor_context(instance=instance, cursor=third.cursor))
        assert len(fourth.run_requests) == 1 and fourth.run_requests[0].run_key != request.run_key
