"""The code location's Definitions, loaded by workspace.yaml and by `cirm run`."""

from __future__ import annotations

import dagster as dg

from orchestration.ingestion import case_system_sources, ingestion_assets
from orchestration.resources import CirmSettings

PIPELINE_JOB = "cirm_pipeline"

pipeline_job = dg.define_asset_job(
    PIPELINE_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
    description="Everything, from ingestion to the published outputs.",
)

defs = dg.Definitions(
    assets=[*case_system_sources, *ingestion_assets],
    jobs=[pipeline_job],
    resources={"cirm": CirmSettings()},
    executor=dg.in_process_executor,
)
