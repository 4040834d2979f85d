"""Versioned model artefacts on disk."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from ml import artifacts
from ml.artifacts import latest_metadata, load_model_artifact, reusable_prior, save_model_artifact


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


def test_latest_metadata_is_the_newest_by_created_at_and_skips_unreadable_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert latest_metadata(tmp_path, "m") is None  # no folder yet
    # Saved out of time order, and with names whose sort order is not their age.
    for version, day in (("b", 1), ("c", 3), ("a", 2)):
        monkeypatch.setattr(artifacts, "utc_now", lambda day=day: datetime(2025, 7, day, 6))
        save_model_artifact(tmp_path, "m", {"v": version}, {"model_version": version})
    assert latest_metadata(tmp_path, "m")["model_version"] == "c"

    (tmp_path / "m" / "c" / "metadata.json").write_text('{"model_version": "c", "created_')  # cut short
    (tmp_path / "m" / "d").mkdir()
    (tmp_path / "m" / "d" / "metadata.json").write_text('["not", "a", "record"]')
    (tmp_path / "m" / ".staging-x").mkdir()
    (tmp_path / "m" / ".staging-x" / "metadata.json").write_text('{"created_at": "2030-01-01T00:00:00"}')
    assert latest_metadata(tmp_path, "m")["model_version"] == "a"

    for version in "ab":
        (tmp_path / "m" / version / "metadata.json").write_bytes(b"\xff\xfe")
    assert latest_metadata(tmp_path, "m") is None


@pytest.mark.parametrize(
    ("now", "days", "expect", "reused"),
    [
        (datetime(2025, 7, 7, 23, 59), 7, {"seed": 42}, True),  # 6 calendar days
        (datetime(2025, 7, 8, 0, 1), 7, {"seed": 42}, False),  # 7 calendar days, though not 7 x 24 h
        (datetime(2025, 7, 1, 23, 59), 0, {"seed": 42}, False),  # 0: never
        (datetime(2025, 6, 30), 7, {"seed": 42}, False),  # stamped in the future
        (datetime(2025, 7, 2), 7, {"seed": 1}, False),
        (datetime(2025, 7, 2), 7, {"seed": 42, "k_range": [2, 9]}, False),  # absent from the prior
    ],
)
def test_a_prior_is_reusable_while_young_and_made_the_same_way(now, days, expect, reused) -> None:
    prior = {"selected_at": "2025-07-01T23:59:00", "seed": 42}
    assert (reusable_prior(prior, stamp="selected_at", now=now, max_age_days=days, expect=expect) is prior) is reused


def test_a_prior_without_a_readable_stamp_is_not_reusable() -> None:
    for prior in (None, {}, {"selected_at": None}, {"selected_at": "yesterday"}, {"selected_at": 3}):
        assert reusable_prior(prior, stamp="selected_at", now=datetime(2025, 7, 2), max_age_days=7, expect={}) is None
