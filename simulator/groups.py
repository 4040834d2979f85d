"""The planted behaviour groups: who contacts the city how often, through which channels, about what.

Groups differ strongly in contact frequency, channel mix, complaint share and category mix, so that a
segmentation on per-citizen features can recover them; the truth goes to `truth/citizen_groups.csv`,
never into the source database. The channel mixes describe mid-2025; the migration from the hotline
and the service hall to web and app shifts every group's mix over time (see demand.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Group:
    name: str
    kind: str  # resident | business
    share: float  # of its kind
    rate: float  # requests per citizen per year (before individual variation)
    # hotline, web, app, service_hall, email, social_media
    channels: tuple[float, float, float, float, float, float]
    # request, complaint, enquiry, suggestion, praise
    types: tuple[float, float, float, float, float]
    # RD LT WS SN WT PK NS HS PM TX
    categories: tuple[float, float, float, float, float, float, float, float, float, float]
    birth_years: tuple[int, int]  # residents only
    email_share: float
    checks_per_request: float  # status checks while a request is open
    check_channels: tuple[float, float, float]  # app, web, hotline
    chase_share: float  # chance of calling the hotline when a request runs late
    sessions_per_year: tuple[float, float, float]  # app browsing, web browsing, hotline calls without a case
    satisfaction: float  # baseline survey score
    reopen_tilt: float  # added reopen probability


GROUPS: tuple[Group, ...] = (
    Group(
        "digital_frequent_complainers", "resident", 0.12, 7.0,
        (0.04, 0.80, 0.07, 0.0, 0.04, 0.05),
        (0.22, 0.68, 0.05, 0.03, 0.02),
        (0.18, 0.06, 0.16, 0.05, 0.03, 0.07, 0.33, 0.06, 0.02, 0.04),
        (1962, 1995), 0.98, 1.4, (0.15, 0.85, 0.0), 0.5, (1.0, 5.0, 0.5), 3.0, 0.05,
    ),
    Group(
        "hotline_seniors_enquiries", "resident", 0.22, 2.2,
        (0.84, 0.04, 0.01, 0.07, 0.03, 0.01),
        (0.28, 0.08, 0.60, 0.02, 0.02),
        (0.05, 0.04, 0.14, 0.08, 0.16, 0.04, 0.03, 0.26, 0.02, 0.18),
        (1932, 1958), 0.55, 0.6, (0.0, 0.1, 0.9), 0.7, (0.0, 0.3, 4.0), 3.9, 0.0,
    ),
    Group(
        "occasional_service_hall_visitors", "resident", 0.36, 0.9,
        (0.08, 0.05, 0.02, 0.80, 0.05, 0.0),
        (0.80, 0.05, 0.12, 0.02, 0.01),
        (0.08, 0.02, 0.10, 0.02, 0.06, 0.04, 0.02, 0.06, 0.30, 0.30),
        (1950, 2000), 0.8, 0.1, (0.1, 0.4, 0.5), 0.3, (0.1, 0.5, 0.8), 4.0, 0.0,
    ),
    Group(
        "app_savvy_young_requesters", "resident", 0.30, 2.1,
        (0.03, 0.07, 0.86, 0.0, 0.01, 0.03),
        (0.72, 0.10, 0.04, 0.10, 0.04),
        (0.24, 0.16, 0.18, 0.06, 0.04, 0.18, 0.06, 0.02, 0.02, 0.04),
        (1990, 2006), 0.97, 1.2, (0.95, 0.05, 0.0), 0.15, (6.0, 0.5, 0.2), 4.1, 0.0,
    ),
    Group(
        "permit_heavy_web_businesses", "business", 0.6, 3.0,
        (0.04, 0.78, 0.04, 0.04, 0.10, 0.0),
        (0.88, 0.03, 0.07, 0.01, 0.01),
        (0.04, 0.02, 0.12, 0.04, 0.04, 0.01, 0.02, 0.0, 0.55, 0.16),
        (0, 0), 1.0, 1.0, (0.05, 0.95, 0.0), 0.3, (0.3, 5.0, 0.5), 3.8, 0.0,
    ),
    Group(
        "hotline_complaining_businesses", "business", 0.4, 2.6,
        (0.80, 0.06, 0.02, 0.02, 0.08, 0.02),
        (0.25, 0.65, 0.06, 0.02, 0.02),
        (0.18, 0.06, 0.26, 0.10, 0.14, 0.02, 0.16, 0.0, 0.04, 0.04),
        (0, 0), 0.9, 0.5, (0.0, 0.1, 0.9), 0.8, (0.0, 0.3, 3.0), 2.9, 0.05,
    ),
)  # fmt: skip

GROUP_NAMES = tuple(g.name for g in GROUPS)
RESIDENT_SHARE = 0.85
# Individual variation around the group rate: gamma with this shape (coefficient of variation 1/sqrt).
RATE_SHAPE = 4.0
RATE_FLOOR = 0.5  # of the group rate
# Anonymous requests per citizen per year (no account): about 5% of all requests.
ANONYMOUS_RATE = 0.13
# Anonymous requests' channels and request types.
ANONYMOUS_CHANNELS = (0.45, 0.30, 0.0, 0.05, 0.08, 0.12)
ANONYMOUS_TYPES = (0.45, 0.40, 0.10, 0.03, 0.02)


def _matrix(attr: str) -> np.ndarray:
    return np.array([getattr(g, attr) for g in GROUPS], dtype=np.float64)


GROUP_KIND_IS_BUSINESS = np.array([g.kind == "business" for g in GROUPS])
GROUP_SHARE = _matrix("share")
GROUP_RATE = _matrix("rate")
GROUP_CHANNELS = _matrix("channels")
GROUP_TYPES = _matrix("types")
GROUP_CATEGORIES = _matrix("categories")
GROUP_BIRTH = np.array([g.birth_years for g in GROUPS], dtype=np.int64)
GROUP_EMAIL = _matrix("email_share")
GROUP_CHECKS = _matrix("checks_per_request")
GROUP_CHECK_CHANNELS = _matrix("check_channels")
GROUP_CHASE = _matrix("chase_share")
GROUP_SESSIONS = _matrix("sessions_per_year")
GROUP_SATISFACTION = _matrix("satisfaction")
GROUP_REOPEN = _matrix("reopen_tilt")
