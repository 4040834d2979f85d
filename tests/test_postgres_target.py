"""PostgreSQL as a warehouse target (pg_warehouse/), on a real PostgreSQL server.

One publish is shared by the module: the hand-made raw fixture (plus a small open-data import),
its citizens snapshotted on each of its three days, is built with dbt on DuckDB, an `ml` table is
added, and `publish_to_postgres` mirrors raw and the snapshot history, runs `dbt build --target
postgres` (models, snapshot, every test) and copies ml. Both builds pin `run_now_utc`, so every
derived table must hold the same rows in both warehouses. The smaller tests (type mapping, atomic
swap, the key's transport, CLI errors) use a fresh database each (conftest's pg_database).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pytest

from cirm.cli import main
from cirm.pseudonym import pseudonymize
from cirm.settings import Settings, load_settings
from open311 import import_files, load_mapping
from pg_warehouse import (
    MirrorError,
    PgBuildError,
    PgWarehouseError,
    build_postgres,
    copy_schemas,
    dbt_environment,
    parse_pg_url,
    publish_to_postgres,
    run_dbt_postgres,
)
from pg_warehouse.connection import KEY_SETTING, PgTarget
from tests.conftest import fresh_pg_database
from tests.dbt_cli import SECRET, run_dbt
from tests.fixtures.open311.exports import nyc_row, write_nyc
from tests.fixtures.raw_fixture import apply_fixture_day, build_raw_fixture

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[1]
PINNED = {"run_now_utc": "2025-06-04 00:00:00"}
DERIVED_SCHEMAS = ("staging", "intermediate", "quarantine", "snapshots", "marts")
PRIVATE_SCHEMAS = ("raw", "staging", "intermediate", "quarantine", "snapshots")
# DuckDB column type -> the PostgreSQL types the same model may produce.
CORRESPONDING_TYPES = {
    "VARCHAR": {"text", "character varying"},
    "BIGINT": {"bigint"},
    "INTEGER": {"integer"},
    "DOUBLE": {"double precision"},
    "BOOLEAN": {"boolean"},
    "DATE": {"date"},
    "TIMESTAMP": {"timestamp without time zone"},
}


# ------------------------------------------------------------------------------------ helpers


def normalized(value: object) -> str:
    """One text form for a value read from either database: numbers to 9 significant digits
    (PostgreSQL and DuckDB may round the last bits of a double differently), timestamps in ISO."""
    if value is None:
        return "<null>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else format(number, ".9g")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def normalized_rows(rows: list[tuple]) -> list[tuple[str, ...]]:
    return sorted(tuple(normalized(v) for v in row) for row in rows)


def checksum(rows: list[tuple[str, ...]]) -> str:
    return hashlib.sha256("\n".join("\x1f".join(row) for row in rows).encode()).hexdigest()


# The tables and views of one schema, in both warehouses.
RELATIONS_SQL = "select table_name from information_schema.tables where table_schema = %s order by 1"


def duck_tables(path: Path, schema: str) -> list[str]:
    """Tables and views (the drop channels' staging and quarantine are views of their gates), listed
    by the same information_schema query as on PostgreSQL."""
    with duckdb.connect(str(path), read_only=True) as con:
        return [t for (t,) in con.execute(RELATIONS_SQL.replace("%s", "?"), [schema]).fetchall()]


def duck_read(path: Path, schema: str, table: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute(f'select * from "{schema}"."{table}"')
        return [c[0] for c in cur.description], cur.fetchall()


def pg_read(url: str, schema: str, table: str) -> tuple[list[str], list[tuple]]:
    with psycopg.connect(url) as con:
        cur = con.execute(f'select * from "{schema}"."{table}"')
        return [c.name for c in cur.description], cur.fetchall()


def pg_rows(url: str, query: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(query, params).fetchall()


def write_open311_import(warehouse: Path, folder: Path) -> None:
    """A few open-data requests (two agencies, one quarantined row, one still open)."""
    dot = {"Agency": "DOT", "Agency Name": "Department of Transportation", "Complaint Type": "Street Light Condition"}
    export = write_nyc(
        folder / "nyc_small.csv",
        [
            nyc_row("9001"),
            nyc_row("9002", **dot, Borough="BROOKLYN"),
            nyc_row("9003", Status="Bogus"),
            nyc_row("9004", **{"Closed Date": "", "Status": "Open"}),
        ],
    )
    with duckdb.connect(str(warehouse)) as con:
        import_files(
            con, load_mapping(REPO / "mappings" / "nyc.yaml"), [export], "load-nyc", now=dt.datetime(2025, 1, 1)
        )


def add_ml_outputs(warehouse: Path) -> None:
    """ML outputs as the mining assets write them (orchestration/mining.py), from the built marts."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ml")
        con.execute("""
            create table ml.citizen_segments as
            select citizen_id, kind, citizen_id % 2 as segment_id,
                case when citizen_id % 2 = 0 then 'digital' else 'assisted' end as segment_name,
                'test-1' as model_version, timestamp '2025-06-04 00:00:00' as scored_at
            from marts.mart_citizen_360""")


@dataclass
class Published:
    settings: Settings
    duck: Path
    url: str
    counts: dict[str, int]
    messages: list[str]

    @property
    def dbt_dir(self) -> Path:
        return self.settings.data_dir / "postgres"


@pytest.fixture(scope="module")
def module_pg_database() -> Iterator[str]:
    """One database for the module: one publish serves every read-only check."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="module")
def published(module_pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Published:
    data = tmp_path_factory.mktemp("pg_publish")
    settings = load_settings(
        {
            "CIRM_DATA_DIR": str(data),
            "CIRM_PSEUDONYM_SECRET": SECRET,
            "CIRM_CITY_TIMEZONE": "America/New_York",
            "CIRM_HOLIDAY_COUNTRY": "US",
        }
    )
    duck = settings.warehouse_path
    build_raw_fixture(duck)
    write_open311_import(duck, data)
    # The DuckDB side's tests run in test_dbt_warehouse.py; here only its tables matter. The
    # snapshot is taken before days 2 and 3 land, so citizens have a history that raw alone (one
    # row per citizen, its latest state) cannot rebuild.
    no_tests = ["--exclude-resource-type", "test", "--vars", json.dumps(PINNED)]
    snapshot = run_dbt(duck, "build", "--select", "+citizens_snapshot", *no_tests, work_dir=data / "duck")
    assert snapshot.returncode == 0, snapshot.output[-3000:]
    for day in (2, 3):
        apply_fixture_day(duck, day)
    built = run_dbt(duck, "build", *no_tests, work_dir=data / "duck")
    assert built.returncode == 0, built.output[-3000:]
    add_ml_outputs(duck)
    messages: list[str] = []
    counts = publish_to_postgres(settings, module_pg_database, dbt_vars=PINNED, echo=messages.append)
    return Published(settings, duck, module_pg_database, counts, messages)


# ------------------------------------------------------------------------------ the build


def test_dbt_build_on_postgres_runs_every_model_snapshot_and_test(published: Published) -> None:
    results = json.loads((published.dbt_dir / "target" / "run_results.json").read_text())["results"]
    manifest = json.loads((published.dbt_dir / "target" / "manifest.json").read_text())
    statuses = {r["status"] for r in results}
    assert statuses <= {"success", "pass"}, [r["unique_id"] for r in results if r["status"] not in {"success", "pass"}]
    # Besides the project's on-run-start hooks (operations).
    ran = {r["unique_id"] for r in results if r["unique_id"].split(".")[0] in {"model", "snapshot", "test"}}
    expected = {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "snapshot", "test"} and node["config"]["materialized"] != "ephemeral"
    }
    assert ran == expected
    kinds = {uid.split(".")[0] for uid in ran}
    assert kinds == {"model", "snapshot", "test"}
    assert sum(uid.startswith("test.") for uid in ran) > 200


def test_every_derived_table_equals_duckdbs(published: Published) -> None:
    """Same tables, columns, row counts and content (checksum of the normalized rows) per schema."""
    compared = 0
    for schema in DERIVED_SCHEMAS:
        tables = duck_tables(published.duck, schema)
        pg_tables = [t for (t,) in pg_rows(published.url, RELATIONS_SQL, [schema])]
        assert pg_tables == tables, schema
        for table in tables:
            duck_columns, duck_data = duck_read(published.duck, schema, table)
            pg_columns, pg_data = pg_read(published.url, schema, table)
            assert pg_columns == duck_columns, f"{schema}.{table}"
            assert len(pg_data) == len(duck_data), f"{schema}.{table}"
            duck_norm, pg_norm = normalized_rows(duck_data), normalized_rows(pg_data)
            assert checksum(pg_norm) == checksum(duck_norm), (
                f"{schema}.{table}: only DuckDB {sorted(set(duck_norm) - set(pg_norm))[:3]}, "
                f"only PostgreSQL {sorted(set(pg_norm) - set(duck_norm))[:3]}"
            )
            compared += 1
    assert compared >= 48
    # Not vacuous: the marts hold rows, open data included.
    marts = {t: n for t, n in published.counts.items() if t.startswith("marts.")}
    assert len(marts) == 16 and all(n > 0 for n in marts.values()), marts
    (open_data,) = pg_rows(published.url, "select count(*) from marts.fct_service_requests where source_system = 'nyc'")
    assert open_data == (3,)  # 4 rows imported, 1 quarantined by the importer


def test_citizen_history_continues_duckdbs(published: Published) -> None:
    """The snapshot history is mirrored, not restarted: citizen 7 moved district on day 2, citizen 1
    withdrew consent on day 3."""
    moved = pg_rows(
        published.url, "select district_id from marts.dim_citizen where citizen_id = 7 order by version_number"
    )
    assert len(moved) == 2 and moved[0] != moved[1]
    withdrew = pg_rows(
        published.url, "select consent_analytics from marts.dim_citizen where citizen_id = 1 order by version_number"
    )
    assert withdrew == [(True,), (False,)]


def test_incremental_facts_on_postgres(published: Published) -> None:
    """A run without --full-refresh takes the facts' incremental path (delete+insert on the rows of
    the latest load) on PostgreSQL, and the facts still equal DuckDB's."""
    facts = ["fct_service_requests", "fct_request_events", "fct_contacts", "fct_satisfaction"]
    work = published.dbt_dir / "incremental"
    (work / "target").mkdir(parents=True)
    shutil.copy(published.dbt_dir / "target" / "partial_parse.msgpack", work / "target")
    select = ["--select", *facts, "--exclude-resource-type", "test"]
    result = build_postgres(published.url, SECRET, work, full_refresh=False, dbt_vars=PINNED, extra_args=select)
    assert result.ok, result.output[-3000:]
    compiled = (work / "target" / "run" / "cirm" / "models" / "marts" / "core" / "fct_contacts.sql").read_text()
    assert "delete from" in compiled.lower()  # the incremental strategy ran, not a rebuild
    for table in facts:
        assert normalized_rows(pg_read(published.url, "marts", table)[1]) == normalized_rows(
            duck_read(published.duck, "marts", table)[1]
        ), table


def test_column_types_correspond(published: Published) -> None:
    with duckdb.connect(str(published.duck), read_only=True) as con:
        duck_types = {
            (s, t, c): typ
            for s, t, c, typ in con.execute(
                "select schema_name, table_name, column_name, data_type from duckdb_columns() "
                "where list_contains(?, schema_name)",
                [list(DERIVED_SCHEMAS)],
            ).fetchall()
        }
    pg_types = {
        (s, t, c): typ
        for s, t, c, typ in pg_rows(
            published.url,
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema = any(%s)",
            [list(DERIVED_SCHEMAS)],
        )
    }
    assert pg_types.keys() == duck_types.keys()
    wrong = {
        k: (duck_types[k], pg_types[k]) for k in duck_types if pg_types[k] not in CORRESPONDING_TYPES[duck_types[k]]
    }
    assert not wrong


def test_publish_returns_the_rows_postgres_holds(published: Published) -> None:
    schemas = {name.split(".")[0] for name in published.counts}
    assert schemas == {"raw", "snapshots", "marts", "ml"}
    for name, n in published.counts.items():
        schema, table = name.split(".")
        assert pg_rows(published.url, f'select count(*) from "{schema}"."{table}"') == [(n,)], name
    for table in duck_tables(published.duck, "raw"):
        assert published.counts[f"raw.{table}"] == len(duck_read(published.duck, "raw", table)[1]), table
    # The server's default collation orders by code point, so no warning.
    assert published.messages == []


def test_ml_outputs_are_published(published: Published) -> None:
    duck_columns, duck_data = duck_read(published.duck, "ml", "citizen_segments")
    pg_columns, pg_data = pg_read(published.url, "ml", "citizen_segments")
    assert pg_columns == duck_columns
    assert duck_data and normalized_rows(pg_data) == normalized_rows(duck_data)


# ------------------------------------------------------------------------------ pseudonyms


def test_pseudonyms_equal_duckdbs_and_pythons(published: Published) -> None:
    pg = dict(pg_rows(published.url, "select citizen_id, phone_pseudonym from staging.stg_case_system__citizens"))
    with duckdb.connect(str(published.duck), read_only=True) as con:
        duck = dict(con.execute("select citizen_id, phone_pseudonym from staging.stg_case_system__citizens").fetchall())
    assert pg == duck and pg[1] == pseudonymize(SECRET, "2125550134")
    # The function the macro calls, with the key as dbt's sessions get it (PGOPTIONS).
    values = ["2125550134", "maria.lopez@example.org", "Zoë ß 東京"]
    with psycopg.connect(published.url, options=f"-c {KEY_SETTING}={SECRET}") as con:
        (row,) = con.execute(
            "select " + ", ".join("public.cirm_pseudonymize(%s)" for _ in values) + ", public.cirm_pseudonymize(null)",
            values,
        ).fetchall()
    assert row == (*(pseudonymize(SECRET, v) for v in values), None)


def test_missing_key_fails_the_query(published: Published) -> None:
    with psycopg.connect(published.url) as con, pytest.raises(psycopg.errors.RaiseException, match="key is not set"):
        con.execute("select public.cirm_pseudonymize('2125550134')")


def test_secret_is_in_no_dbt_log_or_artefact(published: Published) -> None:
    files = [p for p in published.dbt_dir.rglob("*") if p.is_file()]
    assert any(p.name == "dbt.log" and p.stat().st_size > 0 for p in files)
    assert any(p.name == "run_results.json" for p in files)
    leaking = [p for p in files if SECRET.encode() in p.read_bytes()]
    assert not leaking


# ------------------------------------------------------------------------------ bi_reader


def test_bi_reader_reads_marts_and_ml_and_nothing_else(published: Published) -> None:
    tables = pg_rows(
        published.url,
        "select schemaname, tablename from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
    )
    assert {s for s, _ in tables} >= {"marts", "ml", *PRIVATE_SCHEMAS}
    with psycopg.connect(published.url, autocommit=True) as con:
        con.execute("set role bi_reader")
        for schema, table in tables:
            if schema in ("marts", "ml"):
                con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()
        for schema in PRIVATE_SCHEMAS:
            table = next(t for s, t in tables if s == schema)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                con.execute(f'select * from "{schema}"."{table}" limit 1')
    readable = "has_table_privilege('bi_reader', format('%I.%I', schemaname, tablename), 'select')"
    may_read = pg_rows(
        published.url,
        f"select schemaname, bool_and({readable}), bool_or({readable}) from pg_tables "
        "where schemaname not in ('pg_catalog', 'information_schema') group by 1",
    )
    assert {s: (all_, any_) for s, all_, any_ in may_read} == {
        s: (s in ("marts", "ml"), s in ("marts", "ml")) for s, _, _ in may_read
    }


def test_pipeline_step_publishes_when_the_setting_names_a_warehouse(
    published: Published, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from orchestration.postgres import postgres_definitions, postgres_warehouse
    from orchestration.resources import CirmSettings

    monkeypatch.setenv("CIRM_DATA_DIR", str(published.settings.data_dir))
    monkeypatch.setenv("CIRM_PSEUDONYM_SECRET", SECRET)
    monkeypatch.setenv("CIRM_CITY_TIMEZONE", "America/New_York")
    monkeypatch.delenv("CIRM_POSTGRES_WAREHOUSE_URL", raising=False)
    assert postgres_definitions() == []  # no setting, no step
    monkeypatch.setenv("CIRM_POSTGRES_WAREHOUSE_URL", pg_database)
    assert postgres_definitions() == [postgres_warehouse]

    result = dg.materialize([postgres_warehouse], resources={"cirm": CirmSettings()}, raise_on_error=False)
    assert result.success
    (materialization,) = result.asset_materializations_for_node(postgres_warehouse.node_def.name)
    counts = materialization.metadata["tables"].value
    marts = {t for t in published.counts if t.startswith(("marts.", "ml."))}
    assert {t for t in counts if t.startswith(("marts.", "ml."))} == marts
    assert counts["marts.fct_service_requests"] > 0
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("set role bi_reader")
        assert (
            con.execute("select count(*) from marts.fct_service_requests").fetchone()[0]
            == counts["marts.fct_service_requests"]
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("select * from raw.citizens limit 1")


def test_failing_test_on_postgres_is_named(published: Published) -> None:
    """A broken relationship on PostgreSQL fails its dbt test, and the error names it."""
    with psycopg.connect(published.url) as con:
        (original,) = con.execute(
            "update marts.fct_contacts as f set channel_key = 'no-such-channel' from marts.fct_contacts as old "
            "where f.contact_id = old.contact_id and f.contact_id = (select min(contact_id) from marts.fct_contacts) "
            "returning old.channel_key"
        ).fetchone()
    work = published.dbt_dir / "failing"
    # The build's parse, reused (same project, target and vars): dbt skips most of its parsing.
    (work / "target").mkdir(parents=True)
    shutil.copy(published.dbt_dir / "target" / "partial_parse.msgpack", work / "target")
    try:
        result = run_dbt_postgres(
            published.url,
            SECRET,
            work,
            ["test", "--select", "fct_contacts,test_name:relationships", "--vars", json.dumps(PINNED)],
        )
    finally:
        with psycopg.connect(published.url) as con:
            con.execute(
                "update marts.fct_contacts set channel_key = %s where channel_key = 'no-such-channel'", [original]
            )
    assert result.returncode != 0 and result.failed
    assert all("relationships_fct_contacts_channel_key" in uid for uid in result.failed), result.failed
    with pytest.raises(PgBuildError, match="relationships_fct_contacts_channel_key"):
        result.raise_for_failures()


# ------------------------------------------------------------------------------ the copy routine


def test_copy_maps_duckdb_types_and_keeps_values(pg_database: str, tmp_path: Path) -> None:
    duck = tmp_path / "types.duckdb"
    with duckdb.connect(str(duck)) as con:
        con.execute("create schema ml")
        con.execute("create type mood as enum ('calm', 'busy')")
        con.execute("""
            create table ml.all_types as select * from (values
                (true, 1::tinyint, 2::smallint, 3::integer, 4::bigint, 18446744073709551615::ubigint,
                 170141183460469231731687303715884105727::hugeint, 12345.67::decimal(10, 2), 0.1::double,
                 1.5::float, 'quote " comma , newline
                 end', '', date '2024-02-29', time '23:59:58.5', timestamp '2024-01-02 03:04:05.123456',
                 timestamp_ns '2024-01-02 03:04:05.123456789', timestamptz '2024-01-02 03:04:05+02',
                 interval '1 day 2 hours', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid, '\\x00\\xffab'::blob,
                 [1, 2, 3], {'a': 1, 'b': 'x'}, map {'k': 2}, 'busy'::mood, 'Zoë 東京'),
                (null, null, null, null, null, null, null, null, 'inf'::double, null, null, null, null, null, null,
                 null, null, null, null, null, null, null, null, null, null)
            ) as t (b, ti, si, i, bi, ubi, hi, dec, dbl, flt, txt, empty, d, tm, ts, tsns, tstz, iv, u, bl,
                    lst, st, mp, en, uni)""")
        con.execute("create table ml.empty_table (x integer)")
        with psycopg.connect(pg_database) as pg:
            pg.execute("create schema ml")
            pg.execute("create table ml.dropped_upstream (x integer)")
        counts = copy_schemas(con, parse_pg_url(pg_database), ["ml"])
    assert counts == {"ml.all_types": 2, "ml.empty_table": 0}
    # A table DuckDB no longer has is not left behind.
    assert pg_rows(pg_database, "select tablename from pg_tables where schemaname = 'ml' order by 1") == [
        ("all_types",), ("empty_table",)
    ]  # fmt: skip
    types = dict(
        pg_rows(
            pg_database,
            "select column_name, format_type(atttypid, atttypmod) from information_schema.columns as c "
            "join pg_attribute on attrelid = 'ml.all_types'::regclass and attname = c.column_name "
            "where table_schema = 'ml' and table_name = 'all_types'",
        )
    )
    assert types == {
        "b": "boolean", "ti": "smallint", "si": "smallint", "i": "integer", "bi": "bigint", "ubi": "numeric(20,0)",
        "hi": "numeric(39,0)", "dec": "numeric(10,2)", "dbl": "double precision", "flt": "real", "txt": "text",
        "empty": "text", "d": "date", "tm": "time without time zone", "ts": "timestamp without time zone",
        "tsns": "timestamp without time zone", "tstz": "timestamp with time zone", "iv": "interval", "u": "uuid",
        "bl": "bytea", "lst": "jsonb", "st": "jsonb", "mp": "jsonb", "en": "text", "uni": "text",
    }  # fmt: skip
    full, nulls = sorted(pg_read(pg_database, "ml", "all_types")[1], key=lambda r: r[0] is None)
    assert full == (
        True, 1, 2, 3, 4, decimal.Decimal(2**64 - 1), decimal.Decimal(2**127 - 1),
        decimal.Decimal("12345.67"), 0.1, 1.5, 'quote " comma , newline\n                 end', "",
        dt.date(2024, 2, 29), dt.time(23, 59, 58, 500000), dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123457), dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
        dt.timedelta(days=1, hours=2), uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), b"\x00\xffab",
        [1, 2, 3], {"a": 1, "b": "x"}, {"k": 2}, "busy", "Zoë 東京",
    )  # fmt: skip
    assert math.isinf(nulls[8]) and all(v is None for i, v in enumerate(nulls) if i != 8)


def test_failed_copy_leaves_the_old_table(pg_database: str, tmp_path: Path) -> None:
    duck = tmp_path / "bad.duckdb"
    with duckdb.connect(str(duck)) as con:
        con.execute("create schema raw")
        # PostgreSQL text cannot hold a NUL character: COPY fails half-way through the table.
        con.execute("create table raw.calls as select 'ok' as note union all select 'bad ' || chr(0)")
        with psycopg.connect(pg_database) as pg:
            pg.execute("create schema raw")
            pg.execute("create table raw.calls as select 'old' as note")
        with pytest.raises(MirrorError, match=r"raw\.calls.*old table is unchanged"):
            copy_schemas(con, parse_pg_url(pg_database), ["raw"])
    assert pg_rows(pg_database, "select tablename from pg_tables where schemaname = 'raw'") == [("calls",)]
    assert pg_rows(pg_database, "select note from raw.calls") == [("old",)]


# ------------------------------------------------------------------------------ connection


def test_url_becomes_dbt_environment_and_the_key_reaches_the_session(pg_database: str) -> None:
    target = parse_pg_url("postgresql://ana%40city:p%3Ass@db.example:6543/warehouse?sslmode=require")
    assert target == PgTarget("db.example", 6543, "ana@city", "p:ss", "warehouse", "require")
    assert "p:ss" not in target.display
    # A key with spaces and backslashes survives libpq's PGOPTIONS parsing.
    secret = r"s3cret with spaces \ and\backslash"
    env = dbt_environment(parse_pg_url(pg_database), secret, {"PGOPTIONS": "-c work_mem=8MB"})
    assert env["CIRM_PG_DBNAME"] == pg_database.rsplit("/", 1)[1] and env["CIRM_PG_PORT"] == "5432"
    with psycopg.connect(pg_database, options=env["PGOPTIONS"]) as con:
        row = con.execute(
            f"select current_setting('{KEY_SETTING}'), current_setting('TimeZone'), current_setting('work_mem')"
        ).fetchone()
    assert row == (secret, "UTC", "8MB")


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgresql://u@h:port/db", "postgresql://u@h/db/extra", "postgresql://u@h/db?x=1"]
)
def test_bad_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(PgWarehouseError, match="PostgreSQL URL|port|database name|sslmode"):
        parse_pg_url(url)


def test_cli_reports_unreachable_postgres_without_a_trace(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    duckdb.connect(str(data_dir / "warehouse.duckdb")).close()
    monkeypatch.setenv("CIRM_PSEUDONYM_SECRET", SECRET)
    assert main(["publish-postgres", "--url", "postgresql://postgres:pw@127.0.0.1:1/cirm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cirm: error: cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:1/cirm")
    assert "Traceback" not in err and ":pw@" not in err


def test_cli_needs_a_url(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CIRM_POSTGRES_WAREHOUSE_URL", raising=False)
    assert main(["publish-postgres"]) == 2
    assert "CIRM_POSTGRES_WAREHOUSE_URL" in capsys.readouterr().err
