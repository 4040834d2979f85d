"""Where the dbt project lives and which dbt runs it: one answer for the pipeline, the PostgreSQL
build, the benchmark's floor and the tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

# The dbt installed beside this interpreter, so it works without activating the venv.
_BESIDE = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_BESIDE) if _BESIDE.exists() else (shutil.which("dbt") or "dbt")
# True when DBT_EXECUTABLE is this environment's own dbt, whose version is then its dbt-core package's.
DBT_IS_BESIDE = _BESIDE.exists()
