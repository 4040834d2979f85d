"""The one end-to-end path: a small simulated city through the whole pipeline, a new day, a no-op run.

Runs the real Dagster job in process (ingestion, dbt, Great Expectations, scikit-learn), on SQLite
as the demo does; `test_postgres_source_ingests_the_same` covers the PostgreSQL source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cirm.settings import Settings, load_settings
from ingest.reconcile import reconcile_table
from ingest.warehouse import connect_warehouse, fetch_one, table_checksum
from simulator.run import continue_simulation, simulate
from simulator.schema import CASE_SYSTEM_TABLES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
RAW_TABLES = (*CASE_SYSTEM_TABLES, "hotline_calls", "web_events", "app_events", "public_holidays")


@dataclass
class City:
    settings: Settings
    runs: list


def _run(settings: Settings):  # noqa: ANN202
    from orchestration.runner import run_pipeline

    report = run_pipeline(settings, echo=lambda line: None)
    assert report.success, (report.steps_failed, report.log_path)
    return report


def _reconciles(settings: Settings) -> None:
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        for table in CASE_SYSTEM_TABLES:
            r = reconcile_table(con, settings.source_url, table)
            assert r.ok and r.source_keys > 0, r


def _raw_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        return {t: table_checksum(con, "raw", t) for t in RAW_TABLES}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    data = tmp_path_factory.mktemp("city")
    env = {"CIRM_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    mp.delenv("CIRM_SOURCE_URL", raising=False)
    settings = load_settings()
    settings.ensure_dirs()
    simulate(settings.source_url, settings.drops_dir, settings.truth_dir, citizens=1500, days=120, seed=7)
    mp.setenv("CIRM_DBT_COLUMN_LINEAGE", "true")  # checked by test_dbt_assets_carry_column_lineage
    first = _run(settings)
    mp.setenv("CIRM_DBT_COLUMN_LINEAGE", "false")
    yield City(settings, [first])
    mp.undo()


def test_first_run_reconciles_every_table(city: City) -> None:
    _reconciles(city.settings)
    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        manifest_files = fetch_one(con, "SELECT count(*) FROM meta.drop_manifest")[0]
    assert manifest_files == len(list(city.settings.drops_dir.rglob("*_*.*")))


def test_every_request_is_in_the_fact_or_in_quarantine(city: City) -> None:
    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        raw, facts, quarantined, overlap = fetch_one(
            con,
            "SELECT (SELECT count(DISTINCT request_id) FROM raw.service_requests), "
            "(SELECT count(*) FROM marts.fct_service_requests WHERE source_system = 'case_system'), "
            "(SELECT count(*) FROM quarantine.service_requests), "
            "(SELECT count(*) FROM marts.fct_service_requests f JOIN quarantine.service_requests q USING (request_id))",
        )
    assert quarantined > 0  # the simulator plants duplicates and impossible timestamps
    assert overlap == 0
    assert raw == facts + quarantined


def test_no_fact_key_is_null_or_orphaned(city: City) -> None:
    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name LIKE 'fct_%' AND column_name LIKE '%_key'"
        ).fetchall()
        assert len(columns) >= 10
        for table, column in columns:
            dim = _dimension_of(column)
            if dim is None:  # the fact's own surrogate key
                assert fetch_one(
                    con, f"SELECT count(*) = count(DISTINCT {column}) FROM marts.{table} WHERE {column} IS NOT NULL"
                ) == (True,), (table, column)
                continue
            nulls, orphans = fetch_one(
                con,
                f"SELECT count(*) FILTER (WHERE f.{column} IS NULL), "
                f"count(*) FILTER (WHERE f.{column} IS NOT NULL AND d.k IS NULL) "
                f"FROM marts.{table} f LEFT JOIN (SELECT {dim[1]} AS k FROM marts.{dim[0]}) d ON f.{column} = d.k",
            )
            assert (nulls, orphans) == (0, 0), (table, column)


def _dimension_of(column: str) -> tuple[str, str] | None:
    """`submitted_date_key` → (dim_date, date_key); `citizen_key` → (dim_citizen, citizen_key)."""
    for entity in ("date", "time_of_day", "citizen", "service", "department", "channel", "district"):
        if column == f"{entity}_key" or column.endswith(f"_{entity}_key"):
            return f"dim_{entity}", f"{entity}_key"
    return None


def test_example_queries_answer(city: City) -> None:
    queries = sorted((ROOT / "queries" / "warehouse").glob("*.sql"))
    assert len(queries) >= 4
    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        for path in queries:
            rows = con.execute(path.read_text()).fetchall()
            assert rows, path.name


def test_dbt_assets_carry_column_lineage(city: City) -> None:
    from dagster import AssetKey, DagsterInstance

    record = DagsterInstance.get().fetch_materializations(AssetKey(["marts", "fct_service_requests"]), limit=1)
    metadata = record.records[0].asset_materialization.metadata
    lineage = metadata["dagster/column_lineage"].value
    deps = {dep.asset_key for column in lineage.deps_by_column.values() for dep in column}
    assert (
        AssetKey(["marts", "dim_service"]) in deps
        or AssetKey(["intermediate", "int_service_requests_enriched"]) in deps
    )
    assert "dagster/column_schema" in metadata


def test_quality_history_docs_and_mining_outputs(city: City) -> None:
    report = city.settings.report_dir
    assert "<svg" in (report / "index.html").read_text() and (report / "dbt-docs" / "index.html").exists()
    docs = city.settings.quality_docs_dir / "index.html"
    assert docs.exists() and "<html" in docs.read_text(errors="replace").lower()
    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        checks = fetch_one(con, "SELECT count(*), count(DISTINCT asset_key) FROM quality.check_results")
        assert checks[0] > 50 and checks[1] >= 15
        assert fetch_one(con, "SELECT count(*) FROM ml.demand_forecast")[0] > 0
        segmented, non_consenting_segmented = fetch_one(
            con,
            "SELECT count(*), count(*) FILTER (WHERE NOT c.consent_analytics) FROM ml.citizen_segments s "
            "JOIN marts.mart_citizen_360 c USING (citizen_id)",
        )
    assert segmented > 0 and non_consenting_segmented == 0


def test_a_new_day_then_a_no_op_run(city: City) -> None:
    settings = city.settings
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        before = fetch_one(con, "SELECT count(*), max(submitted_at) FROM raw.service_requests")
        runs_before = fetch_one(con, "SELECT count(DISTINCT run_id) FROM quality.check_results")[0]
    # A BI client reads the serving copy in a loop while the pipeline loads the new day.
    reader = _BiReader(settings.serving_path)
    continue_simulation(settings.source_url, settings.drops_dir, settings.truth_dir, days=1)
    _run(settings)
    errors, counts, messages = reader.stop()
    with connect_warehouse(settings.serving_path, read_only=True) as con:
        published = fetch_one(con, "SELECT count(*) FROM marts.fct_service_requests")[0]
    assert errors == 0, messages
    assert len(counts) > 20
    assert counts[0] < published and counts[-1] == published  # the new day became visible after publish
    _reconciles(settings)
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        after = fetch_one(con, "SELECT count(*), max(submitted_at) FROM raw.service_requests")
        updated_old = fetch_one(
            con,
            "SELECT count(*) FROM raw.service_requests WHERE submitted_at <= ? AND _load_id = "
            "(SELECT load_id FROM meta.load_log WHERE table_name = 'service_requests' ORDER BY finished_at DESC "
            "LIMIT 1)",
            [before[1]],
        )[0]
        runs_after = fetch_one(con, "SELECT count(DISTINCT run_id) FROM quality.check_results")[0]
    assert after[0] > before[0] and after[1] > before[1]
    assert updated_old > 0  # late status changes reached rows loaded on earlier days
    assert runs_after == runs_before + 1  # the quality history grows across runs

    unchanged = _raw_checksums(settings)
    _run(settings)
    assert _raw_checksums(settings) == unchanged
    _reconciles(settings)


@pytest.mark.postgres
def test_postgres_source_ingests_the_same(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster import AssetKey

    from orchestration.runner import run_pipeline

    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CIRM_SOURCE_URL", pg_database)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = load_settings()
    settings.ensure_dirs()
    simulate(settings.source_url, settings.drops_dir, settings.truth_dir, citizens=800, days=45, seed=3)
    raw = [AssetKey(["raw", t]) for t in CASE_SYSTEM_TABLES]
    assert run_pipeline(settings, asset_selection=raw, echo=lambda line: None).success
    _reconciles(settings)
    continue_simulation(settings.source_url, settings.drops_dir, settings.truth_dir, days=1)
    assert run_pipeline(settings, asset_selection=raw, echo=lambda line: None).success
    _reconciles(settings)
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        before = {t: table_checksum(con, "raw", t) for t in CASE_SYSTEM_TABLES}
    assert run_pipeline(settings, asset_selection=raw, echo=lambda line: None).success
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        assert {t: table_checksum(con, "raw", t) for t in CASE_SYSTEM_TABLES} == before


def test_incremental_history_equals_a_full_refresh(city: City, tmp_path: Path) -> None:
    """After several incremental runs (first load, a new day, a no-op), rebuilding the incremental facts and
    everything downstream from scratch gives the same rows and values."""
    import shutil
    import subprocess
    import sys

    from orchestration.dbt.project import DBT_PROJECT_DIR

    copy = tmp_path / "full_refresh.duckdb"
    shutil.copy(city.settings.warehouse_path, copy)
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [
            str(dbt),
            "build",
            "--full-refresh",
            "--select",
            "tag:partitioned+",
            "--exclude",
            "resource_type:snapshot",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={**__import__("os").environ, "CIRM_WAREHOUSE_PATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    with (
        connect_warehouse(city.settings.warehouse_path, read_only=True) as inc,
        connect_warehouse(copy, read_only=True) as full,
    ):
        tables = [
            t
            for (t,) in inc.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        assert any(t.startswith("fct_") for t in tables)
        for table in tables:
            assert table_checksum(inc, "marts", table) == table_checksum(full, "marts", table), table


def test_a_two_day_backfill_runs_as_one_run(city: City) -> None:
    from dagster import AssetKey, DagsterInstance

    from orchestration.runner import run_pipeline

    settings = city.settings
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        last = fetch_one(con, "SELECT max(updated_at)::DATE FROM raw.service_requests")[0]
    start, end = (last - __import__("datetime").timedelta(days=1)).isoformat(), last.isoformat()
    facts = [
        AssetKey(["marts", t])
        for t in ("fct_service_requests", "fct_request_events", "fct_contacts", "fct_satisfaction")
    ]
    instance = DagsterInstance.get()
    runs_before = len(instance.get_runs())
    report = run_pipeline(
        settings,
        asset_selection=facts,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        echo=lambda line: None,
    )
    assert report.success, report.steps_failed
    assert len(instance.get_runs()) == runs_before + 1  # one run for both days
    materialized = instance.fetch_materializations(facts[0], limit=10).records
    partitions = {r.partition_key for r in materialized if r.run_id == report.run_id}
    assert partitions == {start, end}
    windows = [e.user_message for e in instance.all_logs(report.run_id) if "incremental window" in e.user_message]
    assert windows == [f"incremental window: {{'min_date': '{start}', 'max_date': '{next_day(end)}'}}"]


def next_day(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


class _BiReader:
    """A separate process reading the serving copy until stopped."""

    def __init__(self, serving_path: Path) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._stop, self._results = ctx.Event(), ctx.Queue()
        self._process = ctx.Process(
            target=_read_serving_in_a_loop,
            args=(f"duckdb:///{serving_path}", self._stop, self._results),
            daemon=True,
        )
        self._process.start()

    def stop(self) -> tuple[int, list[int], list[str]]:
        import time

        time.sleep(1)  # a few reads after the publish
        self._stop.set()
        messages: list[str] = []
        while True:
            item = self._results.get(timeout=60)
            if isinstance(item, tuple):
                self._process.join(timeout=30)
                return item[0], item[1], messages
            messages.append(item)


def _read_serving_in_a_loop(url: str, stop, results) -> None:  # noqa: ANN001 - multiprocessing primitives
    """A BI client: a fresh read-only SQLAlchemy connection per query, as Superset and Metabase open them."""
    import sqlalchemy as sa

    errors, counts = 0, []
    while not stop.is_set():
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"read_only": True})
        try:
            with engine.connect() as conn:
                counts.append(conn.execute(sa.text("SELECT count(*) FROM marts.fct_service_requests")).scalar())
        except Exception as exc:  # any read error is what the test counts
            errors += 1
            results.put(f"error: {exc}")
        finally:
            engine.dispose()
    results.put((errors, counts))
