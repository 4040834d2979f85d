"""Versioned model artefacts on disk."""

from __future__ import annotations

import json
from pathlib import Path

from ml.artifacts import load_model_artifact, save_model_artifact


def test_artifact_is_written_under_its_version_with_metadata(tmp_path: Path) -> None:
    model = {"weights": [1, 2, 3]}
    path = save_model_artifact(tmp_path, "demand_forecast", model, {"model_version": "abc123", "mase": 0.7})
    assert path == tmp_path / "demand_forecast" / "abc123"
    loaded, metadata = load_model_artifact(path)
    assert loaded == model
    assert metadata["model_version"] == "abc123" and metadata["name"] == "demand_forecast"
    assert metadata["mase"] == 0.7 and metadata["code_version"].startswith("0.") and metadata["created_at"]
    assert sorted(p.name for p in (tmp_path / "demand_forecast").iterdir()) == ["abc123"]  # no staging left


def test_saving_an_existing_version_keeps_the_first(tmp_path: Path) -> None:
    first = save_model_artifact(tmp_path, "m", {"a": 1}, {"model_version": "v1"})
    again = save_model_artifact(tmp_path, "m", {"a": 2}, {"model_version": "v1"})
    assert again == first and load_model_artifact(first)[0] == {"a": 1}


def test_without_a_version_the_content_hash_names_the_folder(tmp_path: Path) -> None:
    one = save_model_artifact(tmp_path, "m", {"a": 1}, {})
    two = save_model_artifact(tmp_path, "m", {"a": 1}, {})
    other = save_model_artifact(tmp_path, "m", {"a": 2}, {})
    assert one == two != other
    assert json.loads((one / "metadata.json").read_text())["model_version"] == one.name


def test_a_forecast_model_saves_with_its_provenance(tmp_path: Path) -> None:
    from ml.forecasting import forecast_demand
    from ml.synthetic import make_daily_demand

    daily, holidays = make_daily_demand(1, 2, years=1.5, seed=2)
    result = forecast_demand(daily, holidays=holidays)
    path = save_model_artifact(tmp_path, "demand_forecast", result.model, result.metadata)
    assert path.name == result.metadata["model_version"] == result.forecast["model_version"].iloc[0]
    model, metadata = load_model_artifact(path)
    assert model.feature_names == result.model.feature_names
    for key in ("training_window", "features", "metrics", "code_version", "created_at", "gate"):
        assert key in metadata
