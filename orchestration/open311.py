"""Open-data 311 imports: one asset per configured city import (open311/cities.py), all feeding
the one canonical table `raw.open311_requests` that the dbt staging model reads."""

import dagster as dg

from cirm.settings import load_settings
from ingest.warehouse import connect_warehouse
from open311.cities import CityImport, load_cities
from open311.importer import import_files
from open311.mapping import load_mapping
from orchestration.ingestion import OWNER, retry_transient
from orchestration.resources import WAREHOUSE_POOL, CirmSettings


def _city_asset(city: CityImport) -> dg.AssetsDefinition:
    @dg.asset(
        key=["open311", city.name],
        group_name="raw",
        description=(
            f"Imports the open-data 311 export(s) `{', '.join(city.patterns)}` with mapping `{city.mapping.name}` "
            "into raw.open311_requests (canonical shape), each file once; rows it cannot take go to "
            "raw.open311_quarantine with a reason."
        ),
        owners=[OWNER],
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
    )
    def _asset(context: dg.AssetExecutionContext, cirm: CirmSettings) -> dg.MaterializeResult:
        settings = cirm.load()
        mapping = load_mapping(city.mapping)
        files = city.files()
        if not files:
            context.log.warning(f"no export file matches {', '.join(city.patterns)} yet")
        with retry_transient(context.retry_number, context.log), connect_warehouse(settings.warehouse_path) as con:
            summary = import_files(con, mapping, files, context.run.run_id)
        context.log.info(summary.describe())
        return dg.MaterializeResult(
            metadata={
                "source_system": mapping.source_system,
                "files_loaded": len(summary.files_loaded),
                "files_skipped": len(summary.files_skipped),
                "rows_read": summary.rows_read,
                "rows_loaded": summary.rows_loaded,
                "rows_quarantined": summary.rows_quarantined,
                "duplicates_dropped": summary.duplicates_dropped,
                "quarantined_by_reason": dg.MetadataValue.json(summary.quarantined_by_reason),
                "summary": dg.MetadataValue.md(f"```\n{summary.describe()}\n```"),
            }
        )

    return _asset


def open311_definitions() -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The configured city imports, and the raw tables they fill (which dbt reads as sources)."""
    cities = load_cities(load_settings().open311_config)
    imports = [_city_asset(city) for city in cities]
    tables = [
        dg.AssetSpec(
            key=["raw", table],
            deps=[a.key for a in imports],
            group_name="raw",
            description=description,
            owners=[OWNER],
            kinds={"duckdb"},
        )
        for table, description in (
            ("open311_requests", "`raw.open311_requests`: every imported open-data request, canonical shape."),
            ("open311_quarantine", "`raw.open311_quarantine`: imported rows held back, with reason and value."),
        )
    ]
    return [*imports, *tables]
