"""Importing open-data 311 exports into `raw.open311_requests`, exactly once per file.

Each file is read as text (Arrow), staged and judged in DuckDB (`open311.stage`), and then, in one
transaction with its manifest entry, merged by (source_system, request_id): new requests are
inserted, a request already loaded is replaced only when this export's `updated_at` is newer.
Rows that break a rule go to `raw.open311_quarantine` with the reason, the field, the value and
the whole source row, so nothing read is ever silently lost:

    rows_read = rows_loaded + quarantined + duplicates_dropped

`meta.open311_manifest` records every file (name, size, sha256, counts, load). An identical file is
skipped (also under another name); a changed file under a known name is refused, like drop files.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cirm.errors import CirmError
from ingest.warehouse import fetch_one, quote_ident, table_exists, utc_now
from open311.mapping import TEXT_FIELDS, VOCABULARIES, Mapping
from open311.stage import STAGE_TABLE, drop_stage, stage_export

REQUESTS_TABLE = "raw.open311_requests"
QUARANTINE_TABLE = "raw.open311_quarantine"
MANIFEST_TABLE = "meta.open311_manifest"

# The contract the dbt models read: names and types are fixed.
REQUEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_system", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("status", "VARCHAR"),
    ("channel", "VARCHAR"),
    ("request_type", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("service_category", "VARCHAR"),
    ("agency", "VARCHAR"),
    ("agency_name", "VARCHAR"),
    ("district", "VARCHAR"),
    ("zip_code", "VARCHAR"),
    ("latitude", "DOUBLE"),
    ("longitude", "DOUBLE"),
    ("description", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("closed_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
    ("_source_file", "VARCHAR"),
    ("_row_number", "BIGINT"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_source", "VARCHAR"),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_system", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("_row_number", "BIGINT"),
    ("reason", "VARCHAR"),
    ("field", "VARCHAR"),
    ("value", "VARCHAR"),
    ("record", "VARCHAR"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
)
_DDL = f"""
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} ({", ".join(f"{c} {t}" for c, t in REQUEST_COLUMNS)});
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} ({", ".join(f"{c} {t}" for c, t in QUARANTINE_COLUMNS)});
CREATE TABLE IF NOT EXISTS {MANIFEST_TABLE} (
    source_system VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    mapping VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_dropped BIGINT NOT NULL,
    load_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source_system, file_name)
);
"""
DUPLICATE_KINDS = ("exact_duplicate", "superseded_in_file", "not_newer_than_loaded")


class Open311FileError(CirmError):
    """An export cannot be imported as it is."""


@dataclass
class ImportSummary:
    """What one import did, with every row read accounted for."""

    source_system: str
    load_id: str
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    duplicates_by_kind: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    # Values changed on the way in, the rows kept: placeholder_zip, mojibake_fixed, unknown_channel, ...
    normalized: dict[str, int] = field(default_factory=dict)
    # Non-empty values no datetime format could parse, per canonical field.
    datetime_failures: dict[str, int] = field(default_factory=dict)

    @property
    def rows_loaded(self) -> int:
        return self.rows_inserted + self.rows_updated

    @property
    def duplicates_dropped(self) -> int:
        return sum(self.duplicates_by_kind.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.duplicates_dropped

    def add(self, other: ImportSummary) -> None:
        self.files_loaded += other.files_loaded
        self.files_skipped += other.files_skipped
        self.rows_read += other.rows_read
        self.rows_inserted += other.rows_inserted
        self.rows_updated += other.rows_updated
        for mine, theirs in (
            (self.duplicates_by_kind, other.duplicates_by_kind),
            (self.quarantined_by_reason, other.quarantined_by_reason),
            (self.normalized, other.normalized),
            (self.datetime_failures, other.datetime_failures),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    def describe(self) -> str:
        lines = [
            f"open311 import ({self.source_system}), load {self.load_id}: {len(self.files_loaded)} file(s) imported, "
            f"{len(self.files_skipped)} skipped (already imported)",
        ]
        lines += [f"  imported  {name}" for name in self.files_loaded]
        lines += [f"  skipped   {name}" for name in self.files_skipped]
        lines += [
            f"  rows read            {self.rows_read:>10,}",
            f"  loaded               {self.rows_loaded:>10,}  "
            f"({self.rows_inserted:,} new, {self.rows_updated:,} updated)",
            f"  quarantined          {self.rows_quarantined:>10,}  (raw.open311_quarantine)",
        ]
        lines += [f"      {r:<30} {n:>10,}" for r, n in sorted(self.quarantined_by_reason.items(), key=_by_count)]
        lines.append(f"  duplicates dropped   {self.duplicates_dropped:>10,}")
        lines += [f"      {k:<30} {n:>10,}" for k, n in sorted(self.duplicates_by_kind.items(), key=_by_count) if n]
        check = "ok" if self.reconciles else "MISMATCH"
        lines.append(f"  read = loaded + quarantined + duplicates: {check}")
        normalized = {k: n for k, n in self.normalized.items() if n}
        if normalized:
            lines.append("  normalized values (rows loaded):")
            lines += [f"      {k:<30} {n:>10,}" for k, n in sorted(normalized.items(), key=_by_count)]
        failures = {k: n for k, n in self.datetime_failures.items() if n}
        if failures:
            lines.append("  unparsed datetimes (no format matched):")
            lines += [f"      {k:<30} {n:>10,}" for k, n in sorted(failures.items(), key=_by_count)]
        return "\n".join(lines)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


@dataclass(frozen=True)
class Export:
    path: Path
    data: bytes
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def read_export_bytes(path: Path | str) -> Export:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise Open311FileError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise Open311FileError(f"{path}: is a folder, not an export file") from exc
    return Export(path, data, hashlib.sha256(data).hexdigest())


def export_header(export: Export, mapping: Mapping) -> list[str]:
    if not export.data.strip():
        raise Open311FileError(f"{export.path}: the file is empty (expected a header row)")
    first = export.data.split(b"\n", 1)[0]
    try:
        text = first.decode(mapping.encoding)
    except UnicodeDecodeError as exc:
        raise Open311FileError(
            f"{export.path}: the header is not {mapping.encoding} text; set `encoding:` in {mapping.path}"
        ) from exc
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff").rstrip("\r"))))
    if "_row_number" in header:
        raise Open311FileError(f"{export.path}: has a column named _row_number, which the importer reserves")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise Open311FileError(f"{export.path}: column(s) named twice in the header: {', '.join(duplicated)}")
    return header


def parse_export(export: Export, mapping: Mapping) -> pa.Table:
    """The export as text columns, in file order, with `_row_number` (1 = first data row)."""
    header = export_header(export, mapping)
    mapping.check_columns(export.path, header)
    try:
        table = pacsv.read_csv(
            io.BytesIO(export.data),
            read_options=pacsv.ReadOptions(encoding=mapping.encoding, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True, null_values=[""]
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Open311FileError(
            f"{export.path}: cannot be read as a {mapping.encoding} CSV file ({exc}); "
            f"if the file has another text encoding, set `encoding:` in {mapping.path}"
        ) from exc
    n = table.num_rows
    return table.append_column("_row_number", pa.array(np.arange(1, n + 1, dtype=np.int64)))


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)


def import_files(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    files: Iterable[Path | str],
    load_id: str,
    *,
    now: datetime | None = None,
) -> ImportSummary:
    """Import exports of one city with its mapping; files already imported are skipped.

    Every file is checked (readable, fits the mapping, not changed since an earlier import) before
    any is imported, so a bad file in the list refuses the whole command instead of half of it.
    `now` (naive UTC) is the reference for the "created in the future" rule.
    """
    ensure_tables(con)
    summary = ImportSummary(mapping.source_system, load_id)
    known = {
        name: sha
        for name, sha in con.execute(
            f"SELECT file_name, sha256 FROM {MANIFEST_TABLE} WHERE source_system = ?", [mapping.source_system]
        ).fetchall()
    }
    known_hashes = {sha: name for name, sha in known.items()}
    pending: list[Export] = []
    changed: list[str] = []
    for path in files:
        export = read_export_bytes(path)
        if export.name in known and known[export.name] != export.sha256:
            changed.append(f"{export.path} (sha256 {export.sha256[:12]}…, imported as {known[export.name][:12]}…)")
        elif export.sha256 in known_hashes or any(p.sha256 == export.sha256 for p in pending):
            summary.files_skipped.append(export.name)
        elif any(p.name == export.name for p in pending):
            # The manifest knows a file by its name: two different files under one name cannot both load.
            raise Open311FileError(f"two different files named {export.name} in one import: {export.path}")
        else:
            mapping.check_columns(export.path, export_header(export, mapping))
            pending.append(export)
    if changed:
        raise Open311FileError(
            f"{len(changed)} {mapping.source_system} export(s) changed after they were imported; an imported "
            "file is immutable: import a newer export under a new name instead. Changed: " + "; ".join(changed)
        )
    reference = now or utc_now()
    for export in pending:
        summary.add(_import_one(con, mapping, export, load_id, reference))
    return summary


def _import_one(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, export: Export, load_id: str, now: datetime
) -> ImportSummary:
    table = parse_export(export, mapping)
    started = utc_now()
    result = ImportSummary(mapping.source_system, load_id, files_loaded=[export.name], rows_read=table.num_rows)
    con.execute("BEGIN TRANSACTION")
    try:
        stage_export(con, mapping, table, now)
        _decide(con, mapping.source_system)
        _count(con, mapping, result)
        loaded_at = utc_now()
        _write(con, mapping, export.name, load_id, loaded_at)
        con.execute(
            f"INSERT INTO {MANIFEST_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                mapping.source_system,
                export.name,
                str(mapping.path),
                len(export.data),
                export.sha256,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.duplicates_dropped,
                load_id,
                loaded_at,
            ],
        )
        if table_exists(con, "meta", "load_log"):  # present in every warehouse (connect_warehouse)
            con.execute(
                "INSERT INTO meta.load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    load_id,
                    "open311_requests",
                    mapping.source,
                    result.rows_read,
                    result.rows_inserted,
                    result.rows_updated,
                    started,
                    utc_now(),
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        drop_stage(con)
    if not result.reconciles:  # a bug, not an input problem: never let a row vanish unnoticed
        raise AssertionError(f"{export.path}: rows do not reconcile: {result}")
    return result


def _decide(con: duckdb.DuckDBPyConnection, source_system: str) -> None:
    """Per staged row: what happens to it (insert, update, quarantine, or which kind of duplicate)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE o311_action AS
        SELECT s._row_number,
               CASE WHEN s._exact_dup THEN 'exact_duplicate'
                    WHEN s._reason IS NOT NULL THEN 'quarantine'
                    WHEN s._superseded THEN 'superseded_in_file'
                    WHEN e.updated_at IS NULL THEN 'insert'
                    WHEN s.updated_at > e.updated_at THEN 'update'
                    ELSE 'not_newer_than_loaded' END AS action
        FROM {STAGE_TABLE} s
        LEFT JOIN (
            SELECT request_id, max(updated_at) AS updated_at FROM {REQUESTS_TABLE}
            WHERE source_system = $system GROUP BY request_id
        ) e ON e.request_id = s.request_id AND NOT s._exact_dup AND s._reason IS NULL AND NOT s._superseded
        """,
        {"system": source_system},
    )


def _count(con: duckdb.DuckDBPyConnection, mapping: Mapping, result: ImportSummary) -> None:
    actions = dict(con.execute("SELECT action, count(*) FROM o311_action GROUP BY ALL").fetchall())
    result.rows_inserted = int(actions.get("insert", 0))
    result.rows_updated = int(actions.get("update", 0))
    result.duplicates_by_kind = {k: int(actions.get(k, 0)) for k in DUPLICATE_KINDS}
    result.quarantined_by_reason = dict(
        con.execute(
            f"SELECT s._reason, count(*) FROM {STAGE_TABLE} s JOIN o311_action a USING (_row_number) "
            "WHERE a.action = 'quarantine' GROUP BY ALL"
        ).fetchall()
    )
    specs = mapping.fields
    measures: dict[str, str] = {"mojibake_fixed": "sum(_mojibake_n)"}
    if "zip_code" in specs:
        measures["placeholder_zip"] = "count(*) FILTER (WHERE _src_zip_code IS NOT NULL AND zip_code IS NULL)"
    if "latitude" in specs or "longitude" in specs:
        given = " OR ".join(f"_src_{c} IS NOT NULL" for c in ("latitude", "longitude") if c in specs)
        measures["invalid_coordinates"] = f"count(*) FILTER (WHERE ({given}) AND latitude IS NULL)"
    measures["unknown_channel"] = "count(*) FILTER (WHERE channel IS NULL)"
    if "updated_at" in specs:
        measures["updated_at_fallback"] = "count(*) FILTER (WHERE _parsed_updated_at IS NULL)"
        measures["updated_at_raised"] = "count(*) FILTER (WHERE _parsed_updated_at < updated_at)"
    for name in (*VOCABULARIES, *TEXT_FIELDS):
        spec = specs.get(name)
        mapped = spec is not None and (spec.values is not None or spec.vocabulary is not None)
        if mapped and spec.on_miss != "quarantine":
            verb = {"null": "nulled", "default": "defaulted", "keep": "kept"}[spec.on_miss]
            measures[f"{name}_unmapped_{verb}"] = f"count(*) FILTER (WHERE _miss_{name})"
    select = ", ".join(f"coalesce({expr}, 0)" for expr in measures.values())
    row = fetch_one(
        con,
        f"SELECT {select} FROM {STAGE_TABLE} JOIN o311_action a USING (_row_number) "
        "WHERE a.action IN ('insert', 'update')",
    )
    result.normalized = {k: int(v) for k, v in zip(measures, row or (), strict=True)}
    # updated_at itself always has a value (it falls back); whether the source parsed is kept aside.
    parsed = {"created_at": "created_at", "closed_at": "closed_at", "updated_at": "_parsed_updated_at"}
    failures = {
        name: f"count(*) FILTER (WHERE _src_{name} IS NOT NULL AND {column} IS NULL)"
        for name, column in parsed.items()
        if name in specs
    }
    row = fetch_one(con, f"SELECT {', '.join(failures.values())} FROM {STAGE_TABLE} WHERE NOT _exact_dup")
    result.datetime_failures = {k: int(v) for k, v in zip(failures, row or (), strict=True)}


def _write(con: duckdb.DuckDBPyConnection, mapping: Mapping, file_name: str, load_id: str, loaded_at: datetime) -> None:
    params = {"system": mapping.source_system, "file": file_name, "load": load_id, "at": loaded_at}
    con.execute(
        f"""
        DELETE FROM {REQUESTS_TABLE} WHERE source_system = $system AND request_id IN (
            SELECT s.request_id FROM {STAGE_TABLE} s JOIN o311_action a USING (_row_number) WHERE a.action = 'update')
        """,
        {"system": mapping.source_system},
    )
    canonical = [c for c, _ in REQUEST_COLUMNS if not c.startswith("_") and c != "source_system"]
    con.execute(
        f"""
        INSERT INTO {REQUESTS_TABLE} ({", ".join(c for c, _ in REQUEST_COLUMNS)})
        SELECT $system, {", ".join(f"s.{c}" for c in canonical)}, $file, s._row_number, $load, $at, $source
        FROM {STAGE_TABLE} s JOIN o311_action a USING (_row_number)
        WHERE a.action IN ('insert', 'update')
        ORDER BY s._row_number
        """,
        {**params, "source": mapping.source},
    )
    record = (
        "to_json(struct_pack("
        + ", ".join(f"{quote_ident(c)} := src.{quote_ident(c)}" for c in _source_columns(con))
        + "))::VARCHAR"
    )
    con.execute(
        f"""
        INSERT INTO {QUARANTINE_TABLE} ({", ".join(c for c, _ in QUARANTINE_COLUMNS)})
        SELECT $system, $file, s._row_number, s._reason, s._qfield, s._qvalue, {record}, $load, $at
        FROM {STAGE_TABLE} s JOIN o311_action a USING (_row_number) JOIN o311_src src USING (_row_number)
        WHERE a.action = 'quarantine'
        ORDER BY s._row_number
        """,
        params,
    )
    con.execute("DROP TABLE IF EXISTS o311_action")


def _source_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    names = [d[0] for d in con.execute("SELECT * FROM o311_src LIMIT 0").description]
    return [n for n in names if n != "_row_number"]


def quarantine_counts(con: duckdb.DuckDBPyConnection, source_system: str) -> Counter[str]:
    """Quarantined rows per reason for one source system, over every import so far."""
    return Counter(
        dict(
            con.execute(
                f"SELECT reason, count(*) FROM {QUARANTINE_TABLE} WHERE source_system = ? GROUP BY ALL",
                [source_system],
            ).fetchall()
        )
    )
