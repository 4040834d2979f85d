"""Pure helpers that turn a Dagster partition window into dbt arguments (unit-tested alone)."""

from __future__ import annotations

import json
from datetime import datetime


def window_vars(window_start: datetime | None, window_end: datetime | None, *, full: bool) -> dict[str, str]:
    """dbt vars for an incremental window: `min_date` inclusive, `max_date` exclusive.

    The catch-up window ("everything not yet processed") is what the incremental models do
    without vars, so none are passed.
    """
    if full or window_start is None or window_end is None:
        return {}
    return {"min_date": window_start.date().isoformat(), "max_date": window_end.date().isoformat()}


def build_args(command: str, *, extra_vars: dict[str, str] | None = None, full_refresh: bool = False) -> list[str]:
    args = [command]
    if extra_vars:
        args += ["--vars", json.dumps(extra_vars, sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    return args
