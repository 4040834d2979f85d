"""Daily request counts as a dense panel of series: category x district, plus each category city-wide.

The panel is a (series x day) float array on one shared calendar. A series exists from its first
day in the data to the end of the data: days it has no row for count as zero requests, days before
it started are NaN (not observed), so history-based features and baselines skip them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CITY_WIDE = "ALL"
INPUT_COLUMNS = ("date", "category", "district_id", "received")


@dataclass
class DemandPanel:
    series_id: np.ndarray  # 'category|district' or 'category|ALL', sorted
    category: np.ndarray
    district: np.ndarray  # CITY_WIDE for city-wide series
    dates: pd.DatetimeIndex  # observed days, daily, no gaps
    values: np.ndarray  # (series, day) counts; NaN before a series starts

    @property
    def is_city_wide(self) -> np.ndarray:
        return self.district == CITY_WIDE

    @property
    def n_series(self) -> int:
        return len(self.series_id)


def build_panel(daily: pd.DataFrame) -> DemandPanel:
    """Aggregate the long daily frame (date, category, district_id, received) into series."""
    missing = [c for c in INPUT_COLUMNS if c not in daily.columns]
    if missing:
        raise ValueError(f"daily demand lacks columns {missing}")
    if daily.empty:
        raise ValueError("daily demand is empty")
    day = pd.to_datetime(daily["date"]).dt.normalize().to_numpy(dtype="datetime64[D]")
    start, end = day.min(), day.max()
    n_days = int((end - start).astype(int)) + 1
    day_index = (day - start).astype(np.int64)
    category = daily["category"].astype("string").fillna("unknown").to_numpy(dtype=object)
    district = daily["district_id"].astype("string").fillna("unknown").to_numpy(dtype=object)
    received = pd.to_numeric(daily["received"], errors="coerce").fillna(0).to_numpy(dtype=float)

    # Each input row feeds its district series and its category's city-wide series.
    rows_category = np.concatenate([category, category])
    rows_district = np.concatenate([district, np.full(len(district), CITY_WIDE, dtype=object)])
    rows_day = np.concatenate([day_index, day_index])
    rows_value = np.concatenate([received, received])
    keys = pd.Series(rows_category).str.cat(pd.Series(rows_district), sep="|").to_numpy(dtype=object)
    series_id, series_index = np.unique(keys, return_inverse=True)
    n_series = len(series_id)

    flat = series_index * n_days + rows_day
    values = np.bincount(flat, weights=rows_value, minlength=n_series * n_days).reshape(n_series, n_days)
    first_day = np.full(n_series, n_days, dtype=np.int64)
    np.minimum.at(first_day, series_index, rows_day)
    values[np.arange(n_days)[None, :] < first_day[:, None]] = np.nan

    parts = pd.Series(series_id).str.rsplit("|", n=1, expand=True)
    return DemandPanel(
        series_id=series_id.astype(str),
        category=parts[0].to_numpy(dtype=str),
        district=parts[1].to_numpy(dtype=str),
        dates=pd.date_range(pd.Timestamp(start), periods=n_days, freq="D"),
        values=values,
    )
