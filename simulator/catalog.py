"""The city's fixed structure: departments, service categories, services and districts.

Names and codes are fixed; district populations, centroids and service mixes are drawn from the seed,
so a continued simulation rebuilds exactly the catalog its first run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.rng import stream

CITY_CENTRE = (40.9412, -73.7186)  # a fictional city north of New York: "Port Averlin"

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("DOT", "Department of Transportation"),
    ("DSN", "Department of Sanitation"),
    ("DEP", "Department of Environmental Protection"),
    ("DPR", "Department of Parks and Recreation"),
    ("DCE", "Department of Code Enforcement"),
    ("HPD", "Housing Preservation and Development"),
    ("DOB", "Department of Buildings"),
    ("DOF", "Department of Finance"),
)

# code, name, seasonal peak (day of year), seasonal amplitude (exp-cosine)
CATEGORIES: tuple[tuple[str, str, int, float], ...] = (
    ("RD", "Roads and Sidewalks", 80, 0.5),  # potholes after the thaw
    ("LT", "Street Lighting and Signals", 355, 0.35),  # long nights
    ("WS", "Waste and Recycling", 195, 0.3),
    ("SN", "Snow and Ice", 20, 3.0),  # winter only
    ("WT", "Water and Sewer", 230, 0.3),
    ("PK", "Parks and Trees", 180, 1.0),  # summer
    ("NS", "Noise and Nuisance", 196, 0.8),  # summer evenings
    ("HS", "Housing and Heating", 10, 1.2),  # heating season
    ("PM", "Permits and Licences", 110, 0.4),  # spring building season
    ("TX", "Taxes and Fees", 45, 0.6),  # tax season
)
CATEGORY_CODES = tuple(c[0] for c in CATEGORIES)

# code, name, department, commitment hours, relative frequency within its category,
# priority weights (low, normal, high, urgent)
_SERVICES: tuple[tuple[str, str, str, int, float, tuple[float, float, float, float]], ...] = (
    ("RD-POTHOLE", "Pothole repair", "DOT", 120, 5, (0.1, 0.6, 0.25, 0.05)),
    ("RD-SIDEWALK", "Damaged sidewalk", "DOT", 480, 2, (0.3, 0.6, 0.1, 0.0)),
    ("RD-PARKING", "Illegal parking", "DOT", 24, 3, (0.1, 0.7, 0.2, 0.0)),
    ("RD-ABANDVEH", "Abandoned vehicle", "DOT", 168, 1.5, (0.3, 0.6, 0.1, 0.0)),
    ("LT-STREETLIGHT", "Street light out", "DOT", 72, 5, (0.1, 0.7, 0.2, 0.0)),
    ("LT-SIGNAL", "Traffic signal malfunction", "DOT", 24, 2, (0.0, 0.3, 0.4, 0.3)),
    ("LT-SIGN", "Missing or damaged street sign", "DOT", 240, 1.5, (0.3, 0.6, 0.1, 0.0)),
    ("WS-MISSED", "Missed waste collection", "DSN", 48, 5, (0.1, 0.7, 0.2, 0.0)),
    ("WS-BULKY", "Bulky item pickup", "DSN", 168, 3, (0.4, 0.6, 0.0, 0.0)),
    ("WS-DUMPING", "Illegal dumping", "DSN", 96, 2, (0.1, 0.6, 0.3, 0.0)),
    ("WS-BIN", "Bin replacement", "DSN", 240, 1.5, (0.5, 0.5, 0.0, 0.0)),
    ("WS-LITTER", "Dirty street or litter", "DSN", 72, 2, (0.3, 0.6, 0.1, 0.0)),
    ("SN-PLOW", "Street not plowed", "DSN", 24, 4, (0.0, 0.4, 0.4, 0.2)),
    ("SN-ICE", "Icy sidewalk", "DSN", 48, 3, (0.0, 0.5, 0.4, 0.1)),
    ("SN-SALT", "Salt bin refill", "DSN", 72, 1, (0.2, 0.7, 0.1, 0.0)),
    ("WT-LEAK", "Water main leak", "DEP", 24, 2, (0.0, 0.3, 0.4, 0.3)),
    ("WT-SEWER", "Sewer backup", "DEP", 24, 2, (0.0, 0.3, 0.4, 0.3)),
    ("WT-HYDRANT", "Fire hydrant problem", "DEP", 72, 1, (0.1, 0.5, 0.3, 0.1)),
    ("WT-BILL", "Water bill question", "DEP", 240, 3, (0.3, 0.7, 0.0, 0.0)),
    ("WT-QUALITY", "Water quality concern", "DEP", 48, 1.5, (0.0, 0.5, 0.4, 0.1)),
    ("PK-TREE", "Tree pruning or fallen tree", "DPR", 240, 4, (0.2, 0.5, 0.2, 0.1)),
    ("PK-PLAYGROUND", "Playground damage", "DPR", 168, 2, (0.1, 0.6, 0.3, 0.0)),
    ("PK-GRASS", "Overgrown grass", "DPR", 336, 2, (0.5, 0.5, 0.0, 0.0)),
    ("PK-MAINT", "Park maintenance", "DPR", 336, 2, (0.4, 0.6, 0.0, 0.0)),
    ("NS-RESIDENTIAL", "Loud music or party", "DCE", 24, 5, (0.1, 0.6, 0.3, 0.0)),
    ("NS-CONSTRUCTION", "Construction noise", "DCE", 72, 2.5, (0.1, 0.7, 0.2, 0.0)),
    ("NS-COMMERCIAL", "Commercial noise", "DCE", 72, 2, (0.1, 0.7, 0.2, 0.0)),
    ("NS-ODOR", "Odour complaint", "DCE", 120, 1, (0.2, 0.7, 0.1, 0.0)),
    ("HS-HEAT", "No heat or hot water", "HPD", 24, 4, (0.0, 0.3, 0.4, 0.3)),
    ("HS-MOLD", "Mould or leak in a rental", "HPD", 240, 2, (0.1, 0.6, 0.3, 0.0)),
    ("HS-PEST", "Pests in a building", "HPD", 168, 1.5, (0.1, 0.7, 0.2, 0.0)),
    ("HS-REPAIR", "Landlord repairs", "HPD", 480, 2, (0.2, 0.7, 0.1, 0.0)),
    ("PM-BUILDING", "Building permit", "DOB", 720, 3, (0.4, 0.6, 0.0, 0.0)),
    ("PM-EVENT", "Street event permit", "DOB", 480, 1.5, (0.4, 0.6, 0.0, 0.0)),
    ("PM-BUSINESS", "Business licence", "DOB", 720, 2.5, (0.4, 0.6, 0.0, 0.0)),
    ("PM-SIGNAGE", "Signage permit", "DOB", 480, 1, (0.5, 0.5, 0.0, 0.0)),
    ("TX-PROPERTY", "Property tax question", "DOF", 240, 3, (0.4, 0.6, 0.0, 0.0)),
    ("TX-FINE", "Parking fine dispute", "DOF", 720, 2.5, (0.5, 0.5, 0.0, 0.0)),
    ("TX-PAYMENT", "Payment problem", "DOF", 120, 2, (0.2, 0.6, 0.2, 0.0)),
)

# How a category tilts the request type (request, complaint, enquiry, suggestion, praise).
CATEGORY_TYPE_TILT = {
    "RD": (1.0, 1.2, 0.6, 1.0, 0.6),
    "LT": (1.2, 0.9, 0.5, 0.8, 0.5),
    "WS": (1.0, 1.3, 0.7, 0.8, 0.6),
    "SN": (1.0, 1.4, 0.6, 0.6, 0.5),
    "WT": (1.0, 1.0, 1.0, 0.6, 0.5),
    "PK": (1.0, 0.8, 0.6, 1.6, 1.2),
    "NS": (0.5, 2.0, 0.5, 0.5, 0.3),
    "HS": (1.0, 1.3, 1.0, 0.4, 0.4),
    "PM": (1.6, 0.4, 1.4, 0.5, 0.5),
    "TX": (0.8, 0.8, 2.0, 0.4, 0.4),
}

# name, kind (how it tilts the category mix), relative business density
_DISTRICTS: tuple[tuple[str, str, float], ...] = (
    ("Old Town", "downtown", 2.5),
    ("Harborview", "downtown", 2.0),
    ("Northgate", "residential", 0.8),
    ("Riverside", "residential", 0.9),
    ("Millbrook", "suburban", 0.5),
    ("Eastfield", "suburban", 0.6),
    ("Cedar Heights", "residential", 0.7),
    ("Southport", "industrial", 2.2),
    ("Westmoor", "suburban", 0.5),
    ("Lakeside", "residential", 0.8),
    ("Ironworks", "industrial", 2.4),
    ("Greenhollow", "suburban", 0.6),
)
# category tilt per district kind, in CATEGORY_CODES order: RD LT WS SN WT PK NS HS PM TX
_DISTRICT_TILT = {
    "downtown": (1.1, 1.2, 1.1, 0.7, 0.9, 0.6, 1.8, 1.1, 1.4, 1.1),
    "residential": (1.0, 1.0, 1.0, 1.0, 1.1, 1.0, 1.0, 1.4, 0.8, 1.0),
    "suburban": (1.1, 0.9, 0.9, 1.5, 1.0, 1.7, 0.6, 0.6, 0.9, 0.9),
    "industrial": (1.3, 1.0, 1.4, 1.0, 1.1, 0.5, 1.1, 0.7, 1.2, 1.0),
}


@dataclass(frozen=True)
class Catalog:
    departments: pd.DataFrame  # department_id, name
    services: pd.DataFrame  # service_code, name, category, department_id, commitment_hours
    districts: pd.DataFrame  # district_id, name, population
    service_category: np.ndarray  # category index per service
    service_department: np.ndarray  # department index per service
    service_commitment: np.ndarray  # hours per service
    service_priority: np.ndarray  # (n_services, 4) weights
    category_service_weight: np.ndarray  # (n_categories, n_services): service mix within category
    category_peak: np.ndarray
    category_amplitude: np.ndarray
    category_type_tilt: np.ndarray  # (n_categories, 5)
    district_tilt: np.ndarray  # (n_districts, n_categories)
    district_population: np.ndarray
    district_business: np.ndarray  # business density
    district_lat: np.ndarray
    district_lon: np.ndarray
    district_spread: np.ndarray  # degrees

    @property
    def n_services(self) -> int:
        return len(self.services)

    @property
    def n_districts(self) -> int:
        return len(self.districts)

    @property
    def snow_category(self) -> int:
        return CATEGORY_CODES.index("SN")


def build_catalog(seed: int) -> Catalog:
    rng = stream(seed, "catalog")
    departments = pd.DataFrame(DEPARTMENTS, columns=["department_id", "name"])
    dept_index = {d: i for i, (d, _) in enumerate(DEPARTMENTS)}
    cat_index = {c: i for i, c in enumerate(CATEGORY_CODES)}
    services = pd.DataFrame(
        [
            (code, name, CATEGORIES[cat_index[code.split("-")[0]]][1], dept, hours)
            for code, name, dept, hours, _, _ in _SERVICES
        ],
        columns=["service_code", "name", "category", "department_id", "commitment_hours"],
    )
    service_category = np.array([cat_index[s[0].split("-")[0]] for s in _SERVICES])
    service_department = np.array([dept_index[s[2]] for s in _SERVICES])
    freq = np.array([s[4] for s in _SERVICES], dtype=np.float64) * rng.lognormal(0, 0.15, len(_SERVICES))
    cat_service = np.zeros((len(CATEGORIES), len(_SERVICES)))
    cat_service[service_category, np.arange(len(_SERVICES))] = freq

    n_d = len(_DISTRICTS)
    # 40k..300k residents, a few big districts and many mid-sized ones
    population = np.clip(np.round(rng.lognormal(np.log(110_000), 0.5, n_d), -2), 40_000, 300_000).astype(np.int64)
    angle = np.sort(rng.uniform(0, 2 * np.pi, n_d))
    radius = np.where(
        [k == "downtown" for _, k, _ in _DISTRICTS], rng.uniform(0.005, 0.02, n_d), rng.uniform(0.03, 0.09, n_d)
    )
    lat = CITY_CENTRE[0] + radius * np.sin(angle)
    lon = CITY_CENTRE[1] + radius * np.cos(angle) / np.cos(np.radians(CITY_CENTRE[0]))
    tilt = np.array([_DISTRICT_TILT[k] for _, k, _ in _DISTRICTS]) * rng.lognormal(0, 0.15, (n_d, len(CATEGORIES)))
    districts = pd.DataFrame(
        {
            "district_id": [f"D{i + 1:02d}" for i in range(n_d)],
            "name": [name for name, _, _ in _DISTRICTS],
            "population": population,
        }
    )
    return Catalog(
        departments=departments,
        services=services,
        districts=districts,
        service_category=service_category,
        service_department=service_department,
        service_commitment=np.array([s[3] for s in _SERVICES], dtype=np.int64),
        service_priority=np.array([s[5] for s in _SERVICES], dtype=np.float64),
        category_service_weight=cat_service,
        category_peak=np.array([c[2] for c in CATEGORIES], dtype=np.float64),
        category_amplitude=np.array([c[3] for c in CATEGORIES], dtype=np.float64),
        category_type_tilt=np.array([CATEGORY_TYPE_TILT[c] for c in CATEGORY_CODES], dtype=np.float64),
        district_tilt=tilt,
        district_population=population,
        district_business=np.array([b for _, _, b in _DISTRICTS], dtype=np.float64),
        district_lat=lat,
        district_lon=lon,
        district_spread=np.sqrt(population / 110_000) * 0.008,
    )
