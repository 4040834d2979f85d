"""Channel drop files load exactly once; re-drops are skipped, changed files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.drops import DropFileError, load_channel
from ingest.warehouse import connect_warehouse, fetch_one, table_checksum

HEADER = "call_id,caller_phone,call_start,wait_seconds,duration_seconds,outcome,request_id\n"


def _hotline(drops: Path, day: str, rows: list[str], header: str = HEADER) -> Path:
    folder = drops / "hotline"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hotline_{day}.csv"
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_each_file_loads_once_with_manifest(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    _hotline(
        drops,
        "2025-03-01",
        ["H1,(212) 555-0134,2025-03-01 09:00:00,30,240,answered,", "H2,,2025-03-01 09:05:00,5,60,abandoned,"],
    )
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        first = load_channel(con, drops, "hotline", "load-1")
        assert first.files_loaded == ["hotline_2025-03-01.csv"] and first.rows_loaded == 2
        rows = con.execute(
            "SELECT call_id, caller_phone, request_id, _source_file, _row_number, _load_id, _source "
            "FROM raw.hotline_calls ORDER BY _row_number"
        ).fetchall()
        assert rows == [
            ("H1", "(212) 555-0134", None, "hotline_2025-03-01.csv", 1, "load-1", "drops/hotline"),
            ("H2", None, None, "hotline_2025-03-01.csv", 2, "load-1", "drops/hotline"),
        ]
        size, sha, n = fetch_one(con, "SELECT size_bytes, sha256, row_count FROM meta.drop_manifest")
        assert n == 2 and len(sha) == 64 and size > 0
        before = table_checksum(con, "raw", "hotline_calls")

        # The same file again (re-sent unchanged) and a new day: only the new day loads.
        _hotline(drops, "2025-03-02", ["H3,212.555.0134,2025-03-02 10:00:00,12,300,request_created,1001"])
        second = load_channel(con, drops, "hotline", "load-2")
        assert second.files_loaded == ["hotline_2025-03-02.csv"]
        assert second.files_skipped == ["hotline_2025-03-01.csv"]
        assert fetch_one(con, "SELECT count(*) FROM raw.hotline_calls") == (3,)
        assert fetch_one(con, "SELECT count(*) FROM raw.hotline_calls WHERE _load_id = 'load-1'") == (2,)
        third = load_channel(con, drops, "hotline", "load-3")
        assert third.files_loaded == [] and len(third.files_skipped) == 2
        assert fetch_one(con, "SELECT count(*) FROM raw.hotline_calls WHERE _load_id = 'load-1'") == (2,)
        assert table_checksum(con, "raw", "hotline_calls") != before  # day 2 is there
        assert fetch_one(con, "SELECT count(*) FROM meta.drop_manifest") == (2,)


def test_a_day_window_loads_only_the_files_of_those_days(tmp_path: Path) -> None:
    from datetime import date

    drops = tmp_path / "drops"
    for day in ("2025-03-01", "2025-03-02", "2025-03-03"):
        _hotline(drops, day, [f"H{day},,{day} 09:00:00,30,240,answered,"])
    undated = drops / "hotline" / "hotline_correction.csv"
    undated.write_text(HEADER + "HX,,2025-03-02 10:00:00,1,1,answered,\n", encoding="utf-8")
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        window = load_channel(con, drops, "hotline", "day", days=(date(2025, 3, 2), date(2025, 3, 3)))
        assert window.files_loaded == ["hotline_2025-03-02.csv"]
        # Catch-up takes everything not loaded yet, the undated file included, each file once.
        rest = load_channel(con, drops, "hotline", "catch-up")
        assert rest.files_loaded == ["hotline_2025-03-01.csv", "hotline_2025-03-03.csv", "hotline_correction.csv"]
        assert rest.files_skipped == ["hotline_2025-03-02.csv"]
        assert fetch_one(con, "SELECT count(*) FROM raw.hotline_calls") == (4,)


def test_a_channel_without_files_has_an_empty_table(tmp_path: Path) -> None:
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load = load_channel(con, tmp_path / "drops", "web", "load-1")
        assert load.files_loaded == [] and fetch_one(con, "SELECT count(*) FROM raw.web_events") == (0,)


def test_changed_file_under_known_name_is_refused(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    path = _hotline(drops, "2025-03-01", ["H1,,2025-03-01 09:00:00,30,240,answered,"])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load_channel(con, drops, "hotline", "a")
        path.write_text(HEADER + "H1,,2025-03-01 09:00:00,30,999,answered,\n", encoding="utf-8")
        _hotline(drops, "2025-03-02", ["H2,,2025-03-02 09:00:00,30,240,answered,"])
        with pytest.raises(DropFileError, match=r"changed after they were loaded.*hotline_2025-03-01\.csv"):
            load_channel(con, drops, "hotline", "b")
        # The good new file still loaded; the changed one did not replace anything.
        assert con.execute("SELECT call_id, duration_seconds FROM raw.hotline_calls ORDER BY 1").fetchall() == [
            ("H1", "240"),
            ("H2", "240"),
        ]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    _hotline(drops, "2025-03-01", ["H1,2025-03-01 09:00:00"], header="call_id,call_start\n")
    with connect_warehouse(tmp_path / "w.duckdb") as con, pytest.raises(DropFileError) as err:
        load_channel(con, drops, "hotline", "a")
    message = str(err.value)
    assert "hotline_2025-03-01.csv" in message and "caller_phone" in message and "outcome" in message


def test_unknown_columns_are_accepted_and_surfaced(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    _hotline(
        drops, "2025-03-01", ["H1,,2025-03-01 09:00:00,30,240,answered,,agent-7"], header=HEADER.strip() + ",agent_id\n"
    )
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load = load_channel(con, drops, "hotline", "a")
        assert load.extra_columns == {"hotline_2025-03-01.csv": ["agent_id"]}
        assert fetch_one(con, "SELECT agent_id FROM raw.hotline_calls") == ("agent-7",)
        assert fetch_one(con, "SELECT extra_columns FROM meta.drop_manifest") == ("agent_id",)


def test_jsonl_events_land_as_text(tmp_path: Path) -> None:
    folder = tmp_path / "drops" / "app"
    folder.mkdir(parents=True)
    events = [
        {
            "event_id": "A1",
            "session_id": "s1",
            "login_email": None,
            "citizen_id": 42,
            "event": "login",
            "service_code": None,
            "request_id": None,
            "ts": "2025-03-01T19:04:11-05:00",
        },
        {
            "event_id": "A2",
            "session_id": "s1",
            "login_email": None,
            "citizen_id": 42,
            "event": "check_status",
            "service_code": "RD-POTHOLE",
            "request_id": 1001,
            "ts": "2025-03-01T19:05:00-05:00",
        },
    ]
    (folder / "app_2025-03-01.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        assert load_channel(con, tmp_path / "drops", "app", "a").rows_loaded == 2
        assert con.execute("SELECT citizen_id, request_id, ts FROM raw.app_events ORDER BY _row_number").fetchall() == [
            ("42", None, "2025-03-01T19:04:11-05:00"),
            ("42", "1001", "2025-03-01T19:05:00-05:00"),
        ]


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "drops" / "web"
    folder.mkdir(parents=True)
    (folder / "web_2025-03-01.jsonl").write_text("")
    with (
        connect_warehouse(tmp_path / "w.duckdb") as con,
        pytest.raises(DropFileError, match="web_2025-03-01.jsonl: the file is empty"),
    ):
        load_channel(con, tmp_path / "drops", "web", "a")
