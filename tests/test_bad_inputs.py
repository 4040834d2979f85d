"""The bad-input corpus (tests/bad_inputs/corpus.yaml): every entry ends as its manifest says.

- `error` entries: `load_channel` refuses the file with a `DropFileError` naming the file, the row or
  line and the field; the channel's good file, dropped beside it, loads all the same, and nothing of
  the bad file reaches raw or the manifest. One of them also goes through `cirm run --select raw`:
  a readable message, exit status 1, no traceback.
- `quarantine` and `accepted` entries: all loaded into one warehouse, then one dbt run of the drop
  channels' staging and quarantine models (one run for the whole corpus keeps this fast); per entry,
  the file's raw rows = staged + quarantined, with the expected rules and values.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from ingest.drops import DropFileError, DropLoad, load_channel
from ingest.warehouse import connect_warehouse, fetch_one, quote_ident
from simulator.drops import DROP_TABLES
from tests.bad_inputs.make_corpus import write_generated
from tests.dbt_cli import DbtResult, run_dbt

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "bad_inputs"
ENTRIES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "corpus.yaml").read_text(encoding="utf-8"))["entries"]
ERRORS = [e for e in ENTRIES if e["outcome"] == "error"]
LOADED = [e for e in ENTRIES if e["outcome"] in ("quarantine", "accepted")]
GOOD = {p.name.split("_", 1)[0]: p for p in (CORPUS / "good").iterdir()}
STAGING = {channel: f"stg_channel_drops__{table}" for channel, table in DROP_TABLES.items()}
BIN = Path(sys.executable).parent
CIRM = str(BIN / "cirm") if (BIN / "cirm").exists() else "cirm"


def test_the_manifest_is_complete() -> None:
    assert len({e["id"] for e in ENTRIES}) == len(ENTRIES)
    assert len({e["class"].split(" (")[0] for e in ENTRIES}) >= 15
    for entry in ENTRIES:
        assert entry["outcome"] in ("error", "quarantine", "accepted"), entry["id"]
        assert entry["channel"] in DROP_TABLES and entry.get("why"), entry["id"]
        if entry["outcome"] == "error":
            assert entry["file"] in entry["message"], f"{entry['id']}: the message must name the file"
        else:
            assert "staged" in entry and "quarantined" in entry, entry["id"]
            assert (entry["outcome"] == "accepted") == (not entry["quarantined"]), entry["id"]


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = {p.name: p for p in (CORPUS / "files").iterdir()}
    files.update(write_generated(tmp_path_factory.mktemp("generated")))
    return files


def _drop(drops: Path, channel: str, name: str, source: Path) -> None:
    folder = drops / channel
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / name)


def _good_rows(path: Path) -> int:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return len(lines) - 1 if path.suffix == ".csv" else len(lines)


def _rows_of(con: duckdb.DuckDBPyConnection, channel: str, file_name: str) -> list[tuple]:
    return con.execute(
        f"SELECT * EXCLUDE (_load_id, _loaded_at) FROM raw.{DROP_TABLES[channel]} "
        "WHERE _source_file = ? ORDER BY _row_number",
        [file_name],
    ).fetchall()


# --- error entries: refused whole, with file, row and field; nothing else lost ----------------------------


@pytest.mark.parametrize("entry", ERRORS, ids=[e["id"] for e in ERRORS])
def test_refused_with_file_row_and_field(entry: dict, corpus_files: dict[str, Path], tmp_path: Path) -> None:
    channel, name = entry["channel"], entry["file"]
    drops = tmp_path / "drops"
    good = GOOD[channel]
    _drop(drops, channel, good.name, good)
    with connect_warehouse(tmp_path / "warehouse.duckdb") as con:
        loaded_before: list[tuple] = []
        if "first_version" in entry:
            _drop(drops, channel, name, corpus_files[entry["first_version"]])
            assert load_channel(con, drops, channel, "first").files_loaded == [good.name, name]
            loaded_before = _rows_of(con, channel, name)
            assert loaded_before
        _drop(drops, channel, name, corpus_files[name])

        with pytest.raises(DropFileError) as refused:
            load_channel(con, drops, channel, "second")

        message = str(refused.value)
        missing = [part for part in entry["message"] if part not in message]
        assert not missing, f"{missing} not in: {message}"
        # Nothing else lost: the good file is loaded, whole; the refused one left no trace (or, when
        # re-sent, the rows first loaded stay exactly as they were).
        assert len(_rows_of(con, channel, good.name)) == _good_rows(good)
        assert _rows_of(con, channel, name) == loaded_before
        manifest = fetch_one(con, "SELECT count(*) FROM meta.drop_manifest WHERE file_name = ?", [name])
        assert manifest == (1 if loaded_before else 0,)


def test_cli_run_reports_a_bad_file_without_a_traceback(corpus_files: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = "hotline_2025-04-01_truncated.csv"
    _drop(data / "drops", "hotline", GOOD["hotline"].name, GOOD["hotline"])
    _drop(data / "drops", "hotline", bad, corpus_files[bad])
    env = {
        **os.environ,
        "CIRM_DATA_DIR": str(data),
        "CIRM_SOURCE_URL": "none",
        "CIRM_PSEUDONYM_SECRET": "bad-inputs-secret",
        "DAGSTER_HOME": str(data / "dagster_home"),
        # The checkout first, as for pytest itself: the installed entry point may predate a new package.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [CIRM, "run", "--select", "raw", "--no-counts"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert f"{bad}, row 3: 3 field(s) where the header has 7" in proc.stdout, output[-3000:]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert _rows_of(con, "hotline", bad) == []
        assert len(_rows_of(con, "hotline", GOOD["hotline"].name)) == _good_rows(GOOD["hotline"])


# --- quarantine and accepted entries: loaded, one dbt run, then accounted for row by row ----------------


@dataclass
class Loaded:
    warehouse: Path
    loads: dict[str, DropLoad]
    dbt_returncode: int
    dbt_output: str


def _run_dbt(warehouse: Path, work: Path) -> DbtResult:
    # `+`: with the gates (staging/channel_drops/base) they are views of.
    models = [f"+{m}" for m in [*STAGING.values(), *(f"quarantine_{table}" for table in DROP_TABLES.values())]]
    return run_dbt(warehouse, "run", "--select", *models, work_dir=work, secret="bad-inputs-secret", timeout=600)


@pytest.fixture(scope="module")
def loaded(corpus_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    work = tmp_path_factory.mktemp("bad_inputs_loaded")
    for entry in LOADED:
        _drop(work / "drops", entry["channel"], entry["file"], corpus_files[entry["file"]])
    warehouse = work / "warehouse.duckdb"
    with connect_warehouse(warehouse) as con:
        loads = {channel: load_channel(con, work / "drops", channel, "corpus") for channel in DROP_TABLES}
    proc = _run_dbt(warehouse, work)
    return Loaded(warehouse, loads, proc.returncode, proc.output)


def _same(actual: object, expected: object) -> bool:
    return actual == expected or str(actual) == str(expected)


@pytest.mark.parametrize("entry", LOADED, ids=[e["id"] for e in LOADED])
def test_loaded_and_accounted_for(entry: dict, loaded: Loaded) -> None:
    assert loaded.dbt_returncode == 0, loaded.dbt_output[-5000:]
    channel, name = entry["channel"], entry["file"]
    table = DROP_TABLES[channel]
    load = loaded.loads[channel]
    assert name in load.files_loaded and not load.files_failed
    assert load.encodings.get(name) == entry.get("encoding")
    with duckdb.connect(str(loaded.warehouse), read_only=True) as con:
        # Schema drift surfaced per file in the manifest (DropLoad.extra_columns lists only the
        # columns a file added to the raw table, so a second file with `note` shows none there).
        (extra,) = fetch_one(con, "SELECT extra_columns FROM meta.drop_manifest WHERE file_name = ?", [name])
        assert (extra.split(",") if extra else []) == entry.get("extra_columns", [])
        where = "WHERE _source_file = ?"
        (raw,) = fetch_one(con, f"SELECT count(*) FROM raw.{table} {where}", [name])
        (staged,) = fetch_one(con, f"SELECT count(*) FROM staging.{STAGING[channel]} {where}", [name])
        rules = dict(
            con.execute(f"SELECT failed_rule, count(*) FROM quarantine.{table} {where} GROUP BY 1", [name]).fetchall()
        )
        assert raw == staged + sum(rules.values()), "rows lost between raw and staging + quarantine"
        assert (staged, rules) == (entry["staged"], entry["quarantined"])
        if "quarantined_rows" in entry:
            rows = con.execute(f"SELECT _row_number FROM quarantine.{table} {where} ORDER BY 1", [name]).fetchall()
            assert [r for (r,) in rows] == entry["quarantined_rows"]
        for relation, checks in ((f"raw.{table}", "raw_values"), (f"staging.{STAGING[channel]}", "staged_values")):
            for check in entry.get(checks, []):
                found = fetch_one(
                    con,
                    f"SELECT {quote_ident(check['column'])} FROM {relation} {where} AND _row_number = ?",
                    [name, check["row"]],
                )
                assert found is not None, f"row {check['row']} not in {relation}"
                if "length" in check:
                    assert len(found[0]) == check["length"], check
                else:
                    assert _same(found[0], check["equals"]), (check, found[0])


def test_nothing_lost_across_the_corpus(loaded: Loaded) -> None:
    assert loaded.dbt_returncode == 0, loaded.dbt_output[-5000:]
    with duckdb.connect(str(loaded.warehouse), read_only=True) as con:
        for channel, table in DROP_TABLES.items():
            raw, staged, quarantined = fetch_one(
                con,
                f"SELECT (SELECT count(*) FROM raw.{table}), (SELECT count(*) FROM staging.{STAGING[channel]}), "
                f"(SELECT count(*) FROM quarantine.{table})",
            )
            assert raw == staged + quarantined, table
            files = {e["file"] for e in LOADED if e["channel"] == channel}
            assert set(loaded.loads[channel].files_loaded) == files
