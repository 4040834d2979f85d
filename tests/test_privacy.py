"""The public development pseudonymization key is refused outside demo mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cirm.settings import DEMO_MARKER, DEV_PSEUDONYM_SECRET, SettingsError, load_settings

CIRM = str(Path(sys.executable).with_name("cirm"))


def test_the_development_key_is_refused_outside_demo_mode(tmp_path: Path) -> None:
    settings = load_settings({"CIRM_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="CIRM_PSEUDONYM_SECRET is not set"):
        settings.pseudonym_secret  # noqa: B018
    # A key of one's own, an explicit demo, or a simulated city's folder: allowed.
    assert load_settings({"CIRM_DATA_DIR": str(tmp_path), "CIRM_PSEUDONYM_SECRET": "k" * 32}).pseudonym_secret
    demo = load_settings({"CIRM_DATA_DIR": str(tmp_path), "CIRM_DEMO_MODE": "true"})
    assert demo.pseudonym_secret == DEV_PSEUDONYM_SECRET
    (tmp_path / DEMO_MARKER).touch()
    assert load_settings({"CIRM_DATA_DIR": str(tmp_path)}).pseudonym_secret == DEV_PSEUDONYM_SECRET
    with pytest.raises(SettingsError, match="CIRM_DEMO_MODE='maybe'"):
        load_settings({"CIRM_DATA_DIR": str(tmp_path), "CIRM_DEMO_MODE": "maybe"})


def test_cirm_run_refuses_the_development_key_with_a_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIRM_PSEUDONYM_SECRET", "CIRM_SOURCE_URL")}
    env |= {"CIRM_DATA_DIR": str(tmp_path / "data"), "CIRM_DEMO_MODE": "false", "CIRM_SOURCE_URL": "none"}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    done = subprocess.run([CIRM, "run", "--no-counts"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cirm: error: CIRM_PSEUDONYM_SECRET is not set" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()  # refused before any work


def test_simulating_marks_the_folder_as_a_demo_city(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIRM_PSEUDONYM_SECRET", "CIRM_SOURCE_URL")}
    env |= {"CIRM_DATA_DIR": str(tmp_path / "data"), "CIRM_DEMO_MODE": "false"}
    done = subprocess.run(
        [CIRM, "simulate", "--citizens", "50", "--days", "3"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / DEMO_MARKER).exists()
    assert load_settings({"CIRM_DATA_DIR": str(tmp_path / "data")}).demo_mode
