"""Choosing the number of segments: silhouette on a sample plus bootstrap stability.

Stability follows Hennig's clusterwise Jaccard bootstrap (clusterboot): refit on resamples, match
each original cluster to its most similar bootstrap cluster among the resampled points, and average
that Jaccard over resamples. A cluster that keeps dissolving (mean < 0.75) is not a real segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from ml.metrics import best_match_jaccard, silhouette_on_sample

MIN_STABILITY = 0.75  # Hennig: clusters below ~0.75 mean Jaccard are not to be trusted
MIN_SEGMENT_SHARE = 0.03  # smaller segments are too small to act on and to describe
K_RANGE = range(2, 9)
N_BOOTSTRAP = 20
SELECTION_SAMPLE = 5000  # k is chosen on at most this many citizens per kind; the final fit uses all
SILHOUETTE_SAMPLE = 4000
N_INIT = 10
N_INIT_BOOTSTRAP = 3


@dataclass(frozen=True)
class KCandidate:
    k: int
    silhouette: float
    stability: tuple[float, ...]  # mean bootstrap Jaccard per cluster
    sizes: tuple[int, ...]
    centers: np.ndarray

    @property
    def min_stability(self) -> float:
        return float(np.nanmin(self.stability)) if self.stability else float("nan")

    @property
    def min_share(self) -> float:
        return min(self.sizes) / sum(self.sizes)

    @property
    def eligible(self) -> bool:
        return self.min_stability >= MIN_STABILITY and self.min_share >= MIN_SEGMENT_SHARE

    def summary(self) -> dict:
        return {
            "k": self.k,
            "silhouette": round(self.silhouette, 4),
            "min_stability": round(self.min_stability, 4),
            "min_share": round(self.min_share, 4),
            "eligible": self.eligible,
        }


def fit_kmeans(features: np.ndarray, k: int, seed: int, n_init: int = N_INIT) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(features)


def bootstrap_stability(
    features: np.ndarray, labels: np.ndarray, k: int, *, seed: int, n_bootstrap: int = N_BOOTSTRAP
) -> np.ndarray:
    """Mean clusterwise Jaccard of each of the k clusters in `labels` over bootstrap refits."""
    rng = np.random.default_rng(seed)
    n = len(features)
    scores = np.full((n_bootstrap, k), np.nan)
    for b in range(n_bootstrap):  # one refit per resample; each step is vectorized over citizens
        draw = rng.integers(0, n, size=n)
        refit = fit_kmeans(features[draw], k, seed=seed + 1 + b, n_init=N_INIT_BOOTSTRAP)
        # Hennig compares clusterings on the distinct resampled points; duplicates share a label.
        points = np.unique(draw)
        scores[b] = best_match_jaccard(labels[points], refit.predict(features[points]), k)
    with np.errstate(invalid="ignore"):
        return np.nanmean(scores, axis=0)


def evaluate_k(features: np.ndarray, k: int, *, seed: int, n_bootstrap: int = N_BOOTSTRAP) -> KCandidate:
    model = fit_kmeans(features, k, seed)
    labels = model.labels_
    return KCandidate(
        k=k,
        silhouette=silhouette_on_sample(features, labels, sample_size=SILHOUETTE_SAMPLE, seed=seed),
        stability=tuple(float(s) for s in bootstrap_stability(features, labels, k, seed=seed, n_bootstrap=n_bootstrap)),
        sizes=tuple(int(s) for s in np.bincount(labels, minlength=k)),
        centers=model.cluster_centers_,
    )


def choose_k(candidates: list[KCandidate]) -> tuple[KCandidate, bool]:
    """Best silhouette among stable, interpretable candidates; returns (choice, whether one qualified).

    When no k qualifies the most stable one is returned (ties: better silhouette) and the caller
    reports that the stability target was missed instead of silently publishing it.
    """
    eligible = [c for c in candidates if c.eligible]
    if eligible:
        return max(eligible, key=lambda c: (c.silhouette, -c.k)), True
    return max(candidates, key=lambda c: (round(c.min_stability, 3), c.silhouette)), False


def supported_ks(n_citizens: int, k_range: range = K_RANGE) -> list[int]:
    """The k's of the range that `n_citizens` support: at least ~10 citizens per segment."""
    return [k for k in k_range if k * 10 <= n_citizens]


def select_k(
    features: np.ndarray, *, seed: int, k_range: range = K_RANGE, n_bootstrap: int = N_BOOTSTRAP
) -> tuple[KCandidate, bool, list[KCandidate]]:
    """Evaluate every k of the range that the number of citizens supports and choose one."""
    ks = supported_ks(len(features), k_range)
    candidates = [evaluate_k(features, k, seed=seed, n_bootstrap=n_bootstrap) for k in ks]
    choice, qualified = choose_k(candidates)
    return choice, qualified, candidates
