"""Ingestion assets: one per case-system table, one per drop channel, and the holiday calendar."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from cirm.errors import CirmError
from ingest.calendar import load_public_holidays
from ingest.case_system import ensure_contract_table, is_transient, load_table
from ingest.drops import load_channel
from ingest.warehouse import connect_warehouse, fetch_one, table_exists
from orchestration.partitions import daily_partitions, explicit_window, single_run_backfill
from orchestration.resources import WAREHOUSE_POOL, CirmSettings
from simulator.drops import DROP_TABLES
from simulator.schema import CASE_SYSTEM_TABLES

OWNER = "team:data-engineering"

MAX_RETRIES = 4


@contextmanager
def retry_transient(retry_number: int, log: logging.Logger | dg.DagsterLogManager) -> Iterator[None]:
    """Turn transient faults (source refused, warehouse lock busy) into retries with exponential backoff."""
    try:
        yield
    except (CirmError, duckdb.IOException, duckdb.ConnectionException) as exc:
        if is_transient(exc) and retry_number < MAX_RETRIES:
            wait = 2 ** (retry_number + 1)
            log.warning(f"transient error, retry {retry_number + 1} in {wait}s: {exc}")
            raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait) from exc
        raise


case_system_sources = [
    dg.AssetSpec(
        key=["case_system", table],
        group_name="sources",
        description=f"The case-management system's `{table}` table (SQLite demo or PostgreSQL), read-only.",
        owners=[OWNER],
        kinds={"sql"},
    )
    for table in CASE_SYSTEM_TABLES
]


def _case_system_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", table],
        deps=[dg.AssetKey(["case_system", table])],
        group_name="raw",
        description=(
            f"`raw.{table}`: the case system's `{table}` rows, merged on the primary key by the `updated_at` "
            "cursor; a row is rewritten only when its values changed. Carries _load_id, _loaded_at, _source. "
            "Partitioned by day of `updated_at` (UTC): today's partition catches up from the cursor, a past "
            "day or range re-reads the rows last updated in it."
        ),
        owners=[OWNER],
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
        partitions_def=daily_partitions,
        backfill_policy=single_run_backfill,
    )
    def _asset(context: dg.AssetExecutionContext, cirm: CirmSettings) -> dg.MaterializeResult:
        settings = cirm.load()
        if settings.source_url is None:
            # Open-data mode: the models over the case system build empty instead of failing.
            with connect_warehouse(settings.warehouse_path) as con:
                ensure_contract_table(con, table)
                total = _raw_row_count(con, table)
            context.log.info("CIRM_SOURCE_URL=none: no case-management source, nothing to load")
            return dg.MaterializeResult(metadata={"skipped": "CIRM_SOURCE_URL=none", "dagster/row_count": total})
        window = explicit_window(context)
        with retry_transient(context.retry_number, context.log), connect_warehouse(settings.warehouse_path) as con:
            load = load_table(con, settings.source_url, table, context.run.run_id, window=window)
            total = _raw_row_count(con, table)
        return dg.MaterializeResult(
            metadata={
                "window": f"{window[0]} to {window[1]}" if window else "catch-up from the cursor",
                "rows_read": load.rows_read,
                "rows_inserted": load.rows_inserted,
                "rows_updated": load.rows_updated,
                "cursor": str(load.cursor_value),
                "dagster/row_count": total,
            }
        )

    return _asset


def _raw_row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows now in `raw.<table>`; a channel that never delivered a file has no table yet."""
    return fetch_one(con, f'SELECT count(*) FROM raw."{table}"')[0] if table_exists(con, "raw", table) else 0


def _drop_asset(channel: str, table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", table],
        group_name="raw",
        description=(
            f"`raw.{table}`: {channel} drop files loaded exactly once each (manifest in meta.drop_manifest), "
            "columns as delivered (text), with _source_file and _row_number. Partitioned by the day in the "
            "file name: today's partition takes every file not loaded before."
        ),
        owners=[OWNER],
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
        partitions_def=daily_partitions,
        backfill_policy=single_run_backfill,
    )
    def _asset(context: dg.AssetExecutionContext, cirm: CirmSettings) -> dg.MaterializeResult:
        settings = cirm.load()
        window = explicit_window(context)
        days = (window[0].date(), window[1].date()) if window else None
        with retry_transient(context.retry_number, context.log), connect_warehouse(settings.warehouse_path) as con:
            load = load_channel(con, settings.drops_dir, channel, context.run.run_id, days=days)
            total = _raw_row_count(con, table)
        return dg.MaterializeResult(
            metadata={
                "days": f"{days[0]} to {days[1]} (end exclusive)" if days else "catch-up: every new file",
                "files_loaded": len(load.files_loaded),
                "files_skipped": len(load.files_skipped),
                "rows_loaded": load.rows_loaded,
                "extra_columns": str(load.extra_columns or "none"),
                "dagster/row_count": total,
            }
        )

    return _asset


@dg.asset(
    key=["raw", "public_holidays"],
    group_name="raw",
    description="`raw.public_holidays`: the public holidays of CIRM_HOLIDAY_COUNTRY, 2000-2040.",
    owners=[OWNER],
    kinds={"duckdb", "python"},
    pool=WAREHOUSE_POOL,
)
def public_holidays(context: dg.AssetExecutionContext, cirm: CirmSettings) -> dg.MaterializeResult:
    settings = cirm.load()
    with connect_warehouse(settings.warehouse_path) as con:
        rows = load_public_holidays(con, settings.holiday_country, context.run.run_id)
    return dg.MaterializeResult(metadata={"country": settings.holiday_country, "dagster/row_count": rows})


case_system_assets = [_case_system_asset(t) for t in CASE_SYSTEM_TABLES]
drop_assets = [_drop_asset(channel, table) for channel, table in DROP_TABLES.items()]
ingestion_assets = [*case_system_assets, *drop_assets, public_holidays]
