"""Benchmark forecasts every model must beat, computed for all series at once."""

from __future__ import annotations

import numpy as np

SEASON = 7
MOVING_AVERAGE_DAYS = 28


def seasonal_naive(history: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    """Repeat the last observed week: day h ahead gets the value of the same weekday in that week.

    `history` is (series, days) ending at the forecast origin; days never observed count as 0.
    """
    last_season = np.nan_to_num(history[:, -season:], nan=0.0)
    if last_season.shape[1] < season:  # a series younger than a week: pad its missing past with 0
        last_season = np.pad(last_season, ((0, 0), (season - last_season.shape[1], 0)))
    return last_season[:, np.arange(horizon) % season]


def moving_average(history: np.ndarray, horizon: int, window: int = MOVING_AVERAGE_DAYS) -> np.ndarray:
    """The mean of the last `window` observed days, flat over the horizon."""
    recent = history[:, -window:]
    seen = ~np.isnan(recent)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(seen, recent, 0.0).sum(axis=1) / seen.sum(axis=1)
    return np.repeat(np.nan_to_num(level, nan=0.0)[:, None], horizon, axis=1)
