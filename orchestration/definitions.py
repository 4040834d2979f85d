"""The code location's Definitions, loaded by workspace.yaml and by `cirm run`."""

import os

import dagster as dg

from cirm.errors import CirmError
from orchestration.dbt.assets import dbt_asset_defs, dbt_resource
from orchestration.ingestion import case_system_sources, ingestion_assets
from orchestration.mining import mining_assets
from orchestration.open311 import open311_definitions
from orchestration.postgres import postgres_definitions
from orchestration.quality import quality_checks
from orchestration.resources import CirmSettings
from orchestration.schedules import (
    PIPELINE_JOB,
    daily_pipeline_schedule,
    drop_ingest_job,
    explain_failed_runs,
    freshness_checks,
    new_drop_files,
    pipeline_job,
    retrain_job,
    weekly_retrain_schedule,
)
from orchestration.serving import serving_assets

__all__ = ["PIPELINE_JOB", "defs"]

# In process by default: every warehouse step holds the one duckdb_warehouse pool slot, so a process
# per step adds start-up time and no parallelism (measured by `cirm bench`, see bench/README.md).
# CIRM_EXECUTOR=multiprocess exists for that measurement and for runs launched from the UI.
_EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def _executor() -> dg.ExecutorDefinition:
    name = os.environ.get("CIRM_EXECUTOR", "in_process").strip() or "in_process"
    if name not in _EXECUTORS:
        raise CirmError(f"CIRM_EXECUTOR={name!r} is not an executor; use {' or '.join(_EXECUTORS)}")
    return _EXECUTORS[name]


_assets = [
    *case_system_sources,
    *ingestion_assets,
    *open311_definitions(),
    *dbt_asset_defs,
    *mining_assets,
    *serving_assets,
    *postgres_definitions(),
]
_keys = {key for a in _assets for key in (a.keys if isinstance(a, dg.AssetsDefinition) else [a.key])}
# Tables that only an import of open data fills (specs, not materialized here) have no daily rhythm.
_materialized = {key for a in _assets if isinstance(a, dg.AssetsDefinition) for key in a.keys}
_freshness = freshness_checks(
    raw_keys=sorted((k for k in _materialized if k.path[0] == "raw"), key=str),
    mart_keys=sorted((k for k in _keys if k.path[0] == "marts" and k.path[1].startswith(("fct_", "mart_"))), key=str),
)

defs = dg.Definitions(
    assets=_assets,
    asset_checks=[*quality_checks(_keys), *_freshness],
    jobs=[pipeline_job, retrain_job, drop_ingest_job],
    schedules=[daily_pipeline_schedule, weekly_retrain_schedule],
    sensors=[
        new_drop_files,
        explain_failed_runs,
        dg.build_sensor_for_freshness_checks(freshness_checks=_freshness, name="freshness_checks_sensor"),
    ],
    resources={"cirm": CirmSettings(), "dbt": dbt_resource},
    executor=_executor(),
)
