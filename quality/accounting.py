"""Quarantine accounting: every raw row is either staged or quarantined, never lost, never both.

Staging types and cleans each raw table; a row it cannot accept goes to `quarantine.<table>` with its
reason. If raw != staged + quarantined, rows vanished (or were duplicated) between layers and every
downstream count is wrong, so this check is blocking.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from quality.frames import latest_load_id
from quality.specs import AssetKey


@dataclass(frozen=True)
class Entity:
    name: str
    raw: str  # schema.table
    staging: str
    quarantine: str
    key: tuple[str, ...]  # to name raw rows found in neither layer


def _entity(source: str, table: str, *key: str) -> Entity:
    return Entity(table, f"raw.{table}", f"staging.stg_{source}__{table}", f"quarantine.{table}", key)


# entity -> (raw, staging, quarantine, key): the entities staging quarantines (the reference tables
# departments, districts and services have no quarantine). Same list as the dbt singular test
# assert_raw_rows_are_staged_or_quarantined; this one also names the rows that went missing.
ENTITIES: tuple[Entity, ...] = (
    _entity("case_system", "citizens", "citizen_id"),
    _entity("case_system", "service_requests", "request_id"),
    _entity("case_system", "request_events", "event_id"),
    _entity("case_system", "satisfaction_surveys", "survey_id"),
    _entity("channel_drops", "hotline_calls", "call_id"),
    _entity("channel_drops", "web_events", "event_id"),
    _entity("channel_drops", "app_events", "event_id"),
)


def entity_asset(entity: Entity) -> AssetKey:
    """The asset the accounting check hangs on: the staging model, which it vouches for."""
    schema, table = entity.staging.split(".", 1)
    return (schema, table)


ACCOUNTING_ASSETS: dict[AssetKey, Entity] = {entity_asset(e): e for e in ENTITIES}


@dataclass(frozen=True)
class AccountingRow:
    entity: str
    raw_rows: int | None
    staged_rows: int | None
    quarantined_rows: int | None
    missing_tables: tuple[str, ...]
    # Raw keys in neither staging nor quarantine (None when the key cannot be compared).
    unaccounted_keys: int | None
    unaccounted_sample: tuple[str, ...]

    @property
    def accounted_rows(self) -> int | None:
        if self.staged_rows is None or self.quarantined_rows is None:
            return None
        return self.staged_rows + self.quarantined_rows

    @property
    def ok(self) -> bool:
        return not self.missing_tables and self.raw_rows == self.accounted_rows


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database()"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for relation, column in rows:
        out.setdefault(relation, set()).add(column)
    return out


def _quoted(relation: str) -> str:
    return ".".join(f'"{part}"' for part in relation.split(".", 1))


def account_entity(
    con: duckdb.DuckDBPyConnection, entity: Entity, columns: dict[str, set[str]] | None = None
) -> AccountingRow:
    columns = _columns(con) if columns is None else columns
    relations = (entity.raw, entity.staging, entity.quarantine)
    missing = tuple(r for r in relations if r not in columns)
    counts = {
        r: int(con.execute(f"SELECT count(*) FROM {_quoted(r)}").fetchall()[0][0]) for r in relations if r in columns
    }
    unaccounted, sample = None, ()
    key_everywhere = entity.key and all(r in columns and set(entity.key) <= columns[r] for r in relations)
    if key_everywhere:
        # One anti-join pass in DuckDB; keys compared as text so typed staging matches text raw.
        key = " || '|' || ".join(f"coalesce(CAST(\"{k}\" AS VARCHAR), '')" for k in entity.key)
        rows = con.execute(
            f"""
            WITH accounted AS (
                SELECT {key} AS k FROM {_quoted(entity.staging)}
                UNION ALL SELECT {key} FROM {_quoted(entity.quarantine)}
            ), lost AS (
                SELECT {key} AS k FROM {_quoted(entity.raw)} WHERE {key} NOT IN (SELECT k FROM accounted)
            )
            SELECT (SELECT count(*) FROM lost), (SELECT list(k ORDER BY k)[1:5] FROM lost)
            """
        ).fetchall()[0]
        unaccounted, sample = int(rows[0]), tuple(rows[1] or ())
    return AccountingRow(
        entity=entity.name,
        raw_rows=counts.get(entity.raw),
        staged_rows=counts.get(entity.staging),
        quarantined_rows=counts.get(entity.quarantine),
        missing_tables=missing,
        unaccounted_keys=unaccounted,
        unaccounted_sample=sample,
    )


def quarantine_accounting(
    con: duckdb.DuckDBPyConnection, entities: tuple[Entity, ...] = ENTITIES
) -> list[AccountingRow]:
    """Per entity: raw, staged and quarantined row counts, and whether raw = staged + quarantined."""
    columns = _columns(con)
    return [account_entity(con, e, columns) for e in entities]


def accounting_frame(rows: list[AccountingRow]) -> pd.DataFrame:
    """The counts as a frame for GE. Plain Python ints (object dtype): a missing table leaves its count
    None, which GE reads as unequal to the raw count (pandas' NA would make it raise instead)."""
    counts = ("raw_rows", "staged_rows", "quarantined_rows", "accounted_rows", "unaccounted_keys")
    frame = {"entity": [r.entity for r in rows]}
    frame |= {c: pd.Series([getattr(r, c) for r in rows], dtype=object) for c in counts}
    frame["missing_tables"] = [", ".join(r.missing_tables) or None for r in rows]
    return pd.DataFrame(frame)


# --- impossible data at scale: the share of the latest load that staging quarantined ---------------


QUARANTINE_SHARE_COLUMN = "quarantined_share"


@dataclass(frozen=True)
class LoadShare:
    """What staging made of the latest load of one raw table: how many of its rows were quarantined."""

    entity: str
    load_id: str | None  # the `_load_id` of the most recent load (None: no rows, or no load columns)
    load_rows: int
    quarantined_rows: int
    top_failed_rules: tuple[tuple[str, int], ...]  # (rule, rows), most frequent first
    notes: tuple[str, ...] = ()

    @property
    def share(self) -> float | None:
        return self.quarantined_rows / self.load_rows if self.load_rows else None


def latest_load_share(
    con: duckdb.DuckDBPyConnection, entity: Entity, columns: dict[str, set[str]] | None = None, top: int = 5
) -> LoadShare:
    """Rows of the latest load of `entity.raw` (the `_load_id` of its latest `_loaded_at`) and how many of
    them `entity.quarantine` holds. A few bad rows are staging's everyday work; most of a load quarantined
    means a systemic fault upstream (a clock, a code list, a broken export), and whatever is staged from
    that load is a biased remainder."""
    columns = _columns(con) if columns is None else columns
    missing = [r for r in (entity.raw, entity.quarantine) if r not in columns]
    if missing:
        return LoadShare(entity.name, None, 0, 0, (), (f"missing tables: {', '.join(missing)}",))
    if not {"_load_id", "_loaded_at"} <= columns[entity.raw] or "_load_id" not in columns[entity.quarantine]:
        return LoadShare(entity.name, None, 0, 0, (), ("no _load_id / _loaded_at columns: nothing judged",))
    raw, quarantine = _quoted(entity.raw), _quoted(entity.quarantine)
    load_id = latest_load_id(con, raw)
    if load_id is None:
        return LoadShare(entity.name, None, 0, 0, (), ("no load in the raw table: nothing judged",))
    (load_rows,) = con.execute(f"SELECT count(*) FROM {raw} WHERE _load_id = ?", [load_id]).fetchall()[0]
    rule = "failed_rule" if "failed_rule" in columns[entity.quarantine] else "NULL"
    rules = con.execute(
        f"SELECT coalesce(CAST({rule} AS VARCHAR), '(unknown)'), count(*) AS n FROM {quarantine} "
        "WHERE _load_id = ? GROUP BY 1 ORDER BY n DESC, 1",
        [load_id],
    ).fetchall()
    return LoadShare(
        entity=entity.name,
        load_id=str(load_id),
        load_rows=int(load_rows),
        quarantined_rows=sum(int(n) for _, n in rules),
        top_failed_rules=tuple((str(r), int(n)) for r, n in rules[:top]),
    )


def load_share_frame(row: LoadShare, min_rows: int) -> tuple[pd.DataFrame, dict[str, object]]:
    """The judged figures for GE (one row, or none when too few rows were quarantined to judge) and the
    context shown with the check, pass or fail."""
    context: dict[str, object] = {
        "load_id": row.load_id,
        "rows_in_load": row.load_rows,
        "quarantined_rows": row.quarantined_rows,
        "share": None if row.share is None else round(row.share, 6),
        "top_failed_rules": [{"failed_rule": r, "rows": n} for r, n in row.top_failed_rules],
    }
    notes = list(row.notes)
    judged = row.share is not None and row.quarantined_rows >= min_rows
    if row.share is not None and not judged:
        notes.append(f"{row.quarantined_rows} quarantined row(s) in the latest load, fewer than {min_rows}: not judged")
    if notes:
        context["notes"] = notes
    frame = pd.DataFrame(
        {
            "entity": [row.entity] if judged else [],
            "load_id": [row.load_id] if judged else [],
            "load_rows": pd.Series([row.load_rows] if judged else [], dtype="int64"),
            "quarantined_rows": pd.Series([row.quarantined_rows] if judged else [], dtype="int64"),
            QUARANTINE_SHARE_COLUMN: pd.Series([row.share] if judged else [], dtype="float64"),
        }
    )
    return frame, context
