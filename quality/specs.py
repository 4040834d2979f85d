"""The vocabulary of the quality package: what a table promises, what a check is, what a run found.

Everything here is plain data, with no Great Expectations import, so listing the checks (which
Dagster does when it loads its definitions) costs nothing; GE is imported only when checks run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

AssetKey = tuple[str, str]


# --- what a table promises -------------------------------------------------------------------


@dataclass(frozen=True)
class Ordering:
    """`later` must not precede `earlier` on the same row (rows where either is null are skipped)."""

    check: str
    later: str
    earlier: str


@dataclass(frozen=True)
class Range:
    """`column` within [min_value, max_value]; None leaves that side open."""

    check: str
    column: str
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class Membership:
    """Non-null `column` values belong to a set: listed here, or read by `values_sql` at run time."""

    check: str
    column: str
    values: tuple[Any, ...] = ()
    values_sql: str | None = None
    mostly: float | None = None  # share that must be known, where some unknowns are expected


@dataclass(frozen=True)
class Parent:
    """Non-null `column` values exist in `parent_table.parent_column` (checked in DuckDB with a semi-join:
    a set of 100k ids would not fit in an expectation's arguments, nor in its Data Docs page)."""

    check: str
    column: str
    parent_table: str
    parent_column: str


@dataclass(frozen=True)
class VolumeSpec:
    """Daily volume per channel. `timestamp_sql` yields a naive city-local timestamp (it may use the
    `{tz}` placeholder); `channel_sql` yields the channel (a column or a literal)."""

    timestamp_sql: str
    channel_sql: str


@dataclass(frozen=True)
class DriftSpec:
    """Score distribution of the recent window against the window before it."""

    score_column: str
    timestamp_column: str


@dataclass(frozen=True)
class TableSpec:
    """What one warehouse table promises; the suites are generated from it."""

    schema: str
    table: str
    key: tuple[str, ...]
    # Columns that must exist (schema drift breaks what reads the table); defaults to key + required.
    columns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # must be non-null
    timestamps: tuple[str, ...] = ()  # must not lie in the future
    start_bounded: tuple[str, ...] = ()  # must also not precede the data start
    # True when the timestamps are naive city-local time (the marts); False for naive UTC (raw).
    local_time: bool = False
    # VARCHAR drop columns parsed in SQL: timestamp column -> "local" ('YYYY-MM-DD HH:MM:SS' city time)
    # or "offset" (ISO 8601 with an offset). Each yields `<col>__utc` (naive UTC) and `<col>__ok`.
    text_timestamps: Mapping[str, str] = field(default_factory=dict)
    # VARCHAR drop columns parsed as numbers: each yields `<col>__num` and `<col>__ok`.
    text_numbers: tuple[str, ...] = ()
    orderings: tuple[Ordering, ...] = ()
    ranges: tuple[Range, ...] = ()
    memberships: tuple[Membership, ...] = ()
    parents: tuple[Parent, ...] = ()
    null_share_max: Mapping[str, float] = field(default_factory=dict)
    volume: VolumeSpec | None = None
    drift: DriftSpec | None = None

    @property
    def asset(self) -> AssetKey:
        return (self.schema, self.table)

    @property
    def relation(self) -> str:
        return f'"{self.schema}"."{self.table}"'

    @property
    def expected_columns(self) -> tuple[str, ...]:
        return self.columns or tuple(dict.fromkeys((*self.key, *self.required)))


# --- what a check is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A run-time value in an expectation's arguments: `now` or `data_start` (in the table's clock)."""

    name: str


@dataclass(frozen=True)
class Expect:
    """One expectation, by GE class name (`gx.expectations.<kind>`), built when checks run."""

    kind: str
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    """One Dagster asset check: its name, whether failure blocks downstream work, and what it tests."""

    asset: AssetKey
    name: str
    blocking: bool
    description: str


@dataclass(frozen=True)
class CheckDef:
    spec: CheckSpec
    frame: str  # which frame of the asset's suite the expectations run on
    expectations: tuple[Expect, ...]


# --- what a run found --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # e.g. "expect_column_values_to_not_be_null(request_id)"
    success: bool
    observed: dict[str, Any]


@dataclass(frozen=True)
class CheckOutcome:
    check_name: str
    blocking: bool
    success: bool
    expectations_evaluated: int
    expectations_failed: int
    observed: dict[str, Any]  # per expectation, plus "frame" context (row count, window, notes)
    sample_failing_rows: list[dict[str, Any]]  # pseudonymized: personal columns never included
    docs_path: str | None  # the Data Docs page of the validation this check ran in
    asset: AssetKey = ("", "")
    expectations: tuple[ExpectationOutcome, ...] = ()
    evaluated_at: datetime | None = None  # naive UTC
