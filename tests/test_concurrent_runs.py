"""Two headless runs at once never fail on DuckDB's single-writer file lock: they take turns."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from simulator.run import simulate


def test_two_runs_at_once_both_succeed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    simulate(f"sqlite:///{data / 'operational.db'}", data / "drops", data / "truth", citizens=400, days=30, seed=5)
    env = {**os.environ, "CIRM_DATA_DIR": str(data), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    env.pop("CIRM_SOURCE_URL", None)
    cirm = str(Path(sys.executable).with_name("cirm"))
    # Hold the warehouse as a running pipeline would, while both runs start: each must wait its turn.
    data.mkdir(exist_ok=True)
    holder = open(data / ".pipeline.lock", "w")  # noqa: SIM115 - released below, mid-test
    fcntl.flock(holder, fcntl.LOCK_EX)
    runs = [
        subprocess.Popen(
            [cirm, "run", "--select", "raw", "--no-counts"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(20)
    holder.close()
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("waiting for it to finish" in out for out in outputs), outputs
    assert not any("lock" in out.lower() and "error" in out.lower() for out in outputs), outputs
