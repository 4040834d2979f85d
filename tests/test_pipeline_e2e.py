"""The one end-to-end path: a small simulated city through the whole pipeline, a new day, a no-op run.

Runs the real Dagster job in process (ingestion, dbt, Great Expectations, scikit-learn), on SQLite
as the demo does; `test_postgres_source_ingests_the_same` covers the PostgreSQL source.
"""

from __future__ import annotations

import json
import re
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


def _materializations(schema: str, name: str, limit: int) -> list[dict]:
    """Metadata of the asset's newest `limit` materializations, oldest first."""
    from dagster import AssetKey, DagsterInstance

    records = DagsterInstance.get().fetch_materializations(AssetKey([schema, name]), limit=limit).records
    return [r.asset_materialization.metadata for r in reversed(records)]


def test_dbt_assets_carry_column_lineage(city: City) -> None:
    from dagster import AssetKey

    (metadata,) = _materializations("marts", "fct_service_requests", 1)
    lineage = metadata["dagster/column_lineage"].value
    deps = {dep.asset_key for column in lineage.deps_by_column.values() for dep in column}
    assert (
        AssetKey(["marts", "dim_service"]) in deps
        or AssetKey(["intermediate", "int_service_requests_enriched"]) in deps
    )
    assert "dagster/column_schema" in metadata


def test_library_warnings_go_to_the_run_log(city: City) -> None:
    # dagster-dbt warns, with a traceback, for each model whose column lineage it cannot build (the
    # staging and quarantine models read ephemeral gates, whose columns it cannot fetch). With no
    # handler configured Python printed those on `cirm run`'s console, which shows progress lines
    # only; the run's log file keeps them, traceback included. (Under pytest a capture handler sits
    # on the root logger, so the console side cannot be observed here.)
    log = city.runs[0].log_path.read_text(encoding="utf-8")
    assert re.search(r"WARNING dagster\.builtin: .*An error occurred while building column lineage", log)
    assert "Traceback (most recent call last)" in log


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


def _personal_values(settings: Settings) -> list[str]:
    """Every clear-text name, national id, phone and email the sources hold (case system and drops),
    with the normalized forms a model could have produced on the way."""
    import duckdb
    import sqlalchemy as sa

    with sa.create_engine(settings.source_url).connect() as src:
        rows = src.execute(sa.text("SELECT full_name, identity_number, phone, email FROM citizens")).fetchall()
    values = {v for row in rows for v in row if v}
    drops = settings.drops_dir
    con = duckdb.connect()
    values |= {
        v
        for (v,) in con.execute(
            f"SELECT DISTINCT caller_phone FROM read_csv('{drops}/hotline/*.csv', all_varchar=true) "
            f"UNION SELECT DISTINCT login_email FROM read_json('{drops}/web/*.jsonl', format='newline_delimited')"
        ).fetchall()
        if v
    }
    normalized = {v.strip().lower() for v in values} | {"".join(ch for ch in v if ch.isdigit()) for v in values}
    # Short fragments (area codes, single digits) are not personal data on their own.
    return sorted(v for v in values | normalized if len(v) >= 6)


PAST_RAW = ("staging", "intermediate", "snapshots", "marts", "ml", "quality", "quarantine")


def _personal_data_hits(database: Path, schemas: tuple[str, ...] | None, personal: list[str]) -> tuple[list, int]:
    """Every text column of `database` (of `schemas`, or all but raw and meta) searched for every
    personal value: whole, digits only, and inside longer free text. Returns (hits, columns scanned)."""
    import duckdb

    hits_found: list = []
    scanned = 0
    con = duckdb.connect(str(database), read_only=True)
    con.execute("CREATE TEMP TABLE personal (v VARCHAR)")
    con.executemany("INSERT INTO personal VALUES (?)", [(v,) for v in personal])
    columns = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_schema NOT IN ('raw', 'meta', 'information_schema', 'pg_catalog')"
        "AND table_catalog = current_database()"
    ).fetchall()
    for schema, table, column in columns:
        if schemas is not None and schema not in schemas:
            continue
        # Whole values (also digits only, for phones and ids) by a hash join; longer free text also
        # by containment, which is a nested loop, so only over values that could embed one.
        # Digests (pseudonyms, keys) are not clear text, and their hex digits could hold a phone's.
        values = (
            f'SELECT DISTINCT lower(trim("{column}")) AS v FROM "{schema}"."{table}" '
            f"""WHERE NOT regexp_full_match(coalesce("{column}", ''), '[0-9a-f]{{32}}|[0-9a-f]{{64}}')"""
        )
        hits = con.execute(
            f"WITH t AS ({values}), "
            "found AS (SELECT t.v, p.v AS p FROM t JOIN personal p ON p.v = t.v "
            "UNION ALL SELECT t.v, p.v FROM t JOIN personal p ON p.v = regexp_replace(t.v, '[^0-9]', '', 'g') "
            "UNION ALL SELECT t.v, p.v FROM (SELECT v FROM t WHERE length(v) > 16 AND regexp_matches(v, '[ @]')) t "
            "JOIN personal p ON contains(t.v, p.v)) "
            "SELECT any_value(v), any_value(p), count(*) FROM found"
        ).fetchall()[0]
        if hits[2]:
            hits_found.append((database.name, schema, table, column, hits))
        scanned += 1
    con.close()
    return hits_found, scanned


def test_no_clear_text_personal_data_past_raw(city: City, tmp_path: Path) -> None:
    """Staging, every later layer and the serving copy hold pseudonyms only: scan every text column
    for every personal value of the sources, as a whole value and inside longer text. The same scan
    finds leaks planted in a copy of the serving copy."""
    import shutil

    import duckdb

    personal = _personal_values(city.settings)
    assert len(personal) > 1000  # the scan has something to find
    warehouse_hits, warehouse_scanned = _personal_data_hits(city.settings.warehouse_path, PAST_RAW, personal)
    serving_hits, serving_scanned = _personal_data_hits(city.settings.serving_path, None, personal)
    assert warehouse_hits == [] and serving_hits == []
    assert warehouse_scanned > 50 and serving_scanned > 20

    # Planted: an email inside a comment, a phone with its punctuation, a national id in upper case.
    import sqlalchemy as sa

    with sa.create_engine(city.settings.source_url).connect() as src:
        email, phone, national_id = src.execute(
            sa.text(
                "SELECT email, phone, identity_number FROM citizens "
                "WHERE email IS NOT NULL AND phone IS NOT NULL AND identity_number IS NOT NULL LIMIT 1"
            )
        ).one()
    leaky = shutil.copyfile(city.settings.serving_path, tmp_path / "leaky.duckdb")
    with duckdb.connect(str(leaky)) as con:
        con.execute("CREATE TABLE marts.notes (note VARCHAR, contact VARCHAR, ref VARCHAR)")
        con.execute(
            "INSERT INTO marts.notes VALUES (?, ?, ?)",
            [f"citizen wrote from {email} about the pothole", phone, national_id.upper()],
        )
    planted, _ = _personal_data_hits(leaky, None, personal)
    assert sorted(h[3] for h in planted) == ["contact", "note", "ref"], planted


def test_a_new_day_then_a_no_op_run(city: City) -> None:
    settings = city.settings
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        before = fetch_one(con, "SELECT count(*), max(submitted_at) FROM raw.service_requests")
        runs_before = fetch_one(con, "SELECT count(DISTINCT run_id) FROM quality.check_results")[0]
    # A BI client reads the serving copy in a loop while the pipeline loads the new day.
    reader = _BiReader(settings.serving_path)
    continue_simulation(settings.source_url, settings.drops_dir, settings.truth_dir, days=1)
    cached = set(settings.column_metadata_dir.iterdir())
    mp = pytest.MonkeyPatch()
    mp.setenv("CIRM_DBT_COLUMN_LINEAGE", "true")
    _run(settings)
    errors, counts, messages = reader.stop()
    # Column metadata is computed again only for SQL the first run did not compile: the incremental
    # models' incremental branch (the first run built them whole).
    added = set(settings.column_metadata_dir.iterdir()) - cached
    assert len(cached) > 30 and 0 < len(added) <= _incremental_models()
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
    cached = _entries(settings)
    _run(settings)
    mp.undo()
    assert _raw_checksums(settings) == unchanged
    _reconciles(settings)
    # Nothing changed, so every model's column metadata came from the cache (an entry computed again
    # would be a new file: the store writes a new one and renames it), as the first run made it.
    assert _entries(settings) == cached
    first, *_, latest = _materializations("marts", "dim_service", 3)
    for key in ("dagster/column_lineage", "dagster/column_schema"):
        assert latest[key] == first[key]


def _entries(settings: Settings) -> dict[str, int]:
    """The column-metadata cache's files and their inodes."""
    return {p.name: p.stat().st_ino for p in settings.column_metadata_dir.iterdir()}


def _incremental_models() -> int:
    from orchestration.dbt.project import dbt_project

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return sum(n["resource_type"] == "model" and n["config"]["materialized"] == "incremental" for n in nodes)


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

    from cirm.dbt_paths import DBT_EXECUTABLE, DBT_PROJECT_DIR

    copy = tmp_path / "full_refresh.duckdb"
    shutil.copy(city.settings.warehouse_path, copy)
    done = subprocess.run(
        [
            DBT_EXECUTABLE,
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
    # Ingestion is partitioned by the same days: the backfill re-reads those days from the source
    # and the drop folder, which changes nothing here (all loaded) and leaves the cursors alone.
    raw = [AssetKey(["raw", "service_requests"]), AssetKey(["raw", "hotline_calls"])]
    raw_before = {k.path[1]: _raw_checksums(settings)[k.path[1]] for k in raw}
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        cursors_before = con.execute("SELECT * FROM meta.ingest_cursors ORDER BY 1").fetchall()
    instance = DagsterInstance.get()
    runs_before = len(instance.get_runs())
    report = run_pipeline(
        settings,
        asset_selection=[*raw, *facts],
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        echo=lambda line: None,
    )
    assert report.success, report.steps_failed
    assert len(instance.get_runs()) == runs_before + 1  # one run for both days
    for key in (facts[0], *raw):
        materialized = instance.fetch_materializations(key, limit=10).records
        assert {r.partition_key for r in materialized if r.run_id == report.run_id} == {start, end}, key
    loads = [r for r in instance.fetch_materializations(raw[0], limit=10).records if r.run_id == report.run_id]
    assert loads[0].asset_materialization.metadata["rows_read"].value > 0  # the window was read
    assert {k.path[1]: _raw_checksums(settings)[k.path[1]] for k in raw} == raw_before
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        assert con.execute("SELECT * FROM meta.ingest_cursors ORDER BY 1").fetchall() == cursors_before
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
