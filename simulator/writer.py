"""Bulk writing to, and reading back from, the case-system database (SQLite or PostgreSQL).

Tables are created with SQLAlchemy (`metadata.create_all`, so primary keys are declared); rows go in
through the drivers directly, because that is an order of magnitude faster than an ORM or executemany
through SQLAlchemy: SQLite via sqlite3 `executemany` in one transaction, PostgreSQL via psycopg `COPY`.
In SQLite, timestamps are text 'YYYY-MM-DD HH:MM:SS' and booleans 0/1; in PostgreSQL, `timestamp
without time zone` and boolean.

Values arrive as columns (see columns.py): -1 is NULL in nullable integer and timestamp columns, ''
in nullable text columns, NaN in float columns. Timestamps arrive as int64 seconds, already in UTC.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy import types as satypes

from simulator.columns import Columns, length
from simulator.identities import S

_COPY_CHUNK = 8 << 20


def _arrow_type(col: sa.Column) -> pa.DataType:
    t = col.type
    if isinstance(t, satypes.Boolean):
        return pa.bool_()
    if isinstance(t, satypes.Integer):  # BigInteger and SmallInteger included
        return pa.int64()
    if isinstance(t, satypes.DateTime):
        return pa.timestamp("s")
    if isinstance(t, satypes.Float):
        return pa.float64()
    return pa.string()


def to_arrow(table: sa.Table, cols: Columns) -> pa.Table:
    """Columns to an Arrow table typed after the SQLAlchemy table, nulls applied."""
    arrays = []
    for col in table.columns:
        values = cols[col.name]
        kind = _arrow_type(col)
        if kind == pa.string():
            values = np.asarray(values)
            mask = (values == "") if col.nullable else None
            arrays.append(pa.array(values, type=pa.string(), mask=mask))
        elif kind == pa.float64():
            arrays.append(pa.array(np.asarray(values, dtype=np.float64), mask=np.isnan(values)))
        elif kind == pa.bool_():
            arrays.append(pa.array(np.asarray(values, dtype=bool)))
        else:
            ints = np.asarray(values, dtype=np.int64)
            mask = (ints == -1) if col.nullable else None
            arr = pa.array(ints, mask=mask)
            arrays.append(arr.cast(kind) if kind != pa.int64() else arr)
    return pa.table(arrays, names=[c.name for c in table.columns])


class Source:
    """An open connection to the case-system database, for bulk work in one transaction."""

    def __init__(self, url: str, *, building: bool = False) -> None:
        self.url = url
        parsed = sa.engine.make_url(url)
        self.kind = "postgresql" if parsed.drivername.startswith("postgres") else "sqlite"
        if self.kind == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError(f"{url!r}: the simulator needs a SQLite file, sqlite:////abs/path.db")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._sa_url = parsed
            self.conn: Any = sqlite3.connect(parsed.database, isolation_level=None)
            if building:
                # a fresh build is repeatable from scratch: durability costs time for nothing
                self.conn.execute("PRAGMA synchronous=OFF")
                self.conn.execute("PRAGMA journal_mode=MEMORY")
        else:
            import psycopg

            self._sa_url = parsed.set(drivername="postgresql+psycopg")
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo)
        self._in_tx = False

    # --- schema
    def _engine(self) -> sa.Engine:
        return sa.create_engine(self._sa_url, poolclass=sa.pool.NullPool)

    def recreate(self, metadatas: Sequence[sa.MetaData]) -> None:
        """Drop and create the tables of `metadatas` (only those: other tables are left alone)."""
        self._end_tx()
        engine = self._engine()
        try:
            for md in metadatas:
                md.drop_all(engine)
            for md in metadatas:
                md.create_all(engine)
        finally:
            engine.dispose()

    def has_table(self, name: str) -> bool:
        engine = self._engine()
        try:
            return sa.inspect(engine).has_table(name)
        finally:
            engine.dispose()

    # --- transactions
    def begin(self) -> None:
        if self.kind == "sqlite":
            self.conn.execute("BEGIN")
        self._in_tx = True

    def commit(self) -> None:
        if self.kind == "postgresql":
            self.conn.commit()
        else:
            self.conn.execute("COMMIT")
        self._in_tx = False

    def rollback(self) -> None:
        if self.kind == "postgresql":
            self.conn.rollback()
        elif self._in_tx:
            self.conn.execute("ROLLBACK")
        self._in_tx = False

    def _end_tx(self) -> None:
        if self.kind == "postgresql":
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    # --- writing
    def _python_columns(self, data: pa.Table) -> list[list[Any]]:
        """Python values per column for the DB-API driver, None for nulls.

        Through numpy's tolist (C loops): Arrow's to_pylist is an order of magnitude slower on ints."""
        out = []
        for field, arr in zip(data.schema, data.columns, strict=True):
            arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
            if pa.types.is_timestamp(field.type) and self.kind == "sqlite":
                arr = pc.cast(arr, pa.string())  # 'YYYY-MM-DD HH:MM:SS'
            if pa.types.is_timestamp(arr.type):
                out.append(arr.to_pylist())  # psycopg wants datetimes; only used for small updates
            elif pa.types.is_string(arr.type):
                out.append(arr.to_numpy(zero_copy_only=False).tolist())
            elif pa.types.is_boolean(arr.type):
                values = arr.to_numpy(zero_copy_only=False)
                out.append(values.astype(np.int8).tolist() if self.kind == "sqlite" else values.tolist())
            elif arr.null_count == 0:
                out.append(arr.to_numpy().tolist())
            else:
                values = arr.fill_null(0).to_numpy().astype(object)
                values[arr.is_null().to_numpy(zero_copy_only=False)] = None
                out.append(values.tolist())
        return out

    def insert(self, table: sa.Table, cols: Columns) -> int:
        n = length(cols)
        if n == 0:
            return 0
        data = to_arrow(table, cols)
        names = ", ".join(f'"{c}"' for c in data.column_names)
        if self.kind == "sqlite":
            rows = zip(*self._python_columns(data), strict=True)
            marks = ", ".join("?" * data.num_columns)
            self.conn.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
        else:
            buf = io.BytesIO()
            pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
            payload = buf.getbuffer()
            with (
                self.conn.cursor() as cur,
                cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN WITH (FORMAT csv)') as copy,
            ):
                for i in range(0, len(payload), _COPY_CHUNK):
                    copy.write(payload[i : i + _COPY_CHUNK])
            del payload
        return n

    def update(self, table: sa.Table, key: str, cols: Columns) -> int:
        """UPDATE rows matched on `key` with the other columns given."""
        n = length(cols)
        if n == 0:
            return 0
        sub = sa.Table(
            table.name,
            sa.MetaData(),
            *(sa.Column(c.name, c.type, nullable=c.nullable) for c in table.columns if c.name in cols),
        )
        data = to_arrow(sub, cols)
        values = self._python_columns(data)
        names = data.column_names
        sets = [c for c in names if c != key]
        mark = "?" if self.kind == "sqlite" else "%s"
        sql = f'UPDATE "{table.name}" SET ' + ", ".join(f'"{c}" = {mark}' for c in sets)
        sql += f' WHERE "{key}" = {mark}'
        order = [names.index(c) for c in sets] + [names.index(key)]
        rows = list(zip(*(values[i] for i in order), strict=True))
        if self.kind == "sqlite":
            self.conn.executemany(sql, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(sql, rows)
        return n

    def delete_all(self, table: sa.Table) -> None:
        self.execute(f'DELETE FROM "{table.name}"')

    def execute(self, sql: str) -> None:
        if self.kind == "sqlite":
            self.conn.execute(sql)
        else:
            with self.conn.cursor() as cur:
                cur.execute(sql)

    # --- reading
    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            return self.conn.execute(sql).fetchall()
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def read(self, table: sa.Table, order_by: str | Sequence[str]) -> Columns:
        """A whole table as columns with the writer's null conventions (timestamps are not read)."""
        names = [c.name for c in table.columns if not isinstance(c.type, satypes.DateTime)]
        keys = [order_by] if isinstance(order_by, str) else list(order_by)
        sql = f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{table.name}"'
        sql += " ORDER BY " + ", ".join(f'"{k}"' for k in keys)
        rows = self.fetch(sql)
        # transposed in C (zip) and converted by Arrow: no per-value Python work
        raw = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        out: Columns = {}
        for name, values in zip(names, raw, strict=True):
            kind = _arrow_type(table.columns[name])
            if kind == pa.string():
                arr = pa.array(values, type=pa.string()).fill_null("")
                out[name] = arr.to_numpy(zero_copy_only=False).astype(S)
            elif kind == pa.float64():
                out[name] = pa.array(values, type=pa.float64()).fill_null(np.nan).to_numpy()
            elif kind == pa.bool_():
                out[name] = np.array(values, dtype=bool)  # PostgreSQL gives bools, SQLite 0/1
            else:
                out[name] = pa.array(values, type=pa.int64()).fill_null(-1).to_numpy()
        return out
