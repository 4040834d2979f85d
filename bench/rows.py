"""Rows in and out of each stage, counted in the source, the drop files and the warehouse.

Counts are taken after the run, read-only, so they cost the measured run nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from ingest.case_system import read_arrow
from ingest.drops import channel_files
from ingest.warehouse import connect_warehouse, layer_row_counts
from serving.publish import DEFAULT_SCHEMAS as SERVING_SCHEMAS
from simulator.drops import DROP_CHANNELS
from simulator.schema import CASE_SYSTEM_TABLES

TRANSFORM_SCHEMAS = ("staging", "intermediate", "quarantine", "snapshots", "marts")
# What the mining assets read (orchestration/mining.py); tests/test_bench.py holds this to the asset graph.
MINING_INPUTS = (
    ("marts", "mart_citizen_360"),
    ("marts", "mart_service_performance_daily"),
    ("staging", "stg_calendar__public_holidays"),
)
HOLIDAYS = ("raw", "public_holidays")


def drop_reader(channel: str, files: list[Path]) -> str:
    """DuckDB table function reading a channel's files as delivered: every column as text."""
    paths = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
    if DROP_CHANNELS[channel][0] == "csv":
        return f"read_csv({paths}, header = true, all_varchar = true, union_by_name = true)"
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in DROP_CHANNELS[channel][1]) + "}"
    return f"read_json({paths}, format = 'newline_delimited', columns = {columns})"


def source_rows(source_url: str, drops_dir: Path) -> dict[str, int]:
    """Rows per case-system table and per drop channel (`drops/<channel>`)."""
    counts = {
        table: int(read_arrow(source_url, f'SELECT count(*) AS n FROM "{table}"').column("n")[0].as_py())
        for table in CASE_SYSTEM_TABLES
    }
    con = duckdb.connect()
    for channel in DROP_CHANNELS:
        files = channel_files(drops_dir, channel)
        n = con.execute(f"SELECT count(*) FROM {drop_reader(channel, files)}").fetchall()[0][0] if files else 0
        counts[f"drops/{channel}"] = int(n)
    con.close()
    return counts


def database_rows(path: Path) -> dict[str, dict[str, int]]:
    """Rows per table per schema of a DuckDB file, opened read-only."""
    if not path.exists():
        return {}
    with connect_warehouse(path, read_only=True) as con:
        return layer_row_counts(con)


def _total(counts: dict[str, dict[str, int]], schemas: Iterable[str]) -> int:
    return sum(sum(counts.get(schema, {}).values()) for schema in schemas)


def _tables(counts: dict[str, dict[str, int]], keys: Iterable[tuple[str, ...]]) -> int:
    return sum(counts.get(key[0], {}).get(key[1], 0) for key in set(keys) if len(key) == 2)


def stage_rows(
    source: dict[str, int],
    warehouse: dict[str, dict[str, int]],
    serving: dict[str, dict[str, int]],
    checked_assets: Iterable[tuple[str, ...]],
    check_evaluations: int,
) -> dict[str, dict[str, int]]:
    """rows_in / rows_out per stage after a full load (`rows` is rows_out, the headline figure).

    ingest: source and drop rows -> raw rows (raw also holds the holiday calendar, generated not read);
    transform: raw -> marts (the other dbt layers in `layers`); quality: rows of the checked tables ->
    check evaluations; mining: its input marts -> ml rows; publish: warehouse marts/ml/quality ->
    serving copy.
    """
    source_total = sum(source.values())
    raw = _total(warehouse, ["raw"])
    marts = _total(warehouse, ["marts"])
    stages = {
        "simulate": {"rows_in": 0, "rows_out": source_total},
        "ingest": {"rows_in": source_total, "rows_out": raw, "holiday_rows": _tables(warehouse, [HOLIDAYS])},
        "transform": {
            "rows_in": raw,
            "rows_out": marts,
            "layers": {s: _total(warehouse, [s]) for s in TRANSFORM_SCHEMAS},
        },
        "quality": {"rows_in": _tables(warehouse, checked_assets), "rows_out": check_evaluations},
        "mining": {"rows_in": _tables(warehouse, MINING_INPUTS), "rows_out": _total(warehouse, ["ml"])},
        "publish": {"rows_in": _total(warehouse, SERVING_SCHEMAS), "rows_out": _total(serving, SERVING_SCHEMAS)},
    }
    for counts in stages.values():
        counts["rows"] = counts["rows_out"]
    return stages


def load_rows(warehouse: Path, load_id: str) -> dict[str, int]:
    """What one load (a run's id) read and changed: case-system rows and drop-file rows."""
    with connect_warehouse(warehouse, read_only=True) as con:
        read, changed = con.execute(
            "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_inserted + rows_updated), 0) "
            "FROM meta.load_log WHERE load_id = ?",
            [load_id],
        ).fetchall()[0]
        dropped = con.execute(
            "SELECT coalesce(sum(row_count), 0) FROM meta.drop_manifest WHERE load_id = ?", [load_id]
        ).fetchall()[0][0]
    return {"source_rows_read": int(read), "source_rows_changed": int(changed), "drop_rows_loaded": int(dropped)}
