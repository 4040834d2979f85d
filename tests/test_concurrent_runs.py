"""Two headless runs at once never fail on DuckDB's single-writer file lock: they take turns."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from simulator.run import simulate


def _collect(process: subprocess.Popen, lines: list[str]) -> None:
    for line in process.stdout:  # type: ignore[union-attr]
        lines.append(line)


def test_two_runs_at_once_both_succeed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    simulate(f"sqlite:///{data / 'operational.db'}", data / "drops", data / "truth", citizens=400, days=30, seed=5)
    env = {**os.environ, "CIRM_DATA_DIR": str(data), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    env.pop("CIRM_SOURCE_URL", None)
    cirm = str(Path(sys.executable).with_name("cirm"))
    # Hold the warehouse as a running pipeline would, while both runs start: each must wait its turn.
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
    outputs: list[list[str]] = [[], []]
    readers = [
        threading.Thread(target=_collect, args=(r, out), daemon=True) for r, out in zip(runs, outputs, strict=True)
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not all(any("waiting" in line for line in out) for out in outputs):
        time.sleep(0.2)
    holder.close()
    for run in runs:
        run.wait(timeout=600)
    for reader in readers:
        reader.join(timeout=30)
    text = ["".join(out) for out in outputs]
    assert [run.returncode for run in runs] == [0, 0], text
    assert all("waiting for it to finish" in out for out in text), text
    assert not any("lock" in out.lower() and "error" in out.lower() for out in text), text
    # The progress counts the selection's steps, its assets' checks included: all done, none extra.
    for out in text:
        done, total = map(int, re.search(r"(\d+) of (\d+) steps done", out).groups())
        assert done == total > 11, out  # 11 raw tables, plus their checks
