"""Personal data never leaves the warehouse through a quality check.

Validation frames, GE results, Data Docs pages, history rows and sample failing rows are all read by
people who may not see citizens' data. Columns that can hold it are fetched redacted: only whether a
value is present survives (enough for null-share checks), never the value. Sample rows then drop
those columns altogether.
"""

from __future__ import annotations

import re
from typing import Any

# Names, contact details, identity numbers, free text (which can hold any of them) and coordinates
# (a request's location can point at a home). Matched as name fragments, so `caller_phone`,
# `login_email` and `full_name` are all caught; reference names (`departments.name`) are caught too,
# which costs nothing.
_PERSONAL = re.compile(r"name|phone|email|identity|address|comment|description|latitude|longitude", re.I)
REDACTED = "<redacted>"


def is_personal(column: str) -> bool:
    return bool(_PERSONAL.search(column))


def select_expr(column: str) -> str:
    """The SQL to fetch a column for validation: personal columns keep only their null-ness."""
    quoted = '"' + column.replace('"', '""') + '"'
    if is_personal(column):
        return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE '{REDACTED}' END AS {quoted}"
    return quoted


def strip_personal(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample rows without any personal column, redacted or not: the sample is for locating a row."""
    return [{k: v for k, v in row.items() if not is_personal(k)} for row in rows]
