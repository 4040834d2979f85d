"""Publish the warehouse to PostgreSQL: raw mirrored, models built there, ML outputs copied, and a
read-only role for BI tools.

`publish_to_postgres` is what `cirm publish-postgres` runs. Its caller holds the data-folder lock
(the command itself, or the `cirm run` whose step it is), so raw, the snapshot history and the ML
outputs come from one state of the DuckDB warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import psycopg
from psycopg import sql

from cirm.settings import Settings
from pg_warehouse.build import build_postgres
from pg_warehouse.connection import (
    BYTE_ORDER_COLLATIONS,
    PgTarget,
    PgWarehouseError,
    collation,
    connect,
    ensure_database,
    parse_pg_url,
)
from pg_warehouse.mirror import MIRRORED_SCHEMAS, copy_schemas, mirror_raw, open_warehouse

BI_ROLE = "bi_reader"
BI_SCHEMAS: tuple[str, ...] = ("marts", "ml")
# The schemas a publish leaves in PostgreSQL; the row counts cover these.
PUBLISHED_SCHEMAS: tuple[str, ...] = (*MIRRORED_SCHEMAS, "marts", "ml")
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def publish_ml(warehouse_path: Path, pg_url: str) -> dict[str, int]:
    """Copy the DuckDB warehouse's `ml` schema into PostgreSQL `ml`; rows per table."""
    target = parse_pg_url(pg_url)
    with open_warehouse(warehouse_path) as con:
        ensure_database(target)
        return copy_schemas(con, target, ("ml",))


def ensure_bi_reader(pg_url: str, role: str = BI_ROLE) -> None:
    """A role that reads marts and ml and nothing else; idempotent, run after every build.

    NOLOGIN: it is a group role; grant it to the BI tool's login (`GRANT bi_reader TO metabase`).
    Default privileges cover tables the publishing user creates later (dbt replaces a mart by
    creating a new table), and every other schema of the database is revoked from it, and from
    PUBLIC for the warehouse's own, so no membership opens raw or staging.
    """
    target = parse_pg_url(pg_url)
    with connect(target, autocommit=True) as pg:
        _create_role(pg, role, target)
        who = sql.Identifier(role)
        with pg.transaction():
            for schema in BI_SCHEMAS:
                name = sql.Identifier(schema)
                pg.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(name, who))
                pg.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(name, who))
                pg.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(name, who)
                )
            own = set(PUBLISHED_SCHEMAS) | {"staging", "intermediate", "quarantine", "meta"}
            for schema in _other_schemas(pg):
                name = sql.Identifier(schema)
                pg.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(name, who))
                pg.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(name, who))
                if schema in own:
                    pg.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC").format(name))
                    pg.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(name))


def publish_to_postgres(
    settings: Settings,
    pg_url: str,
    *,
    dbt_vars: Mapping[str, object] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, int]:
    """Mirror raw -> dbt build on PostgreSQL -> publish ml -> ensure bi_reader.

    Returns the rows per 'schema.table' PostgreSQL then holds in raw, snapshots, marts and ml. A
    failed build raises (naming the failing models and tests) before ml is published, so the ML
    outputs never run ahead of the marts they were computed from. The caller holds the data-folder
    lock (cirm.locking; it is not re-entrant, and a pipeline step runs inside a run that holds it).
    """
    target = parse_pg_url(pg_url)
    secret = settings.pseudonym_secret  # a refused key fails before anything is copied
    env = {
        **os.environ,
        "CIRM_CITY_TIMEZONE": settings.city_timezone,
        "CIRM_HOLIDAY_COUNTRY": settings.holiday_country,
    }
    mirror_raw(settings.warehouse_path, pg_url)
    _warn_about_collation(target, echo)
    build = build_postgres(pg_url, secret, settings.data_dir / "postgres", dbt_vars=dbt_vars, env=env)
    build.raise_for_failures()
    publish_ml(settings.warehouse_path, pg_url)
    ensure_bi_reader(pg_url)
    return table_counts(target, PUBLISHED_SCHEMAS)


def table_counts(target: PgTarget, schemas: Iterable[str]) -> dict[str, int]:
    """Rows per 'schema.table' of the base tables in `schemas`."""
    with connect(target) as pg:
        tables = pg.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s) ORDER BY 1, 2", [list(schemas)]
        ).fetchall()
        if not tables:
            return {}
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(f"{s}.{t}"), sql.Identifier(s, t))
            for s, t in tables
        )
        order = {s: i for i, s in enumerate(schemas)}
        rows = sorted(pg.execute(query).fetchall(), key=lambda r: (order[r[0].split(".")[0]], r[0]))
        return {name: int(n) for name, n in rows}


def _create_role(pg: psycopg.Connection, role: str, target: PgTarget) -> None:
    if pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        return
    try:
        pg.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    except psycopg.errors.DuplicateObject:
        pass  # created by a concurrent publish
    except psycopg.Error as exc:
        raise PgWarehouseError(f"cannot create role {role!r} at {target.display}: {exc}") from exc


def _other_schemas(pg: psycopg.Connection) -> list[str]:
    return [
        s
        for (s,) in pg.execute(
            "SELECT nspname FROM pg_namespace WHERE NOT (nspname = ANY(%s)) AND nspname NOT LIKE 'pg\\_temp\\_%%' "
            "AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%%' ORDER BY 1",
            [[*BI_SCHEMAS, *_SYSTEM_SCHEMAS]],
        ).fetchall()
    ]


def _warn_about_collation(target: PgTarget, echo: Callable[[str], None]) -> None:
    with connect(target) as pg:
        name = collation(pg)
    if name not in BYTE_ORDER_COLLATIONS:
        echo(
            f"warning: database {target.dbname!r} orders text by collation {name!r}, DuckDB by code point: "
            "text aggregates ordered by text (category_mix, holiday names) may differ from DuckDB's. "
            "A database created by cirm publish-postgres uses collation C."
        )
