"""Exactly-once loading of channel file drops into `raw.<channel table>`.

Files land as delivered: every data column is text, typed later in staging, where a bad value is
quarantined with its reason instead of failing the whole file. `meta.drop_manifest` records each
file's name, size, checksum, rows and load; an identical re-drop is skipped and a changed file under
a known name is refused. A file's rows and its manifest entry commit together.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class _DropFile:
    path: Path
    data: bytes
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def channel_files(drops_dir: Path, channel: str) -> list[Path]:
    ext = DROP_CHANNELS[channel][0]
    folder = drops_dir / channel
    return sorted(folder.glob(f"*.{ext}")) if folder.is_dir() else []


def _parse(file: _DropFile, channel: str) -> pa.Table:
    ext, required = DROP_CHANNELS[channel]
    if not file.data.strip():
        raise DropFileError(
            f"{file.path}: the file is empty (expected a header row)"
            if ext == "csv"
            else f"{file.path}: the file is empty"
        )
    try:
        if ext == "csv":
            header = next(csv.reader(io.StringIO(file.data.split(b"\n", 1)[0].decode("utf-8", "replace"))))
            table = pacsv.read_csv(
                io.BytesIO(file.data),
                convert_options=pacsv.ConvertOptions(
                    # Everything stays text here; an empty cell is the only null.
                    column_types={name: pa.string() for name in header},
                    strings_can_be_null=True,
                    null_values=[""],
                ),
            )
        else:
            table = _parse_jsonl(file)
    except pa.ArrowInvalid as exc:
        raise DropFileError(f"{file.path}: cannot be parsed as {ext.upper()}: {exc}") from exc
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DropFileError(
            f"{file.path}: missing required column(s) {', '.join(missing)}; found {', '.join(table.column_names)}"
        )
    return table


def _parse_jsonl(file: _DropFile) -> pa.Table:
    """JSON lines to text columns, in file order, every value as the sender wrote it.

    Lines are read as one text column (Arrow's CSV reader with no delimiter or quoting that can
    occur), then DuckDB extracts the fields: columnar, and each line keeps its own line number.
    """
    lines = pacsv.read_csv(
        io.BytesIO(file.data),
        read_options=pacsv.ReadOptions(column_names=["line"]),
        parse_options=pacsv.ParseOptions(
            delimiter="\x1f", quote_char=False, escape_char=False, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
    )
    numbered = lines.append_column("n", pa.array(np.arange(1, lines.num_rows + 1, dtype=np.int64)))
    con = duckdb.connect()
    con.register("lines", numbered)
    body = "FROM lines WHERE trim(line) <> ''"
    bad = fetch_one(con, f"SELECT min(n) {body} AND (NOT json_valid(line) OR json_type(line) <> 'OBJECT')")
    if bad and bad[0] is not None:
        raise DropFileError(f"{file.path}: line {bad[0]} is not a JSON object")
    keys = [k for (k,) in con.execute(f"SELECT DISTINCT unnest(json_keys(line)) AS k {body} ORDER BY k").fetchall()]
    if not keys:
        raise DropFileError(f"{file.path}: the file has no events")
    fields = ", ".join(f"json_extract_string(line, {_json_path(k)}) AS {quote_ident(k)}" for k in keys)
    table = con.sql(f"SELECT {fields} {body} ORDER BY n").to_arrow_table()
    con.close()
    return table


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
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='raw' AND table_name=?",
            [DROP_TABLES[channel]],
        ).fetchall()
    }
    added = [c for c in columns if c not in existing]
    for col in added:
        con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_ident(col)} VARCHAR")
    return added


def _manifest(con: duckdb.DuckDBPyConnection, channel: str) -> dict[str, str]:
    rows = con.execute("SELECT file_name, sha256 FROM meta.drop_manifest WHERE channel = ?", [channel]).fetchall()
    return dict(rows)


def _read(path: Path) -> _DropFile:
    data = path.read_bytes()
    return _DropFile(path, data, hashlib.sha256(data).hexdigest())


def _batches(files: list[_DropFile]) -> Iterator[list[_DropFile]]:
    for i in range(0, len(files), FILES_PER_BATCH):
        yield files[i : i + FILES_PER_BATCH]


def load_channel(con: duckdb.DuckDBPyConnection, drops_dir: Path, channel: str, load_id: str) -> DropLoad:
    """Load every drop file of `channel` not loaded before."""
    result = DropLoad(channel, load_id)
    known = _manifest(con, channel)
    new: list[_DropFile] = []
    changed: list[str] = []
    for path in channel_files(drops_dir, channel):
        file = _read(path)
        if path.name not in known:
            new.append(file)
        elif known[path.name] == file.sha256:
            result.files_skipped.append(path.name)
        else:
            changed.append(f"{path} (sha256 {file.sha256[:12]}…, loaded as {known[path.name][:12]}…)")
    for batch in _batches(new):
        _load_batch(con, channel, batch, load_id, result)
    if changed:
        raise DropFileError(
            f"{len(changed)} {channel} drop file(s) changed after they were loaded; a drop file is "
            "immutable once delivered: send corrections as a new file. Changed: " + "; ".join(changed)
        )
    return result


def _load_batch(
    con: duckdb.DuckDBPyConnection, channel: str, files: list[_DropFile], load_id: str, result: DropLoad
) -> None:
    parsed = [(f, _parse(f, channel)) for f in files]
    loaded_at = utc_now()
    con.execute("BEGIN TRANSACTION")
    try:
        for file, table in parsed:
            added = _ensure_table(con, channel, table.column_names)
            if added:
                result.extra_columns[file.name] = added
            n = table.num_rows
            numbered = table.append_column("_row_number", pa.array(np.arange(1, n + 1, dtype=np.int64)))
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
