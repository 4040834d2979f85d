"""Satisfaction drift: has the score distribution of the latest month moved from the quarter before?

Computed in DuckDB as one row: the share of each score 1..5 in the recent window (30 days ending at
the latest response, capped at now) and in the reference window (the 90 days before it), their total
variation distance (half the summed share differences: the share of responses that would have to
change score to turn one distribution into the other, bounded in [0, 1]) and the KL divergence
(reported, smoothed so a score absent from one window stays finite). GE checks the TVD against the
threshold. Windows with too few responses leave the statistic null, which GE does not judge.

GE 1.24 does offer ExpectColumnKLDivergenceToBeLessThan, but it takes a fixed partition object
written into the suite, and KL is unbounded and hard to set a threshold for; the reference here
moves with the data, so the statistic is computed per run and validated as a value.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from quality.config import QualityConfig
from quality.frames import Frame, FrameError, q, relation_exists
from quality.specs import TableSpec
from quality.tables import SCORE_MAX, SCORE_MIN

STATISTIC_COLUMN = "tvd"


def drift_sql(spec: TableSpec, cfg: QualityConfig) -> str:
    assert spec.drift is not None
    ts, score = q(spec.drift.timestamp_column), q(spec.drift.score_column)
    recent, reference = cfg.drift_recent_days, cfg.drift_reference_days
    shares = ", ".join(
        f"max(p_recent) FILTER (WHERE score = {s}) AS recent_share_{s}, "
        f"max(p_reference) FILTER (WHERE score = {s}) AS reference_share_{s}"
        for s in range(SCORE_MIN, SCORE_MAX + 1)
    )
    return f"""
    WITH s AS (
        SELECT CAST({ts} AS TIMESTAMP) AS ts, CAST({score} AS INTEGER) AS score
        FROM {spec.relation}
        WHERE {ts} IS NOT NULL AND {ts} <= $now AND {score} BETWEEN {SCORE_MIN} AND {SCORE_MAX}
    ),
    anchor AS (SELECT max(ts) AS window_end FROM s),
    windowed AS (
        SELECT score,
               CASE WHEN ts > window_end - INTERVAL {recent} DAY THEN 'recent'
                    WHEN ts > window_end - INTERVAL {recent + reference} DAY THEN 'reference' END AS win
        FROM s, anchor
    ),
    counts AS (
        SELECT g.score,
               count(w.win) FILTER (WHERE w.win = 'recent') AS n_recent,
               count(w.win) FILTER (WHERE w.win = 'reference') AS n_reference
        FROM range({SCORE_MIN}, {SCORE_MAX + 1}) g(score) LEFT JOIN windowed w ON w.score = g.score
        GROUP BY g.score
    ),
    p AS (
        SELECT score, n_recent, n_reference,
               n_recent / nullif(sum(n_recent) OVER (), 0) AS p_recent,
               n_reference / nullif(sum(n_reference) OVER (), 0) AS p_reference
        FROM counts
    ),
    stats AS (
        SELECT sum(n_recent) AS recent_responses, sum(n_reference) AS reference_responses,
               sum(score * p_recent) AS recent_mean_score, sum(score * p_reference) AS reference_mean_score,
               0.5 * sum(abs(p_recent - p_reference)) AS tvd_raw,
               sum(p_recent * ln((p_recent + 1e-4) / (p_reference + 1e-4))) AS kl_raw,
               {shares}
        FROM p
    )
    SELECT (SELECT window_end FROM anchor) AS window_end,
           (SELECT window_end FROM anchor) - INTERVAL {recent} DAY AS recent_start,
           (SELECT window_end FROM anchor) - INTERVAL {recent + reference} DAY AS reference_start,
           recent_responses, reference_responses, recent_mean_score, reference_mean_score,
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN tvd_raw END AS {STATISTIC_COLUMN},
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN kl_raw END AS kl_divergence,
           * EXCLUDE (recent_responses, reference_responses, recent_mean_score, reference_mean_score, tvd_raw, kl_raw)
    FROM stats
    """


def fetch_drift(con: duckdb.DuckDBPyConnection, spec: TableSpec, cfg: QualityConfig, now: datetime) -> Frame:
    """A one-row frame of window sizes, score shares, TVD and KL."""
    if not relation_exists(con, f"{spec.schema}.{spec.table}"):
        raise FrameError(f"table {spec.schema}.{spec.table} does not exist")
    df = con.execute(drift_sql(spec, cfg), {"now": now}).df()
    row = df.iloc[0]
    context = {
        "recent_responses": int(row["recent_responses"] or 0),
        "reference_responses": int(row["reference_responses"] or 0),
        "tvd_max": cfg.drift_tvd_max,
    }
    if row.isna()[STATISTIC_COLUMN]:
        context["notes"] = [f"fewer than {cfg.drift_min_responses} responses in a window: drift not judged"]
    return Frame(df, (), context)
