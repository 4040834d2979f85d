"""Tables as dicts of equal-length numpy arrays ("columns"), the simulator's working format.

Null conventions, shared with the writer: -1 for a missing id, time or small integer, '' for a missing
text value, NaN for a missing float.
"""

from __future__ import annotations

import numpy as np

Columns = dict[str, np.ndarray]


def take(cols: Columns, index: np.ndarray) -> Columns:
    return {k: v[index] for k, v in cols.items()}


def concat(parts: list[Columns]) -> Columns:
    parts = [p for p in parts if p]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def length(cols: Columns) -> int:
    return len(next(iter(cols.values()))) if cols else 0
