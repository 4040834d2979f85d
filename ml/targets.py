"""The mining targets of the demo city, measured from a data folder after a run (`cirm evaluate`).

Reads the published segments, the planted truth the simulator wrote (never ingested) and the
metadata saved with the latest model artefacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ml.artifacts import latest_metadata
from ml.segmentation import evaluate_against_truth


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    goal: str
    met: bool | None


def measure_targets(database: Path, truth_csv: Path, models_dir: Path) -> list[Target]:
    """Adjusted Rand vs planted groups, silhouette, bootstrap Jaccard, MASE ratio and interval coverage."""
    targets: list[Target] = []
    with duckdb.connect(str(database), read_only=True) as con:
        segments = con.sql("SELECT citizen_id, kind, segment_id FROM ml.citizen_segments").df()
    if truth_csv.exists() and not segments.empty:
        ari = evaluate_against_truth(segments, pd.read_csv(truth_csv))["ari_overall"]
        targets.append(Target("adjusted Rand index vs planted groups", ari, ">= 0.6", ari >= 0.6))
    kinds = (latest_metadata(models_dir, "citizen_segments") or {}).get("kinds", {})
    for kind, info in sorted(kinds.items()):
        silhouette = info.get("silhouette")
        if silhouette is not None:
            targets.append(Target(f"silhouette ({kind})", silhouette, ">= 0.25", silhouette >= 0.25))
        stability = info.get("stability") or {}
        if stability:
            low = min(stability.values())
            targets.append(Target(f"lowest cluster Jaccard ({kind})", low, ">= 0.75", low >= 0.75))
    forecast = latest_metadata(models_dir, "demand_forecast") or {}
    gate = forecast.get("gate") or {}
    if gate.get("model_mase") is not None and gate.get("seasonal_naive_mase"):
        ratio = gate["model_mase"] / gate["seasonal_naive_mase"]
        targets.append(Target("MASE / seasonal-naive MASE", ratio, "<= 0.85", ratio <= 0.85))
    coverage = forecast.get("coverage_p10_p90")
    if coverage is not None:
        targets.append(Target("P10-P90 coverage", coverage, "0.70 to 0.90", 0.70 <= coverage <= 0.90))
    return targets
