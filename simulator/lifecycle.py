"""Each request's planned life: routing, work, resolution, closing, reopening, and the survey after.

The whole life is planned when the request arrives; what happens after the simulated "now" is kept in
`_sim_pending_*` tables and recorded by later `continue_simulation` days. Resolution time follows the
service's commitment, the priority and the department's backlog (open cases against its capacity),
so a department's busy season (snow storms for Sanitation, summer for Parks and Code Enforcement)
brings more late requests, lower scores and more chasing calls.
"""

from __future__ import annotations

import numpy as np

from simulator.catalog import Catalog
from simulator.columns import Columns, length
from simulator.groups import GROUP_REOPEN, GROUP_SATISFACTION
from simulator.timeline import DAY, HOUR, snap_to_office_hours

# Event slots of a life, in order; a request uses a subset of them.
SLOT_TYPES = np.array([0, 1, 2, 3, 4, 5, 2, 3, 4])  # indices into schema.STATUSES
N_SLOTS = len(SLOT_TYPES)
RECEIVED, RESOLVED, CLOSED = 0, 3, 4
FIRST_RESOLVED_SLOT, FIRST_CLOSED_SLOT, FINAL_CLOSED_SLOT = 3, 4, 8
ENQUIRY, PRAISE, COMPLAINT = 2, 4, 1  # request type indices
URGENT = 3

PRIORITY_SPEED = np.array([1.3, 1.0, 0.6, 0.3])  # low, normal, high, urgent
TYPE_SPEED = np.array([1.0, 1.1, 0.4, 1.2, 0.3])  # request, complaint, enquiry, suggestion, praise
MEDIAN_SHARE_OF_COMMITMENT = 0.5
SPREAD = 0.65
BACKLOG_ELASTICITY = 0.6
SURVEY_SHARE = 0.30
COMMENTS = {
    1: ["Nobody came.", "Still not fixed after weeks.", "Closed without doing anything!", "Very disappointed."],
    2: ["Took far too long.", "Had to call several times.", "Not really solved."],
    3: ["OK in the end.", "Slow but done.", "Average service."],
    4: ["Good job.", "Fixed within the week.", "Friendly staff."],
    5: ["Excellent, thank you!", "Fixed the same day.", "Great service, very quick."],
}


def backlog_multipliers(
    submitted: np.ndarray,
    department: np.ndarray,
    base_duration: np.ndarray,
    window_start: int,
    n_days: int,
    open_cases: np.ndarray,
    closing: np.ndarray,
    capacity: np.ndarray,
) -> np.ndarray:
    """Day by day (cheap: one small vector step per day), a department's open cases slow down the
    requests that arrive: multiplier = (open / capacity) ** elasticity, within [0.7, 2.5].

    `open_cases` are open at the window start; `closing[d, day]` are known future resolutions in the
    window (from earlier windows). Requests must be sorted by `submitted`."""
    open_cases = open_cases.astype(np.float64).copy()
    closing = closing.astype(np.float64).copy()
    mult = np.ones(len(submitted))
    bounds = np.searchsorted(submitted, window_start + np.arange(n_days + 1) * DAY)
    n_dept = len(capacity)
    for day in range(n_days):
        lo, hi = bounds[day], bounds[day + 1]
        factor = np.clip((np.maximum(open_cases, 0) / capacity) ** BACKLOG_ELASTICITY, 0.7, 2.5)
        if hi > lo:
            dept = department[lo:hi]
            mult[lo:hi] = factor[dept]
            done = ((submitted[lo:hi] + base_duration[lo:hi] * factor[dept] - window_start) // DAY).astype(np.int64)
            inside = done < n_days
            np.add.at(closing, (dept[inside], done[inside]), 1)
            open_cases += np.bincount(dept, minlength=n_dept)
        open_cases -= closing[:, day]
    return mult


def base_durations(rng: np.random.Generator, requests: Columns, catalog: Catalog) -> np.ndarray:
    """Seconds to resolve without backlog effects."""
    n = length(requests)
    commitment = catalog.service_commitment[requests["service"]] * HOUR
    factor = rng.lognormal(np.log(MEDIAN_SHARE_OF_COMMITMENT), SPREAD, n)
    factor *= PRIORITY_SPEED[requests["priority"]] * TYPE_SPEED[requests["request_type"]]
    return np.maximum(commitment * factor, 900).astype(np.int64)


def plan_lives(
    rng: np.random.Generator, requests: Columns, catalog: Catalog, duration: np.ndarray
) -> tuple[Columns, Columns]:
    """Events (one row per event) and per-request facts for requests with ids, given resolution
    durations (seconds, backlog included)."""
    n = length(requests)
    t0 = requests["submitted_at"]
    service = requests["service"]
    commitment = catalog.service_commitment[service] * HOUR
    rtype = requests["request_type"]
    dup = requests["duplicate"]
    urgent = requests["priority"] == URGENT

    def office(ts: np.ndarray) -> np.ndarray:
        # urgent work goes on around the clock
        return np.where(urgent, ts, snap_to_office_hours(rng, ts))

    times = np.zeros((n, N_SLOTS), dtype=np.int64)
    times[:, 0] = t0
    times[:, 1] = office(t0 + (duration * rng.uniform(0.02, 0.12, n)).astype(np.int64))
    times[:, 2] = office(t0 + (duration * rng.uniform(0.2, 0.7, n)).astype(np.int64))
    times[:, 3] = office(t0 + duration)
    times[:, 4] = office(times[:, 3] + rng.lognormal(np.log(20 * HOUR), 0.8, n).astype(np.int64))
    late = (times[:, 3] - t0) > commitment
    reopen_p = 0.04 + 0.10 * late + 0.04 * (rtype == COMPLAINT)
    reopen_p += np.where(requests["group_id"] >= 0, GROUP_REOPEN[np.maximum(requests["group_id"], 0)], 0)
    short = (rtype == ENQUIRY) | (rtype == PRAISE)
    reopened = (rng.random(n) < reopen_p) & ~short & ~dup
    times[:, 5] = times[:, 4] + rng.integers(1 * DAY, 10 * DAY, n)
    times[:, 6] = office(times[:, 5] + rng.lognormal(np.log(6 * HOUR), 0.7, n).astype(np.int64))
    times[:, 7] = office(times[:, 6] + (commitment * 0.3 * rng.lognormal(0, 0.5, n)).astype(np.int64))
    times[:, 8] = office(times[:, 7] + rng.lognormal(np.log(20 * HOUR), 0.8, n).astype(np.int64))
    # duplicates are closed as such by an agent within hours
    dup_close = office(t0 + rng.lognormal(np.log(3 * HOUR), 0.8, n).astype(np.int64))
    times[:, 4] = np.where(dup, dup_close, times[:, 4])

    used = np.ones((n, N_SLOTS), dtype=bool)
    used[:, 5:] = reopened[:, None]
    used[:, 2] &= ~short
    used[dup, 1:4] = False
    # each event strictly after the one before it
    step = np.where(used, times, 0)
    for s in range(1, N_SLOTS):
        prev = np.where(used[:, :s], step[:, :s], 0).max(axis=1)
        step[:, s] = np.where(used[:, s], np.maximum(step[:, s], prev + 60), 0)
    times = step

    final_slot = np.where(reopened, FINAL_CLOSED_SLOT, FIRST_CLOSED_SLOT)
    row, slot = np.nonzero(used)
    event_at = times[row, slot]
    # the system records an event seconds after it happens (dirty.py makes some days late)
    lag = np.where(slot == RECEIVED, 0, rng.integers(0, 120, len(row)))
    department = np.where(slot == RECEIVED, -1, catalog.service_department[service[row]])
    events = {
        "request_id": requests["request_id"][row],
        "slot": slot.astype(np.int64),
        "department": department.astype(np.int64),
        "event_at": event_at,
        "recorded_at": event_at + lag,
    }
    facts = {
        "first_resolved": np.where(dup, -1, times[:, FIRST_RESOLVED_SLOT]),
        "final_closed": times[np.arange(n), final_slot],
        "deadline": t0 + commitment,
        "reopened": reopened,
        "late": late & ~dup,
    }
    return events, facts


def plan_surveys(rng: np.random.Generator, requests: Columns, facts: Columns) -> Columns:
    """Surveys for about 30% of closed requests; lower scores when late or reopened."""
    n = length(requests)
    answer = (rng.random(n) < SURVEY_SHARE) & ~requests["duplicate"]
    idx = np.flatnonzero(answer)
    group = requests["group_id"][idx]
    lateness = (facts["first_resolved"][idx] - requests["submitted_at"][idx]) / np.maximum(
        facts["deadline"][idx] - requests["submitted_at"][idx], 1
    )
    raw = np.where(group >= 0, GROUP_SATISFACTION[np.maximum(group, 0)], 3.6) + rng.normal(0, 0.8, len(idx))
    raw -= 1.2 * np.clip(lateness - 1, 0, 2) + 1.0 * facts["reopened"][idx]
    raw -= 0.4 * (requests["request_type"][idx] == COMPLAINT)
    score = np.clip(np.rint(raw), 1, 5).astype(np.int64)
    comment = np.full(len(idx), "", dtype=object)
    has_comment = rng.random(len(idx)) < 0.4
    for s, texts in COMMENTS.items():
        m = has_comment & (score == s)
        comment[m] = np.array(texts, dtype=object)[rng.integers(0, len(texts), int(m.sum()))]
    return {
        "request_id": requests["request_id"][idx],
        "citizen_id": requests["citizen_id"][idx],
        "score": score,
        "comment": comment.astype(str),
        "submitted_at": facts["final_closed"][idx] + rng.lognormal(np.log(18 * HOUR), 0.9, len(idx)).astype(np.int64),
    }


def request_states(events: Columns, now: int) -> Columns:
    """Status, updated_at and closed_at of each request as of `now`, from its events' plan.

    Status is the latest event (by life order) the system has recorded; closed_at is set while that
    event is a close. `events` must be sorted by (request_id, slot)."""
    rec = events["recorded_at"] < now
    rid = events["request_id"][rec]
    slot = events["slot"][rec]
    last = np.r_[rid[1:] != rid[:-1], True] if len(rid) else np.zeros(0, dtype=bool)
    first = np.r_[True, rid[1:] != rid[:-1]] if len(rid) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    status = SLOT_TYPES[slot[last]]
    updated = np.maximum.reduceat(events["recorded_at"][rec], starts) if len(starts) else np.zeros(0, np.int64)
    closed_at = np.where(status == CLOSED, events["event_at"][rec][last], -1)
    return {"request_id": rid[last], "status": status, "updated_at": updated, "closed_at": closed_at}
