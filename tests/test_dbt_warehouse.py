"""The dbt project on the hand-made raw fixture (tests/fixtures/raw_fixture.py).

One dbt build of the fixture is shared by the module (read-only checks); tests that change the
warehouse work on copies of it. dbt runs as a subprocess, as Dagster runs it, against a DuckDB file
in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cirm.pseudonym import pseudonymize
from tests.dbt_cli import SECRET, DbtResult, run_dbt
from tests.fixtures.raw_fixture import (
    CITIZENS,
    DAY_WINDOWS,
    apply_fixture_day,
    build_raw_fixture,
    personal_values,
)

REPO = Path(__file__).resolve().parents[1]
QUERIES_DIR = REPO / "queries" / "warehouse"
DERIVED_SCHEMAS = ("staging", "intermediate", "marts", "snapshots", "quarantine")
QUARANTINED_ENTITIES = {
    # raw table -> (staging model, key column)
    "citizens": ("stg_case_system__citizens", "citizen_id"),
    "service_requests": ("stg_case_system__service_requests", "request_id"),
    "request_events": ("stg_case_system__request_events", "event_id"),
    "satisfaction_surveys": ("stg_case_system__satisfaction_surveys", "survey_id"),
    "hotline_calls": ("stg_channel_drops__hotline_calls", "call_id"),
    "web_events": ("stg_channel_drops__web_events", "event_id"),
    "app_events": ("stg_channel_drops__app_events", "event_id"),
}


def copy_warehouse(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@dataclass
class Warehouse:
    path: Path
    build: DbtResult
    work_dir: Path


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The fixture's raw layer, built with `dbt build` (models, snapshot and every test)."""
    work_dir = tmp_path_factory.mktemp("dbt")
    path = work_dir / "warehouse.duckdb"
    build_raw_fixture(path)
    return Warehouse(path, run_dbt(path, "build", work_dir=work_dir), work_dir)


@pytest.fixture
def built(warehouse: Warehouse) -> Path:
    if warehouse.build.returncode != 0:
        pytest.fail(f"dbt build failed:\n{warehouse.build.output[-5000:]}")
    return warehouse.path


# ------------------------------------------------------------------------------------ building


def test_dbt_build_passes_on_fixture(warehouse: Warehouse) -> None:
    assert warehouse.build.returncode == 0, warehouse.build.output[-5000:]
    statuses = {r["status"] for r in warehouse.build.run_results()["results"]}
    assert statuses <= {"success", "pass"}, statuses


def test_models_land_in_their_exact_schemas(built: Path) -> None:
    schemas = {s for (s,) in query(built, "select distinct schema_name from duckdb_tables()")}
    assert schemas == {"raw", *DERIVED_SCHEMAS, "meta"}  # meta: the facts' change watermarks
    assert {t for (t,) in query(built, "select table_name from duckdb_tables() where schema_name = 'meta'")} == {
        "change_watermarks"
    }
    # Relations: the drop channels' quarantine (and staging) are views of their incremental gates.
    quarantine = {
        t for (t,) in query(built, "select table_name from information_schema.tables where table_schema = 'quarantine'")
    }
    # Open-data imports are quarantined by the importer; the model exposes what it held back.
    assert quarantine == {*QUARANTINED_ENTITIES, "open311_requests"}


def test_every_mart_and_mart_column_has_a_comment(built: Path) -> None:
    missing_tables = query(
        built,
        """
        select table_name from duckdb_tables()
        where schema_name = 'marts' and coalesce(comment, '') = ''""",
    )
    missing_columns = query(
        built,
        """
        select table_name, column_name from duckdb_columns()
        where schema_name = 'marts' and coalesce(comment, '') = ''""",
    )
    assert not missing_tables and not missing_columns, (missing_tables, missing_columns)
    (comment,) = query(
        built,
        """
        select comment from duckdb_columns()
        where schema_name = 'marts' and table_name = 'fct_service_requests' and column_name = 'citizen_key'""",
    )[0]
    assert "version" in comment.lower()  # doc blocks are rendered, not left as jinja


def test_docs_generate(warehouse: Warehouse, built: Path) -> None:
    # Same warehouse and target folder as the build: dbt reuses its parse.
    result = run_dbt(built, "docs", "generate", work_dir=warehouse.work_dir)
    assert result.returncode == 0, result.output[-3000:]
    catalog = json.loads((result.target_path / "catalog.json").read_text())
    assert "model.cirm.mart_citizen_360" in catalog["nodes"]


# ----------------------------------------------------------------------------- personal data


def test_pseudonymize_macro_equals_python_hmac(warehouse: Warehouse, built: Path) -> None:
    values = ["2125550134", "maria.lopez@example.org", "Zoë ß 東京"]
    columns = ", ".join(f"{{{{ pseudonymize(\"'{v}'\") }}}} as v{i}" for i, v in enumerate(values))
    sql = f"select {columns}, {{{{ pseudonymize('null') }}}} as v_null"
    result = run_dbt(built, "show", "--inline", sql, "--output", "json", "--quiet", work_dir=warehouse.work_dir)
    assert result.returncode == 0, result.output[-3000:]
    (row,) = json.loads(result.output[result.output.index("{") :])["show"]
    assert row == {**{f"v{i}": pseudonymize(SECRET, v) for i, v in enumerate(values)}, "v_null": None}


def test_staged_pseudonyms_equal_python_hmac_of_normalized_values(built: Path) -> None:
    staged = {
        cid: (identity, phone, email)
        for cid, identity, phone, email in query(
            built,
            """
            select citizen_id, identity_pseudonym, phone_pseudonym, email_pseudonym
            from staging.stg_case_system__citizens""",
        )
    }
    maria = next(c for c in CITIZENS if c["citizen_id"] == 1)
    assert staged[1] == (
        pseudonymize(SECRET, "AB123456"),
        pseudonymize(SECRET, "2125550134"),
        pseudonymize(SECRET, maria["email"].strip().lower()),
    )
    assert staged[4] == staged[1]  # the duplicate registration, typed differently
    assert staged[5][1] is None and staged[5][2] is None  # malformed phone and email
    assert staged[6] == (None, None, None)  # nothing given: null stays null
    (flags,) = query(
        built,
        """
        select is_phone_malformed, is_email_malformed from staging.stg_case_system__citizens
        where citizen_id = 5""",
    )
    assert flags == (True, True)
    calls = dict(query(built, "select call_id, phone_pseudonym from staging.stg_channel_drops__hotline_calls"))
    assert calls["H-0001"] == staged[1][1]  # '+1 212 555 0134' matches '(212) 555-0134'
    assert calls["H-0003"] is None and calls["H-0005"] is None  # withheld, malformed


def test_no_clear_text_personal_data_past_raw(built: Path) -> None:
    # Short values (e.g. a malformed '12345') could occur inside a hex pseudonym by chance.
    values = sorted(v for v in personal_values() if len(v.strip()) >= 7)
    columns = query(
        built,
        f"""
        select schema_name, table_name, column_name from duckdb_columns()
        where schema_name in {DERIVED_SCHEMAS} and data_type = 'VARCHAR'""",
    )
    assert columns
    banned_names = re.compile(
        r"(full_name|^name$|identity_number|^phone$|^email$|caller_phone|login_email|description|comment)"
    )
    assert not [c for c in columns if banned_names.search(c[2])]
    leaks = []
    with duckdb.connect(str(built), read_only=True) as con:
        con.execute("create temp table pii as select unnest(?::varchar[]) as value", [values])
        for schema, table, column in columns:
            found = con.execute(f"""
                select distinct pii.value from "{schema}"."{table}" as t, pii
                where contains(lower(t."{column}"), lower(pii.value))""").fetchall()
            leaks += [(schema, table, column, v) for (v,) in found]
    assert not leaks


# -------------------------------------------------------------------------------- quarantine


def test_raw_rows_are_staged_or_quarantined(built: Path) -> None:
    for table, (staging_model, key) in QUARANTINED_ENTITIES.items():
        # Keys as text, normalized like the checked models do (drop fields are text, '' = missing).
        raw_keys = f"select nullif(trim(cast({key} as varchar)), '') as k from raw.{table}"
        derived_keys = f"""
            select k from (
                select cast({key} as varchar) as k from staging.{staging_model}
                union all
                select cast({key} as varchar) from quarantine.{table}
            )"""
        only_raw, only_derived, quarantined = query(
            built,
            f"""
            select
                (select count(*) from ({raw_keys} except all {derived_keys})),
                (select count(*) from ({derived_keys} except all {raw_keys})),
                (select count(*) from quarantine.{table})""",
        )[0]
        assert (only_raw, only_derived) == (0, 0), table
        assert quarantined > 0, f"the fixture should exercise a rule of {table}"
        # Only another delivery of a staged key is both staged and quarantined.
        (both,) = query(
            built,
            f"""
            select count(*) from quarantine.{table} as q
            inner join staging.{staging_model} as s using ({key})
            where q.failed_rule <> 'duplicate_key'""",
        )[0]
        assert both == 0, table


def test_hard_rules_quarantine_the_fixture_edge_cases(built: Path) -> None:
    def rules(table: str, key: str) -> dict:
        return dict(query(built, f"select {key}, failed_rule from quarantine.{table}"))

    assert rules("citizens", "citizen_id") == {9: "missing_kind", 10: "invalid_kind"}
    assert rules("service_requests", "request_id") == {
        1010: "duplicate_submission",  # same citizen, service, description 5 minutes after 1009
        1012: "closed_before_submitted",
        1013: "missing_channel",
        1014: "invalid_status",
        1019: "future_timestamp",  # submitted in 2099
        1020: "future_timestamp",  # closed in 2099
        1021: "unknown_service_code",
    }
    assert rules("satisfaction_surveys", "survey_id") == {
        4: "score_out_of_range", 5: "score_out_of_range", 8: "future_timestamp",
    }  # fmt: skip
    assert rules("request_events", "event_id") == {
        36: "missing_event_type", 37: "missing_event_at", 38: "future_timestamp",
    }  # fmt: skip
    assert rules("hotline_calls", "call_id") == {
        "H-0002": "duplicate_key", "H-0007": "unparseable_timestamp",
        "H-0011": "invalid_outcome", "H-0012": "future_timestamp", None: "missing_key",
    }  # fmt: skip
    assert rules("web_events", "event_id") == {
        "we-5": "duplicate_key", "we-9": "unparseable_timestamp", "we-11": "timestamp_without_time_zone",
    }  # fmt: skip
    assert rules("app_events", "event_id") == {"ae-6": "invalid_event", "ae-7": "missing_session_id"}
    staged = {r for (r,) in query(built, "select request_id from staging.stg_case_system__service_requests")}
    assert {1009, 1011} <= staged  # the first submission and the one 25 minutes later stay
    assert 1007 in staged  # a null service code is missing, not unknown: staged with the unknown member


def test_run_time_can_be_pinned(warehouse: Warehouse, built: Path) -> None:
    # The future_timestamp rules compare with "now" plus var future_tolerance_minutes (60); var
    # run_now_utc pins "now" so a test can be deterministic.
    sql = "select {{ run_started_at_utc() }} as now_utc, {{ latest_possible_utc() }} as latest_utc"
    pinned = json.dumps({"run_now_utc": "2024-01-19 10:00:00"})
    result = run_dbt(built, "show", "--inline", sql, "--vars", pinned, "--output", "json", "--quiet",
                     work_dir=warehouse.work_dir)  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]
    (row,) = json.loads(result.output[result.output.index("{") :])["show"]
    assert row["now_utc"].startswith("2024-01-19T10:00:00") and row["latest_utc"].startswith("2024-01-19T11:00:00")


# ------------------------------------------------------------------------ identity and time


def test_identity_resolution(built: Path) -> None:
    resolved = dict(query(built, "select citizen_id, resolved_citizen_id from intermediate.int_citizen_identity"))
    assert resolved[4] == 1 and resolved[1] == 1 and resolved[2] == 2
    contacts = {
        cid: (party, method)
        for cid, party, method in query(built, "select contact_id, party_id, match_method from marts.fct_contacts")
    }
    assert contacts["hotline-H-0001"] == ("1", "phone")
    assert contacts["app-as-2"] == ("1", "citizen_id")  # the app logged duplicate registration 4
    assert contacts["web-ws-1"] == ("1", "email")  # login email typed in upper case
    assert contacts["hotline-H-0004"][0].startswith("anon-") and contacts["hotline-H-0004"][1] is None
    assert contacts["hotline-H-0003"] == ("anon-hotline-H-0003", None)  # withheld, anonymous request
    rates = {
        ch: (n, m, r)
        for ch, n, m, r in query(
            built,
            """
        select channel, contacts, matched, match_rate from intermediate.int_identity_match_rate""",
        )
    }
    assert rates["hotline"] == (7, 4, pytest.approx(4 / 7))
    (citizens,) = query(built, "select list(citizen_id order by citizen_id) from marts.mart_citizen_360")[0]
    assert 4 not in citizens and 1 in citizens


def test_timestamps_are_city_local(built: Path) -> None:
    # 2024-01-12 03:00 UTC is 22:00 the evening before in New York.
    (row,) = query(
        built,
        """
        select submitted_at, submitted_date_key, submitted_time_of_day_key
        from marts.fct_service_requests where request_id = 1004""",
    )
    assert str(row[0]) == "2024-01-11 22:00:00" and row[1:] == (20240111, 22)
    # An app event at 08:30+05:30 is the same instant.
    (event_at,) = query(built, "select event_at from staging.stg_channel_drops__app_events where event_id = 'ae-4'")[0]
    assert str(event_at) == "2024-01-11 22:00:00"
    (holiday,) = query(built, "select is_public_holiday, is_working_day from marts.dim_date where date_key = 20240115")
    assert holiday == (True, False)


# -------------------------------------------------------------------------- keys and queries


def test_fact_keys_join_their_dimensions(built: Path) -> None:
    dim_tables = query(
        built,
        """
        select table_name from duckdb_tables() where schema_name = 'marts' and table_name like 'dim_%'""",
    )
    dims = {table.removeprefix("dim_") + "_key": table for (table,) in dim_tables}
    own_keys = {"service_request_key", "request_event_key", "survey_key", "contact_key"}
    fact_columns = query(
        built,
        """
        select table_name, column_name from duckdb_columns()
        where schema_name = 'marts' and table_name like 'fct_%' and column_name like '%_key'""",
    )
    checked = 0
    for table, column in fact_columns:
        if column in own_keys:
            continue
        dim_key = next(k for k in sorted(dims, key=len, reverse=True) if column.endswith(k))
        nulls, orphans, known = query(
            built,
            f"""
            select
                count(*) filter (where f.{column} is null),
                count(*) filter (where f.{column} is not null and d.{dim_key} is null),
                count(*) filter (where cast(f.{column} as varchar) <> '-1')
            from marts.{table} as f
            left join marts.{dims[dim_key]} as d on f.{column} = d.{dim_key}""",
        )[0]
        assert (nulls, orphans) == (0, 0), (table, column)
        assert known > 0 or column.endswith(("resolved_date_key", "closed_date_key")), (table, column)
        checked += 1
    assert checked >= 25


def test_orphan_key_fails_the_relationships_test(warehouse: Warehouse, built: Path, tmp_path: Path) -> None:
    path = copy_warehouse(built, tmp_path / "orphan.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("""
            insert into marts.fct_contacts
            select * replace ('orphan-1' as contact_key, 'orphan-1' as contact_id, 'no-such-channel' as channel_key)
            from marts.fct_contacts limit 1""")
    result = run_dbt(path, "test", "--select", "fct_contacts,test_name:relationships", work_dir=tmp_path)
    assert result.returncode != 0
    failed = {r["unique_id"] for r in result.run_results()["results"] if r["status"] == "fail"}
    assert failed and all("relationships_fct_contacts_channel_key" in u for u in failed), failed


def test_example_queries_return_rows(built: Path) -> None:
    files = sorted(QUERIES_DIR.glob("*.sql"))
    assert {f.stem for f in files} >= {
        "requests_per_channel_per_month", "commitment_compliance_per_department",
        "median_resolution_per_service", "satisfaction_by_channel",
    }  # fmt: skip
    for file in files:
        assert query(built, file.read_text()), file.name


# ------------------------------------------------------------------------------ incremental


def window_a_refresh_b(a: Path, b: Path, tmp_path: Path, day: int, *args: str) -> None:
    """A: a partition run of `day`'s window; B: a full refresh without tests."""
    min_date, max_date = DAY_WINDOWS[day]
    windowed = run_dbt(a, "build", *args, "--vars", json.dumps({"min_date": min_date, "max_date": max_date}),
                       work_dir=tmp_path / "a")  # fmt: skip
    assert windowed.returncode == 0, windowed.output[-3000:]
    full = run_dbt(b, "build", "--full-refresh", "--exclude-resource-type", "test", work_dir=tmp_path / "b")
    assert full.returncode == 0, full.output[-3000:]


@contextlib.contextmanager
def attached(a: Path, b: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection with warehouses `a` and `b` attached read-only under those names."""
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        yield con


def test_incremental_runs_equal_a_full_refresh(built: Path, tmp_path: Path) -> None:
    """Days 2 and 3 land on copies of the day-1 warehouse. A: incremental runs (day 2 with no vars,
    day 3 with its partition window, ending on the window so a missed row shows). B: the same raw
    history, its snapshot taken at the same points, then one full refresh. Every mart must match.
    """
    a = copy_warehouse(built, tmp_path / "a.duckdb")
    b = copy_warehouse(built, tmp_path / "b.duckdb")
    for path in (a, b):
        apply_fixture_day(path, 2)
    first = run_dbt(a, "build", "--exclude-resource-type", "test", work_dir=tmp_path / "a")
    assert first.returncode == 0, first.output[-3000:]
    # B's snapshot sees day 2 as A's did (snapshot history cannot be rebuilt from raw later).
    snap = run_dbt(b, "build", "--select", "+citizens_snapshot", "--exclude-resource-type", "test",
                   work_dir=tmp_path / "b")  # fmt: skip
    assert snap.returncode == 0, snap.output[-3000:]
    for path in (a, b):
        apply_fixture_day(path, 3)
    window_a_refresh_b(a, b, tmp_path, 3)

    with attached(a, b) as con:
        tables = [
            t
            for (t,) in con.execute("""
            select table_name from duckdb_tables() where database_name = 'a' and schema_name = 'marts'""").fetchall()
        ]
        assert len(tables) == 16  # 7 dimensions, 4 facts, 5 BI marts
        for table in tables:
            only_a, only_b, rows = con.execute(f"""
                select
                    (select count(*) from (from a.marts.{table} except all from b.marts.{table})),
                    (select count(*) from (from b.marts.{table} except all from a.marts.{table})),
                    (select count(*) from a.marts.{table})""").fetchall()[0]
            assert (only_a, only_b) == (0, 0), table
            assert rows > 0, table
        # The later days really arrived: the reopened request closed again, the caller matched.
        assert con.execute("""
            select status, reopen_count, commitment_met from a.marts.fct_service_requests
            where request_id = 1004""").fetchall() == [("closed", 1, False)]
        assert con.execute("""
            select status, reopen_count, resolved_at from a.marts.fct_service_requests
            where request_id = 1017""").fetchall() == [("in_progress", 1, None)]
        assert con.execute("""
            select party_id from a.marts.fct_contacts where contact_id = 'hotline-H-0004'""").fetchall() == [("12",)]
        assert con.execute("""
            select count(*) from a.marts.dim_citizen where citizen_id = 7""").fetchall() == [(2,)]


FACTS = ("fct_contacts", "fct_request_events", "fct_satisfaction", "fct_service_requests")


def _facts_differing(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per fact, rows in attached `a` or `b` but not in the other."""
    return {
        fact: con.execute(f"""
            select (select count(*) from (from a.marts.{fact} except all from b.marts.{fact}))
                 + (select count(*) from (from b.marts.{fact} except all from a.marts.{fact}))""").fetchall()[0][0]
        for fact in FACTS
    }


def test_a_catch_up_run_takes_the_loads_after_the_last_one_it_took_whole(built: Path, tmp_path: Path) -> None:
    """Days 2 and 3 land before any run. A: a partition run of day 3 only (it takes part of the
    loads: day 2's rows stay out), then a catch-up run without vars. B: one full refresh. The
    partition run raised the facts' latest `_loaded_at` to day 3's load, so a catch-up from that
    time would have skipped day 2; the recorded change watermark (the first build's) does not."""
    with duckdb.connect(str(built), read_only=True) as con:
        recorded = dict(con.execute("select model, loaded_at from meta.change_watermarks").fetchall())
        latest = {f: con.execute(f"select max(_loaded_at) from marts.{f}").fetchall()[0][0] for f in FACTS}
    assert recorded == latest  # the first build took everything

    a = copy_warehouse(built, tmp_path / "a.duckdb")
    b = copy_warehouse(built, tmp_path / "b.duckdb")
    for path in (a, b):
        apply_fixture_day(path, 2)
        apply_fixture_day(path, 3)
    window_a_refresh_b(a, b, tmp_path, 3, "--exclude-resource-type", "test")
    with attached(a, b) as con:
        # The windowed run left the watermarks alone and left rows behind.
        assert dict(con.execute("select model, loaded_at from a.meta.change_watermarks").fetchall()) == recorded
        assert sum(_facts_differing(con).values()) > 0
        raised = con.execute("select max(_loaded_at) from a.marts.fct_service_requests").fetchall()[0][0]
        assert raised > recorded["fct_service_requests"]

    catch_up = run_dbt(a, "build", "--exclude-resource-type", "test", work_dir=tmp_path / "a")
    assert catch_up.returncode == 0, catch_up.output[-3000:]
    with attached(a, b) as con:
        assert _facts_differing(con) == dict.fromkeys(FACTS, 0)
        after = dict(con.execute("select model, loaded_at from a.meta.change_watermarks").fetchall())
        assert after == {f: con.execute(f"select max(_loaded_at) from a.marts.{f}").fetchall()[0][0] for f in FACTS}


def test_the_first_catch_up_after_a_full_build_leaves_older_loads_alone(built: Path, tmp_path: Path) -> None:
    """Every row of a first build carries the same load time. A catch-up run recomputes the rows
    of loads after it only: marked rows of untouched requests keep their mark. (Comparing with
    `>=` the table's latest load time recomputed the whole history.)"""
    a = copy_warehouse(built, tmp_path / "a.duckdb")
    with duckdb.connect(str(a)) as con:
        con.execute("update marts.fct_service_requests set priority = 'marked'")
        marked = con.execute("select count(*) from marts.fct_service_requests").fetchall()[0][0]
    apply_fixture_day(a, 2)
    run = run_dbt(a, "build", "--exclude-resource-type", "test", work_dir=tmp_path / "a")
    assert run.returncode == 0, run.output[-3000:]
    recomputed, still_marked = query(
        a,
        """
        select count(*) filter (where priority <> 'marked'), count(*) filter (where priority = 'marked')
        from marts.fct_service_requests""",
    )[0]
    assert recomputed > 0  # day 2's requests
    assert 0 < still_marked < marked


GATED_DROPS = {
    # staging model -> (gate, quarantine relation)
    "stg_channel_drops__hotline_calls": ("base_channel_drops__hotline_calls", "hotline_calls"),
    "stg_channel_drops__web_events": ("base_channel_drops__web_events", "web_events"),
    "stg_channel_drops__app_events": ("base_channel_drops__app_events", "app_events"),
}


def test_drop_gates_judge_new_loads_and_the_keys_they_deliver_again(built: Path, tmp_path: Path) -> None:
    """The drop gates are incremental. A run judges the rows of the new load and the earlier
    deliveries of the keys that load carries again, and no other row; the result equals a full
    refresh of the same raw rows (staging, quarantine and the gates, verdict times aside). The new
    load's id sorts before the earlier ones ('0-resent'): loads are told apart by load time, as the
    pipeline's load ids (Dagster run ids) carry no order."""
    a = copy_warehouse(built, tmp_path / "a.duckdb")
    b = copy_warehouse(built, tmp_path / "b.duckdb")
    resent = "'0-resent' as _load_id, timestamp '2025-06-02 10:00:00' as _loaded_at"
    for path in (a, b):
        with duckdb.connect(str(path)) as con:
            # we-13 again with another event (a corrected resend), a new event and a keyless row.
            con.execute(f"""
                insert into raw.web_events by name
                select * replace ('view_service' as event, 'web/web_2024-01-21.jsonl' as _source_file,
                    1 as _row_number, {resent})
                from raw.web_events where event_id = 'we-13'""")
            con.execute("""
                insert into raw.web_events by name
                select * replace ('we-40' as event_id, 2 as _row_number) from raw.web_events
                where _source_file = 'web/web_2024-01-21.jsonl'
                union all
                select * replace (null as event_id, 3 as _row_number) from raw.web_events
                where _source_file = 'web/web_2024-01-21.jsonl'""")
            # H-0001 again with another outcome.
            con.execute(f"""
                insert into raw.hotline_calls by name
                select * replace ('transferred' as outcome, 'hotline/hotline_2024-01-21.csv' as _source_file,
                    1 as _row_number, {resent})
                from raw.hotline_calls where call_id = 'H-0001'""")
    layers = ["--select", "path:models/staging/channel_drops", "path:models/quarantine"]
    pinned = ["--vars", json.dumps({"run_now_utc": "2030-01-01 00:00:00"})]
    incremental = run_dbt(a, "run", *layers, *pinned, work_dir=tmp_path / "a")
    assert incremental.returncode == 0, incremental.output[-3000:]
    full = run_dbt(b, "run", *layers, *pinned, "--full-refresh", work_dir=tmp_path / "b")
    assert full.returncode == 0, full.output[-3000:]

    # Only the new rows and the earlier deliveries of their keys were judged again.
    judged_again = {
        gate: query(
            a,
            f"""
            select coalesce(event_id, '') as k, _source_file from staging.{gate}
            where _gated_at = timestamp '2029-12-31 19:00:00' order by all""",
        )
        for gate in ("base_channel_drops__web_events", "base_channel_drops__app_events")
    }
    assert judged_again == {
        "base_channel_drops__web_events": [
            ("", "web/web_2024-01-21.jsonl"),
            ("we-13", "web/web_2024-01-19.jsonl"),
            ("we-13", "web/web_2024-01-21.jsonl"),
            ("we-40", "web/web_2024-01-21.jsonl"),
        ],
        "base_channel_drops__app_events": [],
    }
    assert query(
        a,
        """
        select call_id, _source_file from staging.base_channel_drops__hotline_calls
        where _gated_at = timestamp '2029-12-31 19:00:00' order by all""",
    ) == [
        ("H-0001", "hotline/hotline_2024-01-10.csv"),
        ("H-0001", "hotline/hotline_2024-01-21.csv"),
    ]
    # The latest delivery is staged; the earlier one moved to quarantine as a duplicate.
    assert query(
        a, "select event_name, _source_file from staging.stg_channel_drops__web_events where event_id = 'we-13'"
    ) == [("view_service", "web/web_2024-01-21.jsonl")]
    assert query(a, "select failed_rule, _source_file from quarantine.web_events where event_id = 'we-13'") == [
        ("duplicate_key", "web/web_2024-01-19.jsonl")
    ]
    assert query(a, "select outcome from staging.stg_channel_drops__hotline_calls where call_id = 'H-0001'") == [
        ("transferred",)
    ]

    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        for staging_model, (gate, quarantined) in GATED_DROPS.items():
            for relation, volatile in (
                (f"staging.{staging_model}", None),
                (f"staging.{gate}", "_gated_at"),
                (f"quarantine.{quarantined}", "quarantined_at"),
            ):
                cols = f"* exclude ({volatile})" if volatile else "*"
                in_a, in_b = f"select {cols} from a.{relation}", f"select {cols} from b.{relation}"
                only_a, only_b, rows = con.execute(f"""
                    select
                        (select count(*) from ({in_a} except all {in_b})),
                        (select count(*) from ({in_b} except all {in_a})),
                        (select count(*) from a.{relation})""").fetchall()[0]
                assert (only_a, only_b) == (0, 0), relation
                assert rows > 0, relation


def _deliver_web_events(path: Path, load: str, loaded_at: str, rows: list[tuple[str, str, str, int]]) -> None:
    """Web events (event_id, session_id, event, row number) as a new load of one drop file, the
    other fields those of we-13."""
    values = ", ".join(f"('{e}', '{s}', '{ev}', {n})" for e, s, ev, n in rows)
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
            insert into raw.web_events by name
            select w.* replace (v.event_id as event_id, v.session_id as session_id, v.event as event,
                'web/web_{load}.jsonl' as _source_file, v.row_number as _row_number,
                '{load}' as _load_id, timestamp '{loaded_at}' as _loaded_at)
            from raw.web_events as w, (values {values}) as v(event_id, session_id, event, row_number)
            where w.event_id = 'we-13'""")


def test_digital_sessions_recompute_the_sessions_new_loads_touch(built: Path, tmp_path: Path) -> None:
    """int_digital_sessions is incremental: each run recomputes only the sessions of new loads and
    of the earlier deliveries they resend, and drops a session that lost its only staged event. Two
    runs on A (a new session; then a corrected resend that moves its event to another session)
    must equal one full refresh of the same raw rows on B."""
    a = copy_warehouse(built, tmp_path / "a.duckdb")
    b = copy_warehouse(built, tmp_path / "b.duckdb")
    layers = ["--select", "path:models/staging/channel_drops", "int_digital_sessions"]
    pinned = ["--vars", json.dumps({"run_now_utc": "2030-01-01 00:00:00"})]
    first = [("we-90", "ws-solo", "login", 1), ("we-91", "ws-pair", "login", 2), ("we-92", "ws-pair", "logout", 3)]
    for path in (a, b):
        _deliver_web_events(path, "2025-06-03", "2025-06-03 10:00:00", first)
    step = run_dbt(a, "run", *layers, *pinned, work_dir=tmp_path / "a")
    assert step.returncode == 0, step.output[-3000:]
    counts = query(
        a,
        "select session_id, event_count from intermediate.int_digital_sessions "
        "where session_id in ('ws-solo', 'ws-pair') order by 1",
    )
    assert counts == [("ws-pair", 2), ("ws-solo", 1)]
    before = query(a, "select count(*) from intermediate.int_digital_sessions")[0][0]

    # we-90 resent under another session: ws-solo has no staged event left, ws-moved appears.
    for path in (a, b):
        _deliver_web_events(path, "2025-06-04", "2025-06-04 10:00:00", [("we-90", "ws-moved", "login", 1)])
    step = run_dbt(a, "run", *layers, *pinned, work_dir=tmp_path / "a")
    assert step.returncode == 0, step.output[-3000:]
    full = run_dbt(b, "run", *layers, *pinned, "--full-refresh", work_dir=tmp_path / "b")
    assert full.returncode == 0, full.output[-3000:]

    sessions = (
        "select session_id from intermediate.int_digital_sessions "
        "where session_id in ('ws-solo', 'ws-pair', 'ws-moved') order by 1"
    )
    assert query(a, sessions) == [("ws-moved",), ("ws-pair",)]
    assert query(a, "select count(*) from intermediate.int_digital_sessions")[0][0] == before
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        in_a = "select * from a.intermediate.int_digital_sessions"
        in_b = "select * from b.intermediate.int_digital_sessions"
        assert con.execute(f"""
            select (select count(*) from ({in_a} except all {in_b})),
                   (select count(*) from ({in_b} except all {in_a}))""").fetchall() == [(0, 0)]


# --------------------------------------------------------------------------- connection plugin


def test_plugin_sets_the_key_on_every_cursor() -> None:
    """dbt-duckdb runs models on `conn.cursor()`, a new connection without the parent's variables:
    the plugin must set the key there too (the pseudonymize macro fails loudly otherwise)."""
    from cirm import dbt_duckdb_plugin

    plugin_class = dbt_duckdb_plugin.Plugin
    assert "configure_cursor" in vars(plugin_class), "cirm.dbt_duckdb_plugin.Plugin lacks configure_cursor"
    plugin = plugin_class(name="cirm", plugin_config={})
    con = duckdb.connect()
    plugin.configure_connection(con)
    cursor = con.cursor()
    plugin.configure_cursor(cursor)
    assert cursor.execute("select getvariable('cirm_hmac_okey') is not null").fetchall() == [(True,)]
