"""`cirm evaluate`'s measurements: values and verdicts from segments, truth and artefact metadata."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ml.targets import measure_targets


def _setup(tmp_path: Path, truth_groups: list[str], forecast_gate: dict, coverage: float) -> tuple[Path, Path, Path]:
    db = tmp_path / "serving.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA ml")
        con.execute(
            "CREATE TABLE ml.citizen_segments AS SELECT * FROM (VALUES (1, 'resident', 1), (2, 'resident', 1), "
            "(3, 'resident', 2), (4, 'resident', 2)) t(citizen_id, kind, segment_id)"
        )
    truth = tmp_path / "citizen_groups.csv"
    truth.write_text("citizen_id,planted_group\n" + "".join(f"{i},{g}\n" for i, g in enumerate(truth_groups, 1)))
    models = tmp_path / "models"
    seg = models / "citizen_segments" / "v1"
    seg.mkdir(parents=True)
    seg.joinpath("metadata.json").write_text(
        json.dumps({"kinds": {"resident": {"silhouette": 0.31, "stability": {"1": 0.9, "2": 0.7}}}})
    )
    fc = models / "demand_forecast" / "v1"
    fc.mkdir(parents=True)
    fc.joinpath("metadata.json").write_text(json.dumps({"gate": forecast_gate, "coverage_p10_p90": coverage}))
    return db, truth, models


def test_targets_met_and_missed(tmp_path: Path) -> None:
    db, truth, models = _setup(
        tmp_path, ["a", "a", "b", "b"], {"model_mase": 0.8, "seasonal_naive_mase": 1.0}, coverage=0.95
    )
    targets = {t.name: t for t in measure_targets(db, truth, models)}
    assert targets["adjusted Rand index vs planted groups"].value == pytest.approx(1.0)
    assert targets["adjusted Rand index vs planted groups"].met
    assert targets["silhouette (resident)"].met
    assert targets["lowest cluster Jaccard (resident)"].value == pytest.approx(0.7)
    assert not targets["lowest cluster Jaccard (resident)"].met
    assert (
        targets["MASE / seasonal-naive MASE"].value == pytest.approx(0.8) and targets["MASE / seasonal-naive MASE"].met
    )
    assert not targets["P10-P90 coverage"].met


def test_a_wrong_segmentation_misses_the_rand_target(tmp_path: Path) -> None:
    db, truth, models = _setup(
        tmp_path, ["a", "b", "a", "b"], {"model_mase": 0.9, "seasonal_naive_mase": 1.0}, coverage=0.8
    )
    targets = {t.name: t for t in measure_targets(db, truth, models)}
    assert not targets["adjusted Rand index vs planted groups"].met
    assert not targets["MASE / seasonal-naive MASE"].met
    assert targets["P10-P90 coverage"].met
