"""The manifest Dagster loads: re-parsed when stale or unreadable, swapped in whole."""

from __future__ import annotations

import json
import os
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


def test_only_the_newest_invocation_folders_are_kept(tmp_path: Path) -> None:
    from orchestration.dbt.assets import prune_invocation_folders

    target = tmp_path / "target"
    folders = [target / f"dbt_staging-{i:07x}-abcdef{i % 10}" for i in range(12)]
    for i, folder in enumerate(folders):  # folders[0] is the oldest
        (folder / "compiled").mkdir(parents=True)
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    # The project's own state and anything not named as dagster-dbt names invocations stay.
    for keep in ("manifest.json", "partial_parse.msgpack"):
        (target / keep).write_text("{}")
    (target / ".parse").mkdir()
    (target / "my-notes").mkdir()

    removed = prune_invocation_folders(target, keep=5)
    assert sorted(removed) == sorted(folders[:7])
    left = sorted(p.name for p in target.iterdir())
    others = ["manifest.json", "partial_parse.msgpack", ".parse", "my-notes"]
    assert left == sorted([*(f.name for f in folders[7:]), *others])
    assert prune_invocation_folders(target, keep=5) == []


def test_dbt_events_are_drained_before_the_metadata_pass() -> None:
    from orchestration.dbt.assets import _drain

    def events():
        yield "model_a"
        yield "model_b"
        raise RuntimeError("dbt exited with 1")

    collected, failure = _drain(events())
    # What dbt built before it failed is still reported, then its error.
    assert collected == ["model_a", "model_b"]
    assert isinstance(failure, RuntimeError) and str(failure) == "dbt exited with 1"
    assert _drain(iter(["x"])) == (["x"], None)


def test_the_dbt_resource_knows_dbts_version_without_running_it(monkeypatch) -> None:
    import dagster_dbt.core.resource as dbt_resource_module
    from dagster_dbt import DbtCliResource

    from orchestration.dbt.project import DBT_EXECUTABLE, CirmDbtCliResource

    asked = DbtCliResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)._cli_version

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args[0]}")

    monkeypatch.setattr(dbt_resource_module, "check_output", no_subprocess)
    told = CirmDbtCliResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)._cli_version
    assert told == asked and told.major == 1
