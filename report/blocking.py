"""Which quality checks block the pipeline: `quality.check_results` records outcomes, not severity,
so the report asks the quality library's suite definitions (no Great Expectations import)."""

from __future__ import annotations

from collections.abc import Callable


def blocking_lookup() -> Callable[[str, str], bool | None]:
    """(asset_key 'raw/service_requests', check_name) -> blocking?, or None when unknown."""
    try:
        from quality.suites import checks_for
    except Exception:  # the report must render without the quality library (severity then shows as unknown)
        return lambda asset, check: None
    cache: dict[str, dict[str, bool]] = {}

    def lookup(asset: str, check: str) -> bool | None:
        if asset not in cache:
            try:
                cache[asset] = {spec.name: spec.blocking for spec in checks_for(tuple(asset.split("/")))}
            except KeyError:  # an asset the suites do not define (renamed, or from a newer run)
                cache[asset] = {}
        return cache[asset].get(check)

    return lookup
