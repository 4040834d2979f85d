"""The simulator's public API: build a city from scratch, or continue one by some days.

`simulate` DROPS AND RECREATES the case-system tables and the `_sim_*` tables in the source database
(other tables are left alone), deletes the channel drop files in `drops_dir/<channel>/` and rewrites
`truth_dir/citizen_groups.csv`. `continue_simulation` appends the days after the last simulated one,
reading everything it needs back from the source (`_sim_*` tables): new registrations, moves and
consent changes, new requests, the recorded part of earlier requests' planned lives (status updates,
closes, reopens), surveys, and that window's drop files.

Both are deterministic: the same sequence of calls gives the same database content and files.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from simulator import schema
from simulator.catalog import Catalog, build_catalog
from simulator.channels import clear_drops, write_drops
from simulator.columns import Columns, concat, length, take
from simulator.contacts import everyday_contacts, request_contacts
from simulator.demand import generate_requests
from simulator.dirty import closed_before_submitted, late_status_updates, missing_fields, no_missing_fields
from simulator.groups import GROUP_NAMES
from simulator.identities import S
from simulator.lifecycle import (
    FIRST_RESOLVED_SLOT,
    backlog_multipliers,
    base_durations,
    plan_lives,
    plan_surveys,
    request_states,
)
from simulator.population import apply_changes, daily_registrations, initial_registrations, life_changes
from simulator.rng import stream
from simulator.rows import (
    catalog_rows,
    citizen_rows,
    district_ids,
    event_rows,
    request_rows,
    request_updates,
    survey_rows,
    utc,
)
from simulator.state import (
    PENDING_TABLES,
    SimState,
    citizen_traits,
    load_state,
    pending_calls,
    pending_events,
    pending_sessions,
    pending_surveys,
    save_state,
    sim_metadata,
)
from simulator.timeline import DAY, LocalClock, build_calendar, day_date, day_number
from simulator.writer import Source

# The default period ends the day before this date, so that a default run is reproducible.
DEFAULT_END = date(2026, 1, 1)
TRUTH_FILE = "citizen_groups.csv"
STAFFING_HEADROOM = 1.25
CATALOG_AGE_DAYS = 30  # the catalog rows were last touched this long before the first day


@dataclass
class SimulationSummary:
    """What a run wrote: rows inserted and updated per table, drop rows per channel, files, time."""

    first_day: date
    last_day: date
    rows: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    drop_rows: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"simulated {self.first_day} .. {self.last_day} in {self.seconds:.1f}s"]
        for table, n in self.rows.items():
            upd = self.updated.get(table, 0)
            lines.append(f"  {table:<22}{n:>12,} inserted" + (f"{upd:>12,} updated" if upd else ""))
        for channel, n in self.drop_rows.items():
            lines.append(f"  drops/{channel:<16}{n:>12,} rows")
        lines.append(f"  {self.files_written:,} drop files written")
        return "\n".join(lines)


@dataclass
class _Pending:
    events: Columns
    surveys: Columns
    calls: Columns
    sessions: Columns


def _normalize(clock: LocalClock, cols: Columns, *names: str) -> None:
    for name in names:
        if length(cols):
            cols[name] = clock.normalize(cols[name])


def _lookup(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """An array indexed by citizen id (ids are 1..n, dense)."""
    out = np.full(int(ids.max(initial=0)) + 1, "", dtype=S)
    out[ids] = values
    return out


def _capacity(dept: np.ndarray, base: np.ndarray, n_days: int, n_dept: int) -> np.ndarray:
    """Open cases per department that it handles at normal speed: the steady state with the window's
    average arrivals (Little's law), plus the headroom departments staff for busy seasons."""
    count = np.bincount(dept, minlength=n_dept)
    mean_days = np.bincount(dept, weights=base, minlength=n_dept) / np.maximum(count, 1) / DAY
    return np.maximum(STAFFING_HEADROOM * count / n_days * mean_days, 1.0)


def _phantom_backlog(open_cases: np.ndarray, mean_days: np.ndarray, n_days: int) -> np.ndarray:
    """Closures of the (unsimulated) cases open on the first day: they drain over a few weeks."""
    closing = np.zeros((len(open_cases), n_days))
    for d, (n_open, span) in enumerate(zip(open_cases, np.ceil(2 * mean_days).astype(int), strict=True)):
        span = max(1, min(span, n_days))
        closing[d, :span] = n_open / span
    return closing


def _pending_backlog(events: Columns, window_start: int, n_days: int, n_dept: int) -> tuple[np.ndarray, np.ndarray]:
    m = (events["slot"] == FIRST_RESOLVED_SLOT) & (events["event_at"] >= window_start)
    dept = events["department"][m]
    open_cases = np.bincount(dept, minlength=n_dept).astype(np.float64)
    day = (events["event_at"][m] - window_start) // DAY
    inside = day < n_days
    closing = np.zeros((n_dept, n_days))
    np.add.at(closing, (dept[inside], day[inside]), 1)
    return open_cases, closing


def _ids_in_order(state: SimState, name: str, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order rows by keys (last key first, as np.lexsort) and give them the next ids of `name`."""
    order = np.lexsort(keys) if len(keys[0]) else np.zeros(0, dtype=np.int64)
    first = state.next_ids(name, len(order))
    return order, first + np.arange(len(order), dtype=np.int64)


def _run_window(
    source: Source,
    state: SimState,
    catalog: Catalog,
    clock: LocalClock,
    citizens: Columns,
    traits: Columns,
    changes: Columns,
    pending: _Pending | None,
    drops_dir: Path,
    first_day: int,
    n_days: int,
    summary: SimulationSummary,
) -> None:
    """Simulate the days [first_day, first_day + n_days) on top of the given citizens and pending plan."""
    seed = state.seed
    key = (first_day, n_days)
    window_start = first_day * DAY
    now = window_start + n_days * DAY
    calendar = build_calendar(first_day, n_days, seed, state.holiday_country)
    n_dept = len(catalog.departments)

    # --- requests
    requests = generate_requests(
        stream(seed, "requests", *key), citizens, traits, changes, calendar, catalog, window_start, dirty=state.dirty
    )
    _normalize(clock, requests, "submitted_at")
    n_req = length(requests)
    first_request = state.next_ids("request", n_req)
    requests["request_id"] = first_request + np.arange(n_req, dtype=np.int64)
    if state.dirty:
        requests = missing_fields(stream(seed, "dirty-requests", *key), requests)
    else:
        requests = no_missing_fields(requests)

    # --- planned lives, under the departments' backlog
    rng = stream(seed, "lifecycle", *key)
    base = base_durations(rng, requests, catalog)
    dept = catalog.service_department[requests["service"]]
    real = np.flatnonzero(~requests["duplicate"])
    if pending is None:
        capacity = _capacity(dept[real], base[real], n_days, n_dept)
        counts = np.maximum(np.bincount(dept[real], minlength=n_dept), 1)
        mean_days = np.bincount(dept[real], weights=base[real], minlength=n_dept) / counts / DAY
        # the city did not start on the first day: begin with the steady-state backlog
        steady = capacity / STAFFING_HEADROOM
        open_cases, closing = steady, _phantom_backlog(steady, mean_days, n_days)
        state.capacity = [float(c) for c in capacity]
    else:
        capacity = np.array(state.capacity)
        open_cases, closing = _pending_backlog(pending.events, window_start, n_days, n_dept)
    mult = np.ones(n_req)
    mult[real] = backlog_multipliers(
        requests["submitted_at"][real], dept[real], base[real], window_start, n_days, open_cases, closing, capacity
    )
    events, facts = plan_lives(rng, requests, catalog, (base * mult).astype(np.int64))
    if state.dirty:
        # a stream of its own: a clean city's events are the same plan without these defects
        dirty = stream(seed, "dirty-events", *key)
        events = closed_before_submitted(dirty, requests, late_status_updates(dirty, events))
    _normalize(clock, events, "event_at", "recorded_at")
    surveys = plan_surveys(rng, requests, facts)
    _normalize(clock, surveys, "submitted_at")

    # --- channel contacts
    phone_of = _lookup(traits["citizen_id"], traits["phone_digits"])
    calls_r, sess_r, n_sess_r = request_contacts(stream(seed, "contacts", *key), requests, facts, phone_of)
    calls_e, sess_e, n_sess_e = everyday_contacts(
        stream(seed, "everyday", *key), citizens, traits, phone_of, calendar, catalog, window_start
    )
    sess_e["session"] = sess_e["session"] + n_sess_r
    calls = concat([calls_r, calls_e])
    sessions = concat([sess_r, sess_e])
    sessions["session"] = sessions["session"] + state.next_ids("session", n_sess_r + n_sess_e)
    first_ord = state.next_ids("ord", length(calls) + length(sessions))
    calls["ord"] = first_ord + np.arange(length(calls), dtype=np.int64)
    sessions["ord"] = first_ord + length(calls) + np.arange(length(sessions), dtype=np.int64)
    _normalize(clock, calls, "ts")
    _normalize(clock, sessions, "ts")

    if pending is not None:
        events = concat([pending.events, events])
        surveys = concat([pending.surveys, surveys])
        calls = concat([pending.calls, calls])
        sessions = concat([pending.sessions, sessions])
        for table in PENDING_TABLES:
            source.delete_all(table)

    # --- request events: record what the system learned in the window, keep the rest planned
    events = take(events, np.lexsort((events["slot"], events["request_id"])))
    recorded = events["recorded_at"] < now
    fresh = recorded & (events["recorded_at"] >= window_start)
    new_events = take(events, np.flatnonzero(fresh))
    order, event_ids = _ids_in_order(
        state, "event", new_events["slot"], new_events["request_id"], new_events["recorded_at"]
    )
    summary.rows["request_events"] = source.insert(
        schema.request_events, event_rows(take(new_events, order), event_ids, catalog, clock)
    )
    states = request_states(events, now)
    is_new = states["request_id"] >= first_request
    summary.rows["service_requests"] = source.insert(
        schema.service_requests, request_rows(requests, take(states, np.flatnonzero(is_new)), catalog, clock)
    )
    touched = np.isin(states["request_id"], new_events["request_id"]) & ~is_new
    summary.updated["service_requests"] = source.update(
        schema.service_requests, "request_id", request_updates(take(states, np.flatnonzero(touched)), clock)
    )
    unfinished = np.unique(events["request_id"][~recorded])
    source.insert(pending_events, take(events, np.flatnonzero(np.isin(events["request_id"], unfinished))))

    # --- surveys
    done = surveys["submitted_at"] < now
    answered = take(surveys, np.flatnonzero(done))
    order, survey_ids = _ids_in_order(state, "survey", answered["request_id"], answered["submitted_at"])
    summary.rows["satisfaction_surveys"] = source.insert(
        schema.satisfaction_surveys, survey_rows(take(answered, order), survey_ids, clock)
    )
    source.insert(pending_surveys, take(surveys, np.flatnonzero(~done)))

    # --- drop files for the window's days
    due_calls = take(calls, np.flatnonzero(calls["ts"] < now))
    order, call_ids = _ids_in_order(state, "call", due_calls["ord"], due_calls["ts"])
    due_calls = take(due_calls, order)
    due_calls["call_id"] = call_ids
    due_sessions = take(sessions, np.flatnonzero(sessions["ts"] < now))
    due_sessions = take(due_sessions, np.lexsort((due_sessions["ord"], due_sessions["ts"])))
    due_sessions["event_id"] = np.zeros(length(due_sessions), dtype=np.int64)
    for name, code in (("web_event", 1), ("app_event", 2)):
        m = due_sessions["channel"] == code
        due_sessions["event_id"][m] = state.next_ids(name, int(m.sum())) + np.arange(int(m.sum()))
    source.insert(pending_calls, take(calls, np.flatnonzero(calls["ts"] >= now)))
    source.insert(pending_sessions, take(sessions, np.flatnonzero(sessions["ts"] >= now)))
    emails = _lookup(citizens["citizen_id"], citizens["email"])
    codes = catalog.services["service_code"].to_numpy().astype(S)
    drop_rows, files = write_drops(drops_dir, due_calls, due_sessions, first_day, n_days, clock, emails, codes)
    summary.drop_rows.update(drop_rows)
    summary.files_written += files
    state.last_day = first_day + n_days - 1


def _write_truth(truth_dir: Path, traits: Columns) -> None:
    truth_dir.mkdir(parents=True, exist_ok=True)
    names = np.array(GROUP_NAMES, dtype=object)[traits["group_id"]]
    with open(truth_dir / TRUTH_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("citizen_id", "planted_group"))
        writer.writerows(zip(traits["citizen_id"].tolist(), names.tolist(), strict=True))


def simulate(
    source_url: str,
    drops_dir: Path,
    truth_dir: Path,
    *,
    citizens: int = 5000,
    days: int = 365,
    seed: int = 42,
    start: date | None = None,
    city_timezone: str = "America/New_York",
    holiday_country: str = "US",
    dirty: bool = True,
) -> SimulationSummary:
    """Build a fresh city: `citizens` registered before `start`, then `days` days of activity.

    Drops and recreates the case tables and `_sim_*` tables in `source_url`, deletes the drop files
    in `drops_dir`, rewrites the truth file in `truth_dir`. `start` defaults to 2026-01-01 minus
    `days`, so that a default run is the same on any date.

    `dirty=False` plants no dirty data (no duplicate citizens or requests, late status updates,
    malformed phones, missing fields, closes before submission: see simulator/dirty.py); the choice
    is kept in `_sim_state`, so `continue_simulation` goes on the same way."""
    started = time.perf_counter()
    if citizens < 1 or days < 1:
        raise ValueError("citizens and days must be at least 1")
    first_day = day_number(start if start is not None else DEFAULT_END - timedelta(days=days))
    clock = LocalClock(city_timezone)
    build_calendar(first_day, 1, seed, holiday_country)  # fails early on an unknown country
    catalog = build_catalog(seed)
    state = SimState(
        seed=seed,
        citizens=citizens,
        first_day=first_day,
        last_day=first_day - 1,
        city_timezone=city_timezone,
        holiday_country=holiday_country,
        capacity=[],
        dirty=dirty,
    )
    window_start, now = first_day * DAY, (first_day + days) * DAY
    people, traits = initial_registrations(
        stream(seed, "citizens", first_day, days), citizens, window_start, now, catalog, dirty=dirty
    )
    _normalize(clock, people, "created_at", "updated_at")
    changes = life_changes(stream(seed, "changes", first_day, days), people, window_start, now, catalog)
    _normalize(clock, changes, "at")
    people = apply_changes(people, changes)
    state.next_ids("citizen", length(people))
    summary = SimulationSummary(day_date(first_day), day_date(first_day + days - 1))

    source = Source(source_url, building=True)
    try:
        source.recreate([schema.metadata, sim_metadata])
        clear_drops(Path(drops_dir))
        source.begin()
        catalog_time = int(utc(clock, np.array([window_start - CATALOG_AGE_DAYS * DAY]))[0])
        for name, cols in catalog_rows(catalog, catalog_time).items():
            summary.rows[name] = source.insert(schema.metadata.tables[name], cols)
        summary.rows["citizens"] = source.insert(schema.citizens, citizen_rows(people, catalog, clock))
        source.insert(citizen_traits, traits)
        _run_window(
            source, state, catalog, clock, people, traits, changes, None, Path(drops_dir), first_day, days, summary
        )
        save_state(source, state)
        _write_truth(Path(truth_dir), traits)
        source.commit()
    except BaseException:
        source.rollback()
        raise
    finally:
        source.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _existing_citizens(source: Source, catalog: Catalog, window_start: int) -> tuple[Columns, Columns]:
    people = source.read(schema.citizens, "citizen_id")
    ids = district_ids(catalog)
    district = people.pop("district_id")
    pos = np.searchsorted(ids, district)
    known = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == district)
    people["district"] = np.where(known, pos, -1)
    # registered before the window; their exact registration times are not needed again
    people["created_at"] = np.full(length(people), window_start - 1, dtype=np.int64)
    people["updated_at"] = people["created_at"].copy()
    traits = source.read(citizen_traits, "citizen_id")
    if not np.array_equal(people["citizen_id"], traits["citizen_id"]):
        raise RuntimeError("citizens and _sim_citizen_traits disagree: the source was changed by hand")
    return people, traits


def continue_simulation(source_url: str, drops_dir: Path, truth_dir: Path, *, days: int = 1) -> SimulationSummary:
    """Simulate the `days` days after the last simulated one, on top of the existing city."""
    started = time.perf_counter()
    if days < 1:
        raise ValueError("days must be at least 1")
    source = Source(source_url)
    try:
        state = load_state(source)
        catalog = build_catalog(state.seed)
        clock = LocalClock(state.city_timezone)
        first_day = state.last_day + 1
        key = (first_day, days)
        window_start, now = first_day * DAY, (first_day + days) * DAY
        summary = SimulationSummary(day_date(first_day), day_date(first_day + days - 1))
        people, traits = _existing_citizens(source, catalog, window_start)
        pending = _Pending(
            events=source.read(pending_events, ["request_id", "slot"]),
            surveys=source.read(pending_surveys, "request_id"),
            calls=source.read(pending_calls, "ord"),
            sessions=source.read(pending_sessions, "ord"),
        )
        source.begin()
        new_people, new_traits = daily_registrations(
            stream(state.seed, "citizens", *key),
            people,
            traits,
            state.counters["citizen"],
            window_start,
            now,
            catalog,
            dirty=state.dirty,
        )
        _normalize(clock, new_people, "created_at", "updated_at")
        state.next_ids("citizen", length(new_people))
        changes = life_changes(stream(state.seed, "changes", *key), people, window_start, now, catalog)
        _normalize(clock, changes, "at")
        people = apply_changes(people, changes)
        changed = take(people, changes["index"])
        summary.updated["citizens"] = source.update(
            schema.citizens,
            "citizen_id",
            {
                "citizen_id": changed["citizen_id"],
                "district_id": citizen_rows(changed, catalog, clock)["district_id"],
                "consent_analytics": changed["consent_analytics"],
                "updated_at": utc(clock, changed["updated_at"]),
            },
        )
        summary.rows["citizens"] = source.insert(schema.citizens, citizen_rows(new_people, catalog, clock))
        source.insert(citizen_traits, new_traits)
        all_people = concat([people, new_people])
        all_traits = concat([traits, new_traits])
        _run_window(
            source, state, catalog, clock, all_people, all_traits, changes, pending, Path(drops_dir), first_day, days,
            summary,
        )  # fmt: skip
        save_state(source, state)
        _write_truth(Path(truth_dir), all_traits)
        source.commit()
    except BaseException:
        source.rollback()
        raise
    finally:
        source.close()
    summary.seconds = time.perf_counter() - started
    return summary
