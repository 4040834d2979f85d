"""Evaluation metrics shared by segmentation and forecasting, on numpy arrays.

Kept apart from the models so each one can be checked on small hand-computed cases.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score


def seasonal_naive_scale(history: np.ndarray, season: int = 7) -> np.ndarray:
    """In-sample MAE of the seasonal-naive forecast (y[t] predicted by y[t - season]) along the last axis.

    This is MASE's denominator. NaN entries (days before a series started) are ignored; a series with
    no pair of observed days `season` apart, or a perfectly periodic one, has no scale (NaN).
    """
    history = np.asarray(history, dtype=float)
    diffs = np.abs(history[..., season:] - history[..., :-season])
    seen = ~np.isnan(diffs)
    count = seen.sum(axis=-1)
    total = np.where(seen, diffs, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = total / count
    return np.where(scale > 0, scale, np.nan)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """Mean absolute scaled error along the last axis: mean|actual - forecast| / scale."""
    mae = np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float)), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mae / np.asarray(scale, dtype=float)


def wape(actual: np.ndarray, forecast: np.ndarray, axis: int | None = -1) -> np.ndarray | float:
    """Weighted absolute percentage error: sum|actual - forecast| / sum(actual); NaN when nothing happened."""
    actual = np.asarray(actual, float)
    err = np.abs(actual - np.asarray(forecast, float)).sum(axis=axis)
    total = actual.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, err / np.where(total > 0, total, 1.0), np.nan)


def interval_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, axis: int | None = -1) -> np.ndarray:
    """Share of actuals inside the closed interval [lower, upper]."""
    actual = np.asarray(actual, float)
    inside = (actual >= np.asarray(lower, float)) & (actual <= np.asarray(upper, float))
    return inside.mean(axis=axis)


def best_match_jaccard(reference: np.ndarray, other: np.ndarray, n_reference: int | None = None) -> np.ndarray:
    """For each reference cluster, the highest Jaccard similarity with any cluster of `other`.

    Both label arrays describe the same points. This is the per-resample step of Hennig's clusterwise
    Jaccard bootstrap; averaging it over resamples gives each cluster's stability. A reference cluster
    with no point here gets NaN so the average skips it.
    """
    reference = np.asarray(reference, dtype=np.int64)
    other = np.asarray(other, dtype=np.int64)
    k_ref = int(n_reference if n_reference is not None else reference.max() + 1)
    k_other = int(other.max() + 1) if other.size else 0
    # One bincount gives the whole contingency table: no loop over points.
    table = np.bincount(reference * k_other + other, minlength=k_ref * k_other).reshape(k_ref, k_other)
    ref_sizes = table.sum(axis=1, keepdims=True)
    other_sizes = table.sum(axis=0, keepdims=True)
    union = ref_sizes + other_sizes - table
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, table / np.where(union > 0, union, 1), 0.0)
    best = jac.max(axis=1) if k_other else np.zeros(k_ref)
    return np.where(ref_sizes[:, 0] > 0, best, np.nan)


def silhouette_on_sample(features: np.ndarray, labels: np.ndarray, *, sample_size: int = 4000, seed: int = 0) -> float:
    """Mean silhouette (euclidean) on a random sample of at most `sample_size` points.

    Silhouette is quadratic in the number of points, so large kinds are judged on a sample; with
    fewer points than the sample size it is the exact silhouette. NaN when it is undefined (one cluster).
    """
    labels = np.asarray(labels)
    n_labels = np.unique(labels).size
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    size = sample_size if len(labels) > sample_size else None
    return float(silhouette_score(features, labels, sample_size=size, random_state=seed))
