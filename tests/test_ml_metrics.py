"""Metric computations on small hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from ml.baselines import moving_average, seasonal_naive
from ml.cluster_selection import KCandidate, bootstrap_stability, choose_k
from ml.intervals import IntervalCalibration, interval, spread
from ml.metrics import (
    best_match_jaccard,
    interval_coverage,
    mase,
    seasonal_naive_scale,
    silhouette_on_sample,
    wape,
)


def test_seasonal_naive_scale_is_mean_absolute_weekly_difference() -> None:
    history = np.array([1, 2, 3, 4, 5, 6, 7, 2, 2, 4, 4, 6, 6, 8], dtype=float)
    # |2-1|, |2-2|, |4-3|, |4-4|, |6-5|, |6-6|, |8-7| -> 4/7
    assert seasonal_naive_scale(history) == pytest.approx(4 / 7)


def test_seasonal_naive_scale_skips_unobserved_days_and_flat_series() -> None:
    history = np.array([[np.nan] * 3 + [1, 1, 1, 1, 1, 1, 1, 3], [5.0] * 11])
    # Row 0: only day 10 has an observed partner 7 days back (day 3): |3 - 1| = 2. Row 1 never changes.
    scale = seasonal_naive_scale(history)
    assert scale[0] == pytest.approx(2.0)
    assert np.isnan(scale[1])


def test_mase_divides_mae_by_the_in_sample_scale() -> None:
    actual, forecast = np.array([3.0, 3.0, 5.0]), np.array([2.0, 4.0, 5.0])
    assert mase(actual, forecast, 4 / 7) == pytest.approx((2 / 3) / (4 / 7))  # = 7/6


def test_wape_is_total_absolute_error_over_total_actual() -> None:
    assert wape(np.array([10.0, 0.0, 5.0]), np.array([8.0, 1.0, 5.0])) == pytest.approx(3 / 15)
    assert np.isnan(wape(np.array([0.0, 0.0]), np.array([1.0, 0.0])))


def test_interval_coverage_counts_closed_intervals() -> None:
    actual = np.array([1.0, 5.0, 9.0, 12.0])
    lower = np.array([0.0, 6.0, 9.0, 10.0])
    upper = np.array([2.0, 8.0, 9.0, 11.0])
    assert interval_coverage(actual, lower, upper) == pytest.approx(0.5)


def test_best_match_jaccard_per_reference_cluster() -> None:
    reference = np.array([0, 0, 0, 1, 1, 1])
    other = np.array([1, 1, 0, 0, 0, 0])
    # cluster 0 best matches other-1: 2 / (3 + 2 - 2); cluster 1 best matches other-0: 3 / (3 + 4 - 3)
    assert best_match_jaccard(reference, other).tolist() == pytest.approx([2 / 3, 3 / 4])


def test_best_match_jaccard_marks_absent_reference_clusters() -> None:
    result = best_match_jaccard(np.array([0, 0, 2]), np.array([0, 0, 1]), n_reference=3)
    assert result[0] == 1.0 and np.isnan(result[1]) and result[2] == 1.0


def test_silhouette_matches_hand_computation_when_sample_covers_all() -> None:
    features = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    # a = 1 for every point; b = 10.5, 9.5, 9.5, 10.5 -> mean(1 - a/b) = 1 - (1/21 + 1/19) = 359/399
    assert silhouette_on_sample(features, labels, sample_size=10) == pytest.approx(359 / 399)
    assert np.isnan(silhouette_on_sample(features, np.zeros(4, dtype=int)))


def test_silhouette_on_a_sample_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(6, 1, (300, 2))])
    labels = np.repeat([0, 1], 300)
    first = silhouette_on_sample(features, labels, sample_size=100, seed=3)
    assert first == silhouette_on_sample(features, labels, sample_size=100, seed=3)
    assert 0.6 < first < 0.95


def test_bootstrap_stability_is_one_for_separated_blobs() -> None:
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    features = np.concatenate([rng.normal(c, 0.5, (60, 2)) for c in centres])
    labels = np.repeat([0, 1, 2], 60)
    assert bootstrap_stability(features, labels, 3, seed=0, n_bootstrap=5).tolist() == pytest.approx([1.0] * 3)


def _candidate(k: int, silhouette: float, stability: tuple[float, ...], sizes: tuple[int, ...]) -> KCandidate:
    return KCandidate(k=k, silhouette=silhouette, stability=stability, sizes=sizes, centers=np.zeros((k, 1)))


def test_choose_k_takes_best_silhouette_among_stable_and_sizeable() -> None:
    candidates = [
        _candidate(2, 0.30, (0.95, 0.90), (500, 500)),
        _candidate(3, 0.40, (0.95, 0.70, 0.90), (400, 300, 300)),  # one cluster unstable
        _candidate(4, 0.36, (0.85, 0.80, 0.90, 0.80), (300, 300, 300, 10)),  # a 1% segment
        _candidate(5, 0.33, (0.85, 0.80, 0.90, 0.80, 0.76), (300, 200, 200, 200, 100)),
    ]
    choice, qualified = choose_k(candidates)
    assert (choice.k, qualified) == (5, True)


def test_choose_k_falls_back_to_most_stable_and_says_so() -> None:
    candidates = [_candidate(2, 0.3, (0.7, 0.6), (50, 50)), _candidate(3, 0.4, (0.5, 0.9, 0.9), (40, 30, 30))]
    choice, qualified = choose_k(candidates)
    assert (choice.k, qualified) == (2, False)


def test_seasonal_naive_repeats_the_last_week_and_moving_average_is_flat() -> None:
    history = np.array([[np.nan] * 21 + [1, 2, 3, 4, 5, 6, 7]])
    assert seasonal_naive(history, 10).tolist() == [[1, 2, 3, 4, 5, 6, 7, 1, 2, 3]]
    assert moving_average(history, 3).tolist() == [[4.0, 4.0, 4.0]]  # NaN days are not observed
    assert seasonal_naive(np.array([[5.0, 6.0]]), 3).tolist() == [[0.0, 0.0, 0.0]]  # padded short history


def test_interval_applies_standardized_residual_quantiles() -> None:
    calibration = IntervalCalibration(alpha=0.0, quantiles=np.array([[-1.0, 1.0]]))
    lower, upper = interval(np.array([[4.0, 0.0]]), calibration)
    sd = np.sqrt(4.25)  # sqrt(mu + alpha mu^2 + 0.25)
    assert spread(np.array([4.0]), 0.0)[0] == pytest.approx(sd)
    assert lower[0].tolist() == pytest.approx([4 - sd, 0.0])  # counts never go below zero
    assert upper[0].tolist() == pytest.approx([4 + sd, 0.5])
