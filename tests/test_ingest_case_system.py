"""Incremental, idempotent case-system ingestion, against SQLite and PostgreSQL sources alike."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingest.case_system import SourceError, load_table
from ingest.reconcile import reconcile_table
from ingest.warehouse import connect_warehouse, table_checksum
from simulator import schema


@pytest.fixture(params=["sqlite", "postgresql"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'operational.db'}"
    return request.getfixturevalue("pg_database")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _request(request_id: int, updated: str, status: str = "received", **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "request_id": request_id,
        "citizen_id": 7,
        "service_code": "RD-POTHOLE",
        "channel": "web",
        "district_id": "D01",
        "latitude": 40.712812345678,
        "longitude": -74.006012345678,
        "request_type": "complaint",
        "description": "pothole on Main St",
        "status": status,
        "priority": "normal",
        "submitted_at": datetime(2025, 3, 1, 9, 0),
        "updated_at": datetime.fromisoformat(updated),
        "closed_at": None,
    }
    row.update(extra)
    return row


def _seed(url: str, rows: list[dict[str, object]]) -> sa.Engine:
    engine = _engine(url)
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(schema.service_requests.insert(), rows)
    return engine


def test_load_is_incremental_and_idempotent(source_url: str, tmp_path: Path) -> None:
    engine = _seed(source_url, [_request(i, f"2025-03-01 09:{i:02d}:00") for i in range(1, 21)])
    warehouse = tmp_path / "warehouse.duckdb"
    with connect_warehouse(warehouse) as con:
        first = load_table(con, source_url, "service_requests", "load-1")
        assert (first.rows_inserted, first.rows_updated) == (20, 0)
        assert first.cursor_value == datetime(2025, 3, 1, 9, 20)
        before = table_checksum(con, "raw", "service_requests")

        # Nothing changed at the source: the raw table stays identical, metadata included.
        again = load_table(con, source_url, "service_requests", "load-2")
        assert (again.rows_inserted, again.rows_updated) == (0, 0)
        assert table_checksum(con, "raw", "service_requests") == before

        # A late status change updates its row; a new day adds only what is new.
        with engine.begin() as conn:
            conn.execute(
                schema.service_requests.update()
                .where(schema.service_requests.c.request_id == 3)
                .values(status="closed", closed_at=datetime(2025, 3, 2, 10), updated_at=datetime(2025, 3, 2, 10))
            )
            conn.execute(schema.service_requests.insert(), [_request(21, "2025-03-02 11:00:00")])
        third = load_table(con, source_url, "service_requests", "load-3")
        assert (third.rows_inserted, third.rows_updated) == (1, 1)
        rows = con.execute(
            "SELECT request_id, status, closed_at, _load_id FROM raw.service_requests "
            "WHERE _load_id = 'load-3' ORDER BY request_id"
        ).fetchall()
        assert rows == [(3, "closed", datetime(2025, 3, 2, 10), "load-3"), (21, "received", None, "load-3")]
        untouched = con.execute("SELECT count(*) FROM raw.service_requests WHERE _load_id = 'load-1'").fetchone()
        assert untouched == (19,)
        # Types survive the trip: float precision and timestamps are the source's.
        lat, submitted = con.execute(
            "SELECT latitude, submitted_at FROM raw.service_requests WHERE request_id = 1"
        ).fetchone()
        assert lat == pytest.approx(40.712812345678, abs=1e-12)
        assert submitted == datetime(2025, 3, 1, 9, 0)
        rec = reconcile_table(con, source_url, "service_requests")
        assert rec.ok and rec.source_keys == 21


def test_rows_stamped_in_the_cursor_second_are_not_missed(source_url: str, tmp_path: Path) -> None:
    engine = _seed(source_url, [_request(1, "2025-03-01 09:00:00.250000")])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load_table(con, source_url, "service_requests", "a")
        # Committed later but stamped in the same second as the cursor (a long source transaction).
        with engine.begin() as conn:
            conn.execute(schema.service_requests.insert(), [_request(2, "2025-03-01 09:00:00.100000")])
        assert load_table(con, source_url, "service_requests", "b").rows_inserted == 1


def test_a_past_day_reloads_its_window_without_moving_the_cursor(source_url: str, tmp_path: Path) -> None:
    _seed(source_url, [_request(i, f"2025-03-0{1 + i % 3} 09:00:00") for i in range(1, 31)])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load_table(con, source_url, "service_requests", "catch-up")
        cursor = con.execute("SELECT cursor_value FROM meta.ingest_cursors").fetchall()
        before = table_checksum(con, "raw", "service_requests")
        # Lost rows of 2 March (say, restored from an old backup): re-reading that day repairs them.
        con.execute("DELETE FROM raw.service_requests WHERE updated_at::DATE = DATE '2025-03-02'")
        day = (datetime(2025, 3, 2), datetime(2025, 3, 3))
        repair = load_table(con, source_url, "service_requests", "repair", window=day)
        assert (repair.rows_read, repair.rows_inserted, repair.rows_updated) == (10, 10, 0)
        assert con.execute("SELECT cursor_value FROM meta.ingest_cursors").fetchall() == cursor
        assert con.execute("SELECT count(*) FROM raw.service_requests").fetchone() == (30,)
        # The same window again changes nothing.
        again = load_table(con, source_url, "service_requests", "again", window=day)
        assert (again.rows_inserted, again.rows_updated) == (0, 0)
        count, _ = table_checksum(con, "raw", "service_requests")
        assert count == before[0]


def test_contract_tables_build_empty_without_a_source(tmp_path: Path) -> None:
    from ingest.case_system import ensure_contract_table

    with connect_warehouse(tmp_path / "w.duckdb") as con:
        for table in schema.CASE_SYSTEM_TABLES:
            ensure_contract_table(con, table)
            declared = [c.name for c in schema.metadata.tables[table].columns]
            columns = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                    "AND table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            assert columns == [*declared, "_load_id", "_loaded_at", "_source"]
            assert con.execute(f"SELECT count(*) FROM raw.{table}").fetchone() == (0,)


def test_paged_reads_cover_every_row(source_url: str, tmp_path: Path) -> None:
    _seed(source_url, [_request(i, "2025-03-01 09:00:00") for i in range(1, 1001)])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        load = load_table(con, source_url, "service_requests", "a", chunk_rows=64)
        assert load.rows_inserted == 1000
        assert reconcile_table(con, source_url, "service_requests").ok


def test_a_crash_mid_load_leaves_no_partial_state(
    source_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(source_url, [_request(i, "2025-03-01 09:00:00") for i in range(1, 201)])
    import ingest.case_system as case_system

    real = case_system.read_arrow
    calls = {"n": 0}

    def flaky(url: str, query: str):  # noqa: ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise case_system.SourceError("connection reset by peer")
        return real(url, query)

    monkeypatch.setattr(case_system, "read_arrow", flaky)
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        with pytest.raises(SourceError):
            load_table(con, source_url, "service_requests", "a", chunk_rows=50)
        assert con.execute("SELECT count(*) FROM meta.ingest_cursors").fetchone() == (0,)
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw'").fetchone()
        assert tables == (0,)
        assert load_table(con, source_url, "service_requests", "b").rows_inserted == 200


def test_missing_table_and_source_schema_drift(source_url: str, tmp_path: Path) -> None:
    engine = _seed(source_url, [_request(1, "2025-03-01 09:00:00")])
    with connect_warehouse(tmp_path / "w.duckdb") as con:
        with pytest.raises(SourceError, match="no table 'nope'"):
            load_table(con, source_url, "nope", "a")
        load_table(con, source_url, "service_requests", "a")
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE service_requests ADD COLUMN source_ref VARCHAR(20)"))
            conn.execute(sa.text("UPDATE service_requests SET source_ref = 'X1', updated_at = '2025-03-02 00:00:00'"))
        load = load_table(con, source_url, "service_requests", "b")
        assert load.rows_updated == 1
        assert con.execute("SELECT source_ref FROM raw.service_requests").fetchall() == [("X1",)]


def test_unreachable_source_is_a_clear_error(tmp_path: Path) -> None:
    with connect_warehouse(tmp_path / "w.duckdb") as con, pytest.raises(SourceError, match="cannot read source"):
        load_table(con, "postgresql://postgres@127.0.0.1:1/none", "service_requests", "a")
