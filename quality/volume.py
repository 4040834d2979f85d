"""Volume anomaly: is each channel's latest daily volume within a band around its trailing level?

Daily counts per channel are computed in DuckDB over a gap-free day spine (a day with no contact
counts as 0, which is exactly the outage this should catch). For each evaluated day the baseline is
the median of the trailing window (the same weekday only, by default), and the band half-width is
max(k * 1.4826 * MAD, k * sqrt(median), relative * median, minimum): the MAD term adapts to each
channel's own noise, the relative term keeps a quiet history from making the band razor-thin, and
the minimum keeps small channels from alerting on a handful of contacts.

The sqrt term is counting noise. Daily counts are at least as dispersed as a Poisson count, whose
standard deviation is sqrt(mean), but the MAD of a weekday-aware 28-day window rests on 4 points
and often comes out far below that; the relative term does not make up for it under a median of 64
(0.5 * m < 4 * sqrt(m)). A web channel with a median of 23.5 and a chance MAD of 1.5 had a band of
11.75, and an ordinary day of 38 (1.9 Poisson sigmas) failed the check on a city with nothing wrong.
With the term, such a band is 4 * sqrt(23.5) = 19.4; a 10x spike still leaves any band far behind.

The MAD itself is corrected for small samples: 1.4826 * MAD estimates sigma only for many points,
and from the 4 same-weekday points of the default window it comes out at 0.73 sigma on average.
`robust_sigma` multiplies it by the finite-sample factor b_n of Croux & Rousseeuw (1992): 1.196,
1.495, 1.363, 1.206, 1.200, 1.140, 1.129, 1.107 for n = 2..9 points, n / (n - 0.8) beyond.

GE then checks `deviation` = (count - median) / half-width lies in [-1, 1].
"""

from __future__ import annotations

from datetime import date

import duckdb

from quality.config import QualityConfig
from quality.frames import Frame, FrameError, relation_exists
from quality.specs import TableSpec

DEVIATION_COLUMN = "deviation"
KEY = ("day", "channel")


def volume_sql(spec: TableSpec, cfg: QualityConfig) -> str:
    assert spec.volume is not None
    ts = spec.volume.timestamp_sql.format(tz=cfg.city_timezone.replace("'", "''"))
    window, eval_days = cfg.volume_window_days, cfg.volume_eval_days
    same_weekday = "dayofweek(h.day) = dayofweek(e.day)" if cfg.volume_weekday_aware else "TRUE"
    return f"""
    WITH ev AS (
        -- Complete local days only: today is still filling up.
        SELECT CAST({ts} AS DATE) AS day, CAST({spec.volume.channel_sql} AS VARCHAR) AS channel, count(*) AS n
        FROM {spec.relation}
        WHERE {ts} IS NOT NULL AND CAST({ts} AS DATE) < $today
        GROUP BY ALL
    ),
    bounds AS (
        SELECT min(day) AS first_day, max(day) AS last_day,
               greatest(min(day), max(day) - {window + eval_days - 1}) AS spine_start
        FROM ev
    ),
    spine AS (
        SELECT CAST(unnest(generate_series(CAST(spine_start AS TIMESTAMP), CAST(last_day AS TIMESTAMP),
                                           INTERVAL 1 DAY)) AS DATE) AS day
        FROM bounds WHERE last_day IS NOT NULL
    ),
    channels AS (SELECT DISTINCT channel FROM ev, bounds WHERE ev.day >= bounds.spine_start),
    grid AS (
        SELECT s.day, c.channel, coalesce(ev.n, 0) AS n
        FROM spine s CROSS JOIN channels c LEFT JOIN ev ON ev.day = s.day AND ev.channel = c.channel
    ),
    judged AS (
        SELECT e.day, e.channel, e.n AS daily_count,
               median(h.n) AS trailing_median, avg(h.n) AS trailing_mean, mad(h.n) AS trailing_mad,
               count(h.n) AS history_points, least(e.day - any_value(b.first_day), {window}) AS history_days
        FROM grid e
        CROSS JOIN bounds b
        JOIN grid h ON h.channel = e.channel AND h.day < e.day AND h.day >= e.day - {window} AND {same_weekday}
        WHERE e.day > b.last_day - {eval_days}
        GROUP BY e.day, e.channel, e.n
    ),
    sigma AS (
        SELECT *, 1.4826 * trailing_mad * CASE history_points
            WHEN 2 THEN 1.196 WHEN 3 THEN 1.495 WHEN 4 THEN 1.363 WHEN 5 THEN 1.206
            WHEN 6 THEN 1.200 WHEN 7 THEN 1.140 WHEN 8 THEN 1.129 WHEN 9 THEN 1.107
            ELSE history_points / (history_points - 0.8) END AS robust_sigma
        FROM judged WHERE history_days >= {cfg.volume_min_history_days}
    ),
    banded AS (
        SELECT *, greatest({cfg.volume_mad_k} * robust_sigma, {cfg.volume_mad_k} * sqrt(trailing_median),
                           {cfg.volume_relative_band} * trailing_median, {cfg.volume_min_band}) AS half_width
        FROM sigma
    )
    SELECT day, channel, daily_count, trailing_median, trailing_mean, trailing_mad, robust_sigma, history_points,
           greatest(trailing_median - half_width, 0) AS lower_bound, trailing_median + half_width AS upper_bound,
           daily_count / nullif(trailing_median, 0) AS ratio_to_median,
           (daily_count - trailing_median) / half_width AS {DEVIATION_COLUMN}
    FROM banded ORDER BY day, channel
    """


def fetch_volume(con: duckdb.DuckDBPyConnection, spec: TableSpec, cfg: QualityConfig, today: date) -> Frame:
    """One row per (evaluated day, channel) with its count, baseline, band and deviation."""
    if not relation_exists(con, f"{spec.schema}.{spec.table}"):
        raise FrameError(f"table {spec.schema}.{spec.table} does not exist")
    df = con.execute(volume_sql(spec, cfg), {"today": today}).df()
    context = {
        "evaluated_days": sorted({str(d.date()) for d in df["day"]}) if len(df) else [],
        "window_days": cfg.volume_window_days,
        "weekday_aware": cfg.volume_weekday_aware,
        "rows": len(df),
    }
    if df.empty:
        context["notes"] = [f"no day with {cfg.volume_min_history_days}+ days of history: nothing judged"]
    return Frame(df, KEY, context)
