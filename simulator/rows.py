"""Case-system rows from the simulator's plan: codes to labels, local times to UTC, dirty flags to nulls."""

from __future__ import annotations

import numpy as np

from simulator import schema
from simulator.catalog import Catalog
from simulator.columns import Columns
from simulator.identities import S
from simulator.lifecycle import SLOT_TYPES
from simulator.timeline import CHANNEL_NAMES, LocalClock

STATUSES = np.array(schema.STATUSES, dtype=S)
REQUEST_TYPES = np.array(schema.REQUEST_TYPES, dtype=S)
PRIORITIES = np.array(schema.PRIORITIES, dtype=S)
CHANNELS = np.array(CHANNEL_NAMES, dtype=S)
EMPTY = np.array("", dtype=S)


def utc(clock: LocalClock, ts: np.ndarray) -> np.ndarray:
    """Local seconds to UTC seconds, keeping -1 (null) as is."""
    ts = np.asarray(ts, dtype=np.int64)
    valid = ts >= 0
    out = np.full(len(ts), -1, dtype=np.int64)
    if valid.any():
        out[valid] = clock.to_utc(ts[valid])
    return out


def _labels(labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.where(index >= 0, labels[np.maximum(index, 0)], EMPTY)


def catalog_rows(catalog: Catalog, recorded_utc: int) -> dict[str, Columns]:
    def stamp(n: int) -> np.ndarray:
        return np.full(n, recorded_utc, dtype=np.int64)

    d, t, s = catalog.departments, catalog.districts, catalog.services
    return {
        "departments": {
            "department_id": d["department_id"].to_numpy().astype(S),
            "name": d["name"].to_numpy().astype(S),
            "updated_at": stamp(len(d)),
        },
        "districts": {
            "district_id": t["district_id"].to_numpy().astype(S),
            "name": t["name"].to_numpy().astype(S),
            "population": t["population"].to_numpy(),
            "updated_at": stamp(len(t)),
        },
        "services": {
            "service_code": s["service_code"].to_numpy().astype(S),
            "name": s["name"].to_numpy().astype(S),
            "category": s["category"].to_numpy().astype(S),
            "department_id": s["department_id"].to_numpy().astype(S),
            "commitment_hours": s["commitment_hours"].to_numpy(),
            "updated_at": stamp(len(s)),
        },
    }


def district_ids(catalog: Catalog) -> np.ndarray:
    return catalog.districts["district_id"].to_numpy().astype(S)


def citizen_rows(citizens: Columns, catalog: Catalog, clock: LocalClock) -> Columns:
    out = {k: v for k, v in citizens.items() if k not in ("district", "created_at", "updated_at")}
    out["district_id"] = _labels(district_ids(catalog), citizens["district"])
    out["created_at"] = utc(clock, citizens["created_at"])
    out["updated_at"] = utc(clock, citizens["updated_at"])
    return out


def request_rows(requests: Columns, states: Columns, catalog: Catalog, clock: LocalClock) -> Columns:
    """Requests (sorted by id) with their states as of now (same order)."""
    codes = catalog.services["service_code"].to_numpy().astype(S)
    service = np.where(requests["service_missing"], -1, requests["service"])
    district = np.where(requests["district_missing"], -1, requests["district"])
    return {
        "request_id": requests["request_id"],
        "citizen_id": requests["citizen_id"],
        "service_code": _labels(codes, service),
        "channel": CHANNELS[requests["channel"]],
        "district_id": _labels(district_ids(catalog), district),
        "latitude": requests["latitude"],
        "longitude": requests["longitude"],
        "request_type": REQUEST_TYPES[requests["request_type"]],
        "description": requests["description"],
        "status": STATUSES[states["status"]],
        "priority": PRIORITIES[requests["priority"]],
        "submitted_at": utc(clock, requests["submitted_at"]),
        "updated_at": utc(clock, states["updated_at"]),
        "closed_at": utc(clock, states["closed_at"]),
    }


def request_updates(states: Columns, clock: LocalClock) -> Columns:
    return {
        "request_id": states["request_id"],
        "status": STATUSES[states["status"]],
        "updated_at": utc(clock, states["updated_at"]),
        "closed_at": utc(clock, states["closed_at"]),
    }


def event_rows(events: Columns, event_id: np.ndarray, catalog: Catalog, clock: LocalClock) -> Columns:
    depts = catalog.departments["department_id"].to_numpy().astype(S)
    return {
        "event_id": event_id,
        "request_id": events["request_id"],
        "event_type": STATUSES[SLOT_TYPES[events["slot"]]],
        "department_id": _labels(depts, events["department"]),
        "event_at": utc(clock, events["event_at"]),
        "updated_at": utc(clock, events["recorded_at"]),
    }


def survey_rows(surveys: Columns, survey_id: np.ndarray, clock: LocalClock) -> Columns:
    submitted = utc(clock, surveys["submitted_at"])
    return {
        "survey_id": survey_id,
        "request_id": surveys["request_id"],
        "citizen_id": surveys["citizen_id"],
        "score": surveys["score"],
        "comment": np.asarray(surveys["comment"]).astype(S),
        "submitted_at": submitted,
        "updated_at": submitted.copy(),
    }
