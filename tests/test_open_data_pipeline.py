"""Open-data mode end to end: no case system, real 311 exports imported, the whole pipeline run.

NYC is imported with `cirm import-open311`; LA's 2017 export through its configured asset
(`open311/la_2017`, from the data folder's open311.yaml). Then `cirm run` builds the star schema,
runs the checks, forecasts where history allows and says why it does not, and skips segmentation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.open311.exports import LA_2017_SAMPLE, NYC_SAMPLE, samples_dir

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
CIRM = str(Path(sys.executable).with_name("cirm"))


def _cirm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CIRM, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def open_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    samples = samples_dir()
    data = tmp_path_factory.mktemp("open_data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRM_")}
    env |= {
        "CIRM_DATA_DIR": str(data),
        "CIRM_SOURCE_URL": "none",
        "CIRM_PSEUDONYM_SECRET": "open-data-test-key-0123456789abcdef",
        "CIRM_DBT_COLUMN_LINEAGE": "false",
        "DAGSTER_HOME": str(data / "dagster_home"),
    }
    (data / "open311.yaml").write_text(
        f"imports:\n  la_2017:\n    mapping: mappings/la_2017.yaml\n    files: ['{samples / LA_2017_SAMPLE}']\n"
    )
    imported = _cirm(env, "import-open311", "--mapping", "mappings/nyc.yaml", str(samples / NYC_SAMPLE))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    run = _cirm(env, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    return data, imported.stdout + "\n" + run.stdout


def _query(data: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_marts_hold_the_imported_cities_alone(open_data: tuple[Path, str]) -> None:
    data, output = open_data
    assert "read = loaded + quarantined + duplicates: ok" in output
    loaded = dict(_query(data, "SELECT source_system, count(*) FROM raw.open311_requests GROUP BY ALL"))
    facts = dict(_query(data, "SELECT source_system, count(*) FROM marts.fct_service_requests GROUP BY ALL"))
    assert facts == loaded and set(facts) == {"nyc", "la"}  # no case-system rows at all
    assert loaded["nyc"] > 4900 and loaded["la"] > 9900
    # Every fact finds its service, agency and date; an open request has no closure date.
    orphans = _query(
        data,
        "SELECT count(*) FILTER (WHERE service_key = '-1'), count(*) FILTER (WHERE department_key = '-1'), "
        "count(*) FILTER (WHERE submitted_date_key = -1) FROM marts.fct_service_requests",
    )[0]
    assert orphans == (0, 0, 0)


def test_marts_answer_requests_per_agency_and_type_and_time_to_close(open_data: tuple[Path, str]) -> None:
    data, _ = open_data
    rows = _query(
        data,
        "SELECT department_id, service_name, requests, median_hours_to_close "
        "FROM marts.mart_requests_by_agency_and_type WHERE source_system = 'nyc' ORDER BY requests DESC",
    )
    assert (
        sum(r[2] for r in rows)
        == _query(data, "SELECT count(*) FROM raw.open311_requests WHERE source_system = 'nyc'")[0][0]
    )
    agencies = {r[0] for r in rows}
    assert {"nyc:NYPD", "nyc:HPD", "nyc:DOT"} <= agencies
    assert len({r[1] for r in rows}) > 50  # complaint types
    # The median matches the same question asked of the fact table directly.
    top_agency, top_type, _, median = rows[0]
    direct = _query(
        data,
        "SELECT median(f.closure_hours) FROM marts.fct_service_requests f "
        "JOIN marts.dim_service s ON f.service_key = s.service_key "
        "JOIN marts.dim_department d ON f.department_key = d.department_key "
        f"WHERE d.department_id = '{top_agency}' AND s.service_name = '{top_type.replace(chr(39), chr(39) * 2)}'",
    )[0][0]
    assert median == pytest.approx(direct) and median > 0


def test_quarantine_and_checks_run_on_open_data(open_data: tuple[Path, str]) -> None:
    data, _ = open_data
    quarantined = dict(_query(data, "SELECT failed_rule, count(*) FROM quarantine.open311_requests GROUP BY ALL"))
    assert quarantined.get("closed_before_created", 0) >= 2
    assert _query(data, "SELECT count(DISTINCT check_name) FROM quality.check_results")[0][0] > 10
    # The run succeeded, so no blocking check failed; what fails is a warning open data earns
    # honestly: channels the export does not state, and a volume unlike any history.
    failed = {n for (n,) in _query(data, "SELECT DISTINCT check_name FROM quality.check_results WHERE NOT success")}
    assert failed <= {"channel_keys_known", "null_share_within_threshold", "daily_volume_within_band"}, failed


def test_forecast_says_history_is_too_short_and_segmentation_is_skipped(open_data: tuple[Path, str]) -> None:
    data, output = open_data
    assert _query(data, "SELECT count(*) FROM ml.demand_forecast") == [(0,)]
    gaps = _query(
        data, "SELECT min(history_days), max(history_days), count(*), any_value(reason) FROM ml.forecast_history_gaps"
    )[0]
    # A few days per export (as city-local dates), nowhere near the 56 days a forecast needs.
    assert gaps[1] <= 7 and gaps[2] > 10 and "a forecast needs at least 56" in gaps[3]
    assert _query(data, "SELECT count(*) FROM ml.citizen_segments") == [(0,)]
    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.mart_requests_by_agency_and_type").fetchone()[0] > 100
