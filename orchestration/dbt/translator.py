"""How dbt nodes appear in Dagster: sources become the ingestion assets, models sit in their layer."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

OWNER = "team:analytics-engineering"
LAYERS = ("staging", "intermediate", "snapshots", "quarantine", "marts")


def layer_of(props: Mapping[str, Any]) -> str:
    """The warehouse layer (schema) a dbt node materializes into."""
    schema = props.get("schema") or ""
    if schema in LAYERS:
        return schema
    fqn = props.get("fqn") or []
    return next((part for part in fqn if part in LAYERS), "marts")


class CirmDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # dbt sources are the raw tables the ingestion assets write: one node, not two.
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return dg.AssetKey([layer_of(dbt_resource_props), name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return layer_of(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]
