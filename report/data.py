"""The report's queries: every aggregate is computed in DuckDB; Python only receives small results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from report.charts import FanSeries

# How much history the trend charts show, and how much recent actuals the fan charts show.
TREND_MONTHS = 24
ACTUAL_DAYS = 56
FAN_SERIES = 6
KEY_FEATURES = (
    ("size", "Citizens"),
    ("contacts_total", "Contacts"),
    ("recency_days", "Last contact (days)"),
    ("digital_share", "Digital"),
    ("complaint_share", "Complaints"),
    ("reopen_share", "Reopened"),
    ("avg_satisfaction", "Satisfaction"),
)


class MissingTables(Exception):
    """A section's tables are not in this warehouse; the section is skipped, with this reason."""


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {name for (name,) in rows}


def require(tables: set[str], *names: str) -> None:
    missing = [n for n in names if n not in tables]
    if missing:
        raise MissingTables(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in this warehouse")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, table],
        ).fetchall()
    ]


def as_of(con: duckdb.DuckDBPyConnection, tables: set[str]) -> date | None:
    if "marts.mart_service_performance_daily" not in tables:
        return None
    return con.execute("SELECT max(date_day) FROM marts.mart_service_performance_daily").fetchall()[0][0]


@dataclass(frozen=True)
class Headline:
    received_28d: int | None
    received_prev_28d: int | None
    compliance_month: date | None
    compliance: float | None
    forecast_28d: float | None  # city-wide P50 summed over the forecast horizon


def headline(con: duckdb.DuckDBPyConnection, tables: set[str], day: date | None) -> Headline:
    received = prev = month = compliance = forecast_total = None
    if day is not None:
        received, prev = con.execute(
            "SELECT sum(requests_received) FILTER (WHERE date_day > $d - INTERVAL 28 DAY), "
            "sum(requests_received) FILTER (WHERE date_day <= $d - INTERVAL 28 DAY) "
            "FROM marts.mart_service_performance_daily WHERE date_day > $d - INTERVAL 56 DAY",
            {"d": day},
        ).fetchall()[0]
    if day is not None and "marts.mart_public_commitments" in tables:
        row = con.execute(
            "SELECT month_start, sum(resolved_within_commitment) / nullif(sum(requests_resolved), 0) "
            "FROM marts.mart_public_commitments WHERE month_start < date_trunc('month', $d + 1) "
            "GROUP BY month_start ORDER BY month_start DESC LIMIT 1",
            {"d": day},
        ).fetchall()
        if row:
            month, compliance = row[0]
    if "ml.demand_forecast" in tables:
        forecast_total = con.execute("SELECT sum(p50) FROM ml.demand_forecast WHERE series_id LIKE '%|ALL'").fetchall()[
            0
        ][0]
    return Headline(received, prev, month, compliance, forecast_total)


@dataclass(frozen=True)
class CheckRow:
    asset: str
    check: str
    passed: bool
    expectations: int
    failed_expectations: int
    failed_detail: str | None  # the first failed expectation, for the table


@dataclass(frozen=True)
class QualityRun:
    run_id: str
    started: datetime
    finished: datetime
    runs_recorded: int
    checks: list[CheckRow]


def quality_run(con: duckdb.DuckDBPyConnection, tables: set[str]) -> QualityRun:
    require(tables, "quality.check_results")
    head = con.execute(
        "WITH latest AS (SELECT arg_max(run_id, evaluated_at) AS run_id FROM quality.check_results) "
        "SELECT run_id, min(evaluated_at), max(evaluated_at), "
        "(SELECT count(DISTINCT run_id) FROM quality.check_results) "
        "FROM quality.check_results WHERE run_id = (SELECT run_id FROM latest) GROUP BY run_id"
    ).fetchall()
    if not head:
        raise MissingTables("quality.check_results has no rows yet")
    run_id, started, finished, runs = head[0]
    rows = con.execute(
        "SELECT asset_key, check_name, bool_and(success), count(*), count(*) FILTER (WHERE NOT success), "
        "min(expectation) FILTER (WHERE NOT success) "
        "FROM quality.check_results WHERE run_id = ? GROUP BY ALL ORDER BY asset_key, check_name",
        [run_id],
    ).fetchall()
    return QualityRun(run_id, started, finished, runs, [CheckRow(*r) for r in rows])


@dataclass(frozen=True)
class Compliance:
    months: list[date]
    departments: list[tuple[str, list[float | None]]]
    city: list[float | None]
    last_month: list[tuple[str, int, int, float]]  # department, resolved, within, rate (latest complete month)


def compliance(con: duckdb.DuckDBPyConnection, tables: set[str], day: date | None) -> Compliance:
    """Monthly share of resolved requests within the published commitment, per department and city-wide."""
    require(tables, "marts.mart_public_commitments")
    # Only complete months: the month in progress would show a dip that is not real.
    cutoff = "date_trunc('month', $d + 1)" if day is not None else "DATE '9999-01-01'"
    rows = con.execute(
        f"""
        WITH m AS (
            SELECT month_start, coalesce(department_name, 'Unknown department') AS department,
                   sum(requests_resolved) AS resolved, sum(resolved_within_commitment) AS within
            FROM marts.mart_public_commitments
            WHERE month_start < {cutoff}
            GROUP BY ALL
        ), recent AS (
            SELECT * FROM m WHERE month_start > (SELECT max(month_start) FROM m) - INTERVAL {TREND_MONTHS} MONTH
        )
        SELECT month_start, department, resolved, within FROM recent
        UNION ALL
        SELECT month_start, NULL, sum(resolved), sum(within) FROM recent GROUP BY month_start
        ORDER BY 1, 2 NULLS LAST
        """,
        {"d": day} if day is not None else None,
    ).fetchall()
    if not rows:
        raise MissingTables("marts.mart_public_commitments has no complete month yet")
    months = sorted({r[0] for r in rows})
    index = {m: i for i, m in enumerate(months)}
    by_department: dict[str, list[float | None]] = {}
    city: list[float | None] = [None] * len(months)
    for month, department, resolved, within in rows:
        rate = within / resolved if resolved else None
        if department is None:
            city[index[month]] = rate
        else:
            by_department.setdefault(department, [None] * len(months))[index[month]] = rate
    last = months[-1]
    last_rows = sorted(
        ((d, int(res), int(w), w / res) for m, d, res, w in rows if m == last and d is not None and res),
        key=lambda r: r[3],
    )
    # Worst department first: the panels read like a to-do list.
    order = sorted(by_department, key=lambda d: (by_department[d][-1] is None, by_department[d][-1] or 0))
    return Compliance(months, [(d, by_department[d]) for d in order], city, last_rows)


@dataclass(frozen=True)
class ChannelMix:
    months: list[date]
    channels: list[tuple[str, str, list[float]]]  # channel code, display name, contacts per month
    partial_last_month: bool


def channel_mix(con: duckdb.DuckDBPyConnection, tables: set[str], day: date | None) -> ChannelMix:
    require(tables, "marts.fct_contacts", "marts.dim_channel")
    rows = con.execute(
        f"""
        WITH monthly AS (
            SELECT date_trunc('month', f.contacted_at)::DATE AS month_start,
                   coalesce(d.channel, 'unknown') AS channel, coalesce(d.channel_name, 'Unknown channel') AS name,
                   count(*) AS contacts
            FROM marts.fct_contacts f LEFT JOIN marts.dim_channel d USING (channel_key)
            WHERE f.contacted_at IS NOT NULL
            GROUP BY ALL
        )
        SELECT month_start, channel, name, contacts FROM monthly
        WHERE month_start > (SELECT max(month_start) FROM monthly) - INTERVAL {TREND_MONTHS} MONTH
        ORDER BY month_start
        """
    ).fetchall()
    if not rows:
        raise MissingTables("marts.fct_contacts has no rows yet")
    months = sorted({r[0] for r in rows})
    index = {m: i for i, m in enumerate(months)}
    totals: dict[tuple[str, str], list[float]] = {}
    for month, channel, name, contacts in rows:
        totals.setdefault((channel, name), [0.0] * len(months))[index[month]] = float(contacts)
    # Largest channel at the bottom of each stack, where its trend reads against a straight baseline.
    ordered = sorted(totals.items(), key=lambda kv: (kv[0][0] == "unknown", -sum(kv[1])))
    # The latest month is still in progress when the data stops before its last day.
    partial = day is not None and _month_end(months[-1]) > day
    return ChannelMix(months, [(c, n, v) for (c, n), v in ordered], partial)


def _month_end(month_start: date) -> date:
    nxt = date(month_start.year + month_start.month // 12, month_start.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


@dataclass(frozen=True)
class Segments:
    columns: list[tuple[str, str]]  # (column, heading) of the key features present
    rows: list[dict[str, object]]  # kind, segment_name, and those columns


def segments(con: duckdb.DuckDBPyConnection, tables: set[str]) -> Segments:
    require(tables, "ml.segment_profiles")
    present = set(_columns(con, "ml", "segment_profiles"))
    for needed in ("kind", "segment_name", "size"):
        if needed not in present:
            raise MissingTables(f"ml.segment_profiles lacks column {needed}")
    columns = [(c, h) for c, h in KEY_FEATURES if c in present]
    select = ", ".join(f'"{c}"' for c, _ in columns)
    result = con.execute(f"SELECT kind, segment_name, {select} FROM ml.segment_profiles ORDER BY kind DESC, size DESC")
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
    if not rows:
        raise MissingTables("ml.segment_profiles has no rows")
    return Segments(columns, rows)


@dataclass(frozen=True)
class Forecasts:
    series: list[FanSeries]
    total_series: int
    fallback_series: list[str]


def forecasts(con: duckdb.DuckDBPyConnection, tables: set[str], day: date | None, n: int = FAN_SERIES) -> Forecasts:
    require(tables, "ml.demand_forecast")
    summary = con.execute(
        "SELECT series_id, sum(p50) AS volume, bool_or(is_fallback) AS fallback FROM ml.demand_forecast "
        "GROUP BY series_id ORDER BY volume DESC, series_id"
    ).fetchall()
    if not summary:
        raise MissingTables("ml.demand_forecast has no rows")
    chosen = [s for s, _, _ in summary[:n]]
    fallbacks = [s for s, _, fb in summary if fb]
    if fallbacks and not any(s in fallbacks for s in chosen):
        # Show what a fallback looks like: the largest one takes the last slot.
        chosen[-1] = fallbacks[0]
    forecast_rows = con.execute(
        "SELECT series_id, date::DATE, p10, p50, p90, is_fallback, model FROM ml.demand_forecast "
        "WHERE list_contains(?, series_id) ORDER BY series_id, date",
        [chosen],
    ).fetchall()
    actual_rows = _actuals(con, tables, chosen, day)
    series = []
    for sid in chosen:
        f = [r for r in forecast_rows if r[0] == sid]
        a = [r for r in actual_rows if r[0] == sid]
        series.append(
            FanSeries(
                series_id=sid,
                actual_days=[r[1] for r in a],
                actual=[float(r[2]) for r in a],
                forecast_days=[r[1] for r in f],
                p10=[float(r[2]) for r in f],
                p50=[float(r[3]) for r in f],
                p90=[float(r[4]) for r in f],
                is_fallback=any(r[5] for r in f),
                model=f[0][6] if f else "",
            )
        )
    return Forecasts(series, len(summary), fallbacks)


def _actuals(
    con: duckdb.DuckDBPyConnection, tables: set[str], series_ids: Sequence[str], day: date | None
) -> list[tuple[str, date, float]]:
    """Requests received per day for the series, built the way ml builds them: category x district
    (missing values as 'unknown') plus category city-wide ('ALL'); days without requests are zero."""
    if day is None or "marts.mart_service_performance_daily" not in tables:
        return []
    return con.execute(
        f"""
        WITH daily AS (
            SELECT date_day, coalesce(category, 'unknown') AS category, coalesce(district_id, 'unknown') AS district,
                   sum(requests_received) AS n
            FROM marts.mart_service_performance_daily
            WHERE date_day > $d - INTERVAL {ACTUAL_DAYS} DAY
            GROUP BY ALL
        ), series AS (
            SELECT category || '|' || district AS series_id, date_day, n FROM daily
            UNION ALL
            SELECT category || '|ALL', date_day, sum(n) FROM daily GROUP BY ALL
        ), days AS (
            SELECT d::DATE AS date_day FROM range($d - INTERVAL {ACTUAL_DAYS - 1} DAY, $d + INTERVAL 1 DAY,
                                                 INTERVAL 1 DAY) r(d)
        )
        SELECT w.series_id, days.date_day, coalesce(sum(s.n), 0)
        FROM (SELECT unnest($ids) AS series_id) w CROSS JOIN days
        LEFT JOIN series s ON s.series_id = w.series_id AND s.date_day = days.date_day
        GROUP BY ALL ORDER BY 1, 2
        """,
        {"d": day, "ids": list(series_ids)},
    ).fetchall()
