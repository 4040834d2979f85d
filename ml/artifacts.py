"""Versioned model artefacts on disk: `<models_dir>/<name>/<model_version>/{model.joblib,metadata.json}`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib

from ml.versioning import code_version, utc_now

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


def save_model_artifact(models_dir: str | Path, name: str, model: Any, metadata: dict[str, Any]) -> Path:
    """Write a model and its metadata under a versioned folder and return that folder.

    The version is `metadata["model_version"]` when the caller has one (forecasting and segmentation
    derive it from a hash of their training data and parameters, so a rerun on the same data maps to
    the same folder); otherwise it is a hash of the serialized model. `code_version` and `created_at`
    are added. Saving a version that already exists leaves the existing files alone: a version names
    one trained model, and rewriting it would change what earlier published outputs point to.
    """
    root = Path(models_dir) / name
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        joblib.dump(model, staging / MODEL_FILE, compress=3)
        content_hash = hashlib.sha256((staging / MODEL_FILE).read_bytes()).hexdigest()[:16]
        version = str(metadata.get("model_version") or content_hash)
        target = root / version
        if target.exists():
            return target
        record = {
            **metadata,
            "name": name,
            "model_version": version,
            "code_version": metadata.get("code_version", code_version()),
            "created_at": utc_now().isoformat(),
        }
        (staging / METADATA_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        # A rename is atomic on one file system: readers never see a half-written version folder.
        os.replace(staging, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_model_artifact(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read back a model folder written by `save_model_artifact`."""
    path = Path(path)
    return joblib.load(path / MODEL_FILE), json.loads((path / METADATA_FILE).read_text())


def latest_metadata(models_dir: str | Path, name: str) -> dict[str, Any] | None:
    """The metadata of the newest artefact of `name` (by its `created_at`); None when there is none.

    A metadata file that cannot be read or parsed is passed over, never raised: callers use this to
    find a prior to reuse, and without one they simply compute afresh. Staging folders are not artefacts yet.
    """
    found = []
    for path in sorted((Path(models_dir) / name).glob(f"[!.]*/{METADATA_FILE}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(record, dict):
            found.append((_timestamp(record.get("created_at")) or datetime.min, path.parent.name, record))
    return max(found, key=lambda item: item[:2])[2] if found else None


def _timestamp(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        return None


def reusable_prior(
    prior: Mapping[str, Any] | None,
    *,
    stamp: str,
    now: datetime,
    max_age_days: int,
    expect: Mapping[str, Any],
) -> Mapping[str, Any] | None:
    """`prior` when it may stand in for today's model selection, else None.

    It may when its `stamp` date is 0 to `max_age_days - 1` days before `now` (0 days: never) and
    every `expect` key holds today's value, compared the way metadata.json stores it (as JSON). Age
    counts calendar days, not elapsed time, so a daily run a few seconds earlier than last week's
    does not stretch a 7-day cadence to 8. A stamp in the future is no evidence of freshness.
    """
    when = _timestamp(prior.get(stamp)) if prior and max_age_days > 0 else None
    if when is None or not 0 <= (now.date() - when.date()).days < max_age_days:
        return None
    same = all(_as_json(prior.get(key)) == _as_json(value) for key, value in expect.items())
    return prior if same else None


def reuse_label(at: object, version: object) -> str:
    """How metadata names a reused selection: the day it was made and the model version it was made in."""
    return f"reused from {str(at)[:10]}/{version}"


def _as_json(value: object) -> object:
    return json.loads(json.dumps(value, sort_keys=True, default=str))
