"""Erasure on request: record that a citizen must be forgotten, and optionally forget them at the source.

`cirm erase --citizen ID` records each id in `meta.erasure_requests`. Nothing else in the warehouse
changes at that moment: the dbt macro `apply_erasures` (dbt_project/macros/erasure.sql) runs at the
start of every dbt invocation of the pipeline and removes the recorded citizens from raw, snapshots,
marts and ML outputs, before staging is rebuilt, and again after any later ingest brought them back.
Doing the removal in dbt keeps one implementation of the identifier normalization and of the
pseudonyms (the `normalize_*` and `pseudonymize` macros), which the removal of hotline calls and web
or app events by phone and email needs.

With `CIRM_ERASE_IN_SOURCE=true` the command also deletes the citizen from the case-management
source (`erase_in_source`), so the source cannot bring them back either.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import duckdb

from cirm.errors import CirmError
from cirm.locking import data_folder_lock
from cirm.settings import Settings
from ingest.warehouse import connect_warehouse, quote_ident, table_exists, utc_now

# What an erased free-text field (request description, survey comment) becomes. A placeholder, not
# null, so that "the request had a description" stays true and city statistics stay whole. The dbt
# macro apply_erasures writes the same text (keep the two in step).
ERASED_TEXT = "[erased]"
# A writer outside `cirm run` (a run started from the Dagster UI) holds DuckDB's file lock without our
# lock; wait this long for it before giving up with a message.
WAREHOUSE_BUSY_SECONDS = 60.0

ERASURE_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.erasure_requests (
    citizen_id BIGINT PRIMARY KEY,
    requested_at TIMESTAMP NOT NULL,
    -- When the warehouse last held the citizen (at the request, or when a run found them in raw).
    found_at TIMESTAMP,
    -- The first run that removed the citizen; last_applied_at is the latest such pass: drop rows
    -- loaded before it were already checked against the citizen's pseudonyms.
    applied_at TIMESTAMP,
    last_applied_at TIMESTAMP,
    erased_in_source_at TIMESTAMP,
    -- When `cirm erase --compact` last rewrote the warehouse file: DuckDB leaves the bytes of deleted
    -- and updated rows in the file's free space, so a removal is complete only after a rewrite.
    compacted_at TIMESTAMP
);
-- Every pseudonym (identity number, phone, email) a citizen to erase was ever seen with, learned
-- from raw.citizens before its rows go: later drop files with that phone or email can still be
-- matched once no clear value is left to compute them from.
CREATE TABLE IF NOT EXISTS meta.erasure_pseudonyms (
    citizen_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    pseudonym VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (citizen_id, kind, pseudonym)
);
"""


@dataclass(frozen=True)
class SourceErasure:
    """What `erase_in_source` changed in the case-management source."""

    citizens_deleted: int
    requests_anonymized: int
    surveys_anonymized: int
    found: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ErasureRequest:
    citizen_id: int
    requested_at: datetime
    is_new: bool  # False: the id had been requested before (the request is unchanged)
    in_warehouse: bool  # the warehouse held the citizen when the command ran, or held them before
    applied_at: datetime | None
    in_source: bool = False  # the source holds (or held, if erased now) the citizen
    erased_in_source: bool = False  # deleted from the source by this command
    # Other registrations resolving to the same person (same identity number): separate ids.
    other_registrations: tuple[int, ...] = ()

    @property
    def is_unknown(self) -> bool:
        return not self.in_warehouse and not self.in_source

    def describe(self) -> str:
        who = f"citizen {self.citizen_id}"
        if self.is_unknown:
            who += " (UNKNOWN: neither the warehouse nor the source holds this id)"
        if not self.is_new:
            when = f"already requested at {self.requested_at:%Y-%m-%d %H:%M:%S} UTC"
            if self.applied_at is not None:
                line = f"{who}: {when}; applied by the run at {self.applied_at:%Y-%m-%d %H:%M:%S} UTC"
            else:
                line = f"{who}: {when}; not applied yet: the next `cirm run` erases it"
        elif self.is_unknown:
            line = f"{who}: recorded anyway: should a later ingest bring this id, the run that follows erases it"
        else:
            line = f"{who}: recorded at {self.requested_at:%Y-%m-%d %H:%M:%S} UTC; the next `cirm run` erases it"
        if self.erased_in_source:
            line += " (deleted from the source now)"
        elif self.in_source and not self.in_warehouse:
            line += " (in the source, not ingested yet)"
        if self.other_registrations:
            others = ", ".join(str(i) for i in self.other_registrations)
            line += (
                f"\n  note: registrations {others} share this citizen's identity number (the same person?); "
                "they are kept unless erased too"
            )
        return line


@dataclass
class ErasureReport:
    requests: list[ErasureRequest] = field(default_factory=list)
    source: SourceErasure | None = None
    source_note: str | None = None

    @property
    def unknown(self) -> list[int]:
        return [r.citizen_id for r in self.requests if r.is_unknown]

    def describe(self) -> str:
        lines = [r.describe() for r in self.requests]
        if self.source is not None:
            s = self.source
            lines.append(
                f"source: {s.citizens_deleted} citizen(s) deleted, {s.requests_anonymized} request(s) and "
                f"{s.surveys_anonymized} survey(s) anonymized"
            )
        if self.source_note:
            lines.append(self.source_note)
        return "\n".join(lines)


def _connect_when_free(path: Path, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return connect_warehouse(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise CirmError(
                    f"the warehouse {path} is held by another process (a run started from the Dagster UI?): "
                    "nothing was changed; try again when it has finished"
                ) from exc
            time.sleep(1.0)


def ensure_erasure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(ERASURE_DDL)


def record_erasure_requests(
    con: duckdb.DuckDBPyConnection, citizen_ids: Sequence[int], *, now: datetime | None = None
) -> list[ErasureRequest]:
    """Record each id once (a repeated id keeps its first request); report what the warehouse holds of it."""
    now = now or utc_now()
    ensure_erasure_tables(con)
    ids = list(dict.fromkeys(int(i) for i in citizen_ids))
    in_raw = _existing_ids(con, "raw", "citizens", ids)
    results: list[ErasureRequest] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for citizen_id in ids:
            found = now if citizen_id in in_raw else None
            inserted = con.execute(
                "INSERT INTO meta.erasure_requests (citizen_id, requested_at, found_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING citizen_id",
                [citizen_id, now, found],
            ).fetchall()
            if found is not None and not inserted:
                con.execute("UPDATE meta.erasure_requests SET found_at = ? WHERE citizen_id = ?", [now, citizen_id])
            requested_at, found_at, applied_at, erased_in_source_at = con.execute(
                "SELECT requested_at, found_at, applied_at, erased_in_source_at FROM meta.erasure_requests "
                "WHERE citizen_id = ?",
                [citizen_id],
            ).fetchall()[0]
            results.append(
                ErasureRequest(
                    citizen_id=citizen_id,
                    requested_at=requested_at,
                    is_new=bool(inserted),
                    in_warehouse=found_at is not None,
                    applied_at=applied_at,
                    in_source=erased_in_source_at is not None,
                    other_registrations=_other_registrations(con, citizen_id),
                )
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return results


def _existing_ids(con: duckdb.DuckDBPyConnection, schema: str, table: str, ids: list[int]) -> set[int]:
    if not ids or not table_exists(con, schema, table):
        return set()
    rows = con.execute(
        f"SELECT DISTINCT citizen_id FROM {schema}.{table} WHERE citizen_id IN (SELECT unnest(?::BIGINT[]))", [ids]
    ).fetchall()
    return {int(r[0]) for r in rows}


def _other_registrations(con: duckdb.DuckDBPyConnection, citizen_id: int) -> tuple[int, ...]:
    """Identity resolution's view of the last run: ids sharing this citizen's identity pseudonym."""
    if not table_exists(con, "intermediate", "int_citizen_identity"):
        return ()
    rows = con.execute(
        "SELECT other.citizen_id FROM intermediate.int_citizen_identity AS this "
        "JOIN intermediate.int_citizen_identity AS other "
        "ON other.resolved_citizen_id = this.resolved_citizen_id AND other.citizen_id <> this.citizen_id "
        "WHERE this.citizen_id = ? ORDER BY 1",
        [citizen_id],
    ).fetchall()
    return tuple(int(r[0]) for r in rows)


def erase_in_source(source_url: str, citizen_ids: Sequence[int], *, now: datetime | None = None) -> SourceErasure:
    """Delete the citizens from the case-management source, in one transaction.

    Their requests and surveys stay (the city's statistics need them) but lose the citizen: citizen_id
    becomes null and free text that may name them becomes ERASED_TEXT. `updated_at` is set as the
    system would on any write, so the next ingest carries the anonymized rows into raw.
    """
    from sqlalchemy import create_engine, func, or_, select

    from simulator.schema import citizens, satisfaction_surveys, service_requests

    now = now or utc_now()
    ids = sorted({int(i) for i in citizen_ids})
    engine = create_engine(source_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # Zero the freed space: without it the deleted name, phone, ... stay readable in the file.
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            found = frozenset(
                int(r[0]) for r in conn.execute(select(citizens.c.citizen_id).where(citizens.c.citizen_id.in_(ids)))
            )
            their_requests = select(service_requests.c.request_id).where(service_requests.c.citizen_id.in_(ids))
            surveys = conn.execute(
                satisfaction_surveys.update()
                .where(
                    or_(
                        satisfaction_surveys.c.citizen_id.in_(ids),
                        satisfaction_surveys.c.request_id.in_(their_requests.scalar_subquery()),
                    )
                )
                .values(citizen_id=None, comment=_erased(satisfaction_surveys.c.comment, func), updated_at=now)
            ).rowcount
            requests = conn.execute(
                service_requests.update()
                .where(service_requests.c.citizen_id.in_(ids))
                .values(citizen_id=None, description=_erased(service_requests.c.description, func), updated_at=now)
            ).rowcount
            deleted = conn.execute(citizens.delete().where(citizens.c.citizen_id.in_(ids))).rowcount
    finally:
        engine.dispose()
    return SourceErasure(deleted, requests, surveys, found)


def _erase_in_source_or_explain(source_url: str, citizen_ids: Sequence[int], now: datetime) -> SourceErasure:
    from sqlalchemy.exc import SQLAlchemyError

    if source_url.startswith("sqlite:///") and not Path(source_url.removeprefix("sqlite:///")).exists():
        raise CirmError(f"the erasure requests are recorded, but there is no source database at {source_url}")
    try:
        return erase_in_source(source_url, citizen_ids, now=now)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise CirmError(
            f"the erasure requests are recorded, but erasing them in the source failed (nothing changed there): "
            f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
        ) from exc


def _ids_in_source(source_url: str, citizen_ids: Sequence[int]) -> tuple[set[int], str | None]:
    """Which ids the source holds; an unreachable source is a note, not an error (the request is recorded)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import SQLAlchemyError

    from simulator.schema import citizens

    if source_url.startswith("sqlite:///") and not Path(source_url.removeprefix("sqlite:///")).exists():
        return set(), None  # connecting would create an empty database file
    engine = create_engine(source_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(citizens.c.citizen_id).where(citizens.c.citizen_id.in_(list(citizen_ids))))
            return {int(r[0]) for r in rows}, None
    except SQLAlchemyError as exc:
        return set(), f"could not look the ids up in the source ({type(exc).__name__}); recorded anyway"
    finally:
        engine.dispose()


def _erased(column, func):  # noqa: ANN001, ANN202 - SQLAlchemy expressions
    """Free text replaced by the placeholder; a missing or blank text stays as it was."""
    from sqlalchemy import case

    return case((func.trim(func.coalesce(column, "")) == "", column), else_=ERASED_TEXT)


def request_erasure(
    settings: Settings,
    citizen_ids: Sequence[int],
    *,
    in_source: bool = False,
    echo: Callable[[str], None] = print,
    wait_seconds: float = WAREHOUSE_BUSY_SECONDS,
) -> ErasureReport:
    """What `cirm erase` does: record the requests (under the data-folder lock) and, if asked, erase at the source."""
    bad = [i for i in citizen_ids if int(i) <= 0]
    if bad:
        # -1 is the unknown member of dim_citizen: "erasing" it would break every fact's key.
        raise CirmError(f"citizen ids are positive integers: {', '.join(str(i) for i in bad)}")
    if not citizen_ids:
        raise CirmError("no citizen id given")
    settings.ensure_dirs()
    report = ErasureReport()
    now = utc_now()
    with data_folder_lock(settings.data_dir, echo):
        # Recorded first: should the source fail, the warehouse still forgets the citizen.
        con = _connect_when_free(settings.warehouse_path, wait_seconds)
        try:
            requests = record_erasure_requests(con, citizen_ids, now=now)
            if in_source and settings.source_url is None:
                report.source_note = "CIRM_ERASE_IN_SOURCE=true but CIRM_SOURCE_URL=none: no source to erase"
            elif in_source:
                report.source = _erase_in_source_or_explain(settings.source_url, citizen_ids, now)
                found = sorted(report.source.found)
                con.execute(
                    "UPDATE meta.erasure_requests SET erased_in_source_at = ? "
                    "WHERE citizen_id IN (SELECT unnest(?::BIGINT[]))",
                    [now, found],
                )
                requests = [
                    replace(r, in_source=r.in_source or r.citizen_id in found, erased_in_source=r.citizen_id in found)
                    for r in requests
                ]
            elif settings.source_url is not None and any(not r.in_warehouse for r in requests):
                # Not ingested yet is not unknown: the next ingest brings the citizen, and the purge follows.
                in_source_ids, report.source_note = _ids_in_source(
                    settings.source_url, [r.citizen_id for r in requests if not r.in_warehouse]
                )
                requests = [replace(r, in_source=r.in_source or r.citizen_id in in_source_ids) for r in requests]
        finally:
            con.close()
    report.requests = requests
    return report


@dataclass(frozen=True)
class Compaction:
    path: Path
    rewritten: bool
    bytes_before: int
    bytes_after: int
    seconds: float

    def describe(self) -> str:
        if not self.rewritten:
            return f"{self.path}: no erasure applied since the last rewrite; nothing to do"
        return (
            f"rewrote {self.path} in {self.seconds:.1f}s ({self.bytes_before:,} -> {self.bytes_after:,} bytes): "
            "removed rows leave no bytes behind in it"
        )


def compaction_needed(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a run removed a citizen's data (or found it again) since the file was last rewritten."""
    if not table_exists(con, "meta", "erasure_requests"):
        return False
    (pending,) = con.execute(
        "SELECT count(*) FROM meta.erasure_requests WHERE applied_at IS NOT NULL "
        "AND greatest(applied_at, found_at) > coalesce(compacted_at, '-infinity'::TIMESTAMP)"
    ).fetchall()[0]
    return pending > 0


def compact_warehouse(path: Path, *, force: bool = False, wait_seconds: float = WAREHOUSE_BUSY_SECONDS) -> Compaction:
    """Rewrite the warehouse file, so that the bytes of erased rows are gone from it, not only unreachable.

    DuckDB frees the blocks of deleted rows and rebuilt tables without overwriting them: a deleted
    name stays readable in the file until the space is reused. The database is copied (COPY FROM
    DATABASE keeps schemas, comments, constraints, views and macros) into a new file in the same
    folder, which then replaces the old one (atomic on one file system). Needs the only connection to
    the warehouse: call it under the data-folder lock, after the run that applied the erasure.
    """
    started = time.monotonic()
    before = path.stat().st_size
    fresh = path.with_name(f".{path.name}.compact-{os.getpid()}")
    con = _connect_when_free(path, wait_seconds)
    try:
        if not compaction_needed(con) and not force:
            return Compaction(path, False, before, before, 0.0)
        fresh.unlink(missing_ok=True)
        (catalog,) = con.execute("SELECT current_database()").fetchall()[0]
        has_requests = table_exists(con, "meta", "erasure_requests")  # asked before a second catalog is attached
        con.execute("CHECKPOINT")
        con.execute(f"ATTACH '{str(fresh).replace(chr(39), chr(39) * 2)}' AS cirm_compacted")
        con.execute(f"COPY FROM DATABASE {quote_ident(catalog)} TO cirm_compacted")
        if has_requests:
            con.execute("UPDATE cirm_compacted.meta.erasure_requests SET compacted_at = ?", [utc_now()])
        con.execute("DETACH cirm_compacted")
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    # A write-ahead log left beside either file would be replayed onto the wrong database.
    for leftover in (path.with_name(path.name + ".wal"), fresh.with_name(fresh.name + ".wal")):
        if leftover.exists():
            fresh.unlink(missing_ok=True)
            raise CirmError(f"{leftover} is still there after closing the warehouse; the file was not rewritten")
    os.replace(fresh, path)
    return Compaction(path, True, before, path.stat().st_size, time.monotonic() - started)


def compact_after_erasure(
    settings: Settings, *, force: bool = False, echo: Callable[[str], None] = print
) -> Compaction:
    """What `cirm erase --compact` does: the rewrite, under the data-folder lock."""
    if not settings.warehouse_path.exists():
        raise CirmError(f"no warehouse at {settings.warehouse_path}")
    with data_folder_lock(settings.data_dir, echo):
        return compact_warehouse(settings.warehouse_path, force=force)
