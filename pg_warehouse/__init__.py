"""PostgreSQL as a warehouse target: the DuckDB warehouse's raw layer mirrored, the same dbt models,
snapshot and tests built there (`dbt build --target postgres`), the ML outputs copied, and a
read-only `bi_reader` role on marts and ml.

Plain library (no Dagster). `publish_to_postgres` is what `cirm publish-postgres` runs:
`connection.py` (URL -> dbt environment, the key as a session setting), `mirror.py` (the one
DuckDB -> Arrow -> COPY routine, atomic per table), `build.py` (dbt as a subprocess),
`publish.py` (ML outputs, the role, the whole sequence).
"""

from pg_warehouse.build import BuildResult, PgBuildError, build_postgres, run_dbt_postgres
from pg_warehouse.connection import PgTarget, PgWarehouseError, dbt_environment, ensure_database, parse_pg_url
from pg_warehouse.mirror import MirrorError, copy_schemas, mirror_raw
from pg_warehouse.publish import BI_ROLE, ensure_bi_reader, publish_ml, publish_to_postgres, table_counts

__all__ = [
    "BI_ROLE",
    "BuildResult",
    "MirrorError",
    "PgBuildError",
    "PgTarget",
    "PgWarehouseError",
    "build_postgres",
    "copy_schemas",
    "dbt_environment",
    "ensure_bi_reader",
    "ensure_database",
    "mirror_raw",
    "parse_pg_url",
    "publish_ml",
    "publish_to_postgres",
    "run_dbt_postgres",
    "table_counts",
]
