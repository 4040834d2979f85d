"""The one DbtProject, and the guarantee that its manifest exists and is current.

A new user never runs `dbt parse`: loading the code location re-parses when any project file is
newer than the manifest (or the manifest is missing).
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from cirm.dbt_paths import DBT_EXECUTABLE, DBT_IS_BESIDE, DBT_PROJECT_DIR

_PROJECT_INPUTS = ("models", "snapshots", "macros", "seeds", "tests", "analyses")
_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "selectors.yml")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class CirmDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, told dbt's version instead of asking the executable for it.

    dagster-dbt runs `dbt --version` in every step that calls dbt (to tell dbt Core from Fusion):
    a Python start that imports dbt, 3-5 s per step, four steps per run. The dbt beside this
    interpreter is this environment's dbt-core, whose version the package metadata gives.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if DBT_IS_BESIDE and os.path.realpath(self.dbt_executable) == os.path.realpath(DBT_EXECUTABLE):
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # another dbt: ask it, as dagster-dbt does


def _newest_input(project_dir: Path) -> float:
    paths = [project_dir / f for f in _PROJECT_FILES if (project_dir / f).exists()]
    for folder in _PROJECT_INPUTS:
        if (project_dir / folder).is_dir():
            paths.extend(p for p in (project_dir / folder).rglob("*") if p.is_file())
    return max((p.stat().st_mtime for p in paths), default=0.0)


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_input(project.project_dir):
        return True
    try:  # one left cut short (a parse killed mid-write, before writes became atomic) is stale too
        json.loads(manifest.read_bytes())
    except ValueError:
        return True
    return False


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project when its manifest is missing or older than its sources."""
    if not manifest_is_stale(project):
        return project.manifest_path
    # Two processes starting at once (two `cirm run`s on a fresh checkout) must not both write it.
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale(project):
            # dbt writes its artefacts in place: parse into a folder of its own, then swap each file
            # in whole, so a process killed mid-parse leaves the old manifest or the new one.
            scratch = project.target_path / ".parse"
            shutil.rmtree(project.project_dir / scratch, ignore_errors=True)
            dbt = CirmDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
            dbt.cli(["parse", "--quiet"], target_path=scratch).wait()
            for name in ("partial_parse.msgpack", "manifest.json"):  # the manifest last: it marks "current"
                if (project.project_dir / scratch / name).exists():
                    os.replace(project.project_dir / scratch / name, target / name)
    return project.manifest_path
