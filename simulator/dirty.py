"""Dirty-data injection: the small, realistic defects the warehouse must detect and handle.

Defects injected here, after the clean plan is made:
- late status updates (~3% of events): recorded days after they happened (event_at << updated_at);
- missing fields (~1% of requests): null district_id or null service_code;
- closed before submitted (~0.2% of requests): a data-entry slip puts closed_at before submitted_at;
- malformed phones (~2% of citizens): too short, a letter for a digit, stray spaces.
Defects made where the entity is created, because they need new ids in creation order:
- duplicate citizens (~0.5%, population.py) and duplicate requests (~1%, demand.py);
- citizens without e-mail (population.py, by group), withheld and variously formatted caller numbers
  (contacts.py).

`simulate(..., dirty=False)` plants none of the defects above that are errors (duplicates, late
updates, missing fields, closed before submitted, malformed phones). Missing e-mails, withheld caller
numbers and the caller-number formats stay: they are how real citizens and phone switches behave, and
staging handles them as valid input.
"""

from __future__ import annotations

import numpy as np

from simulator import identities as ids
from simulator.columns import Columns, length
from simulator.lifecycle import FINAL_CLOSED_SLOT, FIRST_CLOSED_SLOT, RECEIVED
from simulator.timeline import DAY, HOUR

LATE_UPDATE_SHARE = 0.0375  # of events after "received": about 3% of all events
MISSING_DISTRICT_SHARE = 0.005
MISSING_SERVICE_SHARE = 0.005
CLOSED_BEFORE_SUBMITTED_SHARE = 0.0025  # of requests; only closed ones show it
MALFORMED_PHONE_SHARE = 0.02


def late_status_updates(rng: np.random.Generator, events: Columns) -> Columns:
    """Field crews that enter an event days later: updated_at (recorded_at) moves, event_at stays."""
    n = length(events)
    late = (events["slot"] != RECEIVED) & (rng.random(n) < LATE_UPDATE_SHARE)
    lag = rng.integers(1 * DAY, 12 * DAY, n)
    out = dict(events)
    out["recorded_at"] = np.where(late, events["event_at"] + lag, events["recorded_at"])
    return out


def missing_fields(rng: np.random.Generator, requests: Columns) -> Columns:
    """Flags for request rows written with a null district or a null service code."""
    n = length(requests)
    out = dict(requests)
    u = rng.random(n)
    out["district_missing"] = u < MISSING_DISTRICT_SHARE
    out["service_missing"] = (u >= MISSING_DISTRICT_SHARE) & (u < MISSING_DISTRICT_SHARE + MISSING_SERVICE_SHARE)
    return out


def no_missing_fields(requests: Columns) -> Columns:
    """The flags of `missing_fields`, all false: every request row keeps its district and service."""
    n = length(requests)
    return {**requests, "district_missing": np.zeros(n, dtype=bool), "service_missing": np.zeros(n, dtype=bool)}


def closed_before_submitted(rng: np.random.Generator, requests: Columns, events: Columns) -> Columns:
    """Backdate the final close of a few requests to before their submission."""
    n = length(requests)
    chosen = requests["request_id"][(rng.random(n) < CLOSED_BEFORE_SUBMITTED_SHARE) & ~requests["duplicate"]]
    if len(chosen) == 0:
        return events
    rid = events["request_id"]
    hit = np.isin(rid, chosen)
    # the last close of each chosen request: slot 8 when reopened, else slot 4
    has_final = np.zeros(n, dtype=bool)
    pos = np.searchsorted(requests["request_id"], rid[hit])
    np.logical_or.at(has_final, pos[events["slot"][hit] == FINAL_CLOSED_SLOT], True)
    final_slot = np.where(has_final[np.searchsorted(requests["request_id"], rid)], FINAL_CLOSED_SLOT, FIRST_CLOSED_SLOT)
    target = hit & (events["slot"] == final_slot)
    req_pos = np.searchsorted(requests["request_id"], rid[target])
    backdate = requests["submitted_at"][req_pos] - rng.integers(1 * HOUR, 72 * HOUR, int(target.sum()))
    out = dict(events)
    out["event_at"] = events["event_at"].copy()
    out["event_at"][target] = backdate
    return out


def malformed_phones(rng: np.random.Generator, phones: np.ndarray, share: float = MALFORMED_PHONE_SHARE) -> np.ndarray:
    """Mistype about `share` of the phones. A share of 0 still makes the same draws, so the caller's
    generator (shared with the other citizen attributes) moves on exactly as in a dirty city."""
    bad = (rng.random(len(phones)) < share) & (phones != "")
    return np.where(bad, ids.malformed_phones(rng, phones), phones)
