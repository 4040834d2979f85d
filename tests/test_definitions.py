"""The code location loads, validates, and forms one connected graph from sources to mining."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_graph_is_connected_and_checked() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for key in keys:
        node = graph.get(key)
        assert node.parent_keys <= keys, (key, node.parent_keys - keys)  # no dangling upstream
        assert node.owners, key
        if key.path[0] != "case_system":
            assert node.description, key
    assert all(graph.get(dg.AssetKey(["raw", t])).parent_keys for t in ("service_requests", "citizens"))
    for ml_key in (dg.AssetKey(["ml", "citizen_segments"]), dg.AssetKey(["ml", "demand_forecast"])):
        upstream = _ancestors(graph, ml_key)
        assert dg.AssetKey(["marts", "fct_service_requests"]) in upstream, ml_key
        assert dg.AssetKey(["raw", "service_requests"]) in upstream, ml_key
    groups = {graph.get(k).group_name for k in keys}
    assert {"sources", "raw", "staging", "intermediate", "snapshots", "marts", "quarantine", "ml"} <= groups

    checks = list(graph.asset_check_keys)
    blocking = [k for k in checks if graph.get_check_spec(k).blocking]
    assert len(checks) >= 15 and len(blocking) >= 3


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:  # noqa: ANN001
    seen: set[dg.AssetKey] = set()
    stack = [key]
    while stack:
        for parent in graph.get(stack.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen
