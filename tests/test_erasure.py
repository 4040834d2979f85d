"""Erasure on request: `cirm erase` records, the next run removes the citizen everywhere, for good.

The end-to-end test runs the real pipeline twice on a small simulated city: once to build the
warehouse, then (after `cirm erase`, a touch of the citizen at the source and new drop files with
their phone, email and id) again, and searches every layer and the serving copy for any residue by
id, by pseudonym and by clear value. The other tests cover the command alone, fast.
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import create_engine, insert, select, update

from cirm.cli import main
from cirm.locking import LOCK_FILE as PIPELINE_LOCK_FILE
from cirm.pseudonym import pseudonymize
from cirm.settings import Settings, load_settings
from ingest.warehouse import connect_warehouse
from privacy.erasure import ERASED_TEXT
from simulator.schema import citizens, metadata, satisfaction_surveys, service_requests

RESIDUE_SCHEMAS = ("raw", "staging", "intermediate", "snapshots", "marts", "ml", "quarantine")
# Far above any id the small city uses, so the new drop rows never collide with simulated ones.
NEW_ROW_ID = 990_000_001


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- the command alone (fast)


def _warehouse_with_citizens(settings: Settings, ids: list[int]) -> None:
    with connect_warehouse(settings.warehouse_path) as con:
        con.execute("CREATE TABLE raw.citizens (citizen_id BIGINT, full_name VARCHAR)")
        con.executemany("INSERT INTO raw.citizens VALUES (?, 'x')", [[i] for i in ids])


def _requests(settings: Settings) -> dict[int, tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT citizen_id, requested_at, applied_at FROM meta.erasure_requests").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_erase_records_each_id_once_and_reports_unknown_ids(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIRM_SOURCE_URL", "none")
    settings = load_settings()
    _warehouse_with_citizens(settings, [1, 2])

    assert main(["erase", "--citizen", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "citizen 1: recorded at" in out and "citizen 2: recorded at" in out
    first = _requests(settings)
    assert set(first) == {1, 2} and all(applied is None for _, applied in first.values())

    # Idempotent: a repeat changes nothing and says so.
    assert main(["erase", "--citizen", "1"]) == 0
    assert "citizen 1: already requested at" in capsys.readouterr().out
    assert _requests(settings) == first

    # An unknown id is recorded anyway (a later ingest may bring it) and reported, with exit 1.
    assert main(["erase", "--citizen", "77", "--citizen", "2"]) == 1
    out = capsys.readouterr().out
    assert "citizen 77 (UNKNOWN" in out and "citizen 2: already requested" in out
    assert set(_requests(settings)) == {1, 2, 77}

    # -1 is the unknown member of dim_citizen: refused with a message, nothing recorded.
    assert main(["erase", "--citizen", "-1"]) == 2
    assert capsys.readouterr().err.startswith("cirm: error: citizen ids are positive integers")
    assert set(_requests(settings)) == {1, 2, 77}
    with pytest.raises(SystemExit) as exit_info:
        main(["erase", "--citizen", "abc"])
    assert exit_info.value.code == 2


def test_erase_waits_for_a_running_pipeline(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRM_SOURCE_URL", "none")
    settings = load_settings()
    _warehouse_with_citizens(settings, [5])
    codes: list[int] = []
    with open(data_dir / PIPELINE_LOCK_FILE, "w") as lock:  # what `cirm run` holds while it runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: codes.append(main(["erase", "--citizen", "5"])))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and not codes  # waiting for the lock, not writing meanwhile
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join(timeout=30)
    assert codes == [0] and set(_requests(settings)) == {5}


def test_erase_in_source_deletes_the_citizen_and_anonymizes_their_rows(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIRM_ERASE_IN_SOURCE", "true")
    settings = load_settings()
    engine = create_engine(settings.source_url)
    metadata.create_all(engine)
    then = datetime(2025, 6, 1, 12, 0)
    with engine.begin() as conn:
        for cid in (1, 2):
            conn.execute(
                insert(citizens).values(
                    citizen_id=cid, kind="resident", full_name=f"Person {cid}", phone="212 555 0134",
                    consent_analytics=True, created_at=then, updated_at=then,
                )
            )  # fmt: skip
        for rid, cid, text in ((10, 1, "pothole at 12 Elm St, call Person 1"), (11, 2, "streetlight"), (12, 1, " ")):
            conn.execute(
                insert(service_requests).values(
                    request_id=rid, citizen_id=cid, channel="web", request_type="request", description=text,
                    status="received", priority="normal", submitted_at=then, updated_at=then,
                )
            )  # fmt: skip
        # A survey of citizen 1's request without the citizen's id on it: its comment still goes.
        conn.execute(
            insert(satisfaction_surveys).values(
                survey_id=100, request_id=10, citizen_id=None, score=2, comment="Person 1 here",
                submitted_at=then, updated_at=then,
            )
        )  # fmt: skip

    assert main(["erase", "--citizen", "1"]) == 0
    out = capsys.readouterr().out
    assert "deleted from the source now" in out
    assert "source: 1 citizen(s) deleted, 2 request(s) and 1 survey(s) anonymized" in out

    with engine.connect() as conn:
        assert [r.citizen_id for r in conn.execute(select(citizens))] == [2]
        rows = {r.request_id: r for r in conn.execute(select(service_requests))}
        surveys = list(conn.execute(select(satisfaction_surveys)))
    engine.dispose()
    assert rows[10].citizen_id is None and rows[10].description == ERASED_TEXT and rows[10].updated_at > then
    assert rows[12].citizen_id is None and rows[12].description == " "  # blank text stays blank
    assert rows[11].citizen_id == 2 and rows[11].description == "streetlight" and rows[11].updated_at == then
    assert surveys[0].citizen_id is None and surveys[0].comment == ERASED_TEXT
    assert b"Person 1" not in settings.operational_db.read_bytes()  # not even in freed pages
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT erased_in_source_at IS NOT NULL FROM meta.erasure_requests").fetchall() == [(True,)]

    # Already gone from the source: a repeat finds nothing there and still succeeds.
    assert main(["erase", "--citizen", "1"]) == 0
    assert "source: 0 citizen(s) deleted" in capsys.readouterr().out


def test_compact_rewrites_the_warehouse_once_an_erasure_was_applied(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIRM_SOURCE_URL", "none")
    settings = load_settings()
    with connect_warehouse(settings.warehouse_path) as con:
        con.execute(
            "CREATE TABLE raw.citizens AS SELECT range AS citizen_id, 'Person ' || range || '.' AS full_name "
            "FROM range(1, 2000)"
        )
    assert main(["erase", "--citizen", "7"]) == 0
    assert main(["erase", "--compact"]) == 0  # not applied yet: nothing to rewrite
    assert "nothing to do" in capsys.readouterr().out
    with connect_warehouse(settings.warehouse_path) as con:  # what the run's purge does (macros/erasure.sql)
        con.execute("DELETE FROM raw.citizens WHERE citizen_id = 7")
        con.execute("UPDATE meta.erasure_requests SET applied_at = now()::TIMESTAMP, found_at = now()::TIMESTAMP")

    assert main(["erase", "--compact"]) == 0
    assert "rewrote" in capsys.readouterr().out
    stored = settings.warehouse_path.read_bytes()
    assert b"Person 7." not in stored and b"Person 8." in stored  # the search sees names that are kept
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(
            "SELECT count(*), count(*) FILTER (WHERE full_name = 'Person 1.') FROM raw.citizens"
        ).fetchall() == [(1998, 1)]
        assert con.execute("SELECT compacted_at IS NOT NULL FROM meta.erasure_requests").fetchall() == [(True,)]
    assert main(["erase", "--compact"]) == 0
    assert "nothing to do" in capsys.readouterr().out


# ---------------------------------------------------------------- the whole pipeline


@dataclass
class Person:
    citizen_id: int
    clear: dict[str, str]  # full_name, identity_number, phone, email as the source holds them
    pseudonyms: dict[str, str]  # identity, phone, email
    request_ids: list[int]


def _normalized(kind: str, value: str) -> str:
    """The staging normalizations (macros/normalize_identifiers.sql), as the test's own oracle."""
    if kind == "phone":
        return re.sub(r"[^0-9]", "", value)[-10:]
    if kind == "email":
        return value.strip().lower()
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def _pick_person(settings: Settings) -> Person:
    """A consenting, segmented citizen with requests and channel contacts, whose identity number,
    phone and email nobody else uses (a shared value stays in the other citizen's records)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row = con.execute(
            """
            SELECT c.citizen_id, c.full_name, c.identity_number, c.phone, c.email
            FROM raw.citizens c
            JOIN staging.stg_case_system__citizens s USING (citizen_id)
            JOIN intermediate.int_citizen_identity i USING (citizen_id)
            JOIN ml.citizen_segments USING (citizen_id)
            WHERE c.consent_analytics AND i.registrations = 1
              AND NOT s.is_phone_malformed AND NOT s.is_email_malformed
              AND s.phone_pseudonym IS NOT NULL AND s.email_pseudonym IS NOT NULL
              AND (SELECT count(*) FROM raw.citizens o WHERE o.full_name = c.full_name) = 1
              AND (SELECT max(citizens_sharing) FROM intermediate.int_contact_points p
                   WHERE p.pseudonym IN (s.phone_pseudonym, s.email_pseudonym)) = 1
              AND EXISTS (SELECT 1 FROM marts.fct_service_requests f WHERE f.citizen_id = c.citizen_id)
              AND EXISTS (SELECT 1 FROM marts.fct_contacts f
                          WHERE f.resolved_citizen_id = c.citizen_id AND f.match_method IN ('phone', 'email'))
            ORDER BY (SELECT count(*) FROM marts.fct_contacts f WHERE f.resolved_citizen_id = c.citizen_id) DESC,
                     c.citizen_id
            LIMIT 1
            """
        ).fetchall()
        assert row, "the simulated city has no citizen fit for the test"
        citizen_id, name, identity, phone, email = row[0]
        staged = con.execute(
            "SELECT identity_pseudonym, phone_pseudonym, email_pseudonym FROM staging.stg_case_system__citizens "
            "WHERE citizen_id = ?",
            [citizen_id],
        ).fetchall()[0]
        request_ids = [
            r[0]
            for r in con.execute(
                "SELECT request_id FROM marts.fct_service_requests WHERE citizen_id = ? ORDER BY 1", [citizen_id]
            ).fetchall()
        ]
    secret = settings.pseudonym_secret
    clear = {"full_name": name, "identity_number": identity, "phone": phone, "email": email}
    columns = {"identity": "identity_number", "phone": "phone", "email": "email"}
    pseudonyms = {kind: pseudonymize(secret, _normalized(kind, clear[column])) for kind, column in columns.items()}
    # The oracle agrees with staging, so "no pseudonym left" below is a real search.
    assert (pseudonyms["identity"], pseudonyms["phone"], pseudonyms["email"]) == staged
    return Person(citizen_id, clear, pseudonyms, request_ids)


def _touch_at_source(settings: Settings, person: Person) -> None:
    """A later update of the citizen and their requests: the next ingest re-reads them from the source."""
    engine = create_engine(settings.source_url)
    with engine.begin() as conn:
        now = _utc_now()
        conn.execute(update(citizens).where(citizens.c.citizen_id == person.citizen_id).values(updated_at=now))
        conn.execute(
            update(service_requests).where(service_requests.c.citizen_id == person.citizen_id).values(updated_at=now)
        )
    engine.dispose()


def _drop_new_contacts(settings: Settings, person: Person) -> None:
    """The day after the simulation: a call from their phone written another way, a web login with
    their email in capitals, an app session under their id."""
    digits = _normalized("phone", person.clear["phone"])
    phone = f"+1 ({digits[:3]}) {digits[3:6]}.{digits[6:]}"
    drops = settings.drops_dir
    (drops / "hotline" / "hotline_2026-01-01.csv").write_text(
        "call_id,caller_phone,call_start,wait_seconds,duration_seconds,outcome,request_id\n"
        f"{NEW_ROW_ID},{phone},2026-01-01 09:30:00,12,240,answered,\n"
    )
    web = {"event_id": NEW_ROW_ID, "session_id": "W-ERASURE", "login_email": f" {person.clear['email'].upper()} ",
           "citizen_id": None, "event": "login", "service_code": None, "request_id": None,
           "ts": "2026-01-01T10:00:00-05:00"}  # fmt: skip
    app = {**web, "session_id": "A-ERASURE", "login_email": None, "citizen_id": person.citizen_id}
    (drops / "web" / "web_2026-01-01.jsonl").write_text(json.dumps(web) + "\n")
    (drops / "app" / "app_2026-01-01.jsonl").write_text(json.dumps(app) + "\n")


def _residue(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None, person: Person) -> list[str]:
    """Every place in a database that still names the person, by id or by pseudonym."""
    where = "table_schema NOT IN ('information_schema', 'pg_catalog')"
    if schemas is not None:
        where += " AND table_schema IN (" + ", ".join(f"'{s}'" for s in schemas) + ")"
    columns = con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_catalog = current_database() AND {where}"
    ).fetchall()
    found = []
    for schema, table, column, data_type in columns:
        ref, qualified = f'"{column}"', f'"{schema}"."{table}"'
        if "citizen_id" in column:
            n = con.execute(
                f"SELECT count(*) FROM {qualified} WHERE try_cast({ref} AS BIGINT) = ?", [person.citizen_id]
            ).fetchall()[0][0]
            if n:
                found.append(f"{schema}.{table}.{column}: id in {n} rows")
        if data_type == "VARCHAR":
            # contains(): a pseudonym also hides inside keys such as party_id = 'anon-' || pseudonym.
            tests = " OR ".join(["contains(" + ref + ", ?)"] * len(person.pseudonyms))
            n = con.execute(f"SELECT count(*) FROM {qualified} WHERE {tests}", list(person.pseudonyms.values()))
            if n.fetchall()[0][0]:
                found.append(f"{schema}.{table}.{column}: pseudonym")
        if "party" in column:  # the resolved citizen as text, or 'anon-citizen-' || the id
            n = con.execute(
                f"SELECT count(*) FROM {qualified} WHERE {ref} IN (?, ?)",
                [str(person.citizen_id), f"anon-citizen-{person.citizen_id}"],
            ).fetchall()[0][0]
            if n:
                found.append(f"{schema}.{table}.{column}: id in {n} rows")
    return found


def _clear_values_in_raw(con: duckdb.DuckDBPyConnection, person: Person) -> list[str]:
    columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'raw' AND data_type = 'VARCHAR'"
    ).fetchall()
    digits = _normalized("phone", person.clear["phone"])
    texts = [person.clear[k].strip().lower() for k in ("full_name", "identity_number", "email")]
    found = []
    for table, column in columns:
        ref = f'"{column}"'
        # Equality, not containment: 'ann@x.org' is inside another person's 'joann@x.org'. Phones
        # are compared as the digits staging keeps, whatever way they were written.
        n = con.execute(
            f'SELECT count(*) FROM raw."{table}" WHERE lower(trim({ref})) IN (?, ?, ?) '
            f"OR right(regexp_replace({ref}, '[^0-9]', '', 'g'), 10) = ?",
            [*texts, digits],
        ).fetchall()[0][0]
        if n:
            found.append(f"raw.{table}.{column}: clear value in {n} rows")
    return found


@pytest.mark.e2e
def test_erased_citizen_leaves_no_residue_and_stays_erased(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.runner import run_pipeline
    from simulator.run import simulate

    data = tmp_path / "city"
    monkeypatch.setenv("CIRM_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))
    monkeypatch.delenv("CIRM_SOURCE_URL", raising=False)
    monkeypatch.delenv("CIRM_ERASE_IN_SOURCE", raising=False)
    settings = load_settings()
    settings.ensure_dirs()
    simulate(settings.source_url, settings.drops_dir, settings.truth_dir, citizens=400, days=40, seed=11)
    first = run_pipeline(settings, echo=lambda line: None)
    assert first.success, (first.steps_failed, first.log_path)

    person = _pick_person(settings)
    assert person.request_ids
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert _residue(con, RESIDUE_SCHEMAS, person)  # the search finds the person before erasure
        requests_before = {r[0] for r in con.execute("SELECT request_id FROM marts.fct_service_requests").fetchall()}

    assert main(["erase", "--citizen", str(person.citizen_id)]) == 0
    _touch_at_source(settings, person)
    _drop_new_contacts(settings, person)
    second = run_pipeline(settings, echo=lambda line: None)
    assert second.success, (second.steps_failed, second.log_path)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert _residue(con, RESIDUE_SCHEMAS, person) == []
        assert _clear_values_in_raw(con, person) == []
        # The ingest did bring the citizen and the requests back from the source; the purge removed them.
        assert con.execute(
            "SELECT count(*) FROM raw.service_requests WHERE request_id IN (SELECT unnest(?::BIGINT[])) "
            "AND citizen_id IS NULL AND _load_id = ?",
            [person.request_ids, second.run_id],
        ).fetchall() == [(len(person.request_ids),)]
        # The new contacts are kept, anonymous: a call and two sessions the city still counts.
        assert con.execute(
            "SELECT (SELECT count(*) FROM raw.hotline_calls WHERE call_id = ? AND caller_phone IS NULL), "
            "(SELECT count(*) FROM raw.web_events WHERE event_id = ? AND login_email IS NULL), "
            "(SELECT count(*) FROM raw.app_events WHERE event_id = ? AND citizen_id IS NULL), "
            "(SELECT count(*) FROM marts.fct_contacts WHERE contact_id IN ('hotline-' || ?, 'web-W-ERASURE', "
            "'app-A-ERASURE') AND citizen_key = '-1' AND NOT is_matched)",
            [str(NEW_ROW_ID)] * 4,
        ).fetchall() == [(1, 1, 1, 3)]
        # Their requests stay in the facts, anonymous, so city statistics stay whole.
        rows = con.execute(
            "SELECT citizen_key, citizen_id, resolved_citizen_id, is_anonymous FROM marts.fct_service_requests "
            "WHERE request_id IN (SELECT unnest(?::BIGINT[]))",
            [person.request_ids],
        ).fetchall()
        assert rows == [("-1", None, None, True)] * len(person.request_ids)
        requests_after = {r[0] for r in con.execute("SELECT request_id FROM marts.fct_service_requests").fetchall()}
        assert requests_before <= requests_after
        applied = con.execute(
            "SELECT applied_at IS NOT NULL FROM meta.erasure_requests WHERE citizen_id = ?", [person.citizen_id]
        ).fetchall()
        assert applied == [(True,)]

    with duckdb.connect(str(settings.serving_path), read_only=True) as con:
        assert _residue(con, None, person) == []

    # DuckDB leaves deleted rows' bytes in the file's free space: the rewrite removes them too.
    assert main(["erase", "--compact"]) == 0
    stored = settings.warehouse_path.read_bytes()
    for value in person.clear.values():
        assert value.encode() not in stored
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        requests_compacted = {r[0] for r in con.execute("SELECT request_id FROM marts.fct_service_requests").fetchall()}
    assert requests_compacted == requests_after
