"""dbt as a subprocess against a test warehouse file, for the tests that build models directly
(without the pipeline): the key, the city's zone and holiday country set as the pipeline sets them."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cirm.dbt_paths import DBT_EXECUTABLE, DBT_PROJECT_DIR

SECRET = "fixture-secret-for-tests"


@dataclass
class DbtResult:
    returncode: int
    output: str
    target_path: Path

    def run_results(self) -> dict:
        return json.loads((self.target_path / "run_results.json").read_text())


def run_dbt(db_path: Path, *args: str, work_dir: Path, secret: str = SECRET, timeout: int = 300) -> DbtResult:
    """`dbt <args>` on the DuckDB file `db_path`; its target and logs go under `work_dir`."""
    target_path = work_dir / "target"
    env = {
        **os.environ,
        "CIRM_WAREHOUSE_PATH": str(db_path),
        "CIRM_PSEUDONYM_SECRET": secret,
        "CIRM_CITY_TIMEZONE": "America/New_York",
        "CIRM_HOLIDAY_COUNTRY": "US",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }
    command = [
        DBT_EXECUTABLE, *args,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return DbtResult(proc.returncode, proc.stdout + proc.stderr, target_path)
