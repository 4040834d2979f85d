"""Publish the BI-facing schemas of the warehouse as a separate DuckDB file that BI tools read.

BI tools never open the warehouse itself: DuckDB allows one writer per file, and a reader holding
the warehouse would block the pipeline (or be blocked by it). They read a copy instead. The copy is
built in a new file next to its target (same folder, so the same file system), checkpointed and
closed, then swapped into place with `os.replace`, which is atomic on POSIX: a reader opens either
the old copy or the new one, never a half-written file. A reader that already has the old file open
keeps reading the old inode until it closes; the next connection sees the new data.

A publisher killed outright (SIGKILL, power loss) cannot clean up after itself: its temporary copy
stays beside the target. Publishers into one folder therefore take turns (an `flock` on the folder
itself, so no lock file is left behind), and each removes, while it holds that lock, the temporary
copies of this module's naming: no live publisher can own one then, and leftovers never accumulate.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cirm.errors import CirmError
from ingest.warehouse import quote_ident

DEFAULT_SCHEMAS: tuple[str, ...] = ("marts", "ml", "quality")
# DuckDB 2.0 writes new files in its newest storage format by default, which DuckDB 1.x cannot open.
# BI tools embed their own DuckDB (Metabase's driver, DBeaver's JDBC jar, Evidence's Node package),
# often a 1.x release, so the copy is written in the v1.0.0 format that every DuckDB from 1.0 reads.
DEFAULT_STORAGE_VERSION = "v1.0.0"
# The alias the warehouse is attached under while copying; distinct from any file-derived catalog name.
_SOURCE = "cirm_publish_source"
# Temporary copies are named `.<target name>.<this many hex digits>.tmp`; the cleanup matches exactly that.
_TEMP_HEX_DIGITS = 12


class PublishError(CirmError):
    """The serving copy could not be published; the previous copy (if any) is untouched."""


@dataclass(frozen=True)
class PublishResult:
    serving_path: Path
    tables: dict[str, int]  # 'schema.table' -> rows, views included (materialized)
    views_materialized: tuple[str, ...]  # 'schema.view' copied as tables
    missing_schemas: tuple[str, ...]  # asked for but absent from the warehouse (e.g. no ml in open-data mode)
    bytes: int
    seconds: float
    # Temporary copies (and their WALs) a killed publisher had left beside the target, now removed.
    stale_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Object:
    schema: str
    name: str
    kind: str  # 'table' or 'view'
    comment: str | None

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def publish_serving_copy(
    warehouse_path: Path,
    serving_path: Path,
    schemas: Sequence[str] = DEFAULT_SCHEMAS,
    *,
    storage_version: str = DEFAULT_STORAGE_VERSION,
) -> PublishResult:
    """Copy `schemas` (tables, views as tables, table and column comments) into `serving_path`, atomically.

    Needs a read lock on the warehouse: run it where no other process writes the warehouse (in Dagster,
    in the warehouse pool). On any failure the previous serving file stays as it was and no temporary
    file is left behind; one left by a publisher that was killed outright is removed by the next publish.
    Publishers into the same folder take turns.
    """
    started = time.monotonic()
    warehouse_path, serving_path = Path(warehouse_path), Path(serving_path)
    if not warehouse_path.is_file():
        raise PublishError(f"no warehouse at {warehouse_path}: run the pipeline first")
    if serving_path.resolve() == warehouse_path.resolve():
        raise PublishError(f"the serving copy must not replace the warehouse itself ({warehouse_path})")
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    with _publisher_turn(serving_path.parent) as exclusive:
        stale = _remove_stale_temporaries(serving_path) if exclusive else ()
        counts, objects, missing = _publish(warehouse_path, serving_path, schemas, storage_version)
    return PublishResult(
        serving_path=serving_path,
        tables=counts,
        views_materialized=tuple(f"{o.schema}.{o.name}" for o in objects if o.kind == "view"),
        missing_schemas=missing,
        bytes=serving_path.stat().st_size,
        seconds=time.monotonic() - started,
        stale_removed=stale,
    )


def _publish(
    warehouse_path: Path, serving_path: Path, schemas: Sequence[str], storage_version: str
) -> tuple[dict[str, int], list[_Object], tuple[str, ...]]:
    # Hidden, unique, and in the target's folder: os.replace is only atomic within one file system.
    tmp = serving_path.with_name(f".{serving_path.name}.{uuid.uuid4().hex[:_TEMP_HEX_DIGITS]}.tmp")
    tmp_wal = _wal_of(tmp)
    try:
        con = duckdb.connect(str(tmp), config={"storage_compatibility_version": storage_version})
        try:
            objects, missing = _copy_objects(con, warehouse_path, schemas)
            counts = _row_counts(con, objects)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if tmp_wal.exists():
            # Data still in a WAL would be lost by moving the main file alone.
            raise PublishError(f"the serving copy {tmp} kept a write-ahead log after CHECKPOINT; not published")
        _fsync_file(tmp)
        # A WAL beside the target belongs to whatever file was there before (someone opened the copy
        # read-write); DuckDB would replay it onto the new file.
        _wal_of(serving_path).unlink(missing_ok=True)
        os.replace(tmp, serving_path)
        _fsync_dir(serving_path.parent)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_wal.unlink(missing_ok=True)
    return counts, objects, missing


@contextlib.contextmanager
def _publisher_turn(folder: Path) -> Iterator[bool]:
    """Hold an exclusive `flock` on `folder` (released by the OS if the holder dies); yields whether
    it is held. A file system that cannot lock a folder (NFS) still publishes, without the cleanup:
    a leftover there might belong to a live publisher."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def temporary_copies(serving_path: Path) -> list[Path]:
    """The temporary copies (and their WALs) of `serving_path` beside it: names of this module's
    making only, so nothing else in the folder counts. A live publish has one; any other was left
    by a publisher killed outright."""
    ours = re.compile(rf"\.{re.escape(serving_path.name)}\.[0-9a-f]{{{_TEMP_HEX_DIGITS}}}\.tmp(\.wal)?")
    if not serving_path.parent.is_dir():
        return []
    return sorted(p for p in serving_path.parent.iterdir() if ours.fullmatch(p.name) and p.is_file())


def _remove_stale_temporaries(serving_path: Path) -> tuple[str, ...]:
    """Remove the temporary copies a killed publisher left. Call it in the turn: no live publisher
    can own one then."""
    removed = temporary_copies(serving_path)
    for path in removed:
        path.unlink(missing_ok=True)
    return tuple(p.name for p in removed)


def _copy_objects(
    con: duckdb.DuckDBPyConnection, warehouse_path: Path, schemas: Sequence[str]
) -> tuple[list[_Object], tuple[str, ...]]:
    """Attach the warehouse read-only and copy every table and view of `schemas`, with comments."""
    try:
        con.execute(f"ATTACH {_literal(str(warehouse_path))} AS {_SOURCE} (READ_ONLY)")
    except duckdb.Error as exc:
        raise PublishError(f"cannot read the warehouse {warehouse_path} (is a writer holding it?): {exc}") from exc
    present = {
        s
        for (s,) in con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [_SOURCE]
        ).fetchall()
    }
    wanted = list(dict.fromkeys(schemas))
    missing = tuple(s for s in wanted if s not in present)
    copied = [s for s in wanted if s in present]
    objects = [
        _Object(*row)
        for row in con.execute(
            "SELECT schema_name, table_name, 'table', comment FROM duckdb_tables() "
            "WHERE database_name = $db AND list_contains($schemas, schema_name) "
            "UNION ALL "
            "SELECT schema_name, view_name, 'view', comment FROM duckdb_views() "
            "WHERE database_name = $db AND NOT internal AND list_contains($schemas, schema_name) "
            "ORDER BY 1, 2",
            {"db": _SOURCE, "schemas": copied},
        ).fetchall()
    ]
    columns = con.execute(
        "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = ? AND list_contains(?, schema_name) AND comment IS NOT NULL AND comment <> '' "
        "ORDER BY schema_name, table_name, column_index",
        [_SOURCE, copied],
    ).fetchall()
    statements = [f"CREATE SCHEMA {quote_ident(s)}" for s in copied]
    for o in objects:
        # Views become tables: their SQL names the warehouse's catalog, which the copy does not have,
        # and a BI reader gets the same rows either way (the copy is a snapshot).
        statements.append(f"CREATE TABLE {o.qualified} AS SELECT * FROM {_SOURCE}.{o.qualified}")
        if o.comment:
            statements.append(f"COMMENT ON TABLE {o.qualified} IS {_literal(o.comment)}")
    for schema, table, column, comment in columns:
        target = f"{quote_ident(schema)}.{quote_ident(table)}.{quote_ident(column)}"
        statements.append(f"COMMENT ON COLUMN {target} IS {_literal(comment)}")
    # One transaction: the copy commits whole, and DuckDB writes large CTAS results straight to blocks.
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in statements:
            con.execute(statement)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute(f"DETACH {_SOURCE}")
    return objects, missing


def _row_counts(con: duckdb.DuckDBPyConnection, objects: list[_Object]) -> dict[str, int]:
    if not objects:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT {_literal(f'{o.schema}.{o.name}')} AS name, count(*) AS n FROM {o.qualified}" for o in objects
    )
    return {name: int(n) for name, n in con.execute(sql).fetchall()}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _wal_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _fsync_file(path: Path) -> None:
    # The rename must not reach the disk before the data it points at.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
