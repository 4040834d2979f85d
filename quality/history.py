"""Check history in the warehouse: `quality.check_results`, one row per expectation evaluated.

Kept next to the data so a trend ("null share of district_id creeping up") is one SQL query away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from quality.specs import AssetKey, CheckOutcome

TABLE = "quality.check_results"
_DDL = f"""
CREATE SCHEMA IF NOT EXISTS quality;
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR NOT NULL,
    asset_key VARCHAR NOT NULL,     -- Dagster's user string: 'raw/service_requests'
    check_name VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,   -- e.g. 'expect_column_values_to_not_be_null(request_id)'
    success BOOLEAN NOT NULL,
    observed_value VARCHAR,         -- JSON
    evaluated_at TIMESTAMP NOT NULL -- naive UTC
);
"""


def asset_key_string(asset: AssetKey | str) -> str:
    return asset if isinstance(asset, str) else "/".join(asset)


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, asset_key: AssetKey | str, outcomes: Iterable[CheckOutcome]
) -> int:
    """Append one row per expectation evaluated; a check whose frame could not be built (a missing
    table, say) gets one row with expectation '<frame>' so the failure is in the history too.
    Returns the number of rows appended."""
    key = asset_key_string(asset_key)
    rows: dict[str, list] = {k: [] for k in ("check_name", "expectation", "success", "observed_value", "evaluated_at")}
    for o in outcomes:
        entries = [(e.expectation, e.success, e.observed) for e in o.expectations] or [
            ("<frame>", o.success, o.observed.get("frame", {}))
        ]
        for expectation, success, observed in entries:
            rows["check_name"].append(o.check_name)
            rows["expectation"].append(expectation)
            rows["success"].append(success)
            rows["observed_value"].append(json.dumps(observed, sort_keys=True, default=str))
            rows["evaluated_at"].append(o.evaluated_at)
    n = len(rows["check_name"])
    batch = pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "asset_key": pa.array([key] * n, pa.string()),
            "check_name": pa.array(rows["check_name"], pa.string()),
            "expectation": pa.array(rows["expectation"], pa.string()),
            "success": pa.array(rows["success"], pa.bool_()),
            "observed_value": pa.array(rows["observed_value"], pa.string()),
            "evaluated_at": pa.array(rows["evaluated_at"], pa.timestamp("us")),
        }
    )
    con.execute(_DDL)
    # Arrow in, one INSERT: columnar, and atomic for the batch.
    con.register("_quality_batch", batch)
    try:
        con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM _quality_batch")
    finally:
        con.unregister("_quality_batch")
    return n
