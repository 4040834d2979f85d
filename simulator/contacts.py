"""Channel contacts behind the drop files: hotline calls and web/app session events.

Contacts come from requests (the submission itself, status checks while a request is open, calls to
the hotline when it runs late) and from everyday use (browsing the web site or the app, calls that
open no case, anonymous visitors and unknown callers). Two tables, in local time:

- calls: ts, ord, citizen_id, caller_phone, wait_seconds, duration_seconds, outcome, request_id
- events: channel (WEB | APP), ts, ord, session, citizen_id, event, service, request_id

`ord` orders contacts with equal timestamps; ids are given when a day's file is written.
"""

from __future__ import annotations

import numpy as np

from simulator import identities as ids
from simulator.catalog import Catalog
from simulator.columns import Columns, concat, length
from simulator.demand import citizen_arrivals
from simulator.groups import (
    GROUP_CATEGORIES,
    GROUP_CHASE,
    GROUP_CHECK_CHANNELS,
    GROUP_CHECKS,
    GROUP_SESSIONS,
    GROUP_SHARE,
)
from simulator.rng import pick_grouped, pick_rows
from simulator.timeline import APP, CHANNEL_HOURS, DAY, HOTLINE, WEB, Calendar, sample_hour_seconds, weekday

EVENTS = ("login", "view_service", "submit_request", "check_status", "logout")
LOGIN, VIEW, SUBMIT, CHECK, LOGOUT = range(5)
OUTCOMES = ("answered", "request_created", "transferred", "abandoned")
ANSWERED, CREATED, TRANSFERRED, ABANDONED = range(4)
ANONYMOUS_BROWSING_PER_YEAR = 3.0  # anonymous web visits per registered citizen
UNKNOWN_CALLS_PER_YEAR = 1.0  # calls from numbers the city does not know, per registered citizen
MAX_CHECKS = 6
MAX_CHASES = 4

_HOTLINE_LOAD = CHANNEL_HOURS[HOTLINE] / CHANNEL_HOURS[HOTLINE][CHANNEL_HOURS[HOTLINE] > 0].mean()


def _explode(times: np.ndarray, codes: np.ndarray, used: np.ndarray, **per_session: np.ndarray) -> Columns:
    """(sessions x slots) matrices to one row per used slot, session by session."""
    row, col = np.nonzero(used)
    out = {"ts": times[row, col], "event": codes[row, col].astype(np.int8), "session_row": row, "slot": col}
    for name, values in per_session.items():
        out[name] = values[row]
    return out


def _calls(
    rng: np.random.Generator,
    ts: np.ndarray,
    citizen_id: np.ndarray,
    phone_digits: np.ndarray,
    outcome: np.ndarray,
    request_id: np.ndarray,
    dow: np.ndarray,
) -> Columns:
    """Calls with waits that grow at busy hours; long waits make callers hang up."""
    n = len(ts)
    hour = (ts % DAY) // 3600
    mean_wait = 35 * _HOTLINE_LOAD[hour].clip(0.3, None) * np.where(dow == 0, 1.4, 1.0)
    wait = rng.exponential(mean_wait).astype(np.int64)
    may_hang_up = outcome != CREATED
    abandoned = may_hang_up & ((outcome == ABANDONED) | ((wait > 150) & (rng.random(n) < 0.45)))
    outcome = np.where(abandoned, ABANDONED, outcome)
    median = np.array([200, 360, 420, 1])[outcome]
    duration = np.where(abandoned, 0, rng.lognormal(np.log(median), 0.5).astype(np.int64) + 15)
    phone = np.where(phone_digits != "", ids.caller_formats(rng, phone_digits), np.array("", dtype=ids.S))
    return {
        "ts": ts,
        "citizen_id": citizen_id,
        "caller_phone": phone,
        "wait_seconds": wait,
        "duration_seconds": duration,
        "outcome": outcome.astype(np.int8),
        "request_id": np.where(abandoned, -1, request_id),
    }


def _on_day_at_channel_hour(
    rng: np.random.Generator, ts: np.ndarray, channel: int, not_before: np.ndarray
) -> np.ndarray:
    """Same local day as `ts`, at an hour typical for the channel, never before `not_before`."""
    day_start = ts - ts % DAY
    out = day_start + sample_hour_seconds(rng, np.full(len(ts), channel))
    return np.where(out < not_before, not_before + rng.integers(300, 3600, len(ts)), out)


def _unknown_digits(rng: np.random.Generator, n: int) -> np.ndarray:
    return ids.join(
        ids.AREA_CODES[rng.integers(0, len(ids.AREA_CODES), n)], "555", ids.zero_pad(rng.integers(0, 10_000, n), 4)
    )


def request_contacts(
    rng: np.random.Generator,
    requests: Columns,
    facts: Columns,
    phone_digits_of: np.ndarray,
) -> tuple[Columns, Columns, int]:
    """Submission, status checks and late-chasing calls of the window's requests."""
    n = length(requests)
    T = requests["submitted_at"]
    cid = requests["citizen_id"]
    known = cid >= 0
    ch = requests["channel"]
    day_start = T - T % DAY
    g = np.maximum(requests["group_id"], 0)
    dup = requests["duplicate"]

    # --- web/app submission sessions: login, view, submit (at T), logout
    online = np.flatnonzero(((ch == WEB) | (ch == APP)) & (known | (ch == WEB)))
    k = len(online)
    g1 = rng.integers(20, 400, k)
    g2 = rng.integers(15, 300, k)
    times = np.stack([T[online] - g1 - g2, T[online] - g2, T[online], T[online] + rng.integers(5, 120, k)], 1)
    times = np.maximum(times, day_start[online][:, None])
    codes = np.tile(np.array([LOGIN, VIEW, SUBMIT, LOGOUT]), (k, 1))
    used = np.ones((k, 4), dtype=bool)
    used[:, [0, 3]] = known[online][:, None]
    # a double submission shows as the submit step only, in the same kind of session
    used[:, [0, 1, 3]] &= ~dup[online][:, None]
    submit = _explode(
        times,
        codes,
        used,
        channel=ch[online].astype(np.int8),
        citizen_id=cid[online],
        service=requests["service"][online],
        request_id=requests["request_id"][online],
    )
    # the request id appears on the submit step only, the service on the view and submit steps
    submit["request_id"] = np.where(submit["event"] == SUBMIT, submit["request_id"], -1)
    submit["service"] = np.where((submit["event"] == SUBMIT) | (submit["event"] == VIEW), submit["service"], -1)

    # --- status checks while open, in the citizen's usual channels
    open_for = np.where(facts["first_resolved"] > 0, facts["first_resolved"] - T, 0)
    checker = known & ~dup
    mean_checks = GROUP_CHECKS[g] * np.clip(open_for / (5 * DAY), 0.3, 2.0)
    n_checks = np.where(checker, np.minimum(rng.poisson(mean_checks), MAX_CHECKS), 0)
    r = np.repeat(np.arange(n), n_checks)
    w = GROUP_CHECK_CHANNELS[g[r]] + np.stack([ch[r] == APP, ch[r] == WEB, np.zeros(len(r), bool)], 1)
    check_ch = np.array([APP, WEB, HOTLINE])[pick_rows(rng, np.cumsum(w, axis=1))]
    mid = T[r] + (rng.random(len(r)) * np.maximum(open_for[r], 3600)).astype(np.int64)
    check_ts = np.zeros(len(r), dtype=np.int64)
    for c in (APP, WEB, HOTLINE):
        m = check_ch == c
        check_ts[m] = _on_day_at_channel_hour(rng, mid[m], c, T[r][m])
    online_check = check_ch != HOTLINE
    oc = np.flatnonzero(online_check)
    k = len(oc)
    t = check_ts[oc]
    times = np.stack([t, t + rng.integers(10, 90, k), t + rng.integers(100, 300, k)], 1)
    checks = _explode(
        times,
        np.tile(np.array([LOGIN, CHECK, LOGOUT]), (k, 1)),
        np.ones((k, 3), dtype=bool),
        channel=check_ch[oc].astype(np.int8),
        citizen_id=cid[r][oc],
        service=requests["service"][r][oc],
        request_id=requests["request_id"][r][oc],
    )
    checks["request_id"] = np.where(checks["event"] == CHECK, checks["request_id"], -1)
    checks["service"] = np.where(checks["event"] == CHECK, checks["service"], -1)

    # --- hotline: submission calls, status-check calls, chasing calls when late
    hot = np.flatnonzero(ch == HOTLINE)
    call_len = rng.lognormal(np.log(300), 0.4, len(hot)).astype(np.int64)
    sub_ts = np.maximum(T[hot] - call_len, day_start[hot])
    hc = np.flatnonzero(~online_check)
    late = facts["late"] & known
    chase_n = np.where(
        late & (rng.random(n) < GROUP_CHASE[g]),
        np.minimum(1 + rng.poisson(np.maximum(facts["first_resolved"] - facts["deadline"], 0) / (7 * DAY)), MAX_CHASES),
        0,
    )
    cr = np.repeat(np.arange(n), chase_n)
    span = np.maximum(facts["first_resolved"][cr] - facts["deadline"][cr], 3600)
    chase_mid = facts["deadline"][cr] + (rng.random(len(cr)) * span).astype(np.int64)
    chase_ts = _on_day_at_channel_hour(rng, chase_mid, HOTLINE, facts["deadline"][cr])
    call_rows = np.concatenate([hot, r[hc], cr])
    call_ts = np.concatenate([sub_ts, check_ts[hc], chase_ts])
    outcome = np.concatenate(
        [
            np.full(len(hot), CREATED),
            np.where(rng.random(len(hc)) < 0.8, ANSWERED, TRANSFERRED),
            np.where(rng.random(len(cr)) < 0.65, ANSWERED, TRANSFERRED),
        ]
    )
    caller = np.where(cid[call_rows] >= 0, phone_digits_of[np.maximum(cid[call_rows], 0)], "")
    anon_caller = cid[call_rows] < 0
    caller = np.where(
        anon_caller & (rng.random(len(call_rows)) < 0.7), _unknown_digits(rng, len(call_rows)), caller
    ).astype(ids.S)
    calls = _calls(
        rng,
        call_ts,
        cid[call_rows],
        caller,
        outcome,
        requests["request_id"][call_rows],
        weekday(call_ts),
    )
    n_submit = len(online)
    events = concat([_numbered(submit, 0), _numbered(checks, n_submit)])
    return calls, events, n_submit + len(oc)


def _numbered(cols: Columns, first_session: int) -> Columns:
    """Session numbers local to one generation call, from the component's session rows."""
    cols = dict(cols)
    cols["session"] = first_session + cols.pop("session_row").astype(np.int64)
    cols.pop("slot")
    return cols


def everyday_contacts(
    rng: np.random.Generator,
    citizens: Columns,
    traits: Columns,
    phone_digits_of: np.ndarray,
    calendar: Calendar,
    catalog: Catalog,
    window_start: int,
) -> tuple[Columns, Columns, int]:
    """Browsing sessions and calls that open no case, from citizens and from strangers."""
    group = traits["group_id"]
    created = citizens["created_at"]
    cat_service = catalog.category_service_weight

    def services_for(groups: np.ndarray) -> np.ndarray:
        cat = pick_grouped(rng, groups, GROUP_CATEGORIES)
        return pick_grouped(rng, cat, cat_service)

    parts = []
    sessions = 0
    for channel, col in ((APP, 0), (WEB, 1)):
        who, day = citizen_arrivals(rng, GROUP_SESSIONS[group, col], created, calendar, window_start)
        k = len(who)
        start = window_start + day * DAY + sample_hour_seconds(rng, np.full(k, channel))
        start = np.maximum(start, created[who] + 60)
        views = rng.integers(1, 4, k)
        gaps = rng.integers(15, 240, (k, 5)).cumsum(axis=1)
        times = start[:, None] + np.concatenate([np.zeros((k, 1), np.int64), gaps[:, :4]], 1)
        codes = np.tile(np.array([LOGIN, VIEW, VIEW, VIEW, LOGOUT]), (k, 1))
        used = np.ones((k, 5), dtype=bool)
        used[:, 2] = views >= 2
        used[:, 3] = views >= 3
        svc = services_for(np.repeat(group[who], 5)).reshape(k, 5)
        part = _explode(
            times,
            codes,
            used,
            channel=np.full(k, channel, dtype=np.int8),
            citizen_id=citizens["citizen_id"][who],
            request_id=np.full(k, -1),
        )
        part["service"] = np.where(part["event"] == VIEW, svc[part["session_row"], part["slot"]], -1)
        parts.append(_numbered(part, sessions))
        sessions += k

    # anonymous visitors on the web site
    day_end = window_start + (np.arange(len(calendar)) + 1) * DAY
    alive = np.searchsorted(np.sort(created), day_end, side="left")
    counts = rng.poisson(ANONYMOUS_BROWSING_PER_YEAR * alive * calendar.intensity / 365.25)
    day = np.repeat(np.arange(len(calendar)), counts)
    k = len(day)
    start = window_start + day * DAY + sample_hour_seconds(rng, np.full(k, WEB))
    views = rng.integers(1, 5, k)
    times = start[:, None] + np.concatenate(
        [np.zeros((k, 1), np.int64), rng.integers(15, 240, (k, 3)).cumsum(axis=1)], 1
    )
    anon_groups = rng.choice(len(GROUP_SHARE), k, p=GROUP_SHARE / GROUP_SHARE.sum())
    part = _explode(
        times,
        np.full((k, 4), VIEW),
        np.arange(4)[None, :] < views[:, None],
        channel=np.full(k, WEB, dtype=np.int8),
        citizen_id=np.full(k, -1),
        request_id=np.full(k, -1),
        service=services_for(anon_groups),
    )
    parts.append(_numbered(part, sessions))
    sessions += k
    events = concat(parts)

    # calls without a case: citizens' questions, and callers the city does not know
    who, day = citizen_arrivals(rng, GROUP_SESSIONS[group, 2], created, calendar, window_start)
    counts = rng.poisson(UNKNOWN_CALLS_PER_YEAR * alive * calendar.intensity / 365.25)
    stranger_day = np.repeat(np.arange(len(calendar)), counts)
    all_day = np.concatenate([day, stranger_day])
    ts = window_start + all_day * DAY + sample_hour_seconds(rng, np.full(len(all_day), HOTLINE))
    ts[: len(who)] = np.maximum(ts[: len(who)], created[who] + 60)
    cid = np.concatenate([citizens["citizen_id"][who], np.full(len(stranger_day), -1)])
    digits = np.concatenate([phone_digits_of[citizens["citizen_id"][who]], _unknown_digits(rng, len(stranger_day))])
    outcome = np.where(rng.random(len(ts)) < 0.75, ANSWERED, TRANSFERRED)
    calls = _calls(rng, ts, cid, digits, outcome, np.full(len(ts), -1), weekday(ts))
    return calls, events, sessions
