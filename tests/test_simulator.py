"""The simulated city: determinism, SQLite/PostgreSQL parity, continued days, planted groups,
seasonality, channel migration and dirty-data shares. Small cities only, so the file runs in seconds."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from simulator import schema
from simulator.drops import DROP_CHANNELS
from simulator.identities import luhn_valid
from simulator.run import continue_simulation, simulate
from simulator.state import sim_metadata
from simulator.timeline import LocalClock

TZ = ZoneInfo("America/New_York")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)


def _sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'operational.db'}"


def _run(folder: Path, url: str | None = None, continue_days: tuple[int, ...] = (), **kwargs: object) -> str:
    url = url or _sqlite_url(folder)
    simulate(url, folder / "drops", folder / "truth", **kwargs)  # type: ignore[arg-type]
    for days in continue_days:
        continue_simulation(url, folder / "drops", folder / "truth", days=days)
    return url


def _table_digests(url: str) -> dict[str, str]:
    """sha256 of every case and _sim_ table, rows in primary-key order, values as SQLAlchemy types them."""
    engine = _engine(url)
    out = {}
    with engine.connect() as conn:
        for md in (schema.metadata, sim_metadata):
            for table in md.sorted_tables:
                rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    engine.dispose()
    return out


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _read(url: str, table: str) -> pd.DataFrame:
    engine = _engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(schema.metadata.tables[table]), conn)
    engine.dispose()
    return frame


def _local(utc: pd.Series) -> pd.Series:
    return utc.dt.tz_localize("UTC").dt.tz_convert(TZ).dt.tz_localize(None)


def _seconds(text: str) -> int:
    return int(np.datetime64(text, "s").astype(np.int64))


def test_city_clock_handles_daylight_saving() -> None:
    clock = LocalClock("America/New_York")
    local = np.array([_seconds(t) for t in ("2025-01-15T12:00", "2025-03-09T02:30", "2025-11-02T01:30")])
    normalized = clock.normalize(local)
    # the spring-forward gap does not exist on the wall clock: moved to its end
    assert normalized[1] == _seconds("2025-03-09T03:00")
    utc = clock.to_utc(normalized)
    expected = ("2025-01-15T17:00", "2025-03-09T07:00", "2025-11-02T05:30")  # EST, EDT, first 01:30 (EDT)
    assert utc.tolist() == [_seconds(t) for t in expected]
    # local -> UTC never runs backwards, through both transitions
    minutes = clock.normalize(np.arange(_seconds("2025-03-08T00:00"), _seconds("2025-11-04T00:00"), 60))
    assert (np.diff(clock.to_utc(minutes)) >= 0).all()
    assert clock.offset_seconds(np.array([_seconds("2025-07-01T12:00")])).tolist() == [-4 * 3600]


def test_default_period_ends_on_the_last_day_of_2025(tmp_path: Path) -> None:
    summary = simulate(_sqlite_url(tmp_path), tmp_path / "drops", tmp_path / "truth", citizens=50, days=3)
    assert (summary.first_day, summary.last_day) == (date(2025, 12, 29), date(2025, 12, 31))
    assert "service_requests" in summary.describe() and summary.seconds > 0


# --- determinism and parity


def test_same_seed_same_city_other_seed_other_city(tmp_path: Path) -> None:
    params = {"citizens": 1200, "days": 45, "seed": 7, "start": date(2025, 2, 1)}
    a = _run(tmp_path / "a", continue_days=(1, 2), **params)
    b = _run(tmp_path / "b", continue_days=(1, 2), **params)
    assert _table_digests(a) == _table_digests(b)
    assert _file_digests(tmp_path / "a" / "drops") == _file_digests(tmp_path / "b" / "drops")
    assert (tmp_path / "a/truth/citizen_groups.csv").read_bytes() == (
        tmp_path / "b/truth/citizen_groups.csv"
    ).read_bytes()

    c = _run(tmp_path / "c", continue_days=(1, 2), **{**params, "seed": 8})
    digests_a, digests_c = _table_digests(a), _table_digests(c)
    for table in ("citizens", "service_requests", "request_events", "satisfaction_surveys"):
        assert digests_a[table] != digests_c[table]
    assert _file_digests(tmp_path / "a" / "drops") != _file_digests(tmp_path / "c" / "drops")


@pytest.mark.postgres
def test_sqlite_and_postgresql_hold_the_same_city(tmp_path: Path, pg_database: str) -> None:
    params = {"citizens": 1000, "days": 40, "seed": 3, "start": date(2025, 10, 15)}
    lite = _run(tmp_path / "lite", continue_days=(1,), **params)
    pg = _run(tmp_path / "pg", url=pg_database, continue_days=(1,), **params)
    assert _table_digests(lite) == _table_digests(pg)
    assert _file_digests(tmp_path / "lite" / "drops") == _file_digests(tmp_path / "pg" / "drops")
    inspector = sa.inspect(_engine(pg))
    for table in schema.CASE_SYSTEM_TABLES:
        assert inspector.get_pk_constraint(table)["constrained_columns"], table
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        assert isinstance(types["updated_at"], sa.DateTime) and not types["updated_at"].timezone


# --- one shared small city for the checks below


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 citizens over January-April 2025: winter and spring, holidays, a few storms."""
    folder = tmp_path_factory.mktemp("city")
    _run(folder, citizens=3000, days=120, seed=42, start=date(2025, 1, 1))
    return folder


def test_every_case_table_has_a_primary_key_and_sim_tables_are_marked(city: Path) -> None:
    inspector = sa.inspect(_engine(_sqlite_url(city)))
    for table in schema.CASE_SYSTEM_TABLES:
        assert inspector.get_pk_constraint(table)["constrained_columns"], table
    extra = set(inspector.get_table_names()) - set(schema.CASE_SYSTEM_TABLES)
    assert extra and all(name.startswith("_sim_") for name in extra)


def test_volumes_and_catalog(city: Path) -> None:
    url = _sqlite_url(city)
    requests, citizens = _read(url, "service_requests"), _read(url, "citizens")
    events, surveys = _read(url, "request_events"), _read(url, "satisfaction_surveys")
    services, districts = _read(url, "services"), _read(url, "districts")
    per_citizen_year = len(requests) / 3000 / (120 / 365)
    assert 2.0 < per_citizen_year < 3.2
    assert 4.0 < len(events) / len(requests) < 6.0
    assert 0.25 < len(surveys) / (requests.status == "closed").sum() < 0.36
    assert surveys.score.between(1, 5).all()
    assert 30 <= len(services) <= 40 and services.commitment_hours.between(24, 720).all()
    assert services.service_code.str.fullmatch(r"[A-Z]{2}-[A-Z]+").all()
    assert 10 <= len(districts) <= 14 and districts.population.between(40_000, 300_000).all()
    assert 0.80 < (citizens.kind == "resident").mean() < 0.90
    residents, businesses = citizens[citizens.kind == "resident"], citizens[citizens.kind == "business"]
    assert residents.birth_year.notna().all() and businesses.birth_year.isna().all()
    assert businesses.sector.notna().all() and businesses.company_size.notna().all()
    assert residents.identity_number.dropna().str.fullmatch(r"NID\d{9}").all()
    assert businesses.identity_number.dropna().str.fullmatch(r"BRN\d{8}").all()
    assert luhn_valid(citizens.identity_number.dropna().to_numpy()).all()
    assert 0.68 < citizens.consent_analytics.mean() < 0.82
    # the population grows by new registrations, spread over the period (3-8% a year)
    created = _local(citizens.created_at)
    during = created[created >= datetime(2025, 1, 1)]
    assert 0.03 < len(during) / 3000 * 365 / 120 < 0.08
    assert during.dt.month.nunique() == 4


def test_timestamps_local_utc_and_recording_order(city: Path) -> None:
    url = _sqlite_url(city)
    now_utc = datetime(2025, 5, 1, tzinfo=TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    for table in schema.CASE_SYSTEM_TABLES:
        frame = _read(url, table)
        assert (frame.updated_at <= now_utc).all(), table
    requests, events = _read(url, "service_requests"), _read(url, "request_events")
    assert (requests.updated_at >= requests.submitted_at).all()
    assert (events.updated_at >= events.event_at).all()
    # status and closed_at agree, and closed_at is the latest close event
    assert requests.closed_at.notna().eq(requests.status == "closed").all()
    # the hotline and service hall keep office hours (local), the app is used in the evening too
    hour = _local(requests.submitted_at).dt.hour
    hall = hour[requests.channel == "service_hall"]
    assert hall.between(8, 16).all()
    assert (hour[requests.channel == "app"] >= 18).mean() > 0.25
    assert (hour[requests.channel == "hotline"] >= 18).mean() < 0.15
    assert _local(requests.submitted_at)[requests.channel == "service_hall"].dt.day_of_week.lt(5).all()


def test_drop_files_match_contract_and_case_system(city: Path) -> None:
    drops = city / "drops"
    for channel, (ext, _) in DROP_CHANNELS.items():
        files = sorted((drops / channel).glob(f"*.{ext}"))
        assert len(files) == 120, channel
        assert files[0].name == f"{channel}_2025-01-01.{ext}"
    hot = pd.read_csv(drops / "hotline" / "hotline_2025-03-04.csv", dtype=str, keep_default_na=False)
    assert tuple(hot.columns) == DROP_CHANNELS["hotline"][1]
    assert hot.call_start.str.fullmatch(r"2025-03-04 \d\d:\d\d:\d\d").all()
    assert hot.outcome.isin(["answered", "request_created", "transferred", "abandoned"]).all()
    web = pd.read_json(drops / "web" / "web_2025-03-04.jsonl", lines=True, dtype=False)
    assert tuple(web.columns) == DROP_CHANNELS["web"][1]
    assert web.ts.str.fullmatch(r"2025-03-04T\d\d:\d\d:\d\d-05:00").all()
    summer = pd.read_json(drops / "app" / "app_2025-04-20.jsonl", lines=True, dtype=False)
    assert summer.ts.str.endswith("-04:00").all() and summer.citizen_id.notna().all()

    # every submit_request in the web/app logs is the case system's request, at the same instant
    requests = _read(_sqlite_url(city), "service_requests").set_index("request_id")
    logged = pd.concat(
        [pd.read_json(p, lines=True, dtype=False) for ch in ("web", "app") for p in (drops / ch).glob("*.jsonl")]
    )
    submits = logged[logged.event == "submit_request"]
    ts = pd.to_datetime(submits.ts, utc=True).dt.tz_localize(None)
    matched = requests.loc[submits.request_id.astype("int64")]
    assert (matched.submitted_at.to_numpy() == ts.to_numpy()).all()
    assert matched.channel.isin(["web", "app"]).all()

    calls = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in (drops / "hotline").glob("*.csv")])
    assert 0.05 < (calls.caller_phone == "").mean() < 0.15
    shown = calls.caller_phone[calls.caller_phone != ""]
    for pattern in (r"\+1\d{10}", r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1 \d{3} \d{3} \d{4}"):
        assert shown.str.fullmatch(pattern).mean() > 0.05, pattern
    created = calls[calls.outcome == "request_created"]
    assert requests.loc[created.request_id.astype("int64")].channel.eq("hotline").all()


def test_repeat_contacts_across_channels(city: Path) -> None:
    """Some requests submitted on the web are checked in the app, late ones draw hotline calls."""
    drops = city / "drops"
    app = pd.concat([pd.read_json(p, lines=True, dtype=False) for p in (drops / "app").glob("*.jsonl")])
    requests = _read(_sqlite_url(city), "service_requests").set_index("request_id")
    checked = app[app.event == "check_status"].request_id.astype("int64")
    assert (requests.loc[checked].channel == "web").sum() > 10
    calls = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in (drops / "hotline").glob("*.csv")])
    about = calls[(calls.request_id != "") & (calls.outcome != "request_created")].request_id.astype("int64")
    assert (requests.loc[about].channel != "hotline").sum() > 10


def test_weekly_holiday_and_annual_seasonality(city: Path) -> None:
    url = _sqlite_url(city)
    requests = _read(url, "service_requests").merge(_read(url, "services")[["service_code", "category"]])
    local = _local(requests.submitted_at)
    daily = local.dt.normalize().value_counts().sort_index()
    weekday = daily[daily.index.day_of_week < 5]
    weekend = daily[daily.index.day_of_week >= 5]
    holidays = daily.reindex(pd.to_datetime(["2025-01-01", "2025-01-20", "2025-02-17"]))
    assert weekday.mean() > 1.6 * weekend.mean()
    assert holidays.mean() < 0.7 * weekday.mean()
    month = local.dt.month
    snow = requests.category.eq("Snow and Ice")
    parks = requests.category.eq("Parks and Trees")
    assert snow[month == 1].mean() > 5 * snow[month == 4].mean()
    assert parks[month == 4].mean() > 2 * parks[month == 1].mean()


def test_channel_migration_to_digital(tmp_path: Path) -> None:
    """Web and app gain about ten points a year on the hotline and the service hall."""
    shares = []
    for start in (date(2024, 3, 1), date(2026, 3, 1)):
        folder = tmp_path / start.isoformat()
        url = _run(folder, citizens=2500, days=60, seed=11, start=start)
        channel = _read(url, "service_requests").channel
        shares.append(channel.isin(["web", "app"]).mean())
    assert 0.12 < shares[1] - shares[0] < 0.35


def test_dirty_data_shares(city: Path) -> None:
    url = _sqlite_url(city)
    requests, events, citizens = (_read(url, t) for t in ("service_requests", "request_events", "citizens"))
    assert 0.03 < requests.citizen_id.isna().mean() < 0.08
    missing = requests.district_id.isna() | requests.service_code.isna()
    assert 0.004 < missing.mean() < 0.02
    assert 0.0003 < (requests.closed_at < requests.submitted_at).mean() < 0.006
    late = (events.updated_at - events.event_at) > timedelta(days=1)
    assert 0.015 < late.mean() < 0.05
    known = requests[requests.citizen_id.notna()].sort_values("submitted_at")
    same = known.duplicated(["citizen_id", "service_code", "description"], keep="first")
    assert 0.004 < same.mean() < 0.02
    phones = citizens.phone.dropna()
    assert 0.01 < (~phones.str.fullmatch(r"\+1\d{10}")).mean() < 0.035
    assert 0.02 < citizens.email.isna().mean() < 0.3
    folded = citizens.full_name.str.lower().str.split().str.join(" ")
    twins = citizens.assign(folded=folded).duplicated(["folded", "birth_year", "district_id", "kind"], keep=False)
    # name-casing twins: the planted duplicates (~0.5% of citizens, both rows counted) plus chance namesakes
    assert 0.005 < twins.mean() < 0.03


def test_resolution_depends_on_commitment_and_lateness_lowers_satisfaction(city: Path) -> None:
    url = _sqlite_url(city)
    requests = _read(url, "service_requests").merge(_read(url, "services")[["service_code", "commitment_hours"]])
    events, surveys = _read(url, "request_events"), _read(url, "satisfaction_surveys")
    resolved = events[events.event_type == "resolved"].groupby("request_id").event_at.min().rename("resolved_at")
    r = requests.join(resolved, on="request_id").dropna(subset=["resolved_at"])
    hours = (r.resolved_at - r.submitted_at).dt.total_seconds() / 3600
    late = hours > r.commitment_hours
    assert 0.05 < late.mean() < 0.35
    assert hours[r.commitment_hours >= 480].median() > 4 * hours[r.commitment_hours <= 24].median()
    reopened = set(events.request_id[events.event_type == "reopened"])
    assert 0.03 < len(reopened) / len(requests) < 0.15
    s = surveys.merge(r.assign(late=late)[["request_id", "late"]], on="request_id")
    assert s.score[~s.late].mean() - s.score[s.late].mean() > 0.4
    assert s.score[~s.request_id.isin(reopened)].mean() > s.score[s.request_id.isin(reopened)].mean() + 0.3


def _citizen_features(url: str) -> pd.DataFrame:
    """Per-citizen behaviour straight from the case tables: frequency, request types, channel mix,
    digital share, category mix, satisfaction, reopen experience, tenure."""
    requests = _read(url, "service_requests").merge(_read(url, "services")[["service_code", "category"]], how="left")
    requests = requests[requests.citizen_id.notna()].astype({"citizen_id": "int64"})
    events, surveys = _read(url, "request_events"), _read(url, "satisfaction_surveys")
    citizens = _read(url, "citizens").set_index("citizen_id")
    by = requests.groupby("citizen_id")
    f = pd.DataFrame({"frequency": np.log1p(by.size())})
    f["recency_days"] = (requests.submitted_at.max() - by.submitted_at.max()).dt.days
    for column in ("channel", "request_type", "category"):
        f = f.join(pd.crosstab(requests.citizen_id, requests[column], normalize="index").add_prefix(column + "_"))
    f["digital"] = f.get("channel_web", 0) + f.get("channel_app", 0)
    reopened = requests.request_id.isin(events.request_id[events.event_type == "reopened"])
    f["reopen"] = reopened.groupby(requests.citizen_id).mean()
    scored = surveys[["request_id", "score"]].merge(requests[["request_id", "citizen_id"]], on="request_id")
    f["satisfaction"] = scored.groupby("citizen_id").score.mean()
    f["tenure_days"] = (requests.submitted_at.max() - citizens.created_at).dt.days
    f = f.fillna({"satisfaction": f.satisfaction.mean()}).fillna(0.0)
    return f.join(citizens.kind)


def test_planted_groups_are_recoverable(city: Path) -> None:
    features = _citizen_features(_sqlite_url(city))
    truth = pd.read_csv(city / "truth" / "citizen_groups.csv").set_index("citizen_id")
    citizens = _read(_sqlite_url(city), "citizens")
    assert set(truth.index) == set(citizens.citizen_id)
    assert 4 <= truth.planted_group.nunique() <= 6
    data = features.join(truth)
    for kind in ("resident", "business"):
        part = data[data.kind == kind]
        k = part.planted_group.nunique()
        x = StandardScaler().fit_transform(part.drop(columns=["kind", "planted_group"]))
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)
        ari = adjusted_rand_score(part.planted_group, labels)
        assert ari >= 0.6, f"{kind}: adjusted Rand index {ari:.2f} over {len(part)} citizens"


# --- continuing a city


def test_continue_adds_exactly_the_next_day(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    url = _run(folder, citizens=2000, days=60, seed=5, start=date(2025, 6, 1))
    before = {t: _read(url, t) for t in schema.CASE_SYSTEM_TABLES}
    files_before = _file_digests(folder / "drops")
    engine = _engine(url)
    with engine.connect() as conn:
        state = dict(conn.execute(sa.text('SELECT "key", "value" FROM "_sim_state"')).all())
    assert json.loads(state["last_day"]) == (date(2025, 7, 30) - date(1970, 1, 1)).days

    summary = continue_simulation(url, folder / "drops", folder / "truth", days=1)
    day = date(2025, 7, 31)
    lo = datetime(2025, 7, 31, tzinfo=TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    hi = lo + timedelta(days=1)
    after = {t: _read(url, t) for t in schema.CASE_SYSTEM_TABLES}

    requests = after["service_requests"]
    new = requests[~requests.request_id.isin(before["service_requests"].request_id)]
    assert len(new) == summary.rows["service_requests"] > 0
    assert new.submitted_at.between(lo, hi, inclusive="left").all()
    old = requests[requests.request_id.isin(before["service_requests"].request_id)].set_index("request_id")
    prev = before["service_requests"].set_index("request_id").loc[old.index]
    changed = old[(old.status != prev.status) | (old.updated_at != prev.updated_at)]
    assert len(changed) > 0 and changed.updated_at.between(lo, hi, inclusive="left").all()
    assert (old.submitted_at == prev.submitted_at).all()
    for table, frame in after.items():
        assert (frame.updated_at < hi).all(), table
        fresh = frame[frame.updated_at >= lo]
        assert len(frame) >= len(before[table])
        if table in ("request_events", "satisfaction_surveys"):
            assert len(fresh) == len(frame) - len(before[table]), table
    events = after["request_events"]
    new_events = events[~events.event_id.isin(before["request_events"].event_id)]
    assert new_events.request_id.isin(old.index).any()  # earlier requests moved on

    files_after = _file_digests(folder / "drops")
    added = sorted(set(files_after) - set(files_before))
    assert added == [f"{ch}/{ch}_{day}.{DROP_CHANNELS[ch][0]}" for ch in ("app", "hotline", "web")]
    assert all(files_after[name] == digest for name, digest in files_before.items())
    with engine.connect() as conn:
        state = dict(conn.execute(sa.text('SELECT "key", "value" FROM "_sim_state"')).all())
    assert json.loads(state["last_day"]) == (day - date(1970, 1, 1)).days
    truth = pd.read_csv(folder / "truth" / "citizen_groups.csv")
    assert set(truth.citizen_id) == set(after["citizens"].citizen_id)
    engine.dispose()


def test_continued_citizens_move_and_change_consent(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    url = _run(folder, citizens=3000, days=30, seed=9, start=date(2025, 3, 1))
    before = _read(url, "citizens").set_index("citizen_id")
    continue_simulation(url, folder / "drops", folder / "truth", days=14)
    after = _read(url, "citizens").set_index("citizen_id").loc[before.index]
    changed = (after.district_id != before.district_id) | (after.consent_analytics != before.consent_analytics)
    assert changed.sum() > 0
    assert (after.updated_at[changed] > before.updated_at[changed]).all()
    assert (after.updated_at[~changed] == before.updated_at[~changed]).all()
    assert re.fullmatch(r"\d+", str(len(after)))


# --- a clean city


def test_clean_city_plants_no_dirty_data_and_continues_clean(tmp_path: Path) -> None:
    params = {"citizens": 2000, "days": 60, "seed": 42, "start": date(2025, 1, 1), "dirty": False}
    url = _run(tmp_path / "clean", continue_days=(1, 3), **params)
    # deterministic like a dirty city, and the choice survives in _sim_state for the continued days
    twin = _run(tmp_path / "twin", continue_days=(1, 3), **params)
    assert _table_digests(url) == _table_digests(twin)
    assert _file_digests(tmp_path / "clean" / "drops") == _file_digests(tmp_path / "twin" / "drops")
    engine = _engine(url)
    with engine.connect() as conn:
        dirty = conn.execute(sa.text("SELECT value FROM _sim_state WHERE key = 'dirty'")).scalar_one()
        assert json.loads(dirty) is False
        phone_digits = pd.read_sql(sa.text("SELECT phone_digits FROM _sim_citizen_traits"), conn).phone_digits
    engine.dispose()
    requests, events, citizens = (_read(url, t) for t in ("service_requests", "request_events", "citizens"))

    # no duplicate citizens: phone numbers and identity numbers are one per citizen id
    assert phone_digits.is_unique and citizens.phone.dropna().is_unique
    assert citizens.identity_number.dropna().is_unique and citizens.identity_number.notna().all()
    # no duplicate requests: planted ones repeat citizen, service and text 1-15 minutes later
    known = requests[requests.citizen_id.notna()].sort_values("submitted_at")
    gap = known.groupby(["citizen_id", "service_code", "description"]).submitted_at.diff()
    assert not (gap <= timedelta(minutes=15)).any()
    # no late status updates: every event is recorded within minutes
    assert ((events.updated_at - events.event_at) < timedelta(hours=1)).all()
    # no malformed phones, no missing fields, nothing closed before it was submitted
    assert citizens.phone.dropna().str.fullmatch(r"\+1\d{10}").all()
    assert requests.district_id.notna().all() and requests.service_code.notna().all()
    assert not (requests.closed_at < requests.submitted_at).any()

    # everything else is the realistic city: anonymous requests, citizens without e-mail, volumes
    assert 0.03 < requests.citizen_id.isna().mean() < 0.08
    assert 0.02 < citizens.email.isna().mean() < 0.3
    assert 2.0 < len(requests) / 2000 / (64 / 365) < 3.2
    assert 4.0 < len(events) / len(requests) < 6.0


def test_a_state_saved_before_the_dirty_option_continues_dirty(tmp_path: Path) -> None:
    """`_sim_state` rows written before `dirty` existed lack the key: such a city stays dirty."""
    params = {"citizens": 600, "days": 20, "seed": 3, "start": date(2025, 3, 1)}
    current, legacy = _run(tmp_path / "current", **params), _run(tmp_path / "legacy", **params)
    engine = _engine(legacy)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM _sim_state WHERE key = 'dirty'"))
    engine.dispose()
    for url, folder in ((current, tmp_path / "current"), (legacy, tmp_path / "legacy")):
        continue_simulation(url, folder / "drops", folder / "truth", days=5)
    # the same days, and the key written back with the value it defaulted to
    assert _table_digests(current) == _table_digests(legacy)
    assert _file_digests(tmp_path / "current" / "drops") == _file_digests(tmp_path / "legacy" / "drops")
