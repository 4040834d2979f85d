"""Reconciliation of the raw layer against the case-management source: keys in = keys landed."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ingest.case_system import describe_source_table, read_arrow
from ingest.warehouse import fetch_one, quote_ident, table_exists


@dataclass(frozen=True)
class Reconciliation:
    table: str
    source_keys: int
    raw_rows: int
    raw_keys: int

    @property
    def ok(self) -> bool:
        return self.source_keys == self.raw_rows == self.raw_keys


def reconcile_table(con: duckdb.DuckDBPyConnection, source_url: str, table: str) -> Reconciliation:
    src = describe_source_table(source_url, table)
    keys = ", ".join(quote_ident(k) for k in src.primary_key)
    source_keys = (
        read_arrow(source_url, f"SELECT count(*) AS n FROM (SELECT DISTINCT {keys} FROM {quote_ident(table)}) k")
        .column("n")[0]
        .as_py()
    )
    if not table_exists(con, "raw", table):
        return Reconciliation(table, int(source_keys), 0, 0)
    raw_rows, raw_keys = fetch_one(
        con,
        f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT {keys} FROM raw.{quote_ident(table)})) "
        f"FROM raw.{quote_ident(table)}",
    )
    return Reconciliation(table, int(source_keys), int(raw_rows), int(raw_keys))
