"""Feature matrix for the global demand model: one row per (series, target day), no leakage.

Every history feature of target day t only uses days <= t - horizon, so a row's features are
known at any forecast origin from which t is at most `horizon` days ahead. That lets one matrix,
computed once, serve every backtest origin and the final forecast (rows are selected, not rebuilt).

The model predicts the ratio of a day's count to the series' recent level (`scale`, the mean of
the 28 days ending `horizon` days back) with that level as sample weight. For a Poisson loss this
equals a log-offset: series of any size share one model, and the trees learn relative effects
(weekday, season, holidays, momentum) instead of re-learning each series' level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from ml.demand_series import DemandPanel

LEVEL_FLOOR = 0.05  # requests/day: keeps ratios finite for series that were silent lately
EPS = 0.5  # added to both sides of level ratios so near-empty windows give ratios near 1
YEAR = 364  # 52 weeks: same weekday one year back


@dataclass
class FeatureMatrix:
    features: pd.DataFrame  # one row per (series, day) of the extended calendar
    categorical: list[str]  # columns HistGradientBoosting treats as categories
    series_index: np.ndarray  # row -> series
    day_index: np.ndarray  # row -> day of the extended calendar
    target: np.ndarray  # count (NaN for future or unobserved days)
    scale: np.ndarray  # the recent level the model's ratio is applied to
    dates: pd.DatetimeIndex  # extended calendar: observed days then `horizon` future days


def _window_mean(values: np.ndarray, window: int, end_lag: int, min_share: float = 0.5) -> np.ndarray:
    """Mean over days [t - end_lag - window + 1, t - end_lag] for every t, skipping NaN days.

    Cumulative sums make it O(series x days) regardless of the window; fewer than `min_share` of the
    window observed gives NaN.
    """
    n_series, n_days = values.shape
    seen = ~np.isnan(values)
    csum = np.concatenate([np.zeros((n_series, 1)), np.cumsum(np.where(seen, values, 0.0), axis=1)], axis=1)
    ccount = np.concatenate([np.zeros((n_series, 1)), np.cumsum(seen, axis=1)], axis=1)
    t = np.arange(n_days)
    hi = t - end_lag + 1  # exclusive end in cumsum coordinates
    lo = hi - window
    valid = lo >= 0
    hi_c, lo_c = np.clip(hi, 0, n_days), np.clip(lo, 0, n_days)
    total = csum[:, hi_c] - csum[:, lo_c]
    count = ccount[:, hi_c] - ccount[:, lo_c]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(valid[None, :] & (count >= max(1, min_share * window)), mean, np.nan)


def _lag(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    out[:, lag:] = values[:, :-lag]
    return out


def _nanmean(arrays: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(arrays)
    seen = ~np.isnan(stacked)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen, stacked, 0.0).sum(axis=0) / seen.sum(axis=0)


def calendar_features(dates: pd.DatetimeIndex, holidays: set[date] | None) -> pd.DataFrame:
    """Weekday, annual Fourier terms, month and holiday flags for each date."""
    doy = dates.day_of_year.to_numpy()
    angle = 2 * np.pi * doy / 365.25
    holiday_days = pd.DatetimeIndex(pd.to_datetime(sorted(holidays))).normalize() if holidays else pd.DatetimeIndex([])
    is_holiday = dates.isin(holiday_days)
    near = dates.isin(holiday_days - pd.Timedelta(days=1)) | dates.isin(holiday_days + pd.Timedelta(days=1))
    return pd.DataFrame(
        {
            "dow": dates.day_of_week.to_numpy(),
            "month": dates.month.to_numpy(),
            "doy_sin1": np.sin(angle),
            "doy_cos1": np.cos(angle),
            "doy_sin2": np.sin(2 * angle),
            "doy_cos2": np.cos(2 * angle),
            "is_holiday": is_holiday.astype(np.int8),
            "near_holiday": (near & ~is_holiday).astype(np.int8),
        }
    )


def build_features(panel: DemandPanel, horizon: int, holidays: set[date] | None) -> FeatureMatrix:
    """All rows of the panel extended by `horizon` future days, with features known `horizon` ahead."""
    if not 1 <= horizon <= YEAR - 14:
        raise ValueError(f"horizon {horizon} must be between 1 and {YEAR - 14} days")
    n_series, n_obs = panel.values.shape
    values = np.concatenate([panel.values, np.full((n_series, horizon), np.nan)], axis=1)
    dates = pd.date_range(panel.dates[0], periods=n_obs + horizon, freq="D")
    n_days = len(dates)

    level = _window_mean(values, 28, horizon)
    scale = np.maximum(level, LEVEL_FLOOR)  # NaN (too little history) stays NaN: such rows are not modelled
    recent_week = _window_mean(values, 7, horizon)
    quarter = _window_mean(values, 84, horizon)
    # Last year: around the target day, and at the position the level window had then.
    year_at_target = _window_mean(values, 14, YEAR - 7)
    year_at_level = _window_mean(values, 28, YEAR + horizon)
    same_weekday = [_lag(values, horizon + 7 * i) for i in range(4)]  # lags 28, 35, 42, 49 at horizon 28

    columns: dict[str, np.ndarray] = {
        "log_level": np.log(scale),
        "momentum_week": (recent_week + EPS) / (level + EPS),
        "momentum_quarter": (level + EPS) / (quarter + EPS),
        "season_last_year": (year_at_target + EPS) / (year_at_level + EPS),
        "growth_year": (level + EPS) / (year_at_level + EPS),
        "weekday_profile": (_nanmean(same_weekday) + EPS) / (level + EPS),
    }
    for i, lagged in enumerate(same_weekday):
        columns[f"lag_{horizon + 7 * i}_ratio"] = lagged / scale
    frame = pd.DataFrame({name: arr.ravel() for name, arr in columns.items()})

    calendar = calendar_features(dates, holidays)
    day_index = np.tile(np.arange(n_days), n_series)
    series_index = np.repeat(np.arange(n_series), n_days)
    frame = pd.concat([frame, calendar.iloc[day_index].reset_index(drop=True)], axis=1)

    categories = pd.Index(np.unique(panel.category))
    districts = pd.Index(np.unique(panel.district))
    frame["category"] = categories.get_indexer(panel.category)[series_index]
    frame["district"] = districts.get_indexer(panel.district)[series_index]
    frame["city_wide"] = panel.is_city_wide.astype(np.int8)[series_index]
    categorical = ["dow", "category"]
    # HistGradientBoosting takes at most 255 category levels; more districts are used as plain codes.
    if len(districts) <= 250:
        categorical.append("district")
    return FeatureMatrix(
        features=frame,
        categorical=categorical,
        series_index=series_index,
        day_index=day_index,
        target=values.ravel(),
        scale=scale.ravel(),
        dates=dates,
    )


@dataclass
class FeatureBinner:
    """Quantile bins for continuous features, learned on training rows and reused for prediction.

    HistGradientBoosting bins features itself, but with sample weights scikit-learn 1.9 computes
    every bin edge with a separate weighted-percentile call, which made binning ~70% of the fit
    time. Handing it columns with at most `max_bins` distinct values (bin codes) skips that path;
    the trees then see the same kind of bins at a fraction of the cost.
    """

    thresholds: dict[int, np.ndarray]  # column position -> inner bin edges
    max_bins: int = 255
    unseen: tuple[int, ...] = ()  # columns with no value in training (e.g. last-year features on short data)

    @classmethod
    def fit(
        cls, matrix: np.ndarray, skip: list[int], max_bins: int = 255, sample: int = 200_000, seed: int = 0
    ) -> FeatureBinner:
        rows = matrix
        if len(matrix) > sample:  # quantiles of a large random sample are as good and much cheaper
            rows = matrix[np.random.default_rng(seed).choice(len(matrix), sample, replace=False)]
        levels = np.linspace(0, 1, max_bins + 1)[1:-1]
        thresholds, unseen = {}, []
        for j in range(matrix.shape[1]):  # a few dozen columns
            if j in skip:
                continue
            column = rows[:, j]
            column = column[~np.isnan(column)]
            if column.size:
                thresholds[j] = np.unique(np.quantile(column, levels))
            else:
                unseen.append(j)
        return cls(thresholds=thresholds, max_bins=max_bins, unseen=tuple(unseen))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        out = matrix.copy()
        for j, edges in self.thresholds.items():
            column = matrix[:, j]
            codes = np.searchsorted(edges, column, side="left").astype(float)
            out[:, j] = np.where(np.isnan(column), np.nan, codes)
        # A column the model never saw carries no information; a constant keeps it out of the trees
        # (and scikit-learn's binning fails on an all-missing column).
        out[:, list(self.unseen)] = 0.0
        return out
