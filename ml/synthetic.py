"""Synthetic frames shaped like the marts, for tests and benchmarks of this package.

`make_citizen_360` plants known behavioural groups; `make_daily_demand` draws seasonal Poisson
counts with trends and annual cycles. Both are vectorized and deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.citizen_features import CHANNELS, DIGITAL_CHANNELS

CATEGORIES = (
    "Roads and Sidewalks",
    "Street Lighting and Signals",
    "Waste and Recycling",
    "Snow and Ice",
    "Water and Sewer",
    "Parks and Trees",
    "Noise and Nuisance",
    "Housing and Heating",
    "Permits and Licences",
    "Taxes and Fees",
)


@dataclass(frozen=True)
class PlantedGroup:
    name: str
    kind: str
    weight: float  # share of its kind
    contacts: float  # mean contacts
    channels: tuple[float, ...]  # hotline, web, app, service_hall, email, social_media
    complaint: float  # probability a request is a complaint
    satisfaction: float  # mean rating 1-5
    reopen: float  # probability a request is reopened
    categories: tuple[float, ...]  # relative weight per category (CATEGORIES order)
    recency: float  # mean days since last contact
    tenure: float  # mean days between first and last contact


_EVEN = (1.0,) * 10
# Four resident and two business groups, each with its own dominant channel, rhythm and concerns.
PLANTED_GROUPS = (
    PlantedGroup("digital frequent complainers", "resident", 0.15, 16, (0.05, 0.7, 0.15, 0.01, 0.05, 0.04),
                 0.6, 2.6, 0.15, (3, 1, 2, 1, 1, 1, 5, 1, 0.3, 0.3), 25, 700),
    PlantedGroup("hotline occasional enquirers", "resident", 0.25, 6, (0.8, 0.04, 0.01, 0.1, 0.04, 0.01),
                 0.1, 3.9, 0.03, (0.5, 0.5, 1.5, 1, 2, 0.5, 0.3, 3, 0.3, 2), 150, 500),
    PlantedGroup("service-hall permit visitors", "resident", 0.35, 4, (0.1, 0.05, 0.02, 0.78, 0.05, 0.0),
                 0.05, 4.0, 0.03, (1, 0.3, 1, 0.3, 0.6, 0.4, 0.3, 0.6, 3, 3), 250, 300),
    PlantedGroup("app regular requesters", "resident", 0.25, 7, (0.03, 0.08, 0.84, 0.0, 0.02, 0.03),
                 0.1, 4.1, 0.04, (3, 2, 2, 0.5, 0.5, 2, 0.5, 0.2, 0.2, 0.4), 60, 400),
    PlantedGroup("web permit businesses", "business", 0.6, 9, (0.05, 0.75, 0.04, 0.04, 0.12, 0.0),
                 0.05, 3.8, 0.03, (0.4, 0.2, 1, 0.4, 0.4, 0.1, 0.2, 0.0, 5, 1.6), 40, 800),
    PlantedGroup("hotline complaining businesses", "business", 0.4, 7, (0.78, 0.06, 0.02, 0.04, 0.08, 0.02),
                 0.6, 2.9, 0.1, (2, 0.6, 2.6, 1, 1.4, 0.2, 1.6, 0.0, 0.4, 0.4), 45, 600),
)  # fmt: skip


def make_citizen_360(
    n_residents: int = 3000,
    n_businesses: int = 900,
    *,
    consent_rate: float = 0.85,
    seed: int = 7,
    groups: tuple[PlantedGroup, ...] = PLANTED_GROUPS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A `mart_citizen_360`-shaped frame and its truth (citizen_id, kind, planted_group)."""
    rng = np.random.default_rng(seed)
    frames = []
    for kind, n in (("resident", n_residents), ("business", n_businesses)):
        kind_groups = [g for g in groups if g.kind == kind]
        weights = np.array([g.weight for g in kind_groups])
        group = rng.choice(len(kind_groups), size=n, p=weights / weights.sum())
        frames.append(_draw_citizens(rng, kind, kind_groups, group))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "citizen_id", [f"C{i:06d}" for i in range(len(frame))])
    frame["consent_analytics"] = rng.random(len(frame)) < consent_rate
    truth = frame[["citizen_id", "kind", "planted_group"]].copy()
    return frame.drop(columns="planted_group"), truth


def _param(groups: list[PlantedGroup], group: np.ndarray, attr: str) -> np.ndarray:
    return np.array([getattr(g, attr) for g in groups], dtype=float)[group]


def _draw_citizens(rng: np.random.Generator, kind: str, groups: list[PlantedGroup], group: np.ndarray) -> pd.DataFrame:
    n = len(group)
    contacts = 1 + rng.poisson(np.maximum(_param(groups, group, "contacts") - 1, 0.1))
    # Dirichlet noise around each group's channel mix: individuals differ, groups stay recognizable.
    channel_p = np.array([g.channels for g in groups])[group]
    channel_p = rng.dirichlet(np.ones(len(CHANNELS)), size=n) * 0.15 + channel_p * 0.85
    channel_counts = rng.multinomial(contacts, channel_p / channel_p.sum(axis=1, keepdims=True))
    requests = np.maximum(1, rng.binomial(contacts, 0.85))
    complaints = rng.binomial(requests, _param(groups, group, "complaint"))
    reopened = rng.binomial(requests, _param(groups, group, "reopen"))
    category_p = np.array([g.categories for g in groups])[group]
    category_p = category_p / category_p.sum(axis=1, keepdims=True)
    category_counts = rng.multinomial(requests, category_p)
    satisfaction = np.clip(rng.normal(_param(groups, group, "satisfaction"), 0.6), 1, 5).round(2)
    rated = rng.random(n) < 0.7
    recency = rng.exponential(_param(groups, group, "recency")).round()
    tenure = rng.exponential(_param(groups, group, "tenure")).round() * (contacts > 1)
    last = pd.Timestamp("2025-06-30") - pd.to_timedelta(recency, unit="D")

    shares = category_counts / requests[:, None]
    # JSON text built column by column (one string operation per category, not per citizen).
    parts = []
    for j, category in enumerate(CATEGORIES):
        piece = pd.Series(f'"{category}": ' + pd.Series(shares[:, j]).round(4).astype(str))
        parts.append(piece.where(category_counts[:, j] > 0, ""))
    joined = parts[0].str.cat(parts[1:], sep=", ").str.replace(r"(, )+", ", ", regex=True).str.strip(", ")
    mix = "{" + joined + "}"
    top = np.array(CATEGORIES)[category_counts.argmax(axis=1)]
    digital = channel_counts[:, [CHANNELS.index(c) for c in DIGITAL_CHANNELS]].sum(axis=1) / contacts
    frame = pd.DataFrame(
        {
            "kind": kind,
            "district_id": np.char.add("D", np.char.zfill(rng.integers(1, 13, n).astype(str), 2)),
            "first_contact_at": last - pd.to_timedelta(tenure, unit="D"),
            "last_contact_at": last,
            "tenure_days": tenure.astype(int),
            "recency_days": recency.astype(int),
            "contacts_total": contacts,
            "requests_total": requests,
            "complaints_total": complaints,
            "complaint_share": complaints / requests,
            **{f"contacts_{c}": channel_counts[:, i] for i, c in enumerate(CHANNELS)},
            "channels_used": (channel_counts > 0).sum(axis=1),
            "digital_share": digital,
            "avg_satisfaction": np.where(rated, satisfaction, np.nan),
            "reopened_requests": reopened,
            "reopen_share": reopened / requests,
            "open_requests": rng.binomial(requests, 0.05),
            "top_category": top,
            "category_mix": mix.to_numpy(),
            "planted_group": np.array([g.name for g in groups])[group],
        }
    )
    return frame


def make_daily_demand(
    n_categories: int = 5,
    n_districts: int = 6,
    *,
    years: float = 3.0,
    start: str = "2022-01-03",
    seed: int = 11,
    drop_zero_rows: bool = True,
) -> tuple[pd.DataFrame, set]:
    """Seasonal Poisson daily counts per category x district, shaped like the service-performance mart.

    Each category has its own level, trend (-5%..+25% a year), annual cycle (peak day, amplitude) and
    the city's weekly rhythm; districts scale categories by population. Public holidays (a fixed set
    of dates each year) cut demand by 60%. Zero-count days are left out like a mart would, so the
    library's zero filling is exercised. Returns the frame and the holiday dates.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=int(round(365.25 * years)), freq="D")
    n_days = len(dates)
    holiday_days = {
        d.date()
        for y in range(dates[0].year, dates[-1].year + 2)
        for d in pd.to_datetime([f"{y}-01-01", f"{y}-05-27", f"{y}-07-04", f"{y}-09-02", f"{y}-11-28", f"{y}-12-25"])
    }
    weekly = np.array([1.25, 1.18, 1.12, 1.08, 1.0, 0.55, 0.45])
    weekly = weekly / weekly.mean()
    t_years = np.arange(n_days) / 365.25
    doy = dates.day_of_year.to_numpy()
    base = rng.lognormal(np.log(6.0), 0.6, n_categories)
    trend = rng.uniform(-0.05, 0.25, n_categories)
    peak = rng.integers(1, 366, n_categories)
    amplitude = rng.uniform(0.2, 1.0, n_categories)
    population = rng.dirichlet(np.full(n_districts, 4.0)) * n_districts
    season = np.exp(amplitude[:, None] * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365.25))
    season = season / season.mean(axis=1, keepdims=True)
    holiday = np.where(dates.isin(pd.to_datetime(sorted(holiday_days))), 0.4, 1.0)
    growth = np.exp(trend[:, None] * t_years[None, :])
    category_rate = base[:, None] * growth * season * weekly[dates.day_of_week] * holiday
    rate = category_rate[:, None, :] * population[None, :, None]  # (category, district, day)
    counts = rng.poisson(rate)
    c_idx, d_idx, t_idx = np.indices(counts.shape).reshape(3, -1)
    frame = pd.DataFrame(
        {
            "date": dates[t_idx],
            "category": np.char.add("cat", c_idx.astype(str)),
            "district_id": np.char.add("D", np.char.zfill((d_idx + 1).astype(str), 2)),
            "received": counts.ravel(),
        }
    )
    if drop_zero_rows:
        frame = frame.loc[frame["received"] > 0].reset_index(drop=True)
    return frame, holiday_days
