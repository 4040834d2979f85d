"""The Dagster instance templates and the run-failure sensor, on real storage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pytest

from cirm.settings import load_settings
from orchestration.runner import dagster_instance
from orchestration.schedules import explain_failed_runs, failure_summary


@dg.asset
def tiny() -> int:
    return 1


@dg.asset
def broken_source() -> None:
    # What a permanent source error looks like to the sensor: a readable message, no stack.
    raise ValueError("source table 'service_requests' declares no primary key")


def test_postgres_instance_template_stores_runs_in_postgres(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("CIRM_DAGSTER_PG_URL", pg_database)
    instance = dagster_instance(load_settings())
    assert "postgres" in (tmp_path / "dagster_home" / "dagster.yaml").read_text()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    result = dg.materialize([tiny], instance=instance)
    assert result.success
    with psycopg.connect(pg_database) as con:
        stored = con.execute("SELECT run_id, status FROM runs").fetchall()
    assert stored == [(result.run_id, "SUCCESS")]
    instance.dispose()


def test_local_instance_template_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("CIRM_DAGSTER_PG_URL", raising=False)
    instance = dagster_instance(load_settings())
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_failure_sensor_names_the_step_and_the_cause() -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize([broken_source], instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="explain_failed_runs",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
        ).for_run_failure()
        summary = failure_summary(context)
        assert summary.splitlines()[0] == f"Run {result.run_id} of {result.dagster_run.job_name} failed."
        assert "  step broken_source: ValueError: source table 'service_requests' declares no primary key" in summary
        assert "Traceback" not in summary and 'File "' not in summary
        explain_failed_runs(context)  # the sensor itself evaluates without error


def test_runs_a_killed_cli_left_unfinished_are_released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    from orchestration.runner import RUNNER_TAG, release_stale_runs

    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = dagster_instance(load_settings())
    statuses = {
        "never-started": (dg.DagsterRunStatus.NOT_STARTED, "cli"),  # killed between creating and starting
        "killed-mid-run": (dg.DagsterRunStatus.STARTED, "cli"),
        "from-the-ui": (dg.DagsterRunStatus.STARTED, None),  # another launcher's run: not ours to judge
        "finished": (dg.DagsterRunStatus.SUCCESS, "cli"),
    }
    ids = {}
    for name, (status, runner) in statuses.items():
        run = DagsterRun(
            job_name=name, run_id=make_new_run_id(), status=status, tags={RUNNER_TAG: runner} if runner else {}
        )
        ids[name] = instance.add_run(run).run_id

    released = release_stale_runs(instance)

    assert sorted(released) == sorted([ids["never-started"], ids["killed-mid-run"]])
    after = {name: instance.get_run_by_id(run_id).status for name, run_id in ids.items()}
    assert after == {
        "never-started": dg.DagsterRunStatus.FAILURE,
        "killed-mid-run": dg.DagsterRunStatus.FAILURE,
        "from-the-ui": dg.DagsterRunStatus.STARTED,
        "finished": dg.DagsterRunStatus.SUCCESS,
    }
    assert release_stale_runs(instance) == []
