"""Code and data fingerprints that make model versions reproducible."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PACKAGE = "cirm-warehouse"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version plus the git commit of the checkout, e.g. '0.1.0+g1a2b3c4d5e6f'.

    A commit is only appended when the code runs from a git work tree (not from an installed wheel);
    uncommitted changes are not detected, which is why model versions also hash their inputs.
    """
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+g{commit}" if commit else version


def fingerprint(*parts: Any) -> str:
    """A short sha256 over frames, arrays and JSON-able values: the same inputs give the same id."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame | pd.Series):
            # hash_pandas_object is column-wise and fast; include column names so renames change the id.
            digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
            names = list(part.columns) if isinstance(part, pd.DataFrame) else [part.name]
            digest.update(json.dumps([str(n) for n in names]).encode())
        elif isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
            digest.update(str((part.dtype, part.shape)).encode())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def utc_now() -> datetime:
    """Naive UTC timestamp, matching how the warehouse stores times."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
