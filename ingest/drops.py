"""Exactly-once loading of channel file drops into `raw.<channel table>`.

Files land as delivered: every data column is text, typed later in staging, where a bad value is
quarantined with its reason instead of failing the whole file. `meta.drop_manifest` records each
file's name, size, checksum, rows and load; an identical re-drop is skipped and a changed file under
a known name is refused. A file's rows and its manifest entry commit together.

A file that cannot be read as its channel's format (empty, cut short, another delimiter, missing
columns, not text) is refused whole with a `DropFileError` naming the file, the row or line and the
field; the channel's other files still load, and the refused file loads once it is delivered fixed
(it never entered the manifest). UTF-8 is the contract; GBK and Windows-1252 (Latin-1) exports occur
in practice and are detected and transcoded (`DropLoad.encodings`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cirm.errors import CirmError
from ingest.warehouse import fetch_one, quote_ident, utc_now
from simulator.drops import DROP_CHANNELS, DROP_TABLES

FILE_META_COLUMNS = (("_source_file", "VARCHAR"), ("_row_number", "BIGINT"))
LOAD_META_COLUMNS = (("_load_id", "VARCHAR"), ("_loaded_at", "TIMESTAMP"), ("_source", "VARCHAR"))
# Files per transaction: large enough to amortize commits, small enough to bound memory.
FILES_PER_BATCH = 64
_FILE_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Columns the loader adds to every row: a file bringing its own would collide with them.
RESERVED_COLUMNS = frozenset(c for c, _ in (*FILE_META_COLUMNS, *LOAD_META_COLUMNS))
# Unknown columns are accepted and surfaced (schema drift); this many means another kind of file.
MAX_EXTRA_COLUMNS = 50
# What a CSV gets exported with instead of ',' (spreadsheets in many locales use ';').
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# A byte pair as a GBK decoder pairs them: a lead byte from 0x81, then a trail byte.
_GBK_PAIR = re.compile(rb"[\x81-\xfe][\x40-\x7e\x80-\xfe]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# Arrow's CSV reader needs one character that never occurs to read JSON lines as single values.
_LINE_DELIMITERS = ("\x1f", "\x1e", "\x1d", "\x1c", "\x01", "\x02")


class DropFileError(CirmError):
    """A drop file cannot be loaded as it is."""


@dataclass
class DropLoad:
    channel: str
    load_id: str
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    # Files refused (DropFileError names each); the others loaded all the same.
    files_failed: list[str] = field(default_factory=list)
    # Files delivered in another encoding than plain UTF-8: name -> the encoding they were read in.
    encodings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _DropFile:
    path: Path
    data: bytes
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class _Parsed:
    file: _DropFile
    table: pa.Table
    encoding: str


def channel_files(drops_dir: Path, channel: str, days: tuple[date, date] | None = None) -> list[Path]:
    """The channel's files; with `days` (start inclusive, end exclusive) only files dated in it."""
    ext = DROP_CHANNELS[channel][0]
    folder = drops_dir / channel
    files = sorted(folder.glob(f"*.{ext}")) if folder.is_dir() else []
    if days is None:
        return files
    return [f for f in files if (day := file_day(f)) is not None and days[0] <= day < days[1]]


def file_day(path: Path) -> date | None:
    """The delivery day a drop file's name carries (`<channel>_YYYY-MM-DD.<ext>`); None if it has none.

    An undated file still loads: in the catch-up run, which takes every file not loaded before.
    """
    match = _FILE_DAY.search(path.stem)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(0))
    except ValueError:
        return None


def _parse(file: _DropFile, channel: str) -> _Parsed:
    """The file's rows as text columns, or a DropFileError saying where and what is wrong."""
    ext, required = DROP_CHANNELS[channel]
    try:
        data, encoding = _decode(file)
        if not data.strip():
            raise DropFileError(
                f"{file.path}: the file is empty (expected a header row)"
                if ext == "csv"
                else f"{file.path}: the file is empty"
            )
        table = _parse_csv(file, data, required) if ext == "csv" else _parse_jsonl(file, data, required)
    except DropFileError:
        raise
    except (pa.ArrowException, duckdb.Error, UnicodeError, csv.Error) as exc:
        # Whatever else a malformed file trips in a parser is still that file's problem: reported
        # with its name, never as a stack trace.
        raise DropFileError(f"{file.path}: cannot be read as {ext.upper()}: {exc}") from exc
    return _Parsed(file, table, encoding)


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(file: _DropFile) -> tuple[bytes, str]:
    """The file as UTF-8 bytes (what the parsers read) and the encoding it arrived in.

    UTF-8, with or without a byte-order mark, is the contract; UTF-16 with a mark is what
    spreadsheets call "Unicode text". Without a mark, GBK and Windows-1252 (a superset of Latin-1's
    printable characters) both decode almost any bytes, so the choice is by plausibility (`_as_gbk`).
    """
    data = file.data
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec).encode("utf-8"), codec
            except UnicodeDecodeError as exc:
                raise DropFileError(
                    f"{file.path}, line {_line_at(data, exc.start)}: starts with a {codec} byte-order mark but "
                    f"byte {exc.start + 1} is not {codec}; re-export the file as UTF-8"
                ) from exc
    _refuse_binary(file)
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError as exc:
        not_utf8 = exc
    gbk = _as_gbk(data)
    if gbk is not None:
        return gbk.encode("utf-8"), "gbk"
    try:
        return data.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        pos = not_utf8.start
        raise DropFileError(
            f"{file.path}, line {_line_at(data, pos)}: byte 0x{data[pos]:02X} (byte {pos + 1} of the file) is not "
            "UTF-8, and the file is not GBK or Windows-1252/Latin-1 either; re-export it as UTF-8"
        ) from not_utf8


def _as_gbk(data: bytes) -> str | None:
    """The text if the bytes are plausibly GBK: they decode, and their byte pairs lie in GB2312's
    range (both bytes from 0xA1), where the common Chinese characters are. An accented Latin-1
    letter is a single high byte, mostly followed by ASCII: GBK would pair it with a trail byte
    below 0xA1, so Latin-1 text fails the test even when it happens to decode as GBK."""
    try:
        text = data.decode("gbk")
    except UnicodeDecodeError:
        return None
    # A sample is evidence enough: 1 MiB from the line of the first non-ASCII byte (a line start
    # keeps the pairing as the decoder did it).
    first = _NON_ASCII.search(data)
    start = data.rfind(b"\n", 0, first.start()) + 1 if first else 0
    sample = _GBK_PAIR.findall(data, start, start + (1 << 20))
    pairs = np.frombuffer(b"".join(sample), dtype=np.uint8).reshape(-1, 2)
    if len(pairs) == 0 or float((pairs >= 0xA1).all(axis=1).mean()) < 0.9:
        return None
    return text


def _refuse_binary(file: _DropFile) -> None:
    """Refuse what is not text at all, before a decoder makes characters of it."""
    ext = file.path.suffix.lstrip(".")
    if file.data.startswith(b"PK\x03\x04"):
        raise DropFileError(
            f"{file.path}: a ZIP archive (an Excel workbook saved as .{ext}?), not {ext.upper()} text; "
            f"export it as {ext.upper()}"
        )
    if file.data.startswith(b"\x1f\x8b"):
        raise DropFileError(f"{file.path}: gzip-compressed; deliver it uncompressed")
    nul = file.data.count(b"\x00")
    if nul * 10 > len(file.data):
        line = _line_at(file.data, file.data.index(b"\x00"))
        raise DropFileError(
            f"{file.path}, line {line}: {nul} of its {len(file.data)} bytes are NUL: binary data, or UTF-16 "
            "text without a byte-order mark; re-export it as UTF-8"
        )


def _read_csv(
    data: bytes,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
    read: pacsv.ReadOptions | None = None,
) -> pa.Table:
    """Arrow's CSV reader, whatever the longest record.

    Arrow reads in blocks (1 MiB by default) and refuses a record that straddles two; a 1 MB text
    field is legal, so such a file is read again as one block.
    """
    read = read or pacsv.ReadOptions()
    try:
        return pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc):
            raise
    read.block_size = min(len(data) + 1, 2**31 - 1)
    return pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)


def _parse_csv(file: _DropFile, data: bytes, required: tuple[str, ...]) -> pa.Table:
    header = next(csv.reader([data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")]), [])
    _check_columns(file, header, required, lambda position, _name: f"line 1 (header), column {position}")
    missing = [c for c in required if c not in header]
    if missing:
        raise DropFileError(f"{file.path}, line 1 (header): " + _missing_columns(header, missing))
    # Quoted values may span lines (RFC 4180): notes pasted from a form do.
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        # Everything stays text here; an empty cell is the only null.
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
        null_values=[""],
    )
    try:
        return _read_csv(data, parse, convert)
    except pa.ArrowInvalid as exc:
        raise _csv_row_error(file, data, header, convert, exc) from exc


def _missing_columns(header: list[str], missing: list[str]) -> str:
    if len(header) == 1:
        for delimiter, label in _OTHER_DELIMITERS.items():
            if any(c in (part.strip().strip('"') for part in header[0].split(delimiter)) for c in missing):
                return (
                    f"the columns are separated by {delimiter!r} ({label}), not ','; deliver the file "
                    f"comma-separated (required column(s) {', '.join(missing)} not found)"
                )
    return f"missing required column(s) {', '.join(missing)}; found {', '.join(repr(c) for c in header)}"


def _csv_row_error(
    file: _DropFile, data: bytes, header: list[str], convert: pacsv.ConvertOptions, exc: pa.ArrowInvalid
) -> DropFileError:
    """Which row broke the parse, and how. Arrow numbers rows only when it reads in one thread, so
    the failed file is read once more that way (the error path only). No values: the row may hold a
    phone number, and this message goes to logs."""
    bad: list[pacsv.InvalidRow] = []

    def keep(row: pacsv.InvalidRow) -> str:
        bad.append(row)
        return "error"

    with contextlib.suppress(pa.ArrowInvalid):
        pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=min(len(data) + 1, 2**31 - 1)),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep),
            convert_options=convert,
        )
    if not bad or bad[0].number is None:
        return DropFileError(f"{file.path}: cannot be parsed as CSV: {exc}")
    row, width = bad[0], len(header)
    got = row.actual_columns
    if got < width:
        detail = (
            f"field(s) {', '.join(header[got:])} missing: the row is cut short (a truncated file?) "
            "or a quote is not closed"
        )
    else:
        detail = f"{got - width} field(s) after the last column {header[-1]}: a value holds an unquoted ','"
    # Arrow counts the header as row 1; rows here are data rows, as in _row_number.
    return DropFileError(f"{file.path}, row {row.number - 1}: {got} field(s) where the header has {width}; {detail}")


def _check_columns(
    file: _DropFile, names: list[str], required: tuple[str, ...], where: Callable[[int, str], str]
) -> None:
    """Refuse column names the raw table cannot take; `where` says where a name occurs."""
    seen: dict[str, str] = {}
    for position, name in enumerate(names, 1):
        key = name.lower()  # DuckDB resolves names ignoring case
        if not name.strip():
            raise DropFileError(f"{file.path}, {where(position, name)}: a column without a name")
        if key in RESERVED_COLUMNS:
            raise DropFileError(
                f"{file.path}, {where(position, name)}: column {name!r} is reserved for the loader's metadata"
            )
        if key in seen:
            raise DropFileError(
                f"{file.path}, {where(position, name)}: column {name!r} repeats column {seen[key]!r} "
                "(names are compared ignoring case)"
            )
        seen[key] = name
    extra = [n for n in names if n not in required]
    if len(extra) > MAX_EXTRA_COLUMNS:
        raise DropFileError(
            f"{file.path}: {len(extra)} columns the contract does not have ({', '.join(extra[:5])}, ...); "
            "is this the right channel's file?"
        )


def _parse_jsonl(file: _DropFile, data: bytes, required: tuple[str, ...]) -> pa.Table:
    """JSON lines to text columns, in file order, every value as the sender wrote it.

    Lines are read as one text column (Arrow's CSV reader with no delimiter or quoting that can
    occur), then DuckDB extracts the fields: columnar, and each line keeps its own line number.
    """
    delimiter = next((d for d in _LINE_DELIMITERS if d.encode() not in data), None)
    if delimiter is None:
        raise DropFileError(f"{file.path}: holds every control character of {_LINE_DELIMITERS!r}: not JSON lines")
    lines = _read_csv(
        data,
        pacsv.ParseOptions(delimiter=delimiter, quote_char=False, escape_char=False, ignore_empty_lines=False),
        pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
        pacsv.ReadOptions(column_names=["line"]),
    )
    numbered = lines.append_column("n", pa.array(np.arange(1, lines.num_rows + 1, dtype=np.int64)))
    con = _scratch()
    try:
        con.register("lines", numbered)
        # JSON forbids raw control characters in strings, yet senders write them (a tab pasted into
        # a form). Escaped, the value stays as sent, as Python's json.loads(strict=False) reads it.
        con.execute(
            "CREATE OR REPLACE TABLE events AS SELECT n, CASE WHEN json_valid(line) THEN line ELSE "
            f"{_escape_controls('line')} END AS line FROM lines WHERE trim(line) <> ''"
        )
        bad = fetch_one(con, "SELECT min(n) FROM events WHERE NOT json_valid(line)")
        if bad and bad[0] is not None:
            raise DropFileError(_json_line_error(file, con, bad[0], data))
        # Every line is valid JSON from here on: json_type cannot fail on one.
        other = fetch_one(
            con, "SELECT n, json_type(line) FROM events WHERE json_type(line) <> 'OBJECT' ORDER BY n LIMIT 1"
        )
        if other:
            raise DropFileError(
                f"{file.path}, line {other[0]}: a JSON {str(other[1]).lower()}, expected one object per line"
            )
        distinct_keys = "SELECT DISTINCT unnest(json_keys(line)) AS k FROM events ORDER BY k"
        keys = [k for (k,) in con.execute(distinct_keys).fetchall()]
        if not keys:
            raise DropFileError(f"{file.path}: the file has no events")

        def first_line(_position: int, key: str) -> str:
            found = fetch_one(con, "SELECT min(n) FROM events WHERE list_contains(json_keys(line), ?)", [key])
            return f"line {found[0] if found else '?'}"

        _check_columns(file, keys, required, first_line)
        missing = [c for c in required if c not in keys]
        if missing:
            raise DropFileError(
                f"{file.path}: no line has the required field(s) {', '.join(missing)}; found {', '.join(keys)}"
            )
        # One list of paths: DuckDB parses each line once for all fields, not once per field
        # (0.017 s against 0.043 s for a day's app file at scale M).
        paths = ", ".join(_json_path(k) for k in keys)
        fields = ", ".join(f"v[{i}] AS {quote_ident(k)}" for i, k in enumerate(keys, start=1))
        return con.sql(
            f"SELECT {fields} FROM (SELECT n, json_extract_string(line, [{paths}]) AS v FROM events) ORDER BY n"
        ).to_arrow_table()
    finally:
        con.unregister("lines")
        con.execute("DROP TABLE IF EXISTS events")


_local = threading.local()


def _scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for parsing, one per thread and reused: opening one per file cost 60 ms,
    most of the time a day's small JSONL file takes."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def _escape_controls(expr: str) -> str:
    for code in range(32):
        expr = f"replace({expr}, chr({code}), '\\u{code:04x}')"
    return expr


def _json_line_error(file: _DropFile, con: duckdb.DuckDBPyConnection, n: int, data: bytes) -> str:
    """Line n is not JSON: where in it, and after which field, the parse stopped (no values)."""
    line = str(fetch_one(con, "SELECT line FROM events WHERE n = ?", [n])[0])
    detail = "not valid JSON"
    try:
        json.loads(line, strict=False)
    except json.JSONDecodeError as exc:
        fields = re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', line[: exc.pos])
        after = f", in or after field {fields[-1]!r}" if fields else ""
        detail = f"not valid JSON ({exc.msg}: character {exc.pos + 1}{after})"
    last = fetch_one(con, "SELECT max(n) FROM events")
    truncated = last is not None and last[0] == n and not data.rstrip(b" ").endswith(b"\n")
    return f"{file.path}, line {n}: {detail}" + ("; the file ends inside this line: truncated?" if truncated else "")


def _json_path(key: str) -> str:
    return "'$.\"" + key.replace("'", "''").replace('"', '\\"') + "\"'"


def _ensure_table(con: duckdb.DuckDBPyConnection, channel: str, columns: list[str]) -> list[str]:
    """Create the raw table, or add text columns a file brought; returns the added ones."""
    table = f"raw.{quote_ident(DROP_TABLES[channel])}"
    required = DROP_CHANNELS[channel][1]
    ddl = ", ".join(
        [f"{quote_ident(c)} VARCHAR" for c in required]
        + [f"{quote_ident(c)} {t}" for c, t in (*FILE_META_COLUMNS, *LOAD_META_COLUMNS)]
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
    existing = {
        r[0].lower()  # DuckDB column names ignore case
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='raw' AND table_name=?",
            [DROP_TABLES[channel]],
        ).fetchall()
    }
    added = [c for c in columns if c.lower() not in existing]
    for col in added:
        con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_ident(col)} VARCHAR")
    return added


def _manifest(con: duckdb.DuckDBPyConnection, channel: str) -> dict[str, str]:
    rows = con.execute("SELECT file_name, sha256 FROM meta.drop_manifest WHERE channel = ?", [channel]).fetchall()
    return dict(rows)


def _read(path: Path) -> _DropFile:
    data = path.read_bytes()
    return _DropFile(path, data, hashlib.sha256(data).hexdigest())


def _batches(files: list[Path]) -> Iterator[list[Path]]:
    for i in range(0, len(files), FILES_PER_BATCH):
        yield files[i : i + FILES_PER_BATCH]


def _read_and_parse(path: Path, channel: str) -> _Parsed | DropFileError:
    try:
        return _parse(_read(path), channel)
    except DropFileError as exc:
        return exc


def _parsed_in_order(paths: list[Path], channel: str) -> list[_Parsed | DropFileError]:
    """Each file read and parsed, in the given order, on as many threads as there are cores.

    Arrow's CSV reader and DuckDB's JSON functions release the GIL and each thread parses with its
    own scratch DuckDB, so the files of a batch overlap; one after another, a day's file left the
    second core idle between DuckDB's short queries.
    """
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        return list(pool.map(_read_and_parse, paths, [channel] * len(paths)))


def load_channel(
    con: duckdb.DuckDBPyConnection,
    drops_dir: Path,
    channel: str,
    load_id: str,
    days: tuple[date, date] | None = None,
) -> DropLoad:
    """Load every drop file of `channel` not loaded before (only those dated in `days`, if given)."""
    result = DropLoad(channel, load_id)
    _ensure_table(con, channel, [])
    known = _manifest(con, channel)
    # New files are read in their batch, not all up front: a channel's history does not sit in memory.
    new: list[Path] = []
    changed: list[str] = []
    for path in channel_files(drops_dir, channel, days):
        if path.name not in known:
            new.append(path)
            continue
        file = _read(path)
        if known[path.name] == file.sha256:
            result.files_skipped.append(path.name)
        else:
            changed.append(_describe_change(con, channel, file, known[path.name]))
    problems: list[str] = []
    for batch in _batches(new):
        parsed: list[_Parsed] = []
        for path, outcome in zip(batch, _parsed_in_order(batch, channel), strict=True):
            if isinstance(outcome, DropFileError):
                # One bad file does not hold back the others. It is reported below and, absent from
                # the manifest, loads once it is delivered fixed.
                problems.append(str(outcome))
                result.files_failed.append(path.name)
            else:
                parsed.append(outcome)
        _load_batch(con, channel, parsed, load_id, result)
    if changed:
        problems.append(
            f"{len(changed)} {channel} drop file(s) changed after they were loaded; a drop file is "
            "immutable once delivered: send corrections as a new file. Changed: " + "; ".join(changed)
        )
    if problems:
        raise DropFileError("\n".join(problems))
    return result


def _numbered(table: pa.Table) -> pa.Table:
    return table.append_column("_row_number", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))


def _describe_change(con: duckdb.DuckDBPyConnection, channel: str, file: _DropFile, loaded_sha: str) -> str:
    """A re-sent file against the rows loaded from it: how many rows differ and the first row and
    field that does (no values: they may be personal data)."""
    head = f"{file.path} (sha256 {file.sha256[:12]}…, loaded as {loaded_sha[:12]}…)"
    try:
        table = _parse(file, channel).table
    except DropFileError as exc:
        return f"{head}: the new version cannot be read either ({exc})"
    extra = fetch_one(con, "SELECT extra_columns FROM meta.drop_manifest WHERE file_name = ?", [file.name])
    old = [*DROP_CHANNELS[channel][1], *(extra[0].split(",") if extra and extra[0] else [])]
    new = table.column_names
    columns = list(dict.fromkeys([*old, *new]))
    # A column only one version has compares as null on the other side.
    flags = [
        f"{f'n.{quote_ident(c)}' if c in new else 'NULL'} IS DISTINCT FROM "
        f"{f'o.{quote_ident(c)}' if c in old else 'NULL'}"
        for c in columns
    ]
    con.register("resent_rows", _numbered(table))
    try:
        row = fetch_one(
            con,
            f"""
            SELECT coalesce(n._row_number, o._row_number), o._row_number IS NULL, n._row_number IS NULL,
                   count(*) OVER (), [{", ".join(flags)}]
            FROM resent_rows AS n
            FULL JOIN (SELECT * FROM raw.{quote_ident(DROP_TABLES[channel])} WHERE _source_file = ?) AS o
                ON n._row_number = o._row_number
            WHERE n._row_number IS NULL OR o._row_number IS NULL OR {" OR ".join(flags)}
            ORDER BY 1
            LIMIT 1
            """,
            [file.name],
        )
    finally:
        con.unregister("resent_rows")
    if row is None:
        return f"{head}: the same rows and values in other bytes (line endings, quoting or encoding)"
    number, added, removed, differing, flagged = row
    if added or removed:
        first = f"row {number} is {'new' if added else 'gone'}"
    else:
        first = f"row {number}, field {columns[flagged.index(True)]}"
    return f"{head}: {differing} row(s) differ, the first: {first}"


def _load_batch(
    con: duckdb.DuckDBPyConnection, channel: str, parsed: list[_Parsed], load_id: str, result: DropLoad
) -> None:
    if not parsed:
        return
    loaded_at = utc_now()
    con.execute("BEGIN TRANSACTION")
    try:
        for item in parsed:
            file, table = item.file, item.table
            if item.encoding != "utf-8":
                result.encodings[file.name] = item.encoding
            # load_channel made the table; only a file with columns beyond the contract changes it.
            extra = not set(table.column_names) <= set(DROP_CHANNELS[channel][1])
            added = _ensure_table(con, channel, table.column_names) if extra else []
            if added:
                result.extra_columns[file.name] = added
            n = table.num_rows
            numbered = _numbered(table)
            con.register("drop_rows", numbered)
            cols = ", ".join(quote_ident(c) for c in numbered.column_names)
            con.execute(
                f"INSERT INTO raw.{quote_ident(DROP_TABLES[channel])} "
                f"({cols}, _source_file, _load_id, _loaded_at, _source) SELECT {cols}, ?, ?, ?, ? FROM drop_rows",
                [file.name, load_id, loaded_at, f"drops/{channel}"],
            )
            con.unregister("drop_rows")
            extra = [c for c in table.column_names if c not in DROP_CHANNELS[channel][1]]
            con.execute(
                "INSERT INTO meta.drop_manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [file.name, channel, len(file.data), file.sha256, n, ",".join(extra) or None, load_id, loaded_at],
            )
            result.files_loaded.append(file.name)
            result.rows_loaded += n
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
