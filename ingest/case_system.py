"""Incremental, idempotent loading of case-management tables into `raw.<table>`.

Each table is read by its `updated_at` cursor into Arrow (connectorx, columnar for SQLite and
PostgreSQL alike), then merged into DuckDB on the declared primary key. A row is rewritten only when
one of its values changed, so a re-run over an unchanged source leaves every raw row, load metadata
included, exactly as it was. Rows, merge and cursor advance share one DuckDB transaction: a crash
leaves either the old state or the new one, never a cursor ahead of its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import connectorx as cx
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy import types as satypes

from cirm.errors import CirmError
from cirm.settings import redact_url
from ingest.warehouse import fetch_one, quote_ident, utc_now
from simulator.schema import metadata

CURSOR_COLUMN = "updated_at"
SOURCE_NAME = "case_system"
# Re-read a little before the cursor: a long source transaction can commit rows stamped earlier than
# rows already loaded. Re-reads are harmless because unchanged rows are not rewritten.
DEFAULT_LOOKBACK = timedelta(minutes=5)
# Keyset-paged reads bound memory on large tables.
DEFAULT_CHUNK_ROWS = 500_000
LOAD_COLUMNS = (("_load_id", "VARCHAR"), ("_loaded_at", "TIMESTAMP"), ("_source", "VARCHAR"))


# Messages of errors that go away by themselves: worth a retry with backoff, unlike a missing table.
_TRANSIENT_MARKERS = (
    "connection refused",
    "could not connect",
    "connection reset",
    "server closed the connection",
    "timeout expired",
    "timed out",
    "database is locked",
    "the database system is starting up",
    "too many connections",
    "could not set lock",
)


class SourceError(CirmError):
    """The case-management source cannot be read as declared."""

    @property
    def transient(self) -> bool:
        return is_transient(self)


def is_transient(exc: BaseException) -> bool:
    """Connection refused, lock busy and the like: retry with backoff. Anything else fails at once."""
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    primary_key: tuple[str, ...]

    @property
    def has_cursor(self) -> bool:
        return any(name == CURSOR_COLUMN for name, _ in self.columns)


@dataclass(frozen=True)
class TableLoad:
    table: str
    load_id: str
    rows_read: int
    rows_inserted: int
    rows_updated: int
    cursor_value: datetime | None


def _duckdb_type(sa_type: satypes.TypeEngine) -> str:
    # Order matters: BigInteger and SmallInteger are Integer subclasses, DateTime before Date.
    checks: tuple[tuple[type, str], ...] = (
        (satypes.Boolean, "BOOLEAN"),
        (satypes.BigInteger, "BIGINT"),
        (satypes.SmallInteger, "SMALLINT"),
        (satypes.Integer, "INTEGER"),
        (satypes.DateTime, "TIMESTAMP"),
        (satypes.Date, "DATE"),
        (satypes.Float, "DOUBLE"),
        (satypes.Numeric, "DOUBLE"),
        (satypes.String, "VARCHAR"),
    )
    for cls, duck in checks:
        if isinstance(sa_type, cls):
            return duck
    return "VARCHAR"


@lru_cache(maxsize=8)
def _engine(source_url: str) -> sa.Engine:
    url = source_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def describe_source_table(source_url: str, table: str) -> SourceTable:
    """Columns and primary key of a source table, as the source declares them."""
    try:
        inspector = sa.inspect(_engine(source_url))
        if not inspector.has_table(table):
            raise SourceError(f"source {redact_url(source_url)} has no table {table!r}")
        columns = tuple((c["name"], _duckdb_type(c["type"])) for c in inspector.get_columns(table))
        pk = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
    except sa.exc.OperationalError as exc:
        raise SourceError(f"cannot read source {redact_url(source_url)}: {exc.orig}") from exc
    if not pk:
        raise SourceError(f"source table {table!r} declares no primary key; ingestion merges on it")
    return SourceTable(table, columns, pk)


def contract_table(table: str) -> SourceTable:
    """A case-system table as the contract (simulator/schema.py) declares it, without a source."""
    declared = metadata.tables[table]
    columns = tuple((c.name, _duckdb_type(c.type)) for c in declared.columns)
    return SourceTable(table, columns, tuple(c.name for c in declared.primary_key.columns))


def ensure_contract_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """An empty `raw.<table>` in the contract's shape: with no case system (open-data mode) the
    models over it still build, empty, instead of failing on a missing relation."""
    ensure_raw_table(con, contract_table(table))


def _cx_url(source_url: str) -> str:
    if source_url.startswith("sqlite:///"):
        # connectorx wants sqlite:///abs/path (SQLAlchemy's four-slash form is one slash too many)
        return "sqlite://" + source_url.removeprefix("sqlite:///")
    return source_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _read_query(
    src: SourceTable,
    since: datetime | None,
    after_key: int | None,
    limit: int | None,
    until: datetime | None = None,
) -> str:
    cols = ", ".join(quote_ident(c) for c, _ in src.columns)
    where: list[str] = []
    if since is not None:
        # Truncated to the second and compared with >=: a superset, whatever fraction format the
        # source stores, and textual comparison in SQLite stays correct for ISO timestamps.
        where.append(f"{CURSOR_COLUMN} >= '{since:%Y-%m-%d %H:%M:%S}'")
    if until is not None:
        where.append(f"{CURSOR_COLUMN} < '{until:%Y-%m-%d %H:%M:%S}'")
    paged = limit is not None and len(src.primary_key) == 1
    if paged and after_key is not None:
        where.append(f"{quote_ident(src.primary_key[0])} > {int(after_key)}")
    sql = f"SELECT {cols} FROM {quote_ident(src.name)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if paged:
        sql += f" ORDER BY {quote_ident(src.primary_key[0])} LIMIT {int(limit)}"
    return sql


def read_arrow(source_url: str, query: str) -> pa.Table:
    try:
        return cx.read_sql(_cx_url(source_url), query, return_type="arrow")
    except Exception as exc:  # connectorx raises RuntimeError/PanicException with the driver's text
        raise SourceError(f"reading source {redact_url(source_url)} failed: {exc}") from exc


def ensure_raw_table(con: duckdb.DuckDBPyConnection, src: SourceTable) -> None:
    """Create `raw.<table>` or add columns the source gained since (schema drift is accepted)."""
    cols = [*src.columns, *LOAD_COLUMNS]
    ddl = ", ".join(f"{quote_ident(c)} {t}" for c, t in cols)
    con.execute(f"CREATE TABLE IF NOT EXISTS raw.{quote_ident(src.name)} ({ddl})")
    existing = {
        name: dtype
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ?",
            [src.name],
        ).fetchall()
    }
    for name, dtype in src.columns:
        if name not in existing:
            con.execute(f"ALTER TABLE raw.{quote_ident(src.name)} ADD COLUMN {quote_ident(name)} {dtype}")
        elif existing[name] != dtype:
            raise SourceError(
                f"source table {src.name!r} column {name!r} changed type: raw has {existing[name]}, "
                f"source now declares {dtype}; migrate raw.{src.name} before loading"
            )


def _merge_sql(src: SourceTable) -> str:
    table = f"raw.{quote_ident(src.name)}"
    names = [c for c, _ in src.columns]
    casts = ", ".join(f"CAST({quote_ident(c)} AS {t}) AS {quote_ident(c)}" for c, t in src.columns)
    on = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in src.primary_key)
    changed = " OR ".join(f"t.{quote_ident(c)} IS DISTINCT FROM s.{quote_ident(c)}" for c in names)
    assign = ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in names)
    meta = "_load_id = $load_id, _loaded_at = $loaded_at, _source = $source"
    insert_cols = ", ".join(quote_ident(c) for c in [*names, "_load_id", "_loaded_at", "_source"])
    insert_vals = ", ".join([*(f"s.{quote_ident(c)}" for c in names), "$load_id", "$loaded_at", "$source"])
    return (
        f"MERGE INTO {table} AS t USING (SELECT {casts} FROM batch) AS s ON {on} "
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET {assign}, {meta} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({insert_vals}) "
        "RETURNING merge_action"
    )


def _stored_cursor(con: duckdb.DuckDBPyConnection, table: str) -> datetime | None:
    row = fetch_one(con, "SELECT cursor_value FROM meta.ingest_cursors WHERE table_name = ?", [table])
    return row[0] if row else None


def load_table(
    con: duckdb.DuckDBPyConnection,
    source_url: str,
    table: str,
    load_id: str,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    window: tuple[datetime, datetime] | None = None,
) -> TableLoad:
    """Bring `raw.<table>` level with the source table; returns what changed.

    With `window` (UTC, start inclusive, end exclusive) only the rows last updated in it are read
    and merged, and the cursor stays where it is: re-loading a past day repairs that day without
    making the next catch-up skip anything.
    """
    src = describe_source_table(source_url, table)
    if window is not None and not src.has_cursor:
        raise SourceError(f"source table {table!r} has no {CURSOR_COLUMN} column: it can only be loaded whole")
    started = utc_now()
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_raw_table(con, src)
        cursor = _stored_cursor(con, table) if src.has_cursor else None
        since = cursor - lookback if cursor is not None else None
        until = None
        if window is not None:
            since, until = window
        merge = _merge_sql(src)
        params = {"load_id": load_id, "loaded_at": started, "source": SOURCE_NAME}
        read = inserted = updated = 0
        max_seen = cursor
        after_key = None
        while True:
            batch = read_arrow(source_url, _read_query(src, since, after_key, chunk_rows, until))
            if batch.num_rows == 0:
                break
            read += batch.num_rows
            con.register("batch", batch)
            actions = con.execute(merge, params).fetchall()
            con.unregister("batch")
            inserted += sum(1 for (a,) in actions if a == "INSERT")
            updated += sum(1 for (a,) in actions if a == "UPDATE")
            if src.has_cursor:
                batch_max = pc.max(batch.column(CURSOR_COLUMN)).as_py()
                if batch_max is not None and (max_seen is None or batch_max > max_seen):
                    max_seen = batch_max
            if len(src.primary_key) != 1 or batch.num_rows < chunk_rows:
                break
            after_key = pc.max(batch.column(src.primary_key[0])).as_py()
        if window is None and src.has_cursor and max_seen is not None and max_seen != cursor:
            con.execute(
                "INSERT OR REPLACE INTO meta.ingest_cursors VALUES (?, ?, ?, ?)",
                [table, max_seen, load_id, utc_now()],
            )
        con.execute(
            "INSERT INTO meta.load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [load_id, table, f"{SOURCE_NAME}:{redact_url(source_url)}", read, inserted, updated, started, utc_now()],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return TableLoad(table, load_id, read, inserted, updated, max_seen)
