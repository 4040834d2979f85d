"""The warehouse file and the bookkeeping tables ingestion keeps in schema `meta`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

_META_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.ingest_cursors (
    table_name VARCHAR PRIMARY KEY,
    cursor_value TIMESTAMP,
    load_id VARCHAR NOT NULL,
    advanced_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS meta.drop_manifest (
    file_name VARCHAR PRIMARY KEY,
    channel VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    extra_columns VARCHAR,
    load_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS meta.load_log (
    load_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_inserted BIGINT NOT NULL,
    rows_updated BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL
);
"""


def connect_warehouse(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; the writer also makes sure the bookkeeping tables exist."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(_META_DDL)
    return con


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple | None:
    """The first row of a query, with the result fully consumed.

    DuckDB 2.0 keeps a half-read result open on the connection and refuses other work (register,
    for one) until it is drained, so never leave a `fetchone()` pending.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ) == (1,)


def new_load_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    """Naive UTC, the warehouse's convention for load metadata."""
    return datetime.now(UTC).replace(tzinfo=None)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def layer_row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Rows per table or view, grouped by schema (layer): what a person checks after a run. Views
    count too: the drop channels' staging and quarantine are views of their gates."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_type IN ('BASE TABLE', 'VIEW') "
        "ORDER BY table_schema, table_name"
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for schema, table in tables:
        n = fetch_one(con, f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}")[0]
        counts.setdefault(schema, {})[table] = int(n)
    return counts


def table_checksum(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, exclude: Iterable[str] = ()
) -> tuple[int, str]:
    """Row count and an order-independent digest of every value, load metadata included unless its
    columns are named in `exclude` (case-insensitive)."""
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    excluded = {c.lower() for c in exclude}
    row = "t::VARCHAR"
    if excluded:
        kept = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
                "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            if c.lower() not in excluded
        ]
        row = (
            f"CAST(struct_pack({', '.join(f'{quote_ident(c)} := t.{quote_ident(c)}' for c in kept)}) AS VARCHAR)"
            if kept
            else "''"
        )
    count, digest = fetch_one(
        con,
        f"SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) "
        f"FROM (SELECT {row} AS r FROM {qualified} t)",
    )
    return int(count), str(digest)
