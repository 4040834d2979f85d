"""The data-quality issue's "must show", through the real pipeline (Dagster, dbt, Great Expectations).

One small simulated city, planted with no dirty data (`simulate(..., dirty=False)`), goes through the
whole job twice, as a warehouse does on two days:

1. the clean load: every asset check passes (dbt tests and GE suites) and nothing is quarantined;
2. a bad load on top of it, injected into the SQLite source and the drop folder: one day at 10x its
   volume, requests and calls a year in the future, unknown service codes, a hotline file with an
   unparseable time and a re-delivered call. The failed checks show in the run report and in the
   Dagster instance; staging's hard rules send the bad rows to schema `quarantine` (future
   timestamps, unknown codes, duplicate submissions, ...), no row is lost, and because most of the
   load was quarantined the blocking `quarantine_share_within_limit` check on the staging models
   stops everything downstream of them in that run: facts, reporting marts and the mining assets.

The two loads share one city because the second needs the first's history (the volume band is
judged against the trailing weeks) and the check history must span two runs: two pipeline runs in
all, about two and a half minutes on two cores. The city's dates are fixed, so its data does not
depend on the day the test runs; only "now" (the future timestamps) comes from the clock.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from cirm.settings import Settings, load_settings
from ingest.warehouse import connect_warehouse
from quality.config import QualityConfig
from simulator.drops import DROP_CHANNELS
from simulator.run import simulate

if TYPE_CHECKING:  # Dagster loads slowly: imported where a test needs it
    from dagster import AssetCheckEvaluation

    from orchestration.runner import RunReport

pytestmark = pytest.mark.e2e

CITIZENS, DAYS, SEED = 1500, 120, 7
START = date(2025, 9, 3)  # the last simulated day is 2025-12-31
LAST_DAY = START + timedelta(days=DAYS - 1)
TZ = ZoneInfo("America/New_York")
MINING_STEPS = ("citizen_segments", "demand_forecast")
MINING_ASSETS = (("ml", "citizen_segments"), ("ml", "demand_forecast"))

# What the bad load plants.
VOLUME_FACTOR = 10  # the last day's requests, 9 more copies of each
FUTURE_REQUESTS = 60  # a year ahead: a systemic clock fault, quarantined by staging
UNKNOWN_CODE = "ZZ-UNKNOWN"
UNKNOWN_REQUESTS = 5
FUTURE_CALLS = 20
BAD_DROP = "hotline_2025-12-31_redelivery.csv"  # a second hotline file for the last day


@dataclass
class Run:
    """One pipeline run and what the Dagster instance recorded for it."""

    report: RunReport
    evaluations: list[AssetCheckEvaluation]


@dataclass
class Injected:
    """Keys of the bad rows planted in the source and the drop folder."""

    volume_copies: list[int]
    volume_copies_known_citizen: list[int]
    future_requests: list[int]
    unknown_code_requests: list[int]
    future_calls: list[str]
    unparseable_call: str
    redelivered_call: str


@dataclass
class City:
    settings: Settings
    clean: Run
    bad: Run | None = None
    injected: Injected | None = None


def _run(settings: Settings) -> Run:
    from dagster._core.events import DagsterEventType

    from orchestration.runner import dagster_instance, run_pipeline

    report = run_pipeline(settings, echo=lambda line: None)
    records = dagster_instance(settings).get_records_for_run(
        report.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    )
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records.records]
    return Run(report, evaluations)


def _check_names(evaluations: list[AssetCheckEvaluation]) -> set[str]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations}


def _environment(data: Path) -> pytest.MonkeyPatch:
    """The settings of a run on the city in `data`; the assets read them from the environment."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CIRM_DATA_DIR", str(data))
    mp.setenv("DAGSTER_HOME", str(data / "dagster_home"))
    # Nothing in the city happened before its first day: an earlier business timestamp is impossible.
    mp.setenv("CIRM_DATA_START", START.isoformat())
    mp.delenv("CIRM_SOURCE_URL", raising=False)
    return mp


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    mp = _environment(tmp_path_factory.mktemp("quality_city"))
    try:
        settings = load_settings()
        settings.ensure_dirs()
        simulate(
            settings.source_url,
            settings.drops_dir,
            settings.truth_dir,
            citizens=CITIZENS,
            days=DAYS,
            seed=SEED,
            start=START,
            dirty=False,
        )
        yield City(settings, _run(settings))
    finally:
        mp.undo()


# --- the bad load -----------------------------------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    """The case system's timestamp text in SQLite: naive UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _inject_requests(db: Path, now: datetime) -> dict[str, list[int]]:
    """New service_requests rows (new ids), written now: ingestion's updated_at cursor picks them up."""
    fresh = _utc_text(now - timedelta(minutes=1))
    future = now + timedelta(days=365)
    day_start = datetime.combine(LAST_DAY, datetime.min.time(), TZ)
    day = (_utc_text(day_start), _utc_text(day_start + timedelta(days=1)))
    columns = (
        "citizen_id, service_code, channel, district_id, latitude, longitude, request_type, description, "
        "status, priority, submitted_at, updated_at, closed_at"
    )
    with closing(sqlite3.connect(db)) as con, con:  # closed after one transaction
        next_id = con.execute("SELECT max(request_id) + 1 FROM service_requests").fetchone()[0]
        # (a) the last day again, nine more times: same rows, new request ids
        last_day = con.execute(
            f"SELECT {columns} FROM service_requests WHERE submitted_at >= ? AND submitted_at < ? ORDER BY request_id",
            day,
        ).fetchall()
        assert len(last_day) >= 5, "the last day needs some requests to multiply"
        rows = [(next_id + i, *r[:11], fresh, r[12]) for i, r in enumerate(last_day * (VOLUME_FACTOR - 1))]
        volume = [r[0] for r in rows]
        volume_known = [r[0] for r in rows if r[1] is not None]
        next_id += len(rows)
        # (b) requests a year in the future (open, so their only fault is the clock)
        early = con.execute(
            f"SELECT {columns} FROM service_requests ORDER BY request_id LIMIT {FUTURE_REQUESTS + UNKNOWN_REQUESTS}"
        ).fetchall()
        for i, r in enumerate(early[:FUTURE_REQUESTS]):
            at = _utc_text(future + timedelta(minutes=17 * i))
            rows.append((next_id + i, *r[:8], "received", r[9], at, fresh, None))
        future_ids = list(range(next_id, next_id + FUTURE_REQUESTS))
        next_id += FUTURE_REQUESTS
        # (c) a service code the catalog does not know
        for i, r in enumerate(early[FUTURE_REQUESTS:]):
            rows.append((next_id + i, r[0], UNKNOWN_CODE, *r[2:11], fresh, r[12]))
        unknown_ids = list(range(next_id, next_id + UNKNOWN_REQUESTS))
        con.executemany(f"INSERT INTO service_requests (request_id, {columns}) VALUES ({', '.join('?' * 14)})", rows)
    return {"volume": volume, "volume_known": volume_known, "future": future_ids, "unknown": unknown_ids}


def _read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _inject_hotline_drop(drops: Path, now: datetime) -> tuple[list[str], str, str]:
    """A second hotline file for the last day: calls a year ahead, an unparseable time, a call re-delivered.
    Returns the call ids of the three kinds."""
    folder = drops / "hotline"
    header = DROP_CHANNELS["hotline"][1]
    delivered = _read_csv(folder / f"hotline_{LAST_DAY}.csv")
    next_call = 1 + max(int(r["call_id"]) for f in folder.glob("*.csv") for r in _read_csv(f))
    future = now.astimezone(TZ).replace(tzinfo=None) + timedelta(days=365)
    rows = [
        {
            **delivered[0],
            "call_id": str(next_call + i),
            "call_start": f"{future + timedelta(minutes=9 * i):%Y-%m-%d %H:%M:%S}",
        }
        for i in range(FUTURE_CALLS)
    ]
    unparseable = str(next_call + FUTURE_CALLS)
    rows.append({**delivered[1], "call_id": unparseable, "call_start": "31/12/2025 25:61"})
    # the switch sent a call again, with a corrected duration: the latest delivery wins
    redelivered = {**delivered[2], "duration_seconds": str(int(delivered[2]["duration_seconds"] or 0) + 60)}
    rows.append(redelivered)
    with open(folder / BAD_DROP, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return [r["call_id"] for r in rows[:FUTURE_CALLS]], unparseable, redelivered["call_id"]


@pytest.fixture(scope="module")
def bad(city: City) -> City:
    """The bad load on top of the clean warehouse, and the second pipeline run."""
    mp = _environment(city.settings.data_dir)
    try:
        now = datetime.now(UTC)
        requests = _inject_requests(city.settings.operational_db, now)
        future_calls, unparseable_call, redelivered_call = _inject_hotline_drop(city.settings.drops_dir, now)
        city.injected = Injected(
            volume_copies=requests["volume"],
            volume_copies_known_citizen=requests["volume_known"],
            future_requests=requests["future"],
            unknown_code_requests=requests["unknown"],
            future_calls=future_calls,
            unparseable_call=unparseable_call,
            redelivered_call=redelivered_call,
        )
        city.bad = _run(city.settings)
    finally:
        mp.undo()
    return city


# --- 1. a clean run passes everything ---------------------------------------------------------------


def test_clean_city_passes_every_check(city: City) -> None:
    from dagster import AssetKey

    import quality
    from orchestration.dbt.assets import dbt_asset_defs
    from orchestration.definitions import defs

    report = city.clean.report
    assert report.success, (report.steps_failed, report.log_path)
    assert report.steps_failed == {} and report.steps_skipped == []
    assert report.checks_failed == []
    # every evaluation in the run passed, and the run evaluated every GE check and every dbt test
    assert city.clean.evaluations and all(e.passed for e in city.clean.evaluations)
    evaluated = _check_names(city.clean.evaluations)
    assets = defs.resolve_asset_graph().get_all_asset_keys()
    suites = {
        f"{'/'.join(a)}:{s.name}" for a in quality.ASSETS if AssetKey(list(a)) in assets for s in quality.checks_for(a)
    }
    dbt_tests = {f"{k.asset_key.to_user_string()}:{k.name}" for d in dbt_asset_defs for k in d.check_keys}
    assert len(suites) > 100 and len(dbt_tests) > 50
    assert suites <= evaluated and dbt_tests <= evaluated


def test_clean_city_quarantines_nothing_and_loses_nothing(city: City) -> None:
    import quality

    with connect_warehouse(city.settings.warehouse_path, read_only=True) as con:
        accounting = quality.quarantine_accounting(con)
        history = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM quality.check_results WHERE run_id = ?",
            [city.clean.report.run_id],
        ).fetchone()
    assert all(row.ok and row.unaccounted_keys == 0 for row in accounting), accounting
    assert {row.entity: row.quarantined_rows for row in accounting} == {row.entity: 0 for row in accounting}
    assert all(row.raw_rows for row in accounting)
    assert history[0] > 100 and history[1] == 0


# --- 2. a bad load: failed checks, quarantine, accounting, blocked mining ------------------------------


REQUESTS_SHARE = "staging/stg_case_system__service_requests:quarantine_share_within_limit"
CALLS_SHARE = "staging/stg_channel_drops__hotline_calls:quarantine_share_within_limit"


def test_bad_load_fails_the_relevant_checks(bad: City) -> None:
    assert bad.bad is not None
    failed = set(bad.bad.report.checks_failed)
    expected = {
        "raw/service_requests:daily_volume_within_band",  # (a) the day at 10x
        "raw/service_requests:timestamps_in_range",  # (b) submitted a year ahead
        "raw/service_requests:timestamps_in_range_at_scale",  # warns on raw: staging quarantines them
        "raw/service_requests:service_codes_known",  # (c)
        "raw/hotline_calls:timestamps_in_range",  # (b) calls a year ahead
        "raw/hotline_calls:timestamps_parseable",
        "raw/hotline_calls:primary_key_unique",  # the re-delivered call
        REQUESTS_SHARE,  # blocking: most of the load was quarantined
        CALLS_SHARE,  # blocking: the bad hotline file is nearly all future calls
    }
    assert expected <= failed, sorted(failed)
    # the Dagster instance holds the same failed evaluations, with their severity
    in_instance = {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in bad.bad.evaluations if not e.passed}
    assert expected <= set(in_instance)
    for name in (REQUESTS_SHARE, CALLS_SHARE):
        assert in_instance[name].blocking and in_instance[name].severity.value == "ERROR", name
    for name in expected - {REQUESTS_SHARE, CALLS_SHARE}:
        assert not in_instance[name].blocking, name  # raw-level faults warn: staging quarantines the rows
    # the observed figures travel with the evaluation: the latest load, its size, share and top rules
    inj = bad.injected
    assert inj is not None
    frame = in_instance[REQUESTS_SHARE].metadata["observed"].value["frame"]
    injected = len(inj.volume_copies) + len(inj.future_requests) + len(inj.unknown_code_requests)
    assert frame["load_id"] == bad.bad.report.run_id and frame["rows_in_load"] == injected
    assert frame["share"] > QualityConfig().quarantine_share_max
    rules = {r["failed_rule"]: r["rows"] for r in frame["top_failed_rules"]}
    assert rules["future_timestamp"] == FUTURE_REQUESTS and rules["unknown_service_code"] == UNKNOWN_REQUESTS
    # the clean load it sits on quarantined nothing: the share is the bad load's, not the history's
    with connect_warehouse(bad.settings.warehouse_path, read_only=True) as con:
        ((clean_quarantined,),) = con.execute(
            "SELECT count(*) FROM quarantine.service_requests WHERE _load_id <> ?", [bad.bad.report.run_id]
        ).fetchall()
    assert clean_quarantined == 0


def test_bad_rows_are_quarantined_with_their_rule(bad: City) -> None:
    inj = bad.injected
    assert inj is not None
    with connect_warehouse(bad.settings.warehouse_path, read_only=True) as con:
        requests = dict(con.execute("SELECT request_id, failed_rule FROM quarantine.service_requests").fetchall())
        calls = dict(con.execute("SELECT call_id, failed_rule FROM quarantine.hotline_calls").fetchall())
        staged_calls = {
            r[0] for r in con.execute("SELECT call_id FROM staging.stg_channel_drops__hotline_calls").fetchall()
        }
        staged_requests = {
            r[0] for r in con.execute("SELECT request_id FROM staging.stg_case_system__service_requests").fetchall()
        }
        fact = {r[0] for r in con.execute("SELECT request_id FROM marts.fct_service_requests").fetchall()}
    # a copy of a citizen's request, minutes from the original, is a duplicate submission
    assert inj.volume_copies_known_citizen
    assert {requests.get(i) for i in inj.volume_copies_known_citizen} == {"duplicate_submission"}
    # impossible timestamps and unknown codes never reach staging, let alone the fact
    assert {requests.get(i) for i in inj.future_requests} == {"future_timestamp"}
    assert {requests.get(i) for i in inj.unknown_code_requests} == {"unknown_service_code"}
    bad_requests = {*inj.future_requests, *inj.unknown_code_requests}
    assert not bad_requests & staged_requests and not bad_requests & fact
    assert {calls.get(c) for c in inj.future_calls} == {"future_timestamp"}
    assert not set(inj.future_calls) & staged_calls
    assert calls[inj.unparseable_call] == "unparseable_timestamp"
    # the earlier delivery of the re-sent call is quarantined; the latest one is staged
    assert calls[inj.redelivered_call] == "duplicate_key" and inj.redelivered_call in staged_calls
    # the clean load quarantined nothing: everything there now came with the bad load
    assert set(requests) <= {*inj.volume_copies, *bad_requests}
    assert set(calls) == {*inj.future_calls, inj.unparseable_call, inj.redelivered_call}


def test_bad_load_loses_no_row(bad: City) -> None:
    import quality

    inj = bad.injected
    assert inj is not None
    with connect_warehouse(bad.settings.warehouse_path, read_only=True) as con:
        accounting = quality.quarantine_accounting(con)
        injected_ids = [*inj.volume_copies, *inj.future_requests, *inj.unknown_code_requests]
        raw, staged, quarantined = con.execute(
            "SELECT (SELECT count(*) FROM raw.service_requests WHERE list_contains($ids, request_id)), "
            "(SELECT count(*) FROM staging.stg_case_system__service_requests WHERE list_contains($ids, request_id)), "
            "(SELECT count(*) FROM quarantine.service_requests WHERE list_contains($ids, request_id))",
            {"ids": injected_ids},
        ).fetchone()
    assert all(row.ok and row.unaccounted_keys == 0 for row in accounting), accounting
    assert raw == len(injected_ids) == staged + quarantined


def test_blocking_check_keeps_mining_from_running(bad: City) -> None:
    from dagster import AssetKey
    from dagster._core.events import DagsterEventType

    from orchestration.runner import dagster_instance

    assert bad.bad is not None
    report = bad.bad.report
    assert not report.success
    # the staging check steps fail because their blocking check failed ...
    for step in ("gx_staging__stg_case_system__service_requests", "gx_staging__stg_channel_drops__hotline_calls"):
        assert step in report.steps_failed, report.steps_failed
        assert "blocking" in report.steps_failed[step]
    # ... and no step that waits on them starts: a blocking check on a staging model stops everything
    # downstream of it in this run, by design: not the facts, not the reporting marts, not the mining
    instance = dagster_instance(bad.settings)
    started = {
        r.event_log_entry.step_key
        for r in instance.get_records_for_run(report.run_id, of_type=DagsterEventType.STEP_START).records
    }
    assert "dbt_staging" in started  # staging ran: it is what quarantined the rows
    assert not {"dbt_incremental_facts", "dbt_reporting", *MINING_STEPS} & started, sorted(started)
    assert not set(MINING_STEPS) & set(report.steps_succeeded)
    for key in MINING_ASSETS:
        latest = instance.get_latest_materialization_event(AssetKey(list(key)))
        # the segments and the forecast on record are the clean run's
        assert latest is not None and latest.run_id == bad.clean.report.run_id, key


# --- 3. history and Data Docs ---------------------------------------------------------------------------


def test_check_history_spans_runs_and_data_docs_exist(bad: City) -> None:
    assert bad.bad is not None
    with connect_warehouse(bad.settings.warehouse_path, read_only=True) as con:
        runs = dict(
            con.execute("SELECT run_id, bool_and(success) FROM quality.check_results GROUP BY run_id").fetchall()
        )
    assert runs == {bad.clean.report.run_id: True, bad.bad.report.run_id: False}
    index = bad.settings.quality_docs_dir / "index.html"
    assert index.is_file() and "<html" in index.read_text(errors="replace").lower()


# --- 4. the definitions ------------------------------------------------------------------------------------


def test_definitions_hold_enough_checks_and_blocking_ones() -> None:
    from dagster import AssetKey

    import quality
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    blocking = {f"{s.asset_key.to_user_string()}:{s.name}" for s in specs if s.blocking}
    assert len(specs) >= 15 and len(blocking) >= 3
    # every blocking check of the quality suites whose asset the pipeline defines is blocking in Dagster
    assets = {"/".join(a) for a in quality.ASSETS if AssetKey(list(a)) in graph.get_all_asset_keys()}
    assert len(assets) >= 15
    suites = {f"{'/'.join(s.asset)}:{s.name}" for a in quality.ASSETS for s in quality.checks_for(a) if s.blocking}
    assert {name for name in suites if name.split(":")[0] in assets} <= blocking
    assert "marts/fct_service_requests:timestamps_in_range_at_scale" in blocking
    assert {REQUESTS_SHARE, CALLS_SHARE} <= blocking
