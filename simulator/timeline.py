"""Simulated time: the day calendar (weekly rhythm, holidays, storms), channel hours and the city clock.

All simulated activity is generated in city-local wall-clock time, held as int64 "local seconds"
(seconds since 1970-01-01 00:00 on the local wall clock). Only at output time is it converted: to UTC
for the case system, or to ISO 8601 with the local offset for the web and app logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import holidays
import numpy as np
import pandas as pd

from simulator.rng import hash_uniform, pick_grouped

DAY = 86_400
HOUR = 3_600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Mon..Sun demand relative to an average day: citizens contact the city on working days.
WEEKLY = np.array([1.25, 1.18, 1.12, 1.08, 1.0, 0.55, 0.45])
WEEKLY = WEEKLY / WEEKLY.mean()
HOLIDAY_FACTOR = 0.4
# Mild overall summer peak; category-specific seasons are far stronger (see catalog).
ANNUAL_AMPLITUDE = 0.12
ANNUAL_PEAK_DOY = 190
STORM_CHANCE = 0.07  # per winter day
STORM_VOLUME = 1.5

# Day types index the channel tables below.
WORKING, SATURDAY, REST = 0, 1, 2

CHANNEL_NAMES = ("hotline", "web", "app", "service_hall", "email", "social_media")
HOTLINE, WEB, APP, SERVICE_HALL, EMAIL, SOCIAL = range(6)
DIGITAL = np.array([False, True, True, False, False, False])

# Whether each channel is open / used on each day type: the service hall closes at weekends and
# holidays, the hotline runs a reduced weekend service, digital channels are busier at weekends.
CHANNEL_DAYTYPE = np.array(
    [
        [1.0, 0.6, 0.4],  # hotline
        [1.0, 1.3, 1.3],  # web
        [1.0, 1.5, 1.5],  # app
        [1.0, 0.0, 0.0],  # service_hall
        [1.0, 0.8, 0.8],  # email
        [1.0, 1.4, 1.4],  # social_media
    ]
)

# Hour-of-day activity per channel (local time): office hours for the hotline and the service hall,
# evenings for web, app and social media.
CHANNEL_HOURS = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 2, 6, 10, 11, 10, 8, 9, 9, 8, 7, 5, 3, 2, 1, 0.5, 0, 0],
        [1, 0.6, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 6, 7, 8, 9, 9, 8, 5, 2],
        [1.5, 0.8, 0.3, 0.2, 0.2, 0.5, 1.5, 4, 5, 4, 4, 5, 5, 4, 4, 4, 5, 7, 8, 9, 10, 9, 6, 3],
        [0, 0, 0, 0, 0, 0, 0, 0, 6, 10, 10, 8, 9, 9, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0],
        [0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 1, 3, 6, 8, 8, 7, 6, 7, 7, 6, 5, 4, 4, 4, 3, 2, 1, 1],
        [2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 3, 4, 4, 4, 4, 4, 4, 5, 6, 8, 9, 10, 9, 7, 4],
    ],
    dtype=np.float64,
)
# Staff record case events in office hours.
OFFICE_OPEN_HOUR, OFFICE_CLOSE_HOUR = 8, 18


def day_number(d: date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return d.toordinal() - _EPOCH_ORDINAL


def day_date(day: int) -> date:
    return date.fromordinal(int(day) + _EPOCH_ORDINAL)


@dataclass(frozen=True)
class Calendar:
    """Per-day facts for the days [first_day, first_day + n)."""

    first_day: int
    dow: np.ndarray  # 0 = Monday
    doy: np.ndarray  # 1..366
    month: np.ndarray
    holiday: np.ndarray  # bool
    daytype: np.ndarray  # WORKING | SATURDAY | REST
    storm: np.ndarray  # bool: a winter storm day (snow requests surge)
    intensity: np.ndarray  # relative demand, averaging about 1 over a year

    @property
    def days(self) -> np.ndarray:
        return self.first_day + np.arange(self.dow.shape[0])

    def __len__(self) -> int:
        return int(self.dow.shape[0])


def build_calendar(first_day: int, n_days: int, seed: int, holiday_country: str) -> Calendar:
    days = first_day + np.arange(n_days, dtype=np.int64)
    stamps = pd.to_datetime(days.astype("datetime64[D]"))
    dow = stamps.day_of_week.to_numpy()
    doy = stamps.day_of_year.to_numpy()
    month = stamps.month.to_numpy()
    years = range(int(stamps.year.min()), int(stamps.year.max()) + 1)
    try:
        public = holidays.country_holidays(holiday_country, years=years)
    except NotImplementedError as exc:
        raise ValueError(f"holiday country {holiday_country!r} is not known to the holidays package") from exc
    holiday_days = np.array(sorted(day_number(d) for d in public), dtype=np.int64)
    holiday = np.isin(days, holiday_days)
    daytype = np.where(holiday | (dow == 6), REST, np.where(dow == 5, SATURDAY, WORKING))
    winter = np.isin(month, (12, 1, 2, 3))
    # A storm is a property of the date, not of the window: every run that covers the day agrees.
    storm = winter & (hash_uniform(seed, "storm", days) < STORM_CHANCE)
    annual = np.exp(ANNUAL_AMPLITUDE * np.cos(2 * np.pi * (doy - ANNUAL_PEAK_DOY) / 365.25))
    annual /= np.i0(ANNUAL_AMPLITUDE)
    intensity = WEEKLY[dow] * annual * np.where(holiday, HOLIDAY_FACTOR, 1.0) * np.where(storm, STORM_VOLUME, 1.0)
    return Calendar(first_day, dow, doy, month, holiday, daytype, storm, intensity)


def seasonal_factor(doy: np.ndarray, peak_doy: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """exp(a·cos) seasonality normalised to a yearly mean of 1; shape (len(doy), len(peak_doy))."""
    phase = 2 * np.pi * (doy[:, None] - peak_doy[None, :]) / 365.25
    return np.exp(amplitude[None, :] * np.cos(phase)) / np.i0(amplitude)[None, :]


def sample_hour_seconds(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Seconds into the local day, drawn from each channel's hour-of-day profile."""
    hour = pick_grouped(rng, channel, CHANNEL_HOURS)
    return hour * HOUR + rng.integers(0, HOUR, channel.shape[0])


def snap_to_office_hours(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    """Move times outside office hours to the next office opening plus a little."""
    day = ts // DAY
    sec = ts - day * DAY
    early = sec < OFFICE_OPEN_HOUR * HOUR
    late = sec >= OFFICE_CLOSE_HOUR * HOUR
    jitter = rng.integers(0, 3 * HOUR, ts.shape[0])
    opened = OFFICE_OPEN_HOUR * HOUR + jitter
    out = np.where(early, day * DAY + opened, ts)
    return np.where(late, (day + 1) * DAY + opened, out)


class LocalClock:
    """City-local wall clock <-> UTC, vectorized through an hourly offset grid.

    Local times that do not exist (the spring-forward gap) are moved to the end of the gap, and
    ambiguous ones (the repeated autumn hour) read as the first occurrence, so the mapping to UTC
    never runs backwards: ordering by local time and by UTC agree.
    """

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        pd.Timestamp("2025-01-01").tz_localize(timezone)  # fails early on an unknown zone

    def _grid(self, ts: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        h0 = int(ts.min()) // HOUR - 2
        h1 = int(ts.max()) // HOUR + 3
        hours = np.arange(h0, h1, dtype=np.int64)
        local = pd.DatetimeIndex(hours.astype("datetime64[h]").astype("datetime64[s]"))
        aware = local.tz_localize(self.timezone, ambiguous=np.ones(len(hours), dtype=bool), nonexistent="NaT")
        gap = np.asarray(aware.isna())
        utc = aware.tz_convert("UTC").tz_localize(None).as_unit("s").asi8
        offset = hours * HOUR - utc  # local minus UTC, seconds
        # A gap hour takes the offset after the gap; the times in it are moved forward anyway.
        if gap.any():
            offset = pd.Series(np.where(gap, np.nan, offset)).bfill().ffill().to_numpy().astype(np.int64)
        return h0, offset, gap

    def normalize(self, ts: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        if ts.size == 0:
            return ts
        h0, _, gap = self._grid(ts)
        idx = ts // HOUR - h0
        in_gap = gap[idx]
        if not in_gap.any():
            return ts
        # the end of the gap: the first following hour that exists
        nxt = np.arange(len(gap))
        nxt = np.where(gap, len(gap), nxt)
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]
        return np.where(in_gap, (nxt[idx] + h0) * HOUR, ts)

    def to_utc(self, ts: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        if ts.size == 0:
            return ts
        h0, offset, _ = self._grid(ts)
        return ts - offset[ts // HOUR - h0]

    def offset_seconds(self, ts: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        if ts.size == 0:
            return ts
        h0, offset, _ = self._grid(ts)
        return offset[ts // HOUR - h0]


def weekday(ts: np.ndarray) -> np.ndarray:
    """0 = Monday, from local seconds (1970-01-01 was a Thursday)."""
    return (np.asarray(ts) // DAY + 3) % 7


def migration_years(days: np.ndarray) -> np.ndarray:
    """Years since mid-2025, the moment the planted channel mixes describe."""
    return (np.asarray(days, dtype=np.float64) - day_number(date(2025, 7, 1))) / 365.25
