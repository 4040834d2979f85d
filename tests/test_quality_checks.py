"""The quality suites end to end: GE runs on small DuckDB warehouses built in tmp dirs.

Three warehouses are validated once each (module scope, GE is slow to start): a good one, where every
check passes; a bad one, where every expectation of every check fails; and one whose expected
columns were renamed (schema drift), for `required_columns_exist`. Targeted tests then plant one
defect in a copy of the good warehouse and check that exactly the right check fails.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from quality import (
    ASSETS,
    CheckOutcome,
    build_docs,
    build_docs_index,
    checks_for,
    quarantine_accounting,
    record_results,
    run_all,
    run_checks,
)
from quality.pii import is_personal
from quality.tables import TABLES
from tests.test_quality_fixtures import (
    DATA_START,
    LAST_DAY,
    NOW,
    PII_MARKERS,
    TZ,
    break_every_check,
    build_warehouse,
    drop_expected_columns,
)

ALL_CHECKS = [(asset, spec.name) for asset in ASSETS for spec in checks_for(asset)]
PERSONAL_COLUMNS = {"full_name", "identity_number", "phone", "email", "caller_phone", "login_email", "comment"}


def _ids(param: tuple) -> str:
    asset, name = param
    return f"{'/'.join(asset)}::{name}"


def _run(path: Path, docs: Path, assets: list | None = None) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return run_all(con, run_id="test-run", docs_dir=docs, data_start=DATA_START, now=NOW, assets=assets or ASSETS)


def _by_name(outcomes: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {o.check_name: o for o in outcomes}


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("good") / "warehouse.duckdb")


@pytest.fixture(scope="module")
def good_run(good_db: Path) -> tuple[dict, Path]:
    docs = good_db.parent / "quality_docs"
    return _run(good_db, docs), docs


@pytest.fixture(scope="module")
def bad_run(good_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    path = tmp_path_factory.mktemp("bad") / "warehouse.duckdb"
    break_every_check(Path(shutil.copy(good_db, path)))
    docs = path.parent / "quality_docs"
    return _run(path, docs), docs


@pytest.fixture(scope="module")
def drifted_run(good_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("drifted") / "warehouse.duckdb"
    drop_expected_columns(Path(shutil.copy(good_db, path)))
    return _run(path, path.parent / "quality_docs", assets=list(TABLES))


@pytest.fixture
def good_copy(good_db: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(good_db, tmp_path / "warehouse.duckdb"))


# --- every check: passes on the good batch, each of its expectations fails on a bad one ----------


@pytest.mark.parametrize("param", ALL_CHECKS, ids=_ids)
def test_check_passes_on_good_batch(good_run: tuple[dict, Path], param: tuple) -> None:
    asset, name = param
    outcome = _by_name(good_run[0][asset])[name]
    assert outcome.success, json.dumps(outcome.observed, indent=1)
    assert outcome.expectations_evaluated > 0 and outcome.expectations_failed == 0
    assert outcome.sample_failing_rows == []


@pytest.mark.parametrize("param", ALL_CHECKS, ids=_ids)
def test_each_expectation_fails_on_bad_batch(bad_run: tuple[dict, Path], drifted_run: dict, param: tuple) -> None:
    asset, name = param
    outcomes = drifted_run[asset] if name == "required_columns_exist" else bad_run[0][asset]
    outcome = _by_name(outcomes)[name]
    assert not outcome.success
    # Every expectation of the check failed, each on its own planted defect.
    assert outcome.expectations_failed == outcome.expectations_evaluated > 0, json.dumps(outcome.observed, indent=1)
    assert all(not e.success for e in outcome.expectations)
    if name == "required_columns_exist":
        assert all(e.observed["error"] == "column not found" for e in outcome.expectations)


def test_outcomes_are_actionable(bad_run: tuple[dict, Path]) -> None:
    outcome = _by_name(bad_run[0][("raw", "service_requests")])["service_codes_known"]
    observed = outcome.observed["expect_column_values_to_be_in_set(service_code)"]
    assert observed["unexpected_count"] >= 1
    assert {"value": "ZZ-UNKNOWN", "count": 1} in observed["top_unexpected_values"]
    assert [r["service_code"] for r in outcome.sample_failing_rows] == ["ZZ-UNKNOWN"]
    assert outcome.sample_failing_rows[0]["request_id"] is not None  # the row is named by its key
    assert outcome.docs_path and Path(outcome.docs_path).is_file()
    assert outcome.blocking is False
    key = _by_name(bad_run[0][("raw", "service_requests")])["primary_key_unique"]
    assert key.blocking and not key.success
    duplicated = [r["request_id"] for r in key.sample_failing_rows]
    assert len(duplicated) >= 2 and len(set(duplicated)) < len(duplicated)  # the duplicates, side by side


# --- targeted: one defect, exactly one failing check -------------------------------------------------


def _failing(path: Path, asset: tuple[str, str], docs: Path) -> dict[str, CheckOutcome]:
    with duckdb.connect(str(path), read_only=True) as con:
        outcomes = run_checks(con, asset, run_id="targeted", docs_dir=docs, data_start=DATA_START, now=NOW)
    return {o.check_name: o for o in outcomes if not o.success}


def test_volume_at_10x_fails(good_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(good_copy)) as con:
        con.execute(
            "INSERT INTO raw.service_requests SELECT r.* REPLACE (request_id + 1000000 * k AS request_id) "
            "FROM raw.service_requests r, range(1, 10) t(k) WHERE channel = 'web' AND "
            f"CAST((submitted_at AT TIME ZONE 'UTC') AT TIME ZONE '{TZ}' AS DATE) = DATE '{LAST_DAY}'"
        )
    failing = _failing(good_copy, ("raw", "service_requests"), tmp_path / "docs")
    assert set(failing) == {"daily_volume_within_band"}
    (row,) = failing["daily_volume_within_band"].sample_failing_rows
    assert (row["channel"], row["day"][:10], row["daily_count"]) == ("web", str(LAST_DAY), 20)
    assert row["ratio_to_median"] == pytest.approx(10)


def test_future_timestamp_fails_without_blocking(good_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(good_copy)) as con:
        con.execute(
            "UPDATE raw.service_requests SET submitted_at = TIMESTAMP '2024-06-17 09:00:00' "
            "WHERE request_id = (SELECT min(request_id) FROM raw.service_requests WHERE closed_at IS NULL)"
        )
    failing = _failing(good_copy, ("raw", "service_requests"), tmp_path / "docs")
    # One row in ~1300: a warning, not the blocking at-scale variant.
    assert set(failing) == {"timestamps_in_range"}
    assert [r["submitted_at"] for r in failing["timestamps_in_range"].sample_failing_rows] == ["2024-06-17T09:00:00"]


def test_unknown_service_code_fails(good_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(good_copy)) as con:
        con.execute("UPDATE raw.service_requests SET service_code = 'XX-NEW' WHERE request_id = 42")
    failing = _failing(good_copy, ("raw", "service_requests"), tmp_path / "docs")
    assert set(failing) == {"service_codes_known"}
    assert failing["service_codes_known"].sample_failing_rows[0]["request_id"] == 42


def test_missing_table_fails_every_check_with_a_reason(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        outcomes = run_checks(
            con, ("marts", "fct_contacts"), run_id="r", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW
        )
        assert outcomes and all(not o.success and o.expectations_evaluated == 0 for o in outcomes)
        assert all("marts.fct_contacts does not exist" in o.observed["frame"]["notes"][0] for o in outcomes)
        # The failure is in the history too, one '<frame>' row per check.
        assert record_results(con, "r", ("marts", "fct_contacts"), outcomes) == len(outcomes)
        rows = con.execute("SELECT DISTINCT expectation, success FROM quality.check_results").fetchall()
    assert rows == [("<frame>", False)]


# --- history, docs, personal data, accounting ----------------------------------------------------


def test_check_results_accumulate_history(good_copy: Path, tmp_path: Path) -> None:
    asset = ("raw", "departments")
    with duckdb.connect(str(good_copy)) as con:
        evaluated = []
        for run_id in ("run-1", "run-2"):
            outcomes = run_checks(con, asset, run_id=run_id, docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
            assert record_results(con, run_id, asset, outcomes) == sum(o.expectations_evaluated for o in outcomes)
            evaluated.append(sum(o.expectations_evaluated for o in outcomes))
        columns = [r[0] for r in con.execute("DESCRIBE quality.check_results").fetchall()]
        per_run = con.execute(
            "SELECT run_id, count(*), bool_and(success), count(DISTINCT check_name), min(asset_key) "
            "FROM quality.check_results GROUP BY run_id ORDER BY run_id"
        ).fetchall()
        observed = con.execute(
            "SELECT observed_value FROM quality.check_results WHERE check_name = 'primary_key_unique' LIMIT 1"
        ).fetchall()[0][0]
    assert columns == ["run_id", "asset_key", "check_name", "expectation", "success", "observed_value", "evaluated_at"]
    n_checks = len(checks_for(asset))
    assert per_run == [
        ("run-1", evaluated[0], True, n_checks, "raw/departments"),
        ("run-2", evaluated[1], True, n_checks, "raw/departments"),
    ]
    assert json.loads(observed)["unexpected_count"] == 0


def test_checks_build_their_pages_and_the_index_is_built_once(good_copy: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    with duckdb.connect(str(good_copy)) as con:
        first = run_checks(con, ("raw", "departments"), run_id="run-a", docs_dir=docs, data_start=DATA_START, now=NOW)
        second = run_checks(con, ("raw", "districts"), run_id="run-a", docs_dir=docs, data_start=DATA_START, now=NOW)
    pages = {Path(o.docs_path) for o in (*first, *second) if o.docs_path}
    assert len(pages) == 2 and all(p.is_file() for p in pages)
    assert not (docs / "index.html").exists()  # the checks leave the index to the end of the run

    written = {p: p.stat().st_mtime_ns for p in pages}
    index = build_docs_index(docs)
    html = index.read_text(encoding="utf-8")
    assert all(str(p.relative_to(docs.resolve())) in html for p in pages)  # both suites' pages are listed
    assert {p: p.stat().st_mtime_ns for p in pages} == written  # and not rendered again


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        self.links += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_data_docs_exist_and_name_the_suites(good_run: tuple[dict, Path]) -> None:
    outcomes, docs = good_run
    index = build_docs(docs)
    assert index == docs.resolve() / "index.html" and index.is_file()
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    assert {"html", "body", "table"} <= page.tags
    content = " ".join(page.text) + " ".join(page.links)
    suites = {".".join(a) for a in outcomes} | {
        f"{'.'.join(a)}.{frame}" for a, t in TABLES.items() for frame in ("volume", "drift") if getattr(t, frame)
    }
    missing = [s for s in suites if s not in content]
    assert not missing
    for asset_outcomes in outcomes.values():
        for o in asset_outcomes:
            assert o.docs_path and Path(o.docs_path).is_file() and Path(o.docs_path).is_relative_to(docs.resolve())


def test_no_personal_data_leaves_the_warehouse(bad_run: tuple[dict, Path]) -> None:
    outcomes, docs = bad_run
    samples = [row for outs in outcomes.values() for o in outs for row in o.sample_failing_rows]
    assert samples, "the bad batch must produce sample rows"
    assert not {k for row in samples for k in row} & PERSONAL_COLUMNS
    assert not [k for row in samples for k in row if is_personal(k)]
    citizens = _by_name(outcomes[("raw", "citizens")])["null_share_within_threshold"]
    assert citizens.sample_failing_rows and "citizen_id" in citizens.sample_failing_rows[0]
    dumped = json.dumps([o.__dict__ for outs in outcomes.values() for o in outs], default=str)
    assert not [m for m in PII_MARKERS if m in dumped]
    # Nor in anything GE wrote: Data Docs pages and the stored suites and results.
    for path in docs.rglob("*"):
        if path.suffix in {".html", ".json"}:
            text = path.read_text(encoding="utf-8")
            assert not [m for m in PII_MARKERS if m in text], path


def test_quarantine_accounting(good_db: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(good_db), read_only=True) as con:
        rows = quarantine_accounting(con)
    assert len(rows) == 7 and all(r.ok for r in rows)
    requests = next(r for r in rows if r.entity == "service_requests")
    assert requests.raw_rows == requests.staged_rows + requests.quarantined_rows and requests.quarantined_rows > 0
    path = Path(shutil.copy(good_db, tmp_path / "w.duckdb"))
    with duckdb.connect(str(path)) as con:
        lost = con.execute("SELECT min(citizen_id) FROM staging.stg_case_system__citizens").fetchall()[0][0]
        con.execute("DELETE FROM staging.stg_case_system__citizens WHERE citizen_id = ?", [lost])
        con.execute("DROP TABLE quarantine.hotline_calls")
        rows = {r.entity: r for r in quarantine_accounting(con)}
        asset = ("staging", "stg_channel_drops__hotline_calls")
        outcomes = run_checks(con, asset, run_id="r", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
    check, share = outcomes
    assert not rows["citizens"].ok and rows["citizens"].unaccounted_keys == 1
    assert rows["citizens"].unaccounted_sample == (str(lost),)
    assert not rows["hotline_calls"].ok and rows["hotline_calls"].missing_tables == ("quarantine.hotline_calls",)
    assert rows["web_events"].ok
    # Through GE: blocking, failed on the comparison itself (not an error), the missing table named.
    assert check.blocking and not check.success and check.expectations_failed == 1
    assert "error" not in check.observed["expect_column_pair_values_to_be_equal(raw_rows, accounted_rows)"]
    assert check.observed["frame"]["notes"] == ["missing tables: quarantine.hotline_calls"]
    # The share of the latest load cannot be judged without the quarantine: accounting blocks instead.
    assert share.check_name == "quarantine_share_within_limit" and share.success
    assert share.observed["frame"]["notes"] == ["missing tables: quarantine.hotline_calls"]


def _new_load(con: duckdb.DuckDBPyConnection, rows: int, quarantined: int) -> None:
    """A later load of raw.service_requests (new ids, load-2) of which `quarantined` rows were quarantined."""
    con.execute(
        f"""
        CREATE TEMP TABLE load2 AS
        SELECT * REPLACE (request_id + 1000000 AS request_id, 'load-2' AS _load_id,
                          TIMESTAMP '2024-06-16 00:00:00' AS _loaded_at)
        FROM raw.service_requests ORDER BY request_id LIMIT {rows}
        """
    )
    con.execute("INSERT INTO raw.service_requests SELECT * FROM load2")
    con.execute(f"INSERT INTO staging.stg_case_system__service_requests SELECT * FROM load2 OFFSET {quarantined}")
    con.execute(
        "INSERT INTO quarantine.service_requests SELECT *, "
        "CASE WHEN request_id % 3 = 0 THEN 'unknown_service_code' ELSE 'future_timestamp' END "
        f"FROM load2 LIMIT {quarantined}"
    )


def test_quarantine_share_judges_the_latest_load(good_copy: Path, tmp_path: Path) -> None:
    asset = ("staging", "stg_case_system__service_requests")
    with duckdb.connect(str(good_copy)) as con:
        _new_load(con, rows=40, quarantined=30)
        outcomes = run_checks(con, asset, run_id="r", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
    by_name = _by_name(outcomes)
    # raw = staged + quarantined still holds: only the share of the latest load is wrong
    assert by_name["raw_equals_staged_plus_quarantined"].success
    share = by_name["quarantine_share_within_limit"]
    assert share.blocking and not share.success and share.expectations_failed == 1
    frame = share.observed["frame"]
    figures = (frame["load_id"], frame["rows_in_load"], frame["quarantined_rows"], frame["share"])
    assert figures == ("load-2", 40, 30, 0.75)
    assert {r["failed_rule"] for r in frame["top_failed_rules"]} == {"future_timestamp", "unknown_service_code"}
    assert sum(r["rows"] for r in frame["top_failed_rules"]) == 30


def test_quarantine_share_ignores_a_few_bad_rows_and_earlier_loads(good_copy: Path, tmp_path: Path) -> None:
    asset = ("staging", "stg_case_system__service_requests")
    with duckdb.connect(str(good_copy)) as con:
        # load-1 quarantined ~2.5%; load-2 has 3 bad rows of 6: 50%, but too few rows to mean a fault
        _new_load(con, rows=6, quarantined=3)
        outcomes = run_checks(con, asset, run_id="r", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
    share = _by_name(outcomes)["quarantine_share_within_limit"]
    assert share.success and share.observed["frame"]["quarantined_rows"] == 3
    assert "not judged" in share.observed["frame"]["notes"][0]


def _later_load(con: duckdb.DuckDBPyConnection, load_id: str, at: str, where: str, replace: str = "") -> None:
    """Rows of raw.service_requests delivered again by a later load (REPLACE expressions change them)."""
    replaced = f"{replace}, " if replace else ""
    con.execute(
        f"INSERT INTO raw.service_requests SELECT * REPLACE ({replaced}'{load_id}' AS _load_id, "
        f"TIMESTAMP '{at}' AS _loaded_at) FROM raw.service_requests WHERE {where}"
    )


def test_raw_rows_are_judged_on_their_latest_load(good_copy: Path, tmp_path: Path) -> None:
    asset = ("raw", "service_requests")
    with duckdb.connect(str(good_copy)) as con:
        total = con.execute("SELECT count(*) FROM raw.service_requests").fetchone()[0]
        first = run_checks(con, asset, run_id="r1", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
        frame = first[0].observed["frame"]
        assert (frame["rows"], frame["scope"]) == (total, "whole table (one load)")
        # load-2: five new requests, one with a code nobody knows
        _later_load(
            con,
            "load-2",
            "2024-06-16 00:00:00",
            "request_id <= 5",
            "request_id + 1000000 AS request_id, CASE WHEN request_id = 1 THEN 'XX-NEW' ELSE service_code END "
            "AS service_code",
        )
    failing = _failing(good_copy, asset, tmp_path / "docs")
    assert set(failing) == {"service_codes_known"}
    bad = failing["service_codes_known"]
    assert [r["request_id"] for r in bad.sample_failing_rows] == [1000001]
    frame = bad.observed["frame"]
    assert (frame["rows"], frame["load_id"]) == (5, "load-2")

    with duckdb.connect(str(good_copy)) as con:
        # load-3 is clean, and it alone is judged now: load-2's bad row was reported when it arrived
        _later_load(
            con, "load-3", "2024-06-16 06:00:00", "request_id BETWEEN 6 AND 8", "request_id + 2000000 AS request_id"
        )
        outcomes = run_checks(con, asset, run_id="r3", docs_dir=tmp_path / "docs", data_start=DATA_START, now=NOW)
    assert all(o.success for o in outcomes), [o.check_name for o in outcomes if not o.success]
    rows = _by_name(outcomes)["primary_key_unique"].observed["frame"]
    assert (rows["rows"], rows["load_id"]) == (3, "load-3")
    assert total > 1000  # the history is far larger than what was judged


def test_a_key_repeated_by_a_later_load_is_a_duplicate(good_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(good_copy)) as con:
        _later_load(con, "load-2", "2024-06-16 00:00:00", "request_id IN (7, 8)")  # the same keys again
    failing = _failing(good_copy, ("raw", "service_requests"), tmp_path / "docs")
    assert set(failing) == {"primary_key_unique"}
    key = failing["primary_key_unique"]
    # The earlier rows sharing the keys are in the frame: two loads x two keys.
    assert key.observed["frame"]["rows"] == 4
    assert sorted(r["request_id"] for r in key.sample_failing_rows) == [7, 7, 8, 8]


def test_frames_hold_the_dtypes_ge_compares_vectorised() -> None:
    from quality.frames import comparable

    with duckdb.connect() as con:
        df = con.sql(
            "SELECT * FROM (VALUES (TIMESTAMP '2024-01-02 03:04:05.678901', TIMESTAMP '3000-01-01 00:00:00', "
            "1::INTEGER, 5::INTEGER, 1.5::FLOAT, 7::SMALLINT, true), "
            "(NULL, NULL, NULL, 6::INTEGER, NULL, 8::SMALLINT, false)) t(ts, far, maybe, whole, f, small, flag)"
        ).df()
    out = comparable(df)
    # What GE's column_values.between compares without a Python call per value ...
    assert out["ts"].dtype == "datetime64[ns]" and out["ts"][0] == df["ts"][0]
    assert out["maybe"].dtype == "float64" and out["maybe"][0] == 1 and pd.isna(out["maybe"][1])
    assert out["whole"].dtype == "int64" and out["small"].dtype == "int64" and out["f"].dtype == "float64"
    # ... and what it must leave alone: a year nanoseconds cannot hold, booleans.
    assert out["far"].dtype == df["far"].dtype and out["far"][0] == df["far"][0]
    assert out["flag"].dtype == df["flag"].dtype


def test_a_validated_frame_is_not_kept_by_ge(tmp_path: Path) -> None:
    import gc
    import weakref

    from quality import gx_session

    df = pd.DataFrame({"id": range(1000), "value": [1.0] * 1000})
    frame = weakref.ref(df)
    expectations = [("ExpectColumnValuesToBeBetween", {"column": "value", "min_value": 0, "max_value": 2}, {})]
    validation = gx_session.validate_frame(tmp_path / "docs", "test.frame", df, expectations, "run-1")
    assert [r.success for r in validation.results] == [True]
    del df
    gc.collect()
    # GE's execution engine caches every batch and its metrics while its datasource lives.
    assert frame() is None
    ctx = gx_session.context_for(tmp_path / "docs")
    assert not list(ctx.data_sources.all())
    # The page was still built, and a second validation of the same suite works.
    assert validation.docs_path and Path(validation.docs_path).exists()
    again = gx_session.validate_frame(
        tmp_path / "docs", "test.frame", pd.DataFrame({"value": [3.0]}), expectations, "r2"
    )
    assert [r.success for r in again.results] == [False]
