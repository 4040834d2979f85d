"""The code location's Definitions, loaded by workspace.yaml and by `cirm run`."""

import dagster as dg

from orchestration.dbt.assets import dbt_asset_defs, dbt_resource
from orchestration.ingestion import case_system_sources, ingestion_assets
from orchestration.mining import mining_assets
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

_assets = [*case_system_sources, *ingestion_assets, *dbt_asset_defs, *mining_assets, *serving_assets]
_keys = {key for a in _assets for key in (a.keys if isinstance(a, dg.AssetsDefinition) else [a.key])}
_freshness = freshness_checks(
    raw_keys=sorted((k for k in _keys if k.path[0] == "raw"), key=str),
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
    executor=dg.in_process_executor,
)
