"""Small synthetic warehouses for the quality tests, built in DuckDB SQL, and the defects that break them.

`build_warehouse` writes raw (case system + text drops), staging/quarantine and marts that pass every
check. `break_every_check` then plants, for every check of every asset, a defect that fails each of
its expectations; `drop_expected_columns` renames the columns that `required_columns_exist` wants.
Personal values follow recognizable patterns (PII_MARKERS) so tests can prove they never leak.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from quality.accounting import ENTITIES
from quality.config import QualityConfig
from quality.specs import TableSpec
from quality.tables import TABLES
from simulator.schema import CHANNELS, PRIORITIES, REQUEST_TYPES

NOW = datetime(2024, 6, 15, 12, 0)  # naive UTC
DATA_START = date(2024, 3, 1)
LAST_DAY = date(2024, 6, 14)  # the last complete day before NOW
TZ = QualityConfig().city_timezone
# Substrings of every personal value the fixtures write: none may appear in any quality output.
PII_MARKERS = ("Citizen Name", "@example.org", "+1-914-555", "IDN0", "Elm Street", "from Jane")

_SERVICES = (("RD-POTHOLE", "RD", "DOT", 120), ("WS-MISSED", "WS", "DSN", 48), ("PK-TREE", "PK", "DPR", 72))
_META = "'load-1' AS _load_id, TIMESTAMP '2024-06-15 00:00:00' AS _loaded_at"


def _list(values: tuple) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _sql(per_day: int) -> str:
    services = _list(tuple(s[0] for s in _SERVICES))
    return f"""
    CREATE SCHEMA raw; CREATE SCHEMA staging; CREATE SCHEMA quarantine; CREATE SCHEMA marts;

    CREATE TABLE raw.departments AS
    SELECT *, TIMESTAMP '{DATA_START}' AS updated_at, {_META}, 'case_system' AS _source
    FROM (VALUES ('DOT', 'Transportation'), ('DSN', 'Sanitation'), ('DPR', 'Parks')) t(department_id, name);

    CREATE TABLE raw.districts AS
    SELECT *, TIMESTAMP '{DATA_START}' AS updated_at, {_META}, 'case_system' AS _source
    FROM (VALUES ('D01', 'North', 12000), ('D02', 'South', 8000), ('D03', 'East', 5000))
         t(district_id, name, population);

    CREATE TABLE raw.services AS
    SELECT service_code, 'Service ' || service_code AS name, category, department_id, commitment_hours,
           TIMESTAMP '{DATA_START}' AS updated_at, {_META}, 'case_system' AS _source
    FROM (VALUES {", ".join(str(s) for s in _SERVICES)}) t(service_code, category, department_id, commitment_hours);

    CREATE TABLE raw.citizens AS
    SELECT i AS citizen_id, CASE WHEN i % 5 = 0 THEN 'business' ELSE 'resident' END AS kind,
           'Citizen Name ' || i AS full_name, 'IDN' || lpad(CAST(i AS VARCHAR), 6, '0') AS identity_number,
           '+1-914-555-' || lpad(CAST(i AS VARCHAR), 4, '0') AS phone, 'person' || i || '@example.org' AS email,
           'D0' || (1 + i % 3) AS district_id, CASE WHEN i % 5 <> 0 THEN 1950 + i % 50 END AS birth_year,
           CASE WHEN i % 5 = 0 THEN 'retail' END AS sector, CASE WHEN i % 5 = 0 THEN 'small' END AS company_size,
           i % 2 = 0 AS consent_analytics, TIMESTAMP '2023-01-01' + i * INTERVAL 1 HOUR AS created_at,
           TIMESTAMP '2023-01-02' + i * INTERVAL 1 HOUR AS updated_at, {_META}, 'case_system' AS _source
    FROM range(1, 201) t(i);

    CREATE TABLE raw.service_requests AS
    WITH days AS (
        SELECT CAST(d AS DATE) AS day, row_number() OVER (ORDER BY d) - 1 AS di
        FROM range(TIMESTAMP '{DATA_START}', TIMESTAMP '{LAST_DAY}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
    ), ch AS (SELECT unnest({_list(CHANNELS)}) AS channel, unnest(range(0, {len(CHANNELS)})) AS ci),
    base AS (
        SELECT (di * {len(CHANNELS)} + ci) * {per_day} + k + 1 AS request_id, channel,
               day + INTERVAL (13 + k % 8) HOUR + INTERVAL (ci) MINUTE AS submitted_at
        FROM days, ch, range({per_day}) t(k)
    )
    SELECT request_id, CASE WHEN request_id % 4 <> 0 THEN 1 + request_id % 200 END AS citizen_id,
           {services}[1 + request_id % 3] AS service_code, channel, 'D0' || (1 + request_id % 3) AS district_id,
           40.9 + (request_id % 100) / 1000 AS latitude, -73.7 AS longitude,
           {_list(REQUEST_TYPES)}[1 + request_id % 5] AS request_type, 'Broken thing on Elm Street' AS description,
           CASE WHEN request_id % 3 <> 0 THEN 'closed' ELSE 'in_progress' END AS status,
           {_list(PRIORITIES)}[1 + request_id % 4] AS priority, submitted_at,
           submitted_at + INTERVAL 6 HOUR AS updated_at,
           CASE WHEN request_id % 3 <> 0 THEN submitted_at + INTERVAL 5 HOUR END AS closed_at,
           {_META}, 'case_system' AS _source
    FROM base;

    CREATE TABLE raw.request_events AS
    SELECT request_id * 10 + 1 AS event_id, request_id, 'received' AS event_type,
           CASE WHEN request_id % 2 = 0 THEN 'DOT' END AS department_id, submitted_at AS event_at,
           submitted_at AS updated_at, {_META}, 'case_system' AS _source
    FROM raw.service_requests
    UNION ALL
    SELECT request_id * 10 + 2, request_id, 'closed', 'DSN', closed_at, closed_at, {_META}, 'case_system'
    FROM raw.service_requests WHERE closed_at IS NOT NULL;

    CREATE TABLE raw.satisfaction_surveys AS
    SELECT request_id AS survey_id, request_id, citizen_id, CAST(1 + (request_id // 2) % 5 AS SMALLINT) AS score,
           'Kind help from Jane' AS comment, submitted_at + INTERVAL 7 HOUR AS submitted_at,
           submitted_at + INTERVAL 7 HOUR AS updated_at, {_META}, 'case_system' AS _source
    FROM raw.service_requests WHERE request_id % 2 = 0;

    CREATE TABLE raw.hotline_calls AS
    WITH c AS (
        SELECT row_number() OVER (ORDER BY d, k) AS i,
               CAST(d AS TIMESTAMP) + INTERVAL (14 + k % 6) HOUR + INTERVAL (k) MINUTE AS at_utc
        FROM range(TIMESTAMP '{DATA_START}', TIMESTAMP '{LAST_DAY}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d),
             range({per_day * 3}) r(k)
    )
    SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0') AS call_id,
           CASE WHEN i % 5 <> 0 THEN '+1-914-555-' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0') END AS caller_phone,
           strftime((at_utc AT TIME ZONE 'UTC') AT TIME ZONE '{TZ}', '%Y-%m-%d %H:%M:%S') AS call_start,
           CAST(i % 120 AS VARCHAR) AS wait_seconds, CAST(60 + i % 300 AS VARCHAR) AS duration_seconds,
           ['answered', 'request_created', 'transferred', 'abandoned'][1 + i % 4] AS outcome,
           CASE WHEN i % 4 = 1 THEN CAST(i AS VARCHAR) END AS request_id,
           'hotline_' || CAST(CAST(at_utc AS DATE) AS VARCHAR) || '.csv' AS _source_file, i AS _row_number,
           {_META}, 'drops/hotline' AS _source
    FROM c;
    """ + "".join(
        f"""
    CREATE TABLE raw.{table} AS
    WITH e AS (
        SELECT row_number() OVER (ORDER BY d, k) AS i,
               CAST(d AS TIMESTAMP) + INTERVAL (14 + k % 6) HOUR + INTERVAL (k) MINUTE AS at_utc
        FROM range(TIMESTAMP '{DATA_START}', TIMESTAMP '{LAST_DAY}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d),
             range({per_day * 4}) r(k)
    )
    SELECT '{prefix}' || i AS event_id, 'S' || (i // 3) AS session_id,
           CASE WHEN i % 3 = 0 THEN 'user' || i || '@example.org' END AS login_email,
           CASE WHEN '{prefix}' = 'A' THEN CAST(1 + i % 200 AS VARCHAR) END AS citizen_id,
           ['login', 'view_service', 'submit_request', 'check_status', 'logout'][1 + i % 5] AS event,
           CASE WHEN i % 2 = 0 THEN {services}[1 + i % 3] END AS service_code,
           CASE WHEN i % 5 = 2 THEN CAST(i AS VARCHAR) END AS request_id,
           strftime(at_utc, '%Y-%m-%dT%H:%M:%S') || '+00:00' AS ts,
           '{table}.jsonl' AS _source_file, i AS _row_number, {_META}, 'drops/{table}' AS _source
    FROM e;
    """
        for table, prefix in (("web_events", "W"), ("app_events", "A"))
    )


def _staging_sql() -> str:
    # Every 40th row (by key hash) is quarantined, the rest staged: raw = staged + quarantined, and the
    # quarantined share of the (single) load stays under QualityConfig.quarantine_share_max.
    out = []
    for e in ENTITIES:
        key = " || '|' || ".join(f"CAST({k} AS VARCHAR)" for k in e.key)
        out.append(
            f"CREATE TABLE {e.staging} AS SELECT * FROM {e.raw} WHERE hash({key}) % 40 <> 0;"
            f"CREATE TABLE {e.quarantine} AS SELECT *, 'bad_value' AS failed_rule FROM {e.raw} "
            f"WHERE hash({key}) % 40 = 0;"
        )
    return "\n".join(out)


# Marts as dbt builds them (the columns the suites read): md5 surrogate keys, '-1' unknown members,
# naive city-local timestamps (EDT here, UTC-4).
_MARTS = f"""
CREATE TABLE marts.dim_channel AS
SELECT md5(channel) AS channel_key, channel FROM (SELECT unnest({_list(CHANNELS)}) AS channel)
UNION ALL SELECT '-1', 'unknown';
CREATE TABLE marts.dim_service AS
SELECT md5(service_code) AS service_key, service_code FROM raw.services UNION ALL SELECT '-1', 'unknown';
CREATE TABLE marts.dim_district AS
SELECT md5(district_id) AS district_key, district_id FROM raw.districts UNION ALL SELECT '-1', 'unknown';

CREATE TABLE marts.fct_service_requests AS
SELECT md5(CAST(r.request_id AS VARCHAR)) AS service_request_key, r.request_id,
       CAST(r.request_id AS VARCHAR) AS source_request_id, 'case_system' AS source_system,
       r.citizen_id, r.request_type, r.status, r.priority,
       r.submitted_at - INTERVAL 4 HOUR AS submitted_at,
       r.submitted_at - INTERVAL 3 HOUR AS first_response_at,
       r.closed_at - INTERVAL 270 MINUTE AS resolved_at,
       r.closed_at - INTERVAL 4 HOUR AS closed_at,
       1.0 AS first_response_hours,
       date_diff('minute', r.submitted_at, r.closed_at - INTERVAL 30 MINUTE) / 60.0 AS resolution_hours,
       date_diff('minute', r.submitted_at, r.closed_at) / 60.0 AS closure_hours,
       CAST(r.request_id % 2 AS INTEGER) AS reopen_count, s.score AS survey_score,
       md5(r.channel) AS channel_key, md5(r.service_code) AS service_key, md5(r.district_id) AS district_key
FROM raw.service_requests r LEFT JOIN raw.satisfaction_surveys s USING (request_id);

CREATE TABLE marts.fct_satisfaction AS
SELECT md5(CAST(s.survey_id AS VARCHAR)) AS survey_key, s.survey_id, s.score,
       s.submitted_at - INTERVAL 4 HOUR AS submitted_at, f.channel_key
FROM raw.satisfaction_surveys s JOIN marts.fct_service_requests f USING (request_id);

CREATE TABLE marts.fct_contacts AS
SELECT md5('R' || request_id) AS contact_key, 'R' || request_id AS contact_id, d.channel,
       submitted_at AS contacted_at, f.channel_key, 12 AS wait_seconds, 300 AS duration_seconds
FROM marts.fct_service_requests f JOIN marts.dim_channel d USING (channel_key);

CREATE TABLE marts.mart_service_performance_daily AS
SELECT CAST(strftime(CAST(submitted_at AS DATE), '%Y%m%d') AS INTEGER) AS date_key,
       CAST(submitted_at AS DATE) AS date_day, service_key, district_key,
       count(*) AS requests_received, count(closed_at) AS requests_closed, count(resolved_at) AS requests_resolved,
       count(*) - count(closed_at) AS backlog_end_of_day, median(resolution_hours) AS median_resolution_hours,
       quantile_cont(resolution_hours, 0.9) AS p90_resolution_hours,
       avg(CASE WHEN resolution_hours <= 48 THEN 1.0 ELSE 0.0 END) AS share_within_commitment
FROM marts.fct_service_requests GROUP BY ALL;
"""


def build_warehouse(path: Path, *, per_day: int = 2) -> Path:
    """A warehouse file on which every check passes; `per_day` scales the row counts."""
    with duckdb.connect(str(path)) as con:
        con.execute(_sql(per_day))
        con.execute(_staging_sql())
        con.execute(_MARTS)
    return path


# --- defects ----------------------------------------------------------------------------------


def _future_literal(t: TableSpec, column: str) -> tuple[str, str]:
    """(column to write, SQL value) putting `column` 10 days in the future in the table's clock."""
    future = NOW + timedelta(days=10) - (timedelta(hours=4) if t.local_time else timedelta())
    if column.endswith("__utc"):
        base = column.removesuffix("__utc")
        text = (
            f"{future:%Y-%m-%d %H:%M:%S}" if t.text_timestamps[base] == "local" else f"{future:%Y-%m-%dT%H:%M:%S}+00:00"
        )
        return base, f"'{text}'"
    return column, f"TIMESTAMP '{future:%Y-%m-%d %H:%M:%S}'"


def _one_row(rel: str, where: str = "TRUE", offset: int = 0) -> str:
    """One row matching `where`: the offset-th, wrapping around on small tables."""
    n = f"(SELECT count(*) FROM {rel} WHERE {where})"
    return f"rowid = (SELECT rowid FROM {rel} WHERE {where} ORDER BY rowid LIMIT 1 OFFSET {offset} % {n})"


def _column_types(con: duckdb.DuckDBPyConnection, t: TableSpec) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [t.schema, t.table],
    ).fetchall()
    return dict(rows)


def break_table(con: duckdb.DuckDBPyConnection, t: TableSpec, cfg: QualityConfig | None = None) -> None:
    """Plant a defect for every check of `t`, each failing every expectation of its check."""
    cfg = cfg or QualityConfig()
    rel = t.relation
    types = _column_types(con, t)
    if t.volume is not None:  # the last complete day at 10x its volume
        ts = t.volume.timestamp_sql.format(tz=TZ)
        con.execute(f"INSERT INTO {rel} SELECT t.* FROM {rel} t, range(9) WHERE CAST({ts} AS DATE) = DATE '{LAST_DAY}'")
    if t.drift is not None:  # the latest month answers 1 only
        d = t.drift
        con.execute(
            f"UPDATE {rel} SET {d.score_column} = 1 WHERE {d.timestamp_column} > "
            f"(SELECT max({d.timestamp_column}) FROM {rel}) - INTERVAL {cfg.drift_recent_days} DAY"
        )
    # Codes first: the key and required-field defects below must not be overwritten.
    for col, share in t.null_share_max.items():
        con.execute(f"UPDATE {rel} SET {col} = NULL WHERE rowid % 100 >= {int((1 - share) * 100) - 5}")
    for m in t.memberships:
        unknown = "99999" if types.get(m.column, "VARCHAR") != "VARCHAR" else "'ZZ-UNKNOWN'"
        if m.mostly is None:
            where = _one_row(rel, f"{m.column} IS NOT NULL", 7)
        else:  # beyond the tolerated share of unknowns
            where = f"rowid % 100 < {round((1 - m.mostly) * 100) + 5}"
        con.execute(f"UPDATE {rel} SET {m.column} = {unknown} WHERE {where}")
    for p in t.parents:
        con.execute(f"UPDATE {rel} SET {p.column} = 987654321 WHERE {_one_row(rel, f'{p.column} IS NOT NULL', 8)}")
    # Duplicate key, then a null key (a copy of a row with every key column null).
    con.execute(f"INSERT INTO {rel} SELECT * FROM {rel} WHERE {_one_row(rel)}")
    nulls = ", ".join(f"NULL AS {k}" for k in t.key)
    con.execute(f"INSERT INTO {rel} SELECT * REPLACE ({nulls}) FROM {rel} WHERE {_one_row(rel)}")
    for i, col in enumerate(c for c in t.required if c not in t.key):
        con.execute(f"UPDATE {rel} SET {col} = NULL WHERE {_one_row(rel, offset=2 + i)}")
    for i, col in enumerate(t.timestamps):  # 10% of each timestamp column in the future: over 1%
        target, value = _future_literal(t, col)
        con.execute(f"UPDATE {rel} SET {target} = {value} WHERE rowid % 10 = {i % 10}")
    for col in t.text_timestamps:
        con.execute(f"UPDATE {rel} SET {col} = 'not a time' WHERE {_one_row(rel, offset=5)}")
    for col in t.text_numbers:
        con.execute(f"UPDATE {rel} SET {col} = 'n/a' WHERE {_one_row(rel, offset=6)}")
    for o in t.orderings:
        where = f"{o.earlier} IS NOT NULL AND {o.later} IS NOT NULL"
        con.execute(f"UPDATE {rel} SET {o.later} = {o.earlier} - INTERVAL 1 DAY WHERE {_one_row(rel, where, 3)}")
    for r in t.ranges:
        col = r.column.removesuffix("__num")
        value = r.min_value - 1 if r.min_value is not None else r.max_value + 1
        value_sql = f"'{value}'" if col != r.column else str(value)
        con.execute(f"UPDATE {rel} SET {col} = {value_sql} WHERE {_one_row(rel, f'{col} IS NOT NULL', 4)}")


def break_every_check(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        for t in TABLES.values():
            break_table(con, t)
        for e in ENTITIES:
            # one raw row neither staged nor quarantined
            con.execute(f"DELETE FROM {e.staging} WHERE rowid = (SELECT min(rowid) FROM {e.staging})")
            # a third of the (latest, only) load quarantined: a systemic fault, not everyday dirt
            third = f"hash({' || '.join(f'CAST({k} AS VARCHAR)' for k in e.key)}) % 3 = 0"
            con.execute(f"INSERT INTO {e.quarantine} SELECT *, 'future_timestamp' FROM {e.staging} WHERE {third}")
            con.execute(f"DELETE FROM {e.staging} WHERE {third}")
    return path


def drop_expected_columns(path: Path) -> Path:
    """Rename every column `required_columns_exist` expects (schema drift upstream)."""
    with duckdb.connect(str(path)) as con:
        for t in TABLES.values():
            for col in t.expected_columns:
                con.execute(f"ALTER TABLE {t.relation} RENAME COLUMN {col} TO {col}_renamed")
    return path


def test_fixture_builds_every_table(tmp_path: Path) -> None:
    path = build_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path), read_only=True) as con:
        for t in TABLES.values():
            assert con.execute(f"SELECT count(*) FROM {t.relation}").fetchall()[0][0] > 0, t.relation
