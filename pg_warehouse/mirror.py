"""Copy DuckDB schemas into PostgreSQL, columnar and table by table atomically.

`copy_schemas` is the one copy routine: the raw mirror (`mirror_raw`) and the ML outputs
(`pg_warehouse.publish.publish_ml`) both go through it. Each table streams out of DuckDB as Arrow
record batches, is written as CSV by Arrow's writer and sent with COPY, then swapped in: created
as a new table, loaded, and exchanged for the old one (drop + rename) in one transaction, so a
reader sees either the old table or the whole new one, never part of it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from ingest.warehouse import quote_ident
from pg_warehouse.connection import PgTarget, PgWarehouseError, connect, ensure_database, parse_pg_url

# raw: what staging reads. snapshots: the type-2 history dim_citizen reads; it cannot be rebuilt
# from raw (raw holds only each row's latest state), so PostgreSQL continues DuckDB's history
# instead of starting its own. No model reads meta (erasure bookkeeping stays with DuckDB).
MIRRORED_SCHEMAS: tuple[str, ...] = ("raw", "snapshots")
BATCH_ROWS = 100_000
_NEW_SUFFIX = "__cirm_new"

# DuckDB type -> PostgreSQL type, for the types Arrow's CSV writer renders in a form PostgreSQL
# reads back exactly (numbers round-trip, timestamps in ISO form, time zones as offsets).
_NATIVE = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    # PostgreSQL keeps microseconds: nanoseconds are rounded.
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}
# Read as text in DuckDB, typed by PostgreSQL's input function.
_AS_TEXT = {
    "VARCHAR": "text",
    "UUID": "uuid",
    "INTERVAL": "interval",
    "UBIGINT": "numeric(20)",
    "HUGEINT": "numeric(39)",
    "UHUGEINT": "numeric(39)",
    "JSON": "jsonb",
}


class MirrorError(PgWarehouseError):
    """A DuckDB table could not be copied; the PostgreSQL table it would replace is unchanged."""


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str

    @property
    def pg_type(self) -> str:
        return _column_mapping(self.duckdb_type)[0]

    @property
    def select(self) -> str:
        """How DuckDB reads the column for the copy."""
        return _column_mapping(self.duckdb_type)[1].format(quote_ident(self.name))


def _column_mapping(duckdb_type: str) -> tuple[str, str]:
    """(PostgreSQL type, DuckDB select template) for a DuckDB column type."""
    t = duckdb_type.upper()
    if t in _NATIVE:
        return _NATIVE[t], "{}"
    if t in _AS_TEXT:
        return _AS_TEXT[t], "CAST({} AS VARCHAR)"
    if m := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t):
        return f"numeric({m[1]},{m[2]})", "CAST({} AS VARCHAR)"
    if t == "BLOB":
        # bytea's hex input form.
        return "bytea", "'\\x' || hex({})"
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        # Lists, arrays, structs, maps: JSON, which PostgreSQL can query (->, jsonb_array_elements).
        return "jsonb", "CAST(to_json({}) AS VARCHAR)"
    # ENUM, BIT, BIGNUM and whatever DuckDB adds: their text form.
    return "text", "CAST({} AS VARCHAR)"


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[Column]:
    return [
        Column(name, data_type)
        for name, data_type in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, table],
        ).fetchall()
    ]


def copy_schemas(
    con: duckdb.DuckDBPyConnection, target: PgTarget, schemas: Iterable[str], *, prune: bool = True
) -> dict[str, int]:
    """Copy every table of `schemas` from DuckDB into the same schemas in PostgreSQL.

    Returns rows per 'schema.table'. With `prune`, PostgreSQL tables of those schemas that DuckDB no
    longer has are dropped, so the copy holds nothing the warehouse has removed (e.g. erased data in
    a table since dropped). A schema DuckDB lacks is left alone.
    """
    counts: dict[str, int] = {}
    # Autocommit: each transaction() below is one real transaction (one table's swap).
    with connect(target, autocommit=True) as pg:
        for schema in schemas:
            tables = [
                t
                for (t,) in con.execute(
                    "SELECT table_name FROM duckdb_tables() "
                    "WHERE database_name = current_database() AND schema_name = ? ORDER BY table_name",
                    [schema],
                ).fetchall()
            ]
            if not tables and not _duckdb_has_schema(con, schema):
                continue
            pg.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for table in tables:
                counts[f"{schema}.{table}"] = copy_table(con, pg, schema, table)
            if prune:
                _drop_tables_not_in(pg, schema, tables)
    return counts


def copy_table(con: duckdb.DuckDBPyConnection, pg: psycopg.Connection, schema: str, table: str) -> int:
    """Replace PostgreSQL `schema.table` with DuckDB's, atomically; the rows copied."""
    columns = table_columns(con, schema, table)
    final = sql.Identifier(schema, table)
    new = sql.Identifier(schema, table + _NEW_SUFFIX)
    column_list = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    selected = ", ".join(c.select for c in columns)
    # Catalog-qualified: a warehouse file named like a schema (raw.duckdb) makes "raw.x" ambiguous.
    [(catalog,)] = con.execute("SELECT current_database()").fetchall()
    source = ".".join(quote_ident(part) for part in (catalog, schema, table))
    reader = con.sql(f"SELECT {selected} FROM {source}").to_arrow_reader(BATCH_ROWS)
    rows = 0
    try:
        with pg.transaction():
            pg.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(new))
            pg.execute(
                sql.SQL("CREATE TABLE {} ({})").format(
                    new,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in columns
                    ),
                )
            )
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(new, column_list)
            with pg.cursor() as cur, cur.copy(copy_sql) as copy:
                for data, batch_rows in _csv_chunks(reader):
                    copy.write(data)
                    rows += batch_rows
            pg.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(final))
            pg.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, sql.Identifier(table)))
    except (psycopg.Error, duckdb.Error) as exc:
        raise MirrorError(f"copying {schema}.{table} to PostgreSQL failed (the old table is unchanged): {exc}") from exc
    return rows


def _csv_chunks(reader: pa.RecordBatchReader) -> Iterator[tuple[bytes, int]]:
    """CSV bytes per record batch. Arrow quotes every string and leaves nulls unquoted and empty,
    which is exactly how COPY's CSV format tells an empty string from a null."""
    options = pa_csv.WriteOptions(include_header=False)
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buffer = io.BytesIO()
        pa_csv.write_csv(batch, buffer, write_options=options)
        yield buffer.getvalue(), batch.num_rows


def _duckdb_has_schema(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?", [schema]
        ).fetchall()
    )


def _drop_tables_not_in(pg: psycopg.Connection, schema: str, keep: list[str]) -> None:
    stale = [
        t
        for (t,) in pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND NOT (tablename = ANY(%s))", [schema, keep]
        ).fetchall()
    ]
    with pg.transaction():
        for table in stale:
            pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))


@contextmanager
def open_warehouse(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB warehouse, read-only; a clear error if it is missing or a writer holds it."""
    warehouse_path = Path(warehouse_path)
    if not warehouse_path.is_file():
        raise MirrorError(f"no warehouse at {warehouse_path}: run the pipeline first")
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error as exc:
        raise MirrorError(f"cannot read the warehouse {warehouse_path} (is a writer holding it?): {exc}") from exc
    try:
        yield con
    finally:
        con.close()


def mirror_raw(warehouse_path: Path, pg_url: str) -> dict[str, int]:
    """Copy the DuckDB warehouse's raw layer (and snapshot history) into PostgreSQL; rows per table."""
    target = parse_pg_url(pg_url)
    with open_warehouse(warehouse_path) as con:
        ensure_database(target)
        return copy_schemas(con, target, MIRRORED_SCHEMAS)
