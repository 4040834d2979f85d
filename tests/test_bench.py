"""The benchmark harness in pieces (a whole scale takes minutes): the process-tree monitor, stage
attribution, both floors on a tiny city, rows reconciled with the warehouse, results and README."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import results as res
from bench.events import DbtNode, RunEvents, StepRecord, dbt_nodes
from bench.floors import execution_plan, ingest_floor, transform_floor
from bench.harness import SCALES, _today_partition, prepare_data_dir
from bench.monitor import Measured, Sample, close_series, run_monitored
from bench.rows import MINING_INPUTS, database_rows, source_rows, stage_rows
from bench.stages import stage_metrics, stage_windows, step_stage
from cirm.errors import CirmError
from cirm.settings import Settings, load_settings
from simulator.drops import DROP_TABLES


def test_monitor_sums_memory_and_cpu_over_the_process_tree(tmp_path: Path) -> None:
    # Parent and child each hold ~120 MB at the same time and each burn CPU: the tree's peak must
    # exceed any single process's, and the CPU must include the child's.
    child = 'import time; b = b"x" * (120 * 2**20); t = time.process_time()\nwhile time.process_time() - t < 0.6: pass'
    parent = textwrap.dedent(
        f"""
        import subprocess, sys, time
        b = b"x" * (120 * 2**20)  # touched pages: resident, unlike a calloc'd bytearray
        p = subprocess.Popen([sys.executable, "-c", {child!r}])
        t = time.process_time()
        while time.process_time() - t < 0.6: pass
        p.wait()
        """
    )
    measured = run_monitored([sys.executable, "-c", parent], log_path=tmp_path / "out.log", interval=0.05)
    assert measured.returncode == 0, (tmp_path / "out.log").read_text()
    assert measured.wall_s >= 0.6
    assert measured.cpu_s >= 1.0  # both processes' 0.6 s, from wait4
    # Each process holds ~120 MB: only the sum over the tree reaches 230.
    assert measured.peak_rss_mb >= 230
    assert len(measured.samples) >= 5
    whole = measured.cpu_between(measured.started, measured.ended)
    assert whole == pytest.approx(measured.cpu_s, abs=0.05)


def test_series_drops_samples_the_sampler_took_after_the_exit() -> None:
    # The sampler stops only after wait4 returns, so its last scan may find the tree already gone
    # (CPU 0) and be stamped after the exit: kept, it put the series out of order and the whole
    # run's CPU came out as 0.02 s of 1.46 s (a CI failure).
    ended = 10.0
    taken = [Sample(9.0, 0.0, 200.0), Sample(9.5, 1.4, 250.0), Sample(10.02, 0.0, 0.0)]
    series = close_series(taken, ended, cpu_s=1.456)
    assert [s.t for s in series] == [9.0, 9.5, 10.0]
    measured = Measured(["x"], 0, 9.0, ended, 1.456, 130.0, series)
    assert measured.cpu_between(9.0, ended) == pytest.approx(1.456)
    assert measured.peak_rss_mb == 250.0
    # Nothing sampled (a command faster than one interval): the total still closes the series.
    assert close_series([], ended, cpu_s=0.3) == [Sample(ended, 0.3, 0.0)]


def _measured(start: float, seconds: float, cpu_per_s: float, rss: dict[float, float]) -> Measured:
    samples = [
        Sample(start + t, t * cpu_per_s, rss.get(t, 100.0)) for t in (x / 2 for x in range(int(seconds * 2) + 1))
    ]
    return Measured(["x"], 0, start, start + seconds, seconds * cpu_per_s, 90.0, samples)


def test_stages_come_from_materialized_assets_and_dbt_tests_move_to_quality() -> None:
    t0 = 1_000.0
    steps = [
        StepRecord("raw__citizens", t0, t0 + 2, "success", [("raw", "citizens")]),
        StepRecord("gx_raw__citizens", t0 + 2, t0 + 3, "success", [], [("raw", "citizens")] * 3),
        StepRecord("dbt_staging", t0 + 3, t0 + 9, "success", [("staging", "stg_a"), ("quarantine", "a")]),
        StepRecord("citizen_segments", t0 + 9, t0 + 10, "success", [("ml", "citizen_segments")]),
        StepRecord("serving__serving_copy", t0 + 10, t0 + 10.5, "success", [("serving", "serving_copy")]),
        StepRecord("demand_forecast", t0 + 10.5, t0 + 11, "failure"),
    ]
    events = RunEvents("r", "SUCCESS", t0 - 1, t0 + 11, steps, check_evaluations=3)
    tests = [
        DbtNode("test.cirm.a", "dbt_staging", t0 + 5, t0 + 6),
        DbtNode("test.cirm.b", "dbt_staging", t0 + 5.5, t0 + 7),
    ]
    windows = stage_windows(events, [*tests, DbtNode("model.cirm.stg_a", "dbt_staging", t0 + 3.5, t0 + 5)])
    assert [step_stage(s) for s in steps] == ["ingest", "quality", "transform", "mining", "publish", "mining"]
    metrics = stage_metrics(windows, _measured(t0, 11, cpu_per_s=2.0, rss={4.0: 700.0, 6.0: 900.0}))
    assert metrics["transform"]["wall_s"] == pytest.approx(4.0)  # 6 s step minus the merged 2 s of tests
    assert metrics["quality"]["wall_s"] == pytest.approx(3.0)  # the GE step and the dbt tests
    assert metrics["quality"]["cpu_s"] == pytest.approx(6.0)
    assert metrics["transform"]["peak_rss_mb"] == 700.0  # 900 MB was sampled inside a test
    assert metrics["quality"]["peak_rss_mb"] == 900.0
    assert sum(m["wall_s"] for m in metrics.values()) == pytest.approx(events.step_seconds)
    assert events.step_union_s == pytest.approx(events.step_seconds)
    overlapping = RunEvents("r", "SUCCESS", t0, t0 + 5, [steps[0], StepRecord("x", t0 + 1, t0 + 4, "success")], 0)
    assert overlapping.step_union_s == pytest.approx(4.0) and overlapping.step_seconds == pytest.approx(5.0)


def test_dbt_run_results_are_read_per_invocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = "abcdef12-3456-7890-abcd-ef1234567890"
    folder = tmp_path / f"dbt_staging-{run_id[:7]}-1a2b3c4"
    folder.mkdir()
    timing = [
        {"name": "compile", "started_at": "2026-01-01T00:00:00.000000Z", "completed_at": "2026-01-01T00:00:01Z"},
        {"name": "execute", "started_at": "2026-01-01T00:00:01Z", "completed_at": "2026-01-01T00:00:03.5Z"},
    ]
    results = {"elapsed_time": 4.2, "results": [{"unique_id": "test.cirm.x", "timing": timing}]}
    (folder / "run_results.json").write_text(json.dumps(results))
    (tmp_path / "dbt_staging-zzzzzzz-1a2b3c4").mkdir()  # another run's invocation
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    nodes, elapsed = dbt_nodes(run_id)
    assert elapsed == {"dbt_staging": 4.2}
    assert [(n.step, n.kind, n.end - n.start) for n in nodes] == [("dbt_staging", "test", 3.5)]


def _settings(data: Path) -> Settings:
    # A simulated city: the published development key may pseudonymize it.
    return load_settings({"CIRM_DATA_DIR": str(data), "CIRM_DEMO_MODE": "true"})


@pytest.fixture(scope="module")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-citizen, 20-day city loaded into raw with the ingestion library (no Dagster, no dbt)."""
    from ingest.calendar import load_public_holidays
    from ingest.case_system import load_table
    from ingest.drops import load_channel
    from ingest.warehouse import connect_warehouse
    from simulator.drops import DROP_CHANNELS
    from simulator.run import simulate
    from simulator.schema import CASE_SYSTEM_TABLES

    data = tmp_path_factory.mktemp("bench-city")
    settings = _settings(data)
    settings.ensure_dirs()
    simulate(settings.source_url, settings.drops_dir, settings.truth_dir, citizens=300, days=20)
    with connect_warehouse(settings.warehouse_path) as con:
        for table in CASE_SYSTEM_TABLES:
            load_table(con, settings.source_url, table, "bench-test")
        for channel in DROP_CHANNELS:
            load_channel(con, settings.drops_dir, channel, "bench-test")
        load_public_holidays(con, settings.holiday_country, "bench-test")
    return data


def test_ingest_floor_loads_every_source_row(tiny_city: Path, tmp_path: Path) -> None:
    settings = _settings(tiny_city)
    source = source_rows(settings.source_url, settings.drops_dir)
    floor = ingest_floor(settings.source_url, settings.drops_dir, tmp_path / "ingest")
    assert floor.wall_s > 0 and floor.cpu_s > 0
    by_source = {f"drops/{channel}": table for channel, table in DROP_TABLES.items()}
    loaded = {name: floor.rows["raw"][by_source.get(name, name)] for name in source}
    assert loaded == source
    assert min(source.values()) > 0


def test_transform_floor_builds_the_models_and_stage_rows_reconcile(tiny_city: Path, tmp_path: Path) -> None:
    settings = _settings(tiny_city)
    floor = transform_floor(settings.warehouse_path, tmp_path / "transform", settings)
    assert floor.wall_s > 0 and floor.detail["nodes"] >= 40
    built, raw = floor.rows, database_rows(settings.warehouse_path)["raw"]
    # The warehouse's own invariant, now on the floor's tables: raw = staged + quarantined.
    for source, table in [
        ("case_system", "citizens"),
        ("case_system", "service_requests"),
        ("channel_drops", "web_events"),
    ]:
        assert raw[table] == built["staging"][f"stg_{source}__{table}"] + built["quarantine"][table]
    assert built["marts"]["fct_service_requests"] == built["staging"]["stg_case_system__service_requests"] > 0
    assert built["snapshots"]["citizens_snapshot"] == built["staging"]["stg_case_system__citizens"]

    source = source_rows(settings.source_url, settings.drops_dir)
    warehouse = {**database_rows(settings.warehouse_path), **built}
    rows = stage_rows(source, warehouse, {"marts": built["marts"]}, [("raw", "citizens")], 7)
    assert rows["ingest"]["rows_in"] == sum(source.values())
    assert rows["ingest"]["rows_out"] == rows["ingest"]["rows_in"] + rows["ingest"]["holiday_rows"]
    assert rows["transform"]["rows_in"] == rows["ingest"]["rows_out"]
    assert rows["transform"]["rows_out"] == sum(built["marts"].values()) > 0
    assert rows["quality"] == {"rows_in": raw["citizens"], "rows_out": 7, "rows": 7}
    assert rows["mining"]["rows_in"] == sum(built[schema][t] for schema, t in MINING_INPUTS) > 0
    assert rows["publish"]["rows_out"] == rows["publish"]["rows_in"] == sum(built["marts"].values())


def test_execution_plan_orders_models_after_their_parents() -> None:
    def node(uid: str, deps: list[str], materialized: str = "table") -> dict:
        kind = uid.split(".")[0]
        return {"resource_type": kind, "config": {"materialized": materialized}, "depends_on": {"nodes": deps}}

    manifest = {
        "nodes": {
            "model.c.b": node("model.c.b", ["model.c.a", "source.c.raw.x"]),
            "model.c.a": node("model.c.a", ["model.c.e"]),
            "model.c.e": node("model.c.e", [], "ephemeral"),
            "snapshot.c.s": node("snapshot.c.s", ["model.c.b"], "snapshot"),
            "test.c.t": node("test.c.t", ["model.c.b"], "test"),
        }
    }
    plan = execution_plan(manifest)
    assert [n["resource_type"] for n in plan] == ["model", "model", "snapshot"]
    assert [n["depends_on"]["nodes"][0] for n in plan[1:]] == ["model.c.a", "model.c.b"]


def test_mining_inputs_are_what_the_ml_assets_depend_on() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = {
        tuple(parent.path)
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name == "ml"
        for parent in graph.get(key).parent_keys
        if parent.path[0] != "ml"
    }
    assert upstream == set(MINING_INPUTS)


def test_executor_is_selectable_and_in_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from orchestration import definitions

    monkeypatch.delenv("CIRM_EXECUTOR", raising=False)
    assert definitions._executor() is dg.in_process_executor
    monkeypatch.setenv("CIRM_EXECUTOR", "multiprocess")
    assert definitions._executor() is dg.multiprocess_executor
    monkeypatch.setenv("CIRM_EXECUTOR", "threads")
    with pytest.raises(CirmError, match="CIRM_EXECUTOR"):
        definitions._executor()


def test_bench_runs_use_the_catch_up_partition() -> None:
    from orchestration.partitions import daily_partitions

    assert _today_partition() == daily_partitions.get_last_partition_key()


def test_scales_are_the_issues_and_xs_is_hidden() -> None:
    assert {n: (s.citizens, s.days) for n, s in SCALES.items() if not s.hidden} == {
        "S": (20_000, 365),
        "M": (200_000, 730),
        "L": (1_000_000, 1_095),
    }
    assert SCALES["XS"].hidden


def test_data_dir_is_wiped_only_when_the_harness_made_it(tmp_path: Path) -> None:
    mine = prepare_data_dir(tmp_path / "bench")
    (mine / "warehouse.duckdb").write_text("old")
    assert not (prepare_data_dir(mine) / "warehouse.duckdb").exists()
    theirs = tmp_path / "data"
    theirs.mkdir()
    (theirs / "warehouse.duckdb").write_text("precious")
    with pytest.raises(CirmError, match="not a benchmark folder"):
        prepare_data_dir(theirs)
    assert (theirs / "warehouse.duckdb").read_text() == "precious"


def _scale(full: float, inc: float, peak: float, ratios: dict | None = None) -> dict:
    return {
        "citizens": 1,
        "days": 1,
        "measured_at": "2026-01-01T00:00:00Z",
        "commit": {"commit": "abc", "dirty": False},
        "stages": {"ingest": {"wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mb": 10.0, "rows_in": 5, "rows_out": 6}},
        "full_wall_s": full,
        "incremental_wall_s": inc,
        "full_peak_rss_mb": peak,
        "ratios": ratios or {},
    }


def test_merge_keeps_other_scales_and_judges_the_targets(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    res.save(res.merge({}, "S", _scale(100, 20, 500, {"transform": 9.0, "ingest": 3.0})), path)
    orchestration = {"scale": "S", "in_process": {"run_wall_s": 10, "overhead_s": 1}}
    merged = res.merge(
        res.load(path), "M", _scale(240, 30, 900, {"transform": 1.2, "ingest": 2.5}), orchestration=orchestration
    )
    res.save(merged, path)
    again = res.load(path)
    assert set(again["scales"]) == {"S", "M"} and again["scales"]["S"]["full_wall_s"] == 100
    assert again["ratios"] == {"transform": 1.2, "ingest": 2.5, "scale": "M"}
    assert again["orchestration"]["scale"] == "S"
    verdicts = {t["target"]: t for t in again["targets"]}
    assert verdicts["M full pipeline ≤ 5 min"]["met"] is True
    assert verdicts["M incremental day ≤ 10% of the M full run"]["value"] == pytest.approx(12.5)
    assert verdicts["M incremental day ≤ 10% of the M full run"]["verdict"].startswith("MISSED by 2.50 % (+25%)")
    assert verdicts["M incremental day ≤ 1.5× the S incremental day"]["met"] is True
    assert verdicts["ingest ratio (pipeline ÷ floor) ≤ 2"]["met"] is False
    assert verdicts["L peak memory ≤ 4 GB"]["verdict"] == "not measured"
    # Re-measuring a scale replaces it, nothing else.
    remeasured = res.merge(again, "S", _scale(90, 18, 400))
    assert remeasured["scales"]["S"]["full_wall_s"] == 90 and remeasured["scales"]["M"]["full_wall_s"] == 240


def test_readme_table_is_rendered_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{res.BEGIN}\nold table\n{res.END}\n\nhow to reproduce\n")
    results = res.merge({}, "S", {**_scale(100, 20, 500), "machine": {"cores": 2, "memory_gb": 23.5}})
    res.render_readme(results, readme)
    first = readme.read_text()
    res.render_readme(results, readme)
    assert readme.read_text() == first  # idempotent
    assert "old table" not in first and first.startswith("# Benchmarks\n\nintro") and "how to reproduce" in first
    assert "| S | 1 citizens × 1 days |" in first and "| M |" in first and "not measured yet" in first
    assert "| ingest | 1.0 | 1.0 | 10 | 5 → 6 |" in first


def test_the_committed_results_render_to_the_committed_readme() -> None:
    results = res.load()
    if not results:
        pytest.skip("no bench/results/latest.json yet")
    assert set(results["scales"]) <= set(res.PUBLIC_SCALES)
    text = res.README.read_text()
    assert res.render_tables(results) in text
    for scale in results["scales"].values():
        assert all(scale["stages"][s]["wall_s"] > 0 for s in ("simulate", "ingest", "transform", "quality"))
        assert scale["incremental_wall_s"] > 0 and scale["commit"]["commit"]


def test_cli_has_bench() -> None:
    from cirm.cli import build_parser

    args = build_parser().parse_args(["bench", "--scale", "S", "--skip-floors", "--data-dir", "/tmp/x"])
    assert (args.scale, args.skip_floors, args.data_dir, args.orchestration) == ("S", True, Path("/tmp/x"), None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--scale", "XL"])
    assert build_parser().parse_args(["bench", "--render-only"]).render_only


def test_the_benchmarks_own_outputs_do_not_make_the_tree_dirty(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for name in ("bench/results/latest.json", "bench/README.md", "orchestration/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("before\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    (tmp_path / "bench/results/latest.json").write_text("after\n")
    (tmp_path / "bench/README.md").write_text("after\n")
    assert res.git_commit(tmp_path)["dirty"] is False
    (tmp_path / "orchestration/x.py").write_text("after\n")
    assert res.git_commit(tmp_path)["dirty"] is True
