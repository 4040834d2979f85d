"""The suite definitions and the SQL behind the derived frames, without running GE (fast)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from quality import ASSETS, checks_for
from quality.accounting import ACCOUNTING_ASSETS, ENTITIES
from quality.config import QualityConfig
from quality.drift import chi_square_sf, fetch_drift
from quality.pii import REDACTED, is_personal, select_expr, strip_personal
from quality.specs import DriftSpec, TableSpec, VolumeSpec
from quality.tables import RAW_TABLES, TABLES
from quality.volume import fetch_volume
from simulator import schema
from simulator.drops import DROP_CHANNELS, DROP_TABLES

ROOT = Path(__file__).resolve().parents[1]
BLOCKING = {
    "required_columns_exist",
    "primary_key_not_null",
    "primary_key_unique",
    "timestamps_in_range_at_scale",
    "raw_equals_staged_plus_quarantined",
    "quarantine_share_within_limit",
}
AS_DELIVERED = {"hotline_calls", "web_events", "app_events"}


def expected_blocking(asset: tuple[str, str], check: str) -> bool:
    """Row-level faults on raw are quarantined by staging, so they warn there and block past it."""
    if check not in BLOCKING:
        return False
    if asset[0] != "raw":
        return True
    if check == "timestamps_in_range_at_scale":
        return False
    return not (check.startswith("primary_key") and asset[1] in AS_DELIVERED)


def test_every_asset_lists_named_described_checks() -> None:
    assert ("raw", "service_requests") in ASSETS and ("marts", "fct_service_requests") in ASSETS
    for asset in ASSETS:
        specs = checks_for(asset)
        names = [s.name for s in specs]
        assert specs and len(names) == len(set(names)), asset
        for s in specs:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", s.name) and s.description and s.asset == asset
            assert s.blocking == expected_blocking(asset, s.name), (asset, s.name)


def test_the_issue_checks_are_all_there() -> None:
    requests = {s.name for s in checks_for(("raw", "service_requests"))}
    assert {
        "primary_key_unique",
        "required_fields_not_null",
        "timestamps_in_range",
        "closed_not_before_submitted",
        "service_codes_known",
        "district_codes_known",
        "channel_codes_known",
        "daily_volume_within_band",
        "null_share_within_threshold",
    } <= requests
    assert "satisfaction_distribution_stable" in {s.name for s in checks_for(("raw", "satisfaction_surveys"))}
    assert "scores_in_range" in {s.name for s in checks_for(("marts", "fct_satisfaction"))}
    for asset in ACCOUNTING_ASSETS:
        assert [(s.name, s.blocking) for s in checks_for(asset)] == [
            ("raw_equals_staged_plus_quarantined", True),
            ("quarantine_share_within_limit", True),
        ]
    with pytest.raises(KeyError, match="no quality suite"):
        checks_for(("raw", "nope"))


def test_raw_specs_follow_the_source_contracts() -> None:
    """Keys, required fields and timestamps of raw tables are those of simulator.schema / drops."""
    for t in RAW_TABLES:
        if t.table in schema.metadata.tables:
            source = schema.metadata.tables[t.table]
            columns = {c.name for c in source.columns}
            assert t.key == tuple(c.name for c in source.primary_key.columns), t.table
            not_null = {c.name for c in source.columns if not c.nullable and not c.primary_key}
            assert set(t.required) == not_null, t.table
            datetimes = {c.name for c in source.columns if c.type.python_type is datetime}
            assert set(t.timestamps) == datetimes, t.table
        else:
            channel = next(ch for ch, table in DROP_TABLES.items() if table == t.table)
            columns = set(DROP_CHANNELS[channel][1])
            assert t.expected_columns == DROP_CHANNELS[channel][1]
        named = {
            *t.key,
            *t.required,
            *t.timestamps,
            *t.start_bounded,
            *t.null_share_max,
            *t.text_timestamps,
            *t.text_numbers,
        }
        named |= {m.column for m in t.memberships} | {p.column for p in t.parents}
        named |= {o.later for o in t.orderings} | {o.earlier for o in t.orderings}
        named |= {r.column.removesuffix("__num") for r in t.ranges}
        assert {c.removesuffix("__utc") for c in named} <= columns, t.table
    assert {t.table for t in RAW_TABLES} == set(schema.CASE_SYSTEM_TABLES) | set(DROP_TABLES.values())


def test_accounting_entities_match_the_dbt_test() -> None:
    dbt_test = ROOT / "dbt_project" / "tests" / "assert_raw_rows_are_staged_or_quarantined.sql"
    if not dbt_test.exists():
        pytest.skip("dbt singular test not present")
    pairs = set(re.findall(r"\('(\w+)', '(\w+)', '(stg_\w+)', 'quarantine_\w+'\)", dbt_test.read_text()))
    assert {(src, table, stg) for src, table, stg in pairs} == {
        (e.staging.split("__")[0].removeprefix("staging.stg_"), e.name, e.staging.split(".")[1]) for e in ENTITIES
    }


def test_listing_checks_does_not_import_great_expectations() -> None:
    code = (
        "import sys, quality; quality.checks_for(('raw', 'service_requests')); "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_personal_columns_are_fetched_redacted_and_never_sampled() -> None:
    for column in ("full_name", "identity_number", "phone", "email", "caller_phone", "login_email", "comment"):
        assert is_personal(column) and REDACTED in select_expr(column)
    assert select_expr("district_id") == '"district_id"'
    assert strip_personal([{"citizen_id": 1, "email": REDACTED, "phone": None}]) == [{"citizen_id": 1}]
    con = duckdb.connect()
    rows = con.execute(f"SELECT {select_expr('phone')} FROM (VALUES ('+1 555'), (NULL)) t(phone)").fetchall()
    assert rows == [(REDACTED,), (None,)]


# --- volume and drift SQL -----------------------------------------------------------------------


def _volume_table(con: duckdb.DuckDBPyConnection, weekend: int, last_day: int) -> TableSpec:
    """Six weeks of a service-hall-like channel: 20 contacts on weekdays, `weekend` on weekends and
    `last_day` on the last day (Saturday 2024-06-15); and a hotline steady at 50 a day throughout."""
    con.execute("CREATE SCHEMA IF NOT EXISTS t")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE t.contacts AS
        WITH days AS (
            SELECT CAST(d AS DATE) AS day FROM range(DATE '2024-05-04', DATE '2024-06-16', INTERVAL 1 DAY) r(d)
        ), n AS (
            SELECT day, 'service_hall' AS channel,
                   CASE WHEN day = DATE '2024-06-15' THEN {last_day}
                        WHEN dayofweek(day) IN (0, 6) THEN {weekend} ELSE 20 END AS n
            FROM days
            UNION ALL SELECT day, 'hotline', 50 FROM days
        )
        SELECT CAST(day AS TIMESTAMP) + INTERVAL 10 HOUR AS contacted_at, channel FROM n, range(n.n)
        """
    )
    return TableSpec("t", "contacts", key=(), volume=VolumeSpec("contacted_at", "channel"))


def _deviation(con: duckdb.DuckDBPyConnection, spec: TableSpec, cfg: QualityConfig | None = None) -> float:
    df = fetch_volume(con, spec, cfg or QualityConfig(), date(2024, 6, 16)).df
    (row,) = df[df["channel"] == "service_hall"].to_dict(orient="records")
    assert row["day"].date() == date(2024, 6, 15)
    return row["deviation"]


def test_volume_band_follows_the_weekly_rhythm() -> None:
    con = duckdb.connect()
    spec = _volume_table(con, weekend=0, last_day=0)  # closed on weekends, as the service hall is
    assert -1 <= _deviation(con, spec) <= 1
    # Against all days of the window, a closed Saturday looks like an outage.
    assert _deviation(con, spec, QualityConfig(volume_weekday_aware=False)) < -1


def test_volume_spike_and_outage_leave_the_band() -> None:
    con = duckdb.connect()
    for last_day, inside in ((8, True), (30, False), (0, True)):
        spec = _volume_table(con, weekend=8, last_day=last_day)
        assert (-1 <= _deviation(con, spec) <= 1) == inside, last_day
    # Ten times busier, a channel going dark while the others carry on is an outage.
    con.execute("INSERT INTO t.contacts SELECT t.* FROM t.contacts t, range(9) WHERE channel = 'service_hall'")
    assert _deviation(con, spec) < -1


def test_volume_needs_history_and_complete_days() -> None:
    con = duckdb.connect()
    spec = _volume_table(con, weekend=8, last_day=8)
    # "Today" is 2024-06-15: that day is still filling up and is not judged; the 14th is.
    frame = fetch_volume(con, spec, QualityConfig(), date(2024, 6, 15))
    assert {d.date() for d in frame.df["day"]} == {date(2024, 6, 14)}
    short = fetch_volume(con, spec, QualityConfig(volume_min_history_days=60), date(2024, 6, 16))
    assert short.df.empty and "nothing judged" in short.context["notes"][0]


def _surveys(con: duckdb.DuckDBPyConnection, recent_scores: str, per_day: int = 10) -> TableSpec:
    con.execute("CREATE SCHEMA IF NOT EXISTS t")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE t.surveys AS
        SELECT CAST(d AS TIMESTAMP) + INTERVAL (k) MINUTE AS submitted_at,
               CASE WHEN d > TIMESTAMP '2024-05-15' THEN {recent_scores} ELSE 1 + k % 5 END AS score
        FROM range(TIMESTAMP '2024-01-01', TIMESTAMP '2024-06-15', INTERVAL 1 DAY) r(d), range({per_day}) s(k)
        """
    )
    return TableSpec("t", "surveys", key=(), drift=DriftSpec("score", "submitted_at"))


def test_satisfaction_drift_statistic() -> None:
    con = duckdb.connect()
    now = datetime(2024, 6, 15, 12)
    stable = fetch_drift(con, _surveys(con, "1 + k % 5"), QualityConfig(), now).df.iloc[0]
    assert stable["tvd"] == pytest.approx(0, abs=1e-9) and stable["recent_responses"] == 300
    assert stable["reference_responses"] >= 900 and stable["recent_share_3"] == pytest.approx(0.2)
    # A fifth of the responses moved from 5 to 1: TVD 0.2.
    shifted = fetch_drift(con, _surveys(con, "CASE WHEN k % 5 = 4 THEN 1 ELSE 1 + k % 5 END"), QualityConfig(), now)
    assert shifted.df.iloc[0]["tvd"] == pytest.approx(0.2) and shifted.df.iloc[0]["kl_divergence"] > 0
    # Too few responses: not judged (null), and said so.
    sparse = fetch_drift(con, _surveys(con, "1", per_day=1), QualityConfig(), now)
    assert sparse.df["tvd"].isna().all() and "not judged" in sparse.context["notes"][0]


def _scored(con: duckdb.DuckDBPyConnection, reference: list[int], recent: list[int]) -> TableSpec:
    """Surveys with the given number of each score 1..5: reference ones 50 days before recent ones."""
    last = datetime(2024, 6, 14, 12)
    rows = [(last - timedelta(days=50), s) for s, n in enumerate(reference, 1) for _ in range(n)]
    rows += [(last, s) for s, n in enumerate(recent, 1) for _ in range(n)]
    con.execute("CREATE SCHEMA IF NOT EXISTS t")
    con.execute("CREATE OR REPLACE TABLE t.scored (submitted_at TIMESTAMP, score INTEGER)")
    con.executemany("INSERT INTO t.scored VALUES (?, ?)", rows)
    return TableSpec("t", "scored", key=(), drift=DriftSpec("score", "submitted_at"))


def test_drift_is_judged_only_beyond_sampling_noise() -> None:
    """100 responses against 300 differ by chance: a TVD over the threshold that a chi-square test
    cannot tell from noise is no drift; a real shift in windows that small still is."""
    con = duckdb.connect()
    cfg, now = QualityConfig(), datetime(2024, 6, 15)
    reference = [30, 60, 90, 90, 30]
    noisy = fetch_drift(con, _scored(con, reference, [3, 16, 37, 34, 10]), cfg, now)
    row = noisy.df.iloc[0]
    assert row["tvd"] == pytest.approx(0.11) and row["tvd"] > cfg.drift_tvd_max
    assert row["degrees_of_freedom"] == 4 and row["p_value"] > 0.1
    assert math.isnan(row["significant_tvd"]) and "within sampling noise" in noisy.context["notes"][0]
    shifted = fetch_drift(con, _scored(con, reference, [40, 20, 20, 15, 5]), cfg, now).df.iloc[0]
    assert shifted["p_value"] < cfg.drift_significance
    assert shifted["significant_tvd"] == pytest.approx(shifted["tvd"]) == pytest.approx(0.3)
    # the tail probabilities behind the test, against tabulated chi-square quantiles
    assert chi_square_sf(13.2767, 4) == pytest.approx(0.01, abs=1e-5)
    assert chi_square_sf(3.8415, 1) == pytest.approx(0.05, abs=1e-5)
    assert chi_square_sf(11.0705, 5) == pytest.approx(0.05, abs=1e-5)
    assert chi_square_sf(0.0, 3) == 1.0


def test_tables_cover_raw_and_marts() -> None:
    assert {a[0] for a in TABLES} == {"raw", "marts"}
    assert all(t.asset in ASSETS for t in TABLES.values())
