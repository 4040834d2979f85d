"""Row frames: the columns a suite needs, fetched from DuckDB through Arrow into pandas.

Only the columns the expectations name (plus the key, to point at failing rows) are fetched, and
everything that needs SQL (parsing text drops, existence in a parent table) is computed here in
DuckDB, so GE's pandas engine only compares columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from quality.pii import select_expr
from quality.specs import TableSpec


class FrameError(Exception):
    """A frame cannot be built (its table is missing, say): every check on it fails with this message."""


@dataclass
class Frame:
    df: pd.DataFrame
    key: tuple[str, ...]  # columns that name a row in sample failing rows and Data Docs
    context: dict[str, Any] = field(default_factory=dict)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, table = relation.split(".", 1)
    return bool(table_columns(con, schema, table))


def _derived(spec: TableSpec, con: duckdb.DuckDBPyConnection, tz: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Derived column -> (SQL, source columns). Parsing mirrors what staging does with the text."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for col, kind in spec.text_timestamps.items():
        if kind == "local":
            parsed = f"try_strptime({q(col)}, '%Y-%m-%d %H:%M:%S')"
            utc = f"(({parsed}) AT TIME ZONE {sql_literal(tz)}) AT TIME ZONE 'UTC'"
        else:
            utc = f"try_cast({q(col)} AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"
        out[f"{col}__utc"] = (utc, (col,))
        out[f"{col}__ok"] = (f"({q(col)} IS NULL OR ({utc}) IS NOT NULL)", (col,))
    for col in spec.text_numbers:
        num = f"try_cast({q(col)} AS DOUBLE)"
        out[f"{col}__num"] = (num, (col,))
        out[f"{col}__ok"] = (f"({q(col)} IS NULL OR {num} IS NOT NULL)", (col,))
    for parent in spec.parents:
        if relation_exists(con, parent.parent_table):
            schema, table = parent.parent_table.split(".", 1)
            # The IS NOT NULL matters: one null parent key turns every "not found" into NULL, which
            # GE would skip as missing instead of failing.
            pc = q(parent.parent_column)
            exists = (
                f"CASE WHEN {q(parent.column)} IS NULL THEN NULL ELSE {q(parent.column)} IN "
                f"(SELECT {pc} FROM {q(schema)}.{q(table)} WHERE {pc} IS NOT NULL) END"
            )
            out[f"{parent.column}__exists"] = (exists, (parent.column,))
    return out


def fetch_rows(con: duckdb.DuckDBPyConnection, spec: TableSpec, needed: Iterable[str], tz: str) -> Frame:
    """The table's needed columns (personal ones redacted) and derived columns, as pandas."""
    existing = table_columns(con, spec.schema, spec.table)
    if not existing:
        raise FrameError(f"table {spec.schema}.{spec.table} does not exist")
    derived = _derived(spec, con, tz)
    wanted = list(dict.fromkeys((*spec.key, *needed)))
    selects, missing, notes = [], [], []
    for name in wanted:
        if name in existing:
            selects.append(select_expr(name))
        elif name in derived and all(s in existing for s in derived[name][1]):
            selects.append(f"{derived[name][0]} AS {q(name)}")
        else:
            # Not fetched: its expectations then fail with "column not found", which is what a person
            # should read, rather than the whole suite failing on SQL.
            missing.append(name)
    if missing:
        notes.append(f"columns missing from {spec.schema}.{spec.table}: {', '.join(missing)}")
    notes += [
        f"parent table {p.parent_table} does not exist"
        for p in spec.parents
        if f"{p.column}__exists" in missing and not relation_exists(con, p.parent_table)
    ]
    # DuckDB's columnar pandas export keeps the types (TIMESTAMP -> datetime64, VARCHAR -> str), and
    # the result is fully drained so the connection is free for the next query.
    df = con.execute(f"SELECT {', '.join(selects) or 'NULL AS _nothing'} FROM {spec.relation}").df()
    key = tuple(k for k in spec.key if k in df.columns)
    context: dict[str, Any] = {"rows": len(df)}
    if notes:
        context["notes"] = notes
    return Frame(df, key if len(key) == len(spec.key) else (), context)
