"""Versioned model artefacts on disk: `<models_dir>/<name>/<model_version>/{model.joblib,metadata.json}`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
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
