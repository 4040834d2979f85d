"""Readable segment names from what stands out in each segment's profile.

Input is the z-score of each segment's mean against the whole kind (standardized feature space),
so "stands out" means the same for every feature: |z| >= STANDS_OUT. A name is
"[qualifier] <channel> <frequency> <behaviour>", e.g. "digital frequent complainers".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.citizen_features import CHANNELS, DIGITAL_CHANNELS

STANDS_OUT = 0.5
STRONG = 1.0  # a qualifier is always added when some trait stands out this much

CHANNEL_WORDS = {
    "hotline": "hotline",
    "web": "web",
    "app": "app",
    "service_hall": "service-hall",
    "email": "email",
    "social_media": "social-media",
}
# (feature, sign) -> qualifier word
QUALIFIERS = {
    ("recency_days", 1): "lapsed",
    ("recency_days", -1): "recently active",
    ("avg_satisfaction", -1): "dissatisfied",
    ("avg_satisfaction", 1): "satisfied",
    ("reopen_share", 1): "reopening",
    ("tenure_days", -1): "new",
    ("tenure_days", 1): "long-standing",
}


def _category_word(label: str) -> str:
    """'Roads and Sidewalks' -> 'roads': the first word is enough to recognize a category in a name."""
    words = str(label).strip().lower().replace("_", " ").split()
    return words[0] if words else "service"


def _channel_word(z: pd.Series) -> str:
    channel_z = pd.Series({c: z.get(f"share_{c}", 0.0) for c in CHANNELS})
    strong = channel_z[channel_z >= STANDS_OUT].sort_values(ascending=False)
    if len(strong) == 1 or (len(strong) > 1 and not set(strong.index) <= set(DIGITAL_CHANNELS)):
        return CHANNEL_WORDS[strong.index[0]]
    digital = z.get("digital_share", 0.0)
    if len(strong) > 1 or digital >= STANDS_OUT:
        return "digital"
    if digital <= -STANDS_OUT:
        return "offline"
    return "multichannel"


def _frequency_word(z: pd.Series) -> str:
    frequency = z.get("contacts_total", 0.0)
    return "frequent" if frequency >= STANDS_OUT else "occasional" if frequency <= -STANDS_OUT else "regular"


def _top_category(z: pd.Series, category_labels: dict[str, str]) -> tuple[str | None, float]:
    columns = [c for c in category_labels if c in z.index]
    if not columns:
        return None, 0.0
    best = z[columns].idxmax()
    return _category_word(category_labels[best]), float(z[best])


def _candidate_qualifiers(z: pd.Series, category_labels: dict[str, str], noun_uses_category: bool) -> list[str]:
    """Qualifiers ordered by how strongly their trait stands out (strongest first)."""
    found: list[tuple[float, str]] = []
    for (feature, sign), word in QUALIFIERS.items():
        value = z.get(feature, 0.0) * sign
        if value >= STANDS_OUT / 2:
            found.append((value, word))
    category, category_z = _top_category(z, category_labels)
    if category and not noun_uses_category and category_z >= STANDS_OUT / 2:
        found.append((category_z, f"{category}-focused"))
    complaint = z.get("complaint_share", 0.0)
    if complaint <= -STANDS_OUT / 2:
        found.append((-complaint, "non-complaining"))
    return [word for _, word in sorted(found, key=lambda t: -t[0])]


def base_name(z: pd.Series, category_labels: dict[str, str]) -> tuple[str, list[str]]:
    """The channel-frequency-behaviour name and the qualifiers available to tell it apart."""
    complaint = z.get("complaint_share", 0.0)
    category, category_z = _top_category(z, category_labels)
    noun_uses_category = False
    if complaint >= STANDS_OUT:
        noun = "complainers"
    elif category and category_z >= 1.5 * STANDS_OUT:
        noun, noun_uses_category = f"{category} reporters", True
    elif complaint <= -STANDS_OUT:
        noun = "enquirers"
    else:
        noun = "requesters"
    name = f"{_channel_word(z)} {_frequency_word(z)} {noun}"
    qualifiers = _candidate_qualifiers(z, category_labels, noun_uses_category)
    strongest = max(
        [abs(z.get(f, 0.0)) for f, _ in QUALIFIERS],
        default=0.0,
    )
    if qualifiers and strongest >= STRONG:
        name = f"{qualifiers[0]} {name}"
        qualifiers = qualifiers[1:]
    return name, qualifiers


def name_segments(zscores: pd.DataFrame, category_labels: dict[str, str]) -> list[str]:
    """One unique name per row of `zscores` (segments x features), in row order."""
    bases = [base_name(zscores.iloc[i], category_labels) for i in range(len(zscores))]  # one per segment
    names = [name for name, _ in bases]
    spare = [list(qualifiers) for _, qualifiers in bases]
    # Segments that share a name take their next strongest qualifier until the names differ.
    for _ in range(4):
        counts = pd.Series(names).value_counts()
        clashes = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashes:
            break
        progressed = False
        for i in clashes:
            if spare[i]:
                names[i] = f"{spare[i].pop(0)} {names[i]}"
                progressed = True
        if not progressed:
            break
    # Anything still clashing is numbered, largest segment (first row) keeps the plain name.
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return unique


def profile_zscores(standardized: np.ndarray, labels: np.ndarray, k: int, columns: list[str]) -> pd.DataFrame:
    """Mean of the standardized features per segment = z-score of the segment mean vs the whole kind."""
    means = pd.DataFrame(standardized, columns=columns).groupby(np.asarray(labels)).mean()
    return means.reindex(range(k)).fillna(0.0).reset_index(drop=True)
