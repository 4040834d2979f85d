"""Request arrivals: who asks for what, when, where and through which channel.

Citizen-driven: each citizen draws a number of requests from their personal rate and the days'
demand intensity (weekly rhythm, holidays, storms, mild annual cycle), then each request's day from
that same intensity. Category, service, type and channel are drawn per request from the citizen's
planted group, tilted by district, season and the date (channel migration).
"""

from __future__ import annotations

import numpy as np

from simulator import identities as ids
from simulator.catalog import Catalog
from simulator.columns import Columns, concat, length, take
from simulator.groups import (
    ANONYMOUS_CHANNELS,
    ANONYMOUS_RATE,
    ANONYMOUS_TYPES,
    GROUP_CATEGORIES,
    GROUP_CHANNELS,
    GROUP_SHARE,
    GROUP_TYPES,
)
from simulator.population import home_district
from simulator.rng import pick_grouped, pick_rows
from simulator.timeline import (
    CHANNEL_DAYTYPE,
    DAY,
    DIGITAL,
    SERVICE_HALL,
    Calendar,
    migration_years,
    sample_hour_seconds,
    seasonal_factor,
)

HOME_DISTRICT_SHARE = 0.85  # most people report problems where they live
STORM_SNOW_BOOST = 8.0
# Log-odds per year by which web and app gain on the hotline and the service hall.
MIGRATION_PER_YEAR = 1.3
DUPLICATE_REQUEST_SHARE = 0.01
ANONYMOUS = -1  # group id of anonymous requests

_STREETS = ids.words(
    """
    Maple Oak Pine Cedar Elm Willow Birch Chestnut Walnut Spruce Harbor River Lake Hill Park Main Church
    Mill Market Union Liberty Franklin Washington Lincoln Jefferson Madison Monroe Grant Bridge Station
    """
)
_STREET_TYPES = np.array(["Street", "Avenue", "Road", "Lane", "Boulevard", "Place", "Drive"], dtype=ids.S)
_DETAILS = np.array(
    [
        "",
        " - second time this month",
        " - please send someone soon",
        " - getting worse",
        " - near the school",
        " - outside the bus stop",
        " - been like this for days",
        " - thank you",
    ],
    dtype=ids.S,
)


def _descriptions(rng: np.random.Generator, service_name: np.ndarray) -> np.ndarray:
    n = len(service_name)
    street = ids.join(
        _STREETS[rng.integers(0, len(_STREETS), n)], " ", _STREET_TYPES[rng.integers(0, len(_STREET_TYPES), n)]
    )
    number = ids.to_str(rng.integers(1, 400, n))
    form = rng.integers(0, 3, n)
    text = np.where(
        form == 0,
        ids.join(service_name, " at ", number, " ", street),
        np.where(
            form == 1,
            ids.join(service_name, " near ", street),
            ids.join(street, ": ", np.strings.lower(service_name)),
        ),
    )
    return ids.join(text, _DETAILS[rng.choice(len(_DETAILS), n, p=[0.5, 0.08, 0.1, 0.08, 0.06, 0.06, 0.07, 0.05])])


def _sample_days(rng: np.random.Generator, cum: np.ndarray, first: np.ndarray, per_unit: np.ndarray) -> np.ndarray:
    """Days (window indices) for repeated units, each at or after its unit's first day, drawn from the
    window's cumulative intensity `cum` (length days + 1)."""
    lo = cum[first]
    target = lo + rng.random(len(first)) * (cum[-1] - lo)
    day = np.searchsorted(cum, target, side="right") - 1
    return np.clip(day, first, len(cum) - 2) if len(first) else day.astype(np.int64)


def citizen_arrivals(
    rng: np.random.Generator,
    rate: np.ndarray,
    created: np.ndarray,
    calendar: Calendar,
    window_start: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(citizen index, window day) per event for citizens with yearly `rate`, following the intensity."""
    weight = calendar.intensity / 365.25
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    n_days = len(calendar)
    first = np.clip((created - window_start) // DAY, 0, n_days)
    exposure = cum[-1] - cum[first]
    counts = rng.poisson(rate * exposure)
    who = np.repeat(np.arange(len(rate)), counts)
    day = _sample_days(rng, cum, first[who], counts)
    return who, day


def anonymous_arrivals(
    rng: np.random.Generator, created: np.ndarray, calendar: Calendar, window_start: int
) -> np.ndarray:
    """Window days of anonymous requests: proportional to the registered population that day."""
    day_end = window_start + (np.arange(len(calendar)) + 1) * DAY
    alive = np.searchsorted(np.sort(created), day_end, side="left")
    counts = rng.poisson(ANONYMOUS_RATE * alive * calendar.intensity / 365.25)
    return np.repeat(np.arange(len(calendar)), counts)


def channel_weights(group: np.ndarray, day: np.ndarray, daytype: np.ndarray) -> np.ndarray:
    base = np.where(group[:, None] >= 0, GROUP_CHANNELS[np.maximum(group, 0)], np.array(ANONYMOUS_CHANNELS))
    shift = np.exp(MIGRATION_PER_YEAR * migration_years(day) / 2)[:, None]
    # digital channels gain, the hotline and service hall lose; e-mail and social media stay put
    counter = np.array([True, False, False, True, False, False])
    w = base * np.where(DIGITAL[None, :], shift, np.where(counter[None, :], 1 / shift, 1.0))
    return w * CHANNEL_DAYTYPE.T[daytype]


def generate_requests(
    rng: np.random.Generator,
    citizens: Columns,
    traits: Columns,
    changes: Columns,
    calendar: Calendar,
    catalog: Catalog,
    window_start: int,
    *,
    dirty: bool = True,
) -> Columns:
    """Every request submitted in the window, in submission order; when `dirty`, double submissions too."""
    who, day = citizen_arrivals(rng, traits["rate"], citizens["created_at"], calendar, window_start)
    anon_day = anonymous_arrivals(rng, citizens["created_at"], calendar, window_start)
    n_cit = len(who)
    cit_index = np.concatenate([who, np.full(len(anon_day), -1)])
    day = np.concatenate([day, anon_day]).astype(np.int64)
    group = np.concatenate([traits["group_id"][who], np.full(len(anon_day), ANONYMOUS)])
    n = len(day)
    abs_day = calendar.first_day + day
    day_start = window_start + day * DAY

    # district: home (as of that day) or anywhere, by population
    pop = catalog.district_population / catalog.district_population.sum()
    anywhere = rng.choice(len(pop), n, p=pop)
    home = np.full(n, -1)
    if n_cit:
        home[:n_cit] = home_district(citizens, changes, who, day_start[:n_cit])
    district = np.where((home >= 0) & (rng.random(n) < HOME_DISTRICT_SHARE), home, anywhere)

    # category: group mix x district tilt x season (x storm surge for snow)
    anon_mix = (GROUP_CATEGORIES * GROUP_SHARE[:, None]).sum(axis=0)
    mix = np.where(group[:, None] >= 0, GROUP_CATEGORIES[np.maximum(group, 0)], anon_mix)
    season = seasonal_factor(calendar.doy.astype(np.float64), catalog.category_peak, catalog.category_amplitude)
    season[calendar.storm, catalog.snow_category] *= STORM_SNOW_BOOST
    w = mix * catalog.district_tilt[district] * season[day]
    category = pick_rows(rng, np.cumsum(w, axis=1))
    service = pick_grouped(rng, category, catalog.category_service_weight)

    type_mix = np.where(group[:, None] >= 0, GROUP_TYPES[np.maximum(group, 0)], np.array(ANONYMOUS_TYPES))
    request_type = pick_rows(rng, np.cumsum(type_mix * catalog.category_type_tilt[category], axis=1))

    daytype = calendar.daytype[day]
    channel = pick_rows(rng, np.cumsum(channel_weights(group, abs_day, daytype), axis=1))
    # a closed service hall (weekend) cannot take requests: the weights are zero there, but guard
    channel = np.where((channel == SERVICE_HALL) & (daytype != 0), 0, channel)
    ts = day_start + sample_hour_seconds(rng, channel)
    if n_cit:
        # someone who registered today asks after registering
        created = citizens["created_at"][who]
        ts[:n_cit] = np.where(
            ts[:n_cit] <= created,
            np.minimum(created + rng.integers(60, 1800, n_cit), day_start[:n_cit] + DAY - 1),
            ts[:n_cit],
        )
    priority = pick_grouped(rng, service, catalog.service_priority)
    lat = catalog.district_lat[district] + rng.normal(0, 1, n) * catalog.district_spread[district]
    lon = catalog.district_lon[district] + rng.normal(0, 1, n) * catalog.district_spread[district] * 1.3
    names = catalog.services["name"].to_numpy().astype(ids.S)
    requests = {
        "submitted_at": ts,
        "citizen_index": cit_index,
        "citizen_id": np.where(cit_index >= 0, citizens["citizen_id"][np.maximum(cit_index, 0)], -1),
        "group_id": group,
        "service": service,
        "request_type": request_type,
        "channel": channel,
        "district": district,
        "latitude": np.round(lat, 6),
        "longitude": np.round(lon, 6),
        "priority": priority,
        "description": _descriptions(rng, names[service]),
        "duplicate": np.zeros(n, dtype=bool),
    }
    if dirty:
        # the last draws of this stream: a clean city skips them and all else stays the same
        window_end = window_start + len(calendar) * DAY
        requests = concat([requests, _duplicate_requests(rng, requests, n_cit, window_end)])
    order = np.lexsort((np.arange(length(requests)), requests["submitted_at"]))
    return take(requests, order)


def _duplicate_requests(rng: np.random.Generator, requests: Columns, n_cit: int, window_end: int) -> Columns:
    """Double submissions: same citizen, service and text, a few minutes later, a new request."""
    pick = np.flatnonzero(rng.random(n_cit) < DUPLICATE_REQUEST_SHARE)
    later = requests["submitted_at"][pick] + rng.integers(60, 900, len(pick))
    # never after the simulated "now"
    pick, later = pick[later < window_end], later[later < window_end]
    dup = take(requests, pick)
    dup["submitted_at"] = later
    dup["duplicate"] = np.ones(len(pick), dtype=bool)
    return dup
