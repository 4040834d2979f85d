"""The pure helpers of the dbt integration: partition window → dbt arguments, node → asset key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg

from orchestration.dbt.args import build_args, window_vars
from orchestration.dbt.assets import reusable_parse_state
from orchestration.dbt.translator import CirmDbtTranslator, layer_of


def test_window_vars_for_a_day_and_for_catch_up() -> None:
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    assert window_vars(start, end, full=False) == {"min_date": "2025-03-01", "max_date": "2025-03-02"}
    assert window_vars(start, end, full=True) == {}
    assert window_vars(None, None, full=False) == {}


def test_build_args() -> None:
    args = build_args("build", extra_vars={"max_date": "2025-03-03", "min_date": "2025-03-01"})
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {"min_date": "2025-03-01", "max_date": "2025-03-03"}
    assert build_args("snapshot") == ["snapshot"]
    assert build_args("build", full_refresh=True) == ["build", "--full-refresh"]


def test_only_an_invocation_without_vars_hands_on_its_parse_state() -> None:
    assert reusable_parse_state(build_args("build"))
    window = {"min_date": "2025-03-01", "max_date": "2025-03-02"}
    assert not reusable_parse_state(build_args("build", extra_vars=window))


def test_translator_maps_sources_to_raw_assets_and_models_to_layers() -> None:
    t = CirmDbtTranslator()
    source = {"resource_type": "source", "name": "service_requests", "source_name": "case_system"}
    assert t.get_asset_key(source) == dg.AssetKey(["raw", "service_requests"])
    model = {"resource_type": "model", "name": "fct_contacts", "alias": "fct_contacts", "schema": "marts", "fqn": []}
    assert t.get_asset_key(model) == dg.AssetKey(["marts", "fct_contacts"])
    quarantine = {
        "resource_type": "model",
        "name": "quarantine_service_requests",
        "alias": "service_requests",
        "schema": "quarantine",
        "fqn": ["cirm", "quarantine", "quarantine_service_requests"],
    }
    assert t.get_asset_key(quarantine) == dg.AssetKey(["quarantine", "service_requests"])
    assert layer_of({"schema": "main", "fqn": ["cirm", "staging", "case_system", "stg_x"]}) == "staging"
