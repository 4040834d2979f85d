"""The PostgreSQL warehouse as the last serving step, when CIRM_POSTGRES_WAREHOUSE_URL is set.

The step is `cirm publish-postgres` inside the pipeline: raw and the snapshot history mirrored, the
dbt models, snapshot and tests built on PostgreSQL, the ML outputs copied, role `bi_reader` granted
read on marts and ml only (pg_warehouse/). Without the setting the asset is not defined, so the
pipeline of a city without a PostgreSQL warehouse shows no step that could never run.
"""

import dagster as dg

from cirm.settings import load_settings
from orchestration.resources import WAREHOUSE_POOL, CirmSettings
from orchestration.serving import OWNER, SERVING_COPY
from pg_warehouse import publish_to_postgres
from pg_warehouse.connection import parse_pg_url

POSTGRES_WAREHOUSE = dg.AssetKey(["serving", "postgres_warehouse"])


@dg.asset(
    key=POSTGRES_WAREHOUSE,
    # After the serving copy: the same marts and ML outputs, so both BI entry points agree.
    deps=[SERVING_COPY],
    group_name="serving",
    description="The warehouse on PostgreSQL (CIRM_POSTGRES_WAREHOUSE_URL): raw mirrored, the dbt models, "
    "snapshot and tests built there, the ML outputs copied; role `bi_reader` reads marts and ml only.",
    owners=[OWNER],
    kinds={"postgres", "dbt"},
    pool=WAREHOUSE_POOL,
)
def postgres_warehouse(context: dg.AssetExecutionContext, cirm: CirmSettings) -> dg.MaterializeResult:
    settings = cirm.load()
    url = settings.postgres_warehouse_url
    if not url:  # the definitions were loaded with the setting, the run without it
        raise dg.Failure("CIRM_POSTGRES_WAREHOUSE_URL is not set for this run")
    counts = publish_to_postgres(settings, url, echo=context.log.warning)
    return dg.MaterializeResult(
        metadata={
            "database": parse_pg_url(url).display,
            "tables": dg.MetadataValue.json(counts),
            "dagster/row_count": sum(n for t, n in counts.items() if t.startswith(("marts.", "ml."))),
        }
    )


def postgres_definitions() -> list[dg.AssetsDefinition]:
    """The PostgreSQL step when the setting names a warehouse, else nothing."""
    return [postgres_warehouse] if load_settings().postgres_warehouse_url else []
