"""The manifest Dagster loads: re-parsed when stale or unreadable, swapped in whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.dbt.project import DBT_PROJECT_DIR, ensure_manifest, manifest_is_stale


def test_a_manifest_cut_short_is_parsed_again_and_replaced_whole(tmp_path: Path) -> None:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=copy, profiles_dir=copy)
    assert manifest_is_stale(project)  # none yet
    ensure_manifest(project)
    manifest = project.manifest_path
    nodes = len(json.loads(manifest.read_text())["nodes"])
    assert nodes > 50 and not manifest_is_stale(project)

    # What a process killed while dbt wrote the file in place left behind: newer than every input.
    manifest.write_text(manifest.read_text()[:5000])
    assert manifest_is_stale(project)
    ensure_manifest(project)
    assert len(json.loads(manifest.read_text())["nodes"]) == nodes
    assert not manifest_is_stale(project)
