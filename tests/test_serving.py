"""The serving copy: what it contains, atomic publishing under concurrent BI readers, crash safety,
the connection URLs the README gives, and the example BI queries."""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing as mp
import os
import signal
import threading
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import serving.publish as publish_module
from serving import PublishError, publish_serving_copy
from tests.fixtures.marts_fixture import (
    PERFORMANCE_TABLE_COMMENT,
    RECEIVED_COLUMN_COMMENT,
    build_marts_warehouse,
)

BI_QUERIES = sorted((Path(__file__).resolve().parents[1] / "queries" / "bi").glob("*.sql"))
COUNT_SQL = "SELECT count(*) FROM marts.fct_contacts"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = build_marts_warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE VIEW marts.v_channels AS SELECT channel, channel_name FROM marts.dim_channel;"
        "COMMENT ON VIEW marts.v_channels IS 'Channels, as a view.'"
    )
    con.close()
    return path


def _url(path: Path, query: str = "") -> str:
    # duckdb_engine takes the file path after 'duckdb:///'; an absolute path gives four slashes.
    return f"duckdb:///{path.resolve()}{query}"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".wal")))


def _append_contacts(warehouse: Path, rows: int) -> int:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "INSERT INTO marts.fct_contacts SELECT md5('extra-' || range || '-' || random()), 'web', 'k-web', "
            "20251231, TIMESTAMP '2025-12-31 12:00:00' FROM range(?)",
            [rows],
        )
        return con.execute(COUNT_SQL).fetchall()[0][0]
    finally:
        con.close()


def test_publish_copies_bi_schemas_with_comments(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "serve" / "serving.duckdb"
    result = publish_serving_copy(warehouse, target)

    assert result.serving_path == target and result.bytes == target.stat().st_size > 0
    assert result.missing_schemas == ()
    assert result.views_materialized == ("marts.v_channels",)
    assert {name.split(".")[0] for name in result.tables} == {"marts", "ml", "quality"}
    assert result.tables["marts.fct_contacts"] > 1000 and result.tables["ml.segment_profiles"] == 6
    assert _leftovers(target.parent) == []

    con = duckdb.connect(str(target), read_only=True)
    try:
        schemas = {s for (s,) in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE NOT internal").fetchall()}
        assert {"raw", "meta"}.isdisjoint(schemas)
        table_comment = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = ?",
            ["mart_service_performance_daily"],
        ).fetchall()
        assert table_comment == [(PERFORMANCE_TABLE_COMMENT,)]
        column_comment = con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = ? AND column_name = 'requests_received'",
            ["mart_service_performance_daily"],
        ).fetchall()
        assert column_comment == [(RECEIVED_COLUMN_COMMENT,)]
        view = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'v_channels'").fetchall()
        assert view == [("Channels, as a view.",)]
        counts = {
            f"{s}.{t}": n
            for s, t, n in con.execute("SELECT schema_name, table_name, estimated_size FROM duckdb_tables()").fetchall()
        }
        assert counts == result.tables
        # Readable by DuckDB 1.x clients embedded in BI tools (see serving/README.md).
        tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
        assert tags == [({"storage_version": "v1.0.0+"},)]
    finally:
        con.close()


def test_missing_schema_is_reported_not_fatal(tmp_path: Path) -> None:
    warehouse = build_marts_warehouse(tmp_path / "warehouse.duckdb", with_ml=False)
    result = publish_serving_copy(warehouse, tmp_path / "serving.duckdb")
    assert result.missing_schemas == ("ml",)
    assert "marts.fct_contacts" in result.tables and not any(t.startswith("ml.") for t in result.tables)


def test_publish_refuses_a_missing_warehouse_or_itself(tmp_path: Path, warehouse: Path) -> None:
    with pytest.raises(PublishError, match="no warehouse"):
        publish_serving_copy(tmp_path / "nope.duckdb", tmp_path / "serving.duckdb")
    with pytest.raises(PublishError, match="must not replace the warehouse"):
        publish_serving_copy(warehouse, warehouse)


def test_crash_mid_publish_leaves_old_copy_and_no_temp_file(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "serving.duckdb"
    publish_serving_copy(warehouse, target)
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    _append_contacts(warehouse, 500)
    real_copy = publish_module._copy_objects

    def copy_then_crash(con: duckdb.DuckDBPyConnection, *args: object) -> object:
        real_copy(con, *args)  # the new file holds everything, only the swap is missing
        raise RuntimeError("killed mid-publish")

    monkeypatch.setattr(publish_module, "_copy_objects", copy_then_crash)
    with pytest.raises(RuntimeError, match="killed mid-publish"):
        publish_serving_copy(warehouse, target)

    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_stale_wal_beside_the_target_is_not_replayed(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "serving.duckdb"
    (tmp_path / "serving.duckdb.wal").write_bytes(b"not a wal of this file")
    publish_serving_copy(warehouse, target)
    assert not (tmp_path / "serving.duckdb.wal").exists()
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute(COUNT_SQL).fetchall()[0][0] > 0
    con.close()


def _publish_then_die(warehouse: str, target: str) -> None:
    """A publisher SIGKILLed after it wrote its temporary copy, before the swap: nothing of its own
    cleanup (finally blocks) runs, as when the OS or an operator kills the pipeline."""
    real_copy = publish_module._copy_objects

    def copy_then_die(con: duckdb.DuckDBPyConnection, *args: object) -> object:
        real_copy(con, *args)
        os.kill(os.getpid(), signal.SIGKILL)

    publish_module._copy_objects = copy_then_die
    publish_serving_copy(Path(warehouse), Path(target))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_killed_publishers_temporary_copy_is_removed_by_the_next_publish(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "serving.duckdb"
    publish_serving_copy(warehouse, target)
    before = _sha256(target)
    expected = _append_contacts(warehouse, 500)
    ctx = mp.get_context("spawn")
    left: list[list[str]] = []
    for _ in range(2):
        child = ctx.Process(target=_publish_then_die, args=(str(warehouse), str(target)))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL
        left.append([n for n in _leftovers(tmp_path) if n.endswith(".tmp")])
        assert _sha256(target) == before  # the killed publish never touched the published copy
    # Each publish removes what the previous killed one left: one temporary copy at most, never a pile.
    assert len(left[0]) == len(left[1]) == 1 and left[0] != left[1]
    unrelated = [".serving.duckdb.not-ours.tmp", ".other.duckdb.0123456789ab.tmp", "serving.duckdb.0123456789ab.tmp"]
    for name in unrelated:
        (tmp_path / name).write_bytes(b"someone else's")
    stale = set(_leftovers(tmp_path)) - set(unrelated)

    result = publish_serving_copy(warehouse, target)

    assert set(result.stale_removed) == stale and left[1][0] in stale
    assert _leftovers(tmp_path) == sorted(unrelated)
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute(COUNT_SQL).fetchall()[0][0] == expected
    con.close()


def test_publishers_take_turns_and_spare_a_live_publishers_temporary_copy(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "serving.duckdb"
    live = tmp_path / ".serving.duckdb.0123456789ab.tmp"
    live.write_bytes(b"a copy another publisher is writing")
    turn = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(turn, fcntl.LOCK_EX)  # that publisher's turn
    results: list = []
    publisher = threading.Thread(target=lambda: results.append(publish_serving_copy(warehouse, target)))
    publisher.start()
    try:
        time.sleep(1)
        assert publisher.is_alive() and live.exists() and not target.exists()  # waiting, not deleting
    finally:
        os.close(turn)  # the other publisher is gone: what it left is stale now
    publisher.join(60)
    assert results and results[0].stale_removed == (live.name,)
    assert not live.exists() and target.exists()


def _bi_reader(url: str, stop, ready, last_count, reads, errors, messages) -> None:  # noqa: ANN001
    """A BI client in its own process: a fresh read-only connection per query, as Superset does."""
    engine = sa.create_engine(url, connect_args={"read_only": True}, poolclass=NullPool)
    while not stop.is_set():
        try:
            with engine.connect() as conn:
                count = conn.execute(sa.text(COUNT_SQL)).scalar_one()
            last_count.value = int(count)
            reads.value += 1
            ready.set()
        except Exception as exc:  # every failure is a finding: counted and reported
            errors.value += 1
            if errors.value <= 5:
                messages.put(f"{type(exc).__name__}: {exc}")
    engine.dispose()


def _wait_for(condition, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_publishes_under_a_concurrent_reader_process(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "serving.duckdb"
    publish_serving_copy(warehouse, target)
    ctx = mp.get_context("spawn")  # no fork of a process that has DuckDB threads running
    stop, ready = ctx.Event(), ctx.Event()
    last_count, reads, errors = ctx.Value("q", -1), ctx.Value("q", 0), ctx.Value("q", 0)
    messages = ctx.Queue()
    reader = ctx.Process(
        target=_bi_reader, args=(_url(target), stop, ready, last_count, reads, errors, messages), daemon=True
    )
    reader.start()
    try:
        assert ready.wait(60), "the reader process never completed a query"
        reads_during_publish = 0
        seen_counts = [last_count.value]
        for _ in range(5):
            expected = _append_contacts(warehouse, 1500)
            reads_before = reads.value
            publish_serving_copy(warehouse, target)
            reads_during_publish += reads.value - reads_before
            # New connections see the new file: the reader's count reaches the warehouse's.
            assert _wait_for(lambda expected=expected: last_count.value == expected, 30), (
                f"reader still sees {last_count.value}, expected {expected}"
            )
            seen_counts.append(last_count.value)
    finally:
        stop.set()
        reader.join(30)
    found = []
    while not messages.empty():
        found.append(messages.get())
    assert errors.value == 0, found
    assert len(set(seen_counts)) == 6 and seen_counts == sorted(seen_counts)
    assert reads_during_publish > 0, "no read overlapped a publish"
    assert _leftovers(tmp_path) == []


def test_a_connection_held_across_a_publish_keeps_the_old_snapshot(warehouse: Path, tmp_path: Path) -> None:
    """Why BI tools must not keep connections: DuckDB serves new connections in the same process from
    the database instance already open, i.e. the old file, until every connection to it is closed."""
    target = tmp_path / "serving.duckdb"
    publish_serving_copy(warehouse, target)
    engine = sa.create_engine(_url(target), connect_args={"read_only": True})  # duckdb_engine's default pool
    with engine.connect() as conn:
        old = conn.execute(sa.text(COUNT_SQL)).scalar_one()
    new = _append_contacts(warehouse, 100)
    publish_serving_copy(warehouse, target)
    with engine.connect() as conn:  # the pooled connection: still the old file
        assert conn.execute(sa.text(COUNT_SQL)).scalar_one() == old
    engine.dispose()
    fresh = sa.create_engine(_url(target), connect_args={"read_only": True}, poolclass=NullPool)
    with fresh.connect() as conn:
        assert conn.execute(sa.text(COUNT_SQL)).scalar_one() == new
    fresh.dispose()


@pytest.mark.parametrize(
    ("query", "connect_args"),
    [("?access_mode=read_only", {}), ("", {"read_only": True})],
    ids=["superset-url-access-mode", "connect-args-read-only"],
)
def test_readme_connection_forms_are_read_only(warehouse: Path, tmp_path: Path, query: str, connect_args: dict) -> None:
    target = tmp_path / "serving.duckdb"
    publish_serving_copy(warehouse, target)
    url = _url(target, query)
    assert url.startswith("duckdb:////")
    engine = sa.create_engine(url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text(COUNT_SQL)).scalar_one() > 0
            assert "mart_public_commitments" in sa.inspect(conn).get_table_names(schema="marts")
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            conn.execute(sa.text("CREATE TABLE marts.scratch AS SELECT 1 AS x"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def published_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bi")
    warehouse = build_marts_warehouse(folder / "warehouse.duckdb")
    return publish_serving_copy(warehouse, folder / "serving.duckdb").serving_path


def test_bi_query_folder_is_not_empty() -> None:
    assert len(BI_QUERIES) >= 5


@pytest.mark.parametrize("query_file", BI_QUERIES, ids=lambda p: p.stem)
def test_bi_queries_answer_from_the_serving_copy(published_fixture: Path, query_file: Path) -> None:
    con = duckdb.connect(str(published_fixture), read_only=True)
    try:
        rows = con.execute(query_file.read_text()).fetchall()
    finally:
        con.close()
    assert rows, f"{query_file.name} returned no rows"
