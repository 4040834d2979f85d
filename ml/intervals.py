"""Prediction intervals calibrated on backtest residuals.

Residuals are standardized by a negative-binomial-like spread sqrt(mu + alpha*mu^2 + c), with the
overdispersion alpha fitted by moments, so one residual distribution fits series of any volume.
The P10 and P90 of the standardized residuals, per week of the horizon, turn any point forecast
into an interval. Quantile models would need two more gradient-boosting fits per origin; this costs
nothing and is calibrated on exactly the errors the published forecast makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTILES = (0.1, 0.9)
SD_FLOOR = 0.25  # keeps the spread positive where the point forecast is 0
BUCKET_DAYS = 7  # residual quantiles per week of the horizon: errors grow with lead time for some models


@dataclass(frozen=True)
class IntervalCalibration:
    alpha: float
    quantiles: np.ndarray  # (horizon buckets, len(QUANTILES)) standardized residual quantiles

    def to_dict(self, exact: bool = False) -> dict:
        """JSON form, rounded for reading unless `exact` (what `from_dict` needs to give the same intervals)."""
        if exact:
            return {"alpha": self.alpha, "quantiles_by_week": self.quantiles.tolist()}
        return {"alpha": round(self.alpha, 6), "quantiles_by_week": np.round(self.quantiles, 4).tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> IntervalCalibration:
        quantiles = np.asarray(data["quantiles_by_week"], dtype=float).reshape(-1, len(QUANTILES))
        return cls(alpha=float(data["alpha"]), quantiles=quantiles)


def spread(point: np.ndarray, alpha: float) -> np.ndarray:
    point = np.maximum(point, 0.0)
    return np.sqrt(point + alpha * point**2 + SD_FLOOR)


def calibrate(actual: np.ndarray, point: np.ndarray, valid: np.ndarray) -> IntervalCalibration:
    """Fit alpha and residual quantiles from (origin, series, horizon) arrays; `valid` is (origin, series)."""
    horizon = actual.shape[-1]
    mask = np.broadcast_to(valid[..., None], actual.shape) & ~np.isnan(actual) & ~np.isnan(point)
    y, mu = actual[mask], np.maximum(point[mask], 0.0)
    denominator = float((mu**2).sum())
    alpha = max(0.0, float(((y - mu) ** 2 - mu).sum()) / denominator) if denominator > 0 else 0.0
    residual = (actual - point) / spread(point, alpha)
    bucket = np.minimum(np.arange(horizon) // BUCKET_DAYS, (horizon - 1) // BUCKET_DAYS)
    n_buckets = int(bucket.max()) + 1
    quantiles = np.zeros((n_buckets, len(QUANTILES)))
    pooled = np.quantile(residual[mask], QUANTILES) if mask.any() else np.zeros(len(QUANTILES))
    for b in range(n_buckets):  # at most a handful of horizon weeks
        cell = residual[..., bucket == b][mask[..., bucket == b]]
        quantiles[b] = np.quantile(cell, QUANTILES) if cell.size >= 50 else pooled
    return IntervalCalibration(alpha=alpha, quantiles=quantiles)


def interval(point: np.ndarray, calibration: IntervalCalibration) -> tuple[np.ndarray, np.ndarray]:
    """P10 and P90 for point forecasts shaped (..., horizon); counts cannot go below zero."""
    horizon = point.shape[-1]
    bucket = np.minimum(np.arange(horizon) // BUCKET_DAYS, calibration.quantiles.shape[0] - 1)
    sd = spread(point, calibration.alpha)
    lower = np.maximum(point + calibration.quantiles[bucket, 0] * sd, 0.0)
    upper = np.maximum(point + calibration.quantiles[bucket, 1] * sd, 0.0)
    return np.minimum(lower, point), np.maximum(upper, point)
