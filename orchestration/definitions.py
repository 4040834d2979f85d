"""The code location's Definitions, loaded by workspace.yaml and by `cirm run`."""

import dagster as dg

from orchestration.dbt.assets import dbt_asset_defs, dbt_resource
from orchestration.ingestion import case_system_sources, ingestion_assets
from orchestration.mining import mining_assets
from orchestration.quality import quality_checks
from orchestration.resources import CirmSettings

PIPELINE_JOB = "cirm_pipeline"

_assets = [*case_system_sources, *ingestion_assets, *dbt_asset_defs, *mining_assets]
_keys = {key for a in _assets for key in (a.keys if isinstance(a, dg.AssetsDefinition) else [a.key])}

pipeline_job = dg.define_asset_job(
    PIPELINE_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
    description="Everything, from ingestion to the published outputs.",
)

defs = dg.Definitions(
    assets=_assets,
    asset_checks=quality_checks(_keys),
    jobs=[pipeline_job],
    resources={"cirm": CirmSettings(), "dbt": dbt_resource},
    executor=dg.in_process_executor,
)
