"""Thresholds and windows of the checks. Column names live in `quality.tables`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class QualityConfig:
    # The marts and the hotline drop keep naive city-local time; "now" is converted to it.
    city_timezone: str = "America/New_York"
    # Clock skew between the source systems and the warehouse host is not an impossible timestamp.
    future_tolerance: timedelta = timedelta(minutes=15)
    # Above this share of out-of-range timestamps the failure is systemic (a clock or time zone
    # bug), which would poison every daily aggregate: the blocking variant of the timestamp check.
    impossible_share_max: float = 0.01

    # Quarantine at scale: above this share of the latest load's rows quarantined by staging, the load
    # is systemically broken (a source clock, a code list, an export) and what staging kept of it is a
    # biased remainder, so the check blocks. A clean first load of the demo city quarantines ~1-2%
    # (duplicate submissions, closed before submitted, mistyped drop values).
    quarantine_share_max: float = 0.05
    # Fewer quarantined rows than this in the latest load are not judged: one bad row in a three-row
    # drop file is 33% but no systemic fault.
    quarantine_min_rows: int = 10

    # Volume anomaly: the latest `volume_eval_days` complete days against the trailing window.
    volume_window_days: int = 28
    volume_eval_days: int = 1
    volume_min_history_days: int = 14  # fewer days of history: the day is not judged
    # Band half-width: k * 1.4826 * MAD (a robust k-sigma, corrected for the few points it rests on)
    # and k * sqrt(median) (k Poisson sigmas: counting noise, which a MAD of 4 points underestimates) ...
    volume_mad_k: float = 4.0
    volume_relative_band: float = 0.5  # ... but at least this share of the trailing median ...
    volume_min_band: float = 10.0  # ... and at least this many contacts (small channels are noisy)
    # Compare a day with the same weekday of the trailing window: the service hall is closed at
    # weekends and the hotline runs a reduced service, so an all-days median would flag every weekend.
    volume_weekday_aware: bool = True

    # Satisfaction drift: score distribution of the latest window against the window before it.
    drift_recent_days: int = 30
    drift_reference_days: int = 90
    drift_tvd_max: float = 0.10  # total variation distance: share of responses that "moved"
    drift_min_responses: int = 100  # per window; fewer and the check does not judge
    # A TVD over the threshold counts only when a chi-square test says the windows differ at this
    # level: small windows differ by chance (see drift.py), which alone would alarm every few runs.
    drift_significance: float = 0.01

    sample_rows: int = 5  # failing rows kept per check
    # Validations the Data Docs index lists, newest first: each page build re-reads them all (500: ~0.6 s
    # more per validation than 100). Older pages stay on disk, just unlisted.
    docs_validation_limit: int = 100
