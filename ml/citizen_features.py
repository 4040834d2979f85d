"""Segmentation features from `mart_citizen_360`, built column-wise.

`raw` holds readable values (shares, days, counts) for profiles; `transformed` holds what the
clustering sees (logs of counts and durations). Imputation and standardization happen per kind in
`ml.segmentation`, because residents and businesses are scaled against their own population.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

CHANNELS = ("hotline", "web", "app", "service_hall", "email", "social_media")
DIGITAL_CHANNELS = ("web", "app", "email", "social_media")
LOG_FEATURES = ("recency_days", "contacts_total", "tenure_days")  # counts and durations are right-skewed

REQUIRED_COLUMNS = (
    "citizen_id",
    "kind",
    "consent_analytics",
    "recency_days",
    "tenure_days",
    "contacts_total",
    "complaint_share",
    "digital_share",
    "avg_satisfaction",
    "reopen_share",
    "category_mix",
    *(f"contacts_{c}" for c in CHANNELS),
)


@dataclass
class CitizenFeatures:
    raw: pd.DataFrame  # readable feature values, one row per citizen, same index as the input
    transformed: pd.DataFrame  # what the clustering uses (before imputation and scaling)
    blocks: dict[str, list[str]] = field(default_factory=dict)  # feature group -> its columns
    category_labels: dict[str, str] = field(default_factory=dict)  # category column -> category as in the mart


def category_column(category: str) -> str:
    return "category_" + (re.sub(r"[^0-9a-z]+", "_", str(category).lower()).strip("_") or "unknown")


def parse_category_mix(mix: pd.Series) -> tuple[pd.DataFrame, dict[str, str]]:
    """Expand JSON text {category: share} into one share column per category (0 where absent).

    The whole column is parsed in one go by Arrow's JSON reader (newline-delimited), not a Python
    loop per citizen. Shares are renormalized to sum to 1 so rounding in the mart does not matter.
    Also returns each column's category as the mart spells it, for segment names.
    """
    text = mix.astype("string").fillna("{}").str.strip().replace("", "{}")
    if len(text) == 0:
        return pd.DataFrame(index=mix.index), {}
    payload = "\n".join(text.str.replace("\n", " ", regex=False).tolist()).encode()
    table = pa_json.read_json(io.BytesIO(payload))
    shares = pd.DataFrame(
        {name: table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False) for name in table.column_names},
        index=mix.index,
    ).fillna(0.0)
    # Same column order whatever the JSON order, before summing: Arrow's threaded reader gives its
    # columns in an order that varies from call to call, and a sum in another order differs in the
    # last bit, which changed model versions of unchanged data.
    shares = shares[sorted(shares.columns, key=lambda c: (category_column(c), c))].clip(lower=0.0)
    totals = shares.sum(axis=1)
    shares = shares.div(totals.where(totals > 0, 1.0), axis=0)
    labels = {category_column(c): str(c) for c in shares.columns}
    shares.columns = [category_column(c) for c in shares.columns]
    if shares.columns.duplicated().any():  # two spellings that slug to the same column are one category
        shares = shares.T.groupby(level=0).sum().T
    return shares, labels


def build_citizen_features(citizen_360: pd.DataFrame) -> CitizenFeatures:
    """Recency, frequency, complaint share, channel mix, digital share, satisfaction, reopen
    experience, service-category mix and tenure for each citizen of the frame."""
    missing = [c for c in REQUIRED_COLUMNS if c not in citizen_360.columns]
    if missing:
        raise ValueError(f"citizen_360 lacks columns {missing}")
    frame = citizen_360
    contacts = frame["contacts_total"].astype(float).fillna(0.0)
    channel_counts = frame[[f"contacts_{c}" for c in CHANNELS]].astype(float).fillna(0.0).to_numpy()
    channel_total = channel_counts.sum(axis=1, keepdims=True)
    # Shares of the contacts the channel columns account for; a citizen without contacts has none.
    channel_shares = np.divide(
        channel_counts, channel_total, out=np.zeros_like(channel_counts), where=channel_total > 0
    )

    raw = pd.DataFrame(index=frame.index)
    raw["recency_days"] = frame["recency_days"].astype(float).clip(lower=0)
    raw["contacts_total"] = contacts
    raw["complaint_share"] = frame["complaint_share"].astype(float).fillna(0.0)
    for i, channel in enumerate(CHANNELS):
        raw[f"share_{channel}"] = channel_shares[:, i]
    raw["digital_share"] = frame["digital_share"].astype(float).fillna(0.0)
    raw["avg_satisfaction"] = frame["avg_satisfaction"].astype(float)  # NaN: imputed per kind later
    raw["reopen_share"] = frame["reopen_share"].astype(float).fillna(0.0)
    categories, category_labels = parse_category_mix(frame["category_mix"])
    raw = pd.concat([raw, categories], axis=1)
    raw["tenure_days"] = frame["tenure_days"].astype(float).clip(lower=0)
    # No tenure known: a new citizen. No contact ever: silent for as long as the city has known them.
    raw["tenure_days"] = raw["tenure_days"].fillna(0.0)
    raw["recency_days"] = raw["recency_days"].fillna(raw["tenure_days"])

    transformed = raw.copy()
    for name in LOG_FEATURES:
        transformed[name] = np.log1p(raw[name])

    blocks = {
        "recency": ["recency_days"],
        "frequency": ["contacts_total"],
        "complaints": ["complaint_share"],
        "channels": [f"share_{c}" for c in CHANNELS],
        "digital": ["digital_share"],
        "satisfaction": ["avg_satisfaction"],
        "reopen": ["reopen_share"],
        "categories": list(categories.columns),
        "tenure": ["tenure_days"],
    }
    return CitizenFeatures(raw=raw, transformed=transformed, blocks=blocks, category_labels=category_labels)
