"""Satisfaction drift: has the score distribution of the latest month moved from the quarter before?

Computed in DuckDB as one row: the share of each score 1..5 in the recent window (30 days ending at
the latest response, capped at now) and in the reference window (the 90 days before it), their total
variation distance (half the summed share differences: the share of responses that would have to
change score to turn one distribution into the other, bounded in [0, 1]) and the KL divergence
(reported, smoothed so a score absent from one window stays finite). Windows with too few responses
leave the statistic null, which GE does not judge.

Two samples of the same distribution differ by chance, and their TVD is biased upwards: its noise
grows with sqrt(1/n_recent + 1/n_reference). With 100 responses against 300, a city whose
satisfaction did not move shows a TVD above 0.10 in about 30% of runs. So GE judges `significant_tvd`:
the TVD where a chi-square test of homogeneity (score x window) says the two windows differ at
`drift_significance` (1%), null otherwise. A false alarm then needs a chance difference that is both
large and significant: at most 1% of runs at any sample size, while a real shift is still caught in
small windows once it stands out of the noise.

GE 1.24 does offer ExpectColumnKLDivergenceToBeLessThan, but it takes a fixed partition object
written into the suite, and KL is unbounded and hard to set a threshold for; the reference here
moves with the data, so the statistic is computed per run and validated as a value.
"""

from __future__ import annotations

import math
from datetime import datetime

import duckdb

from quality.config import QualityConfig
from quality.frames import Frame, FrameError, q, relation_exists
from quality.specs import TableSpec
from quality.tables import SCORE_MAX, SCORE_MIN

TVD_COLUMN = "tvd"
STATISTIC_COLUMN = "significant_tvd"  # what GE judges: the TVD where the windows differ beyond chance


def chi_square_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square with `dof` (a positive integer) degrees of freedom.

    Closed forms (no SciPy dependency for one tail probability): for even dof the Poisson sum
    exp(-x/2) * sum_{i<dof/2} (x/2)^i / i!, for odd dof erfc(sqrt(x/2)) plus the terms of the series
    that add two degrees of freedom at a time."""
    if x <= 0:
        return 1.0
    half = x / 2
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, dof // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(2 * x / math.pi)  # times exp(-x/2): the step from 1 to 3 degrees of freedom
    for i in range(1, (dof + 1) // 2):
        total += math.exp(-half) * term
        term *= x / (2 * i + 1)
    return min(1.0, total)


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
               n_reference / nullif(sum(n_reference) OVER (), 0) AS p_reference,
               -- expected counts if both windows shared one distribution (the chi-square test's null)
               sum(n_recent) OVER () * (n_recent + n_reference)
                   / nullif(sum(n_recent + n_reference) OVER (), 0) AS e_recent,
               sum(n_reference) OVER () * (n_recent + n_reference)
                   / nullif(sum(n_recent + n_reference) OVER (), 0) AS e_reference
        FROM counts
    ),
    stats AS (
        SELECT sum(n_recent) AS recent_responses, sum(n_reference) AS reference_responses,
               sum(score * p_recent) AS recent_mean_score, sum(score * p_reference) AS reference_mean_score,
               0.5 * sum(abs(p_recent - p_reference)) AS tvd_raw,
               sum(p_recent * ln((p_recent + 1e-4) / (p_reference + 1e-4))) AS kl_raw,
               -- scores nobody gave in either window carry no information: left out of sum and dof
               sum((n_recent - e_recent) ^ 2 / e_recent + (n_reference - e_reference) ^ 2 / e_reference)
                   FILTER (WHERE n_recent + n_reference > 0) AS chi_square_raw,
               count(*) FILTER (WHERE n_recent + n_reference > 0) - 1 AS dof_raw,
               {shares}
        FROM p
    )
    SELECT (SELECT window_end FROM anchor) AS window_end,
           (SELECT window_end FROM anchor) - INTERVAL {recent} DAY AS recent_start,
           (SELECT window_end FROM anchor) - INTERVAL {recent + reference} DAY AS reference_start,
           recent_responses, reference_responses, recent_mean_score, reference_mean_score,
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN tvd_raw END AS {TVD_COLUMN},
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN kl_raw END AS kl_divergence,
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN chi_square_raw END AS chi_square,
           CASE WHEN least(recent_responses, reference_responses) >= {cfg.drift_min_responses}
                THEN dof_raw END AS degrees_of_freedom,
           * EXCLUDE (recent_responses, reference_responses, recent_mean_score, reference_mean_score, tvd_raw,
                      kl_raw, chi_square_raw, dof_raw)
    FROM stats
    """


def fetch_drift(con: duckdb.DuckDBPyConnection, spec: TableSpec, cfg: QualityConfig, now: datetime) -> Frame:
    """A one-row frame of window sizes, score shares, TVD, KL, the chi-square test and the judged TVD."""
    if not relation_exists(con, f"{spec.schema}.{spec.table}"):
        raise FrameError(f"table {spec.schema}.{spec.table} does not exist")
    df = con.execute(drift_sql(spec, cfg), {"now": now}).df()
    row = df.iloc[0]
    context = {
        "recent_responses": int(row["recent_responses"] or 0),
        "reference_responses": int(row["reference_responses"] or 0),
        "tvd_max": cfg.drift_tvd_max,
        "significance": cfg.drift_significance,
    }
    p_value = None
    if row.isna()[TVD_COLUMN]:
        context["notes"] = [f"fewer than {cfg.drift_min_responses} responses in a window: drift not judged"]
    elif int(row["degrees_of_freedom"]) < 1:
        p_value = 1.0  # one score only, in both windows: nothing moved
    else:
        p_value = chi_square_sf(float(row["chi_square"]), int(row["degrees_of_freedom"]))
    df["p_value"] = p_value
    significant = p_value is not None and p_value < cfg.drift_significance
    df[STATISTIC_COLUMN] = float(row[TVD_COLUMN]) if significant else math.nan  # NaN: GE does not judge it
    if p_value is not None and not significant:
        context["notes"] = [
            f"TVD {float(row[TVD_COLUMN]):.3f} is within sampling noise (chi-square p = {p_value:.3g} >= "
            f"{cfg.drift_significance:g}): no drift"
        ]
    return Frame(df, (), context)
