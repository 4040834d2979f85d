"""The simulator's own bookkeeping tables in the source database (`_sim_*`, never ingested).

- `_sim_state`: key/value JSON: seed and parameters (whether dirty data is planted included), the last
  simulated day, id counters, capacities.
- `_sim_citizen_traits`: each citizen's planted group, personal request rate and true phone number
  (the citizens table may hold a malformed one; the hotline switch sees the real one).
- `_sim_pending_events`: the planned lives of requests not yet finished, every event included (recorded
  or not), so a continued day can derive each request's status from its whole life.
- `_sim_pending_surveys`, `_sim_pending_calls`, `_sim_pending_sessions`: planned, not yet happened.
Times in `_sim_pending_*` are int64 city-local seconds since 1970-01-01 (see timeline.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Column, Float, MetaData, SmallInteger, String, Table, Text

from simulator.identities import S
from simulator.writer import Source

STATE_VERSION = 1

sim_metadata = MetaData()

sim_state = Table(
    "_sim_state",
    sim_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

citizen_traits = Table(
    "_sim_citizen_traits",
    sim_metadata,
    Column("citizen_id", BigInteger, primary_key=True, autoincrement=False),
    Column("group_id", SmallInteger, nullable=False),
    Column("rate", Float, nullable=False),
    Column("phone_digits", String(16), nullable=False),
)

pending_events = Table(
    "_sim_pending_events",
    sim_metadata,
    Column("request_id", BigInteger, primary_key=True, autoincrement=False),
    Column("slot", SmallInteger, primary_key=True, autoincrement=False),
    Column("department", SmallInteger, nullable=True),
    Column("event_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
)

pending_surveys = Table(
    "_sim_pending_surveys",
    sim_metadata,
    Column("request_id", BigInteger, primary_key=True, autoincrement=False),
    Column("citizen_id", BigInteger, nullable=True),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text, nullable=True),
    Column("submitted_at", BigInteger, nullable=False),
)

pending_calls = Table(
    "_sim_pending_calls",
    sim_metadata,
    Column("ord", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),
    Column("citizen_id", BigInteger, nullable=True),
    Column("caller_phone", String(32), nullable=False),
    Column("wait_seconds", BigInteger, nullable=False),
    Column("duration_seconds", BigInteger, nullable=False),
    Column("outcome", SmallInteger, nullable=False),
    Column("request_id", BigInteger, nullable=True),
)

pending_sessions = Table(
    "_sim_pending_sessions",
    sim_metadata,
    Column("ord", BigInteger, primary_key=True, autoincrement=False),
    Column("channel", SmallInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("session", BigInteger, nullable=False),
    Column("citizen_id", BigInteger, nullable=True),
    Column("event", SmallInteger, nullable=False),
    Column("service", SmallInteger, nullable=True),
    Column("request_id", BigInteger, nullable=True),
)

PENDING_TABLES = (pending_events, pending_surveys, pending_calls, pending_sessions)


@dataclass
class SimState:
    """Everything a continued run needs besides the tables."""

    seed: int
    citizens: int
    first_day: int  # days since 1970-01-01, local calendar
    last_day: int
    city_timezone: str
    holiday_country: str
    capacity: list[float]  # open cases per department at which the backlog multiplier is 1
    counters: dict[str, int] = field(default_factory=dict)
    version: int = STATE_VERSION
    # Whether the city plants dirty data (simulator/dirty.py). States saved before the option existed
    # lack the key and were dirty, hence the default: they continue as they began.
    dirty: bool = True

    def next_ids(self, name: str, n: int) -> int:
        """Reserve n ids of a sequence; returns the first."""
        first = self.counters.get(name, 1)
        self.counters[name] = first + n
        return first


def save_state(source: Source, state: SimState) -> None:
    source.delete_all(sim_state)
    items = {k: json.dumps(v, sort_keys=True) for k, v in asdict(state).items()}
    keys = sorted(items)
    source.insert(
        sim_state,
        {"key": np.array(keys, dtype=S), "value": np.array([items[k] for k in keys], dtype=S)},
    )


def load_state(source: Source) -> SimState:
    if not source.has_table(sim_state.name):
        raise RuntimeError("the source has no simulation to continue (no _sim_state table): run simulate() first")
    values: dict[str, Any] = {k: json.loads(v) for k, v in source.fetch('SELECT "key", "value" FROM "_sim_state"')}
    if values.get("version") != STATE_VERSION:
        raise RuntimeError(f"simulation state version {values.get('version')} is not {STATE_VERSION}: simulate anew")
    return SimState(**values)
