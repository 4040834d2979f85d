"""Run an asset's checks: fetch each frame from DuckDB, validate it with GE, report per check."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from quality.accounting import (
    ACCOUNTING_ASSETS,
    account_entity,
    accounting_frame,
    latest_load_share,
    load_share_frame,
)
from quality.config import QualityConfig
from quality.drift import fetch_drift
from quality.frames import Frame, FrameError, fetch_rows, relation_exists
from quality.pii import strip_personal
from quality.specs import AssetKey, CheckDef, CheckOutcome, Expect, ExpectationOutcome, Membership, Param, TableSpec
from quality.suites import ASSETS, AssetSuite, suite_for
from quality.volume import fetch_volume

_COLUMN_ARGS = ("column", "column_A", "column_B", "column_list")


@dataclass(frozen=True)
class Clock:
    """ "Now" and the data start in both clocks the warehouse uses: naive UTC (raw) and city-local (marts)."""

    now_utc: datetime
    now_local: datetime
    data_start: datetime
    tolerance: timedelta

    @classmethod
    def build(cls, now: datetime | None, data_start: date | datetime, cfg: QualityConfig) -> Clock:
        if now is None:
            now = datetime.now(UTC)
        if now.tzinfo is None:  # the warehouse convention: naive means UTC
            now = now.replace(tzinfo=UTC)
        start = data_start if isinstance(data_start, datetime) else datetime.combine(data_start, datetime.min.time())
        return cls(
            now_utc=now.astimezone(UTC).replace(tzinfo=None),
            now_local=now.astimezone(ZoneInfo(cfg.city_timezone)).replace(tzinfo=None),
            data_start=start.replace(tzinfo=None),
            tolerance=cfg.future_tolerance,
        )

    def now_for(self, table: TableSpec) -> datetime:
        return self.now_local if table.local_time else self.now_utc


def _plain(value: Any) -> Any:
    """JSON-safe Python for observed values and sample rows (numpy, pandas NA, timestamps, tuples)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


class _Resolver:
    """Turns Param/Membership placeholders into concrete values, so the suite stored and rendered in
    Data Docs shows the actual bounds and value sets of this run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, clock: Clock, table: TableSpec | None) -> None:
        self.con, self.clock, self.table = con, clock, table
        self.notes: list[str] = []
        self._sets: dict[str, list[Any]] = {}

    def value(self, v: Any) -> Any:
        if isinstance(v, Param):
            if v.name == "now":
                assert self.table is not None
                return self.clock.now_for(self.table) + self.clock.tolerance
            if v.name == "data_start":
                return self.clock.data_start
            raise KeyError(v.name)
        if isinstance(v, Membership):
            return list(v.values) if v.values_sql is None else self._read_set(v.values_sql)
        return v

    def _read_set(self, sql: str) -> list[Any]:
        if sql not in self._sets:
            try:
                values = [r[0] for r in self.con.execute(sql).fetchall() if r[0] is not None]
            except duckdb.Error as exc:
                # No reference data: every code is then unknown, and the note says why.
                self.notes.append(f"reference values unavailable ({sql}): {exc}".splitlines()[0])
                values = []
            self._sets[sql] = sorted(set(values), key=str)
        return self._sets[sql]

    def kwargs(self, e: Expect) -> dict[str, Any]:
        return {k: self.value(v) for k, v in e.kwargs.items()}


def _needed_columns(checks: Iterable[CheckDef]) -> list[str]:
    cols: list[str] = []
    for check in checks:
        for e in check.expectations:
            for arg in _COLUMN_ARGS:
                v = e.kwargs.get(arg)
                cols += v if isinstance(v, list) else [v] if v else []
    return list(dict.fromkeys(cols))


def _fetch(
    con: duckdb.DuckDBPyConnection,
    suite: AssetSuite,
    frame: str,
    checks: list[CheckDef],
    cfg: QualityConfig,
    clock: Clock,
) -> Frame:
    if frame == "accounting":
        rows = [account_entity(con, ACCOUNTING_ASSETS[suite.asset])]
        r = rows[0]
        context = {
            "raw_rows": r.raw_rows,
            "staged_rows": r.staged_rows,
            "quarantined_rows": r.quarantined_rows,
            "unaccounted_keys": r.unaccounted_keys,
            "unaccounted_sample": list(r.unaccounted_sample),
        }
        if r.missing_tables:
            context["notes"] = [f"missing tables: {', '.join(r.missing_tables)}"]
        return Frame(accounting_frame(rows), (), context)
    if frame == "quarantine_share":
        share = latest_load_share(con, ACCOUNTING_ASSETS[suite.asset])
        df, context = load_share_frame(share, cfg.quarantine_min_rows)
        return Frame(df, (), context)
    table = suite.table
    assert table is not None
    if frame == "rows":
        return fetch_rows(con, table, _needed_columns(checks), cfg.city_timezone)
    if frame == "volume":
        return fetch_volume(con, table, cfg, today=clock.now_local.date())
    if frame == "drift":
        return fetch_drift(con, table, cfg, now=clock.now_for(table))
    raise ValueError(frame)


def _error_message(info: Any) -> str | None:
    """GE nests metric errors by metric id; find the first message."""
    if isinstance(info, dict):
        if info.get("raised_exception") and info.get("exception_message"):
            return str(info["exception_message"]).splitlines()[0][:500]
        for v in info.values():
            msg = _error_message(v)
            if msg:
                return msg
    return None


def _label(config: Any) -> str:
    kw = config.kwargs
    if "column_list" in kw:
        args = ", ".join(kw["column_list"])
    elif "column_A" in kw:
        args = f"{kw['column_A']}, {kw['column_B']}"
    else:
        args = str(kw.get("column", ""))
    return f"{config.type}({args})"


def _observed(result: Any) -> dict[str, Any]:
    res = dict(result.result or {})
    out: dict[str, Any] = {}
    if "observed_value" in res:
        out["observed_value"] = res["observed_value"]
    for k in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
        if k in res:
            out[k] = res[k]
    if res.get("partial_unexpected_counts"):
        out["top_unexpected_values"] = res["partial_unexpected_counts"][:5]
    error = _error_message(result.exception_info)
    if error:
        out["error"] = error
    elif not result.success and not res:
        out["error"] = "column not found" if "column" in result.expectation_config.kwargs else "no result"
    return _plain(out)


def _samples(frame: Frame, failed: list[Any], n: int) -> list[dict[str, Any]]:
    """A few failing rows of the frame, from GE's row positions; personal columns dropped."""
    if not failed:
        return []
    df = frame.df
    index = [i for r in failed for i in (r.result or {}).get("partial_unexpected_index_list") or []]
    positions = [int(i) for i in dict.fromkeys(index) if isinstance(i, int | np.integer) and 0 <= i < len(df)]
    if not positions:
        rows = df.head(n) if not frame.key and not index else df.head(0)
    elif not frame.key:
        rows = df.iloc[positions[:n]]
    else:
        wanted = df.iloc[positions][list(frame.key)].drop_duplicates().head(n)
        # Left = the failing keys, in GE's order: rows sharing a key (duplicates) come out together.
        rows = wanted.merge(df, on=list(frame.key)).head(n)
    return strip_personal(_plain(rows.to_dict(orient="records")))


def _outcome(
    check: CheckDef,
    results: list[Any],
    frame: Frame | None,
    docs_path: str | None,
    notes: list[str],
    cfg: QualityConfig,
    at: datetime,
    error: str | None = None,
) -> CheckOutcome:
    expectations = tuple(
        ExpectationOutcome(_label(r.expectation_config), bool(r.success), _observed(r)) for r in results
    )
    observed: dict[str, Any] = {e.expectation: e.observed for e in expectations}
    context = dict(frame.context) if frame else {}
    if frame is not None and check.frame != "rows" and len(frame.df) <= 20:
        context["values"] = _plain(frame.df.to_dict(orient="records"))  # the judged figures, pass or fail
    if notes or error:
        context["notes"] = [*context.get("notes", []), *notes, *([error] if error else [])]
    observed["frame"] = _plain(context)
    failed = [r for r in results if not r.success]
    return CheckOutcome(
        check_name=check.spec.name,
        blocking=check.spec.blocking,
        success=bool(results) and not failed and error is None,
        expectations_evaluated=len(results),
        expectations_failed=len(failed),
        observed=observed,
        sample_failing_rows=_samples(frame, failed, cfg.sample_rows) if frame is not None else [],
        docs_path=docs_path,
        asset=check.spec.asset,
        expectations=expectations,
        evaluated_at=at,
    )


def run_checks(
    con: duckdb.DuckDBPyConnection,
    asset: AssetKey,
    *,
    run_id: str,
    docs_dir: Path | str,
    data_start: date | datetime,
    now: datetime | None = None,
    config: QualityConfig | None = None,
) -> list[CheckOutcome]:
    """Every check of `asset`, in `checks_for` order; Data Docs under `docs_dir` are updated.

    `now` (naive = UTC) bounds "not in the future" and picks the volume and drift windows; tests pin it.
    """
    from quality import gx_session  # deferred: importing GE takes seconds

    cfg = config or QualityConfig()
    suite = suite_for(asset, cfg)
    clock = Clock.build(now, data_start, cfg)
    at = datetime.now(UTC).replace(tzinfo=None)  # when it ran, whatever "now" the data is judged at
    resolver = _Resolver(con, clock, suite.table)
    by_name: dict[str, CheckOutcome] = {}
    for frame_name in suite.frames():
        checks = [c for c in suite.checks if c.frame == frame_name]
        try:
            frame = _fetch(con, suite, frame_name, checks, cfg, clock)
        except (FrameError, duckdb.Error) as exc:
            message = str(exc).splitlines()[0]
            for c in checks:
                by_name[c.spec.name] = _outcome(c, [], None, None, [], cfg, at, error=message)
            continue
        expectations = [
            (e.kind, resolver.kwargs(e), {"check": c.spec.name, "blocking": c.spec.blocking})
            for c in checks
            for e in c.expectations
        ]
        suite_name = ".".join(asset) if frame_name == "rows" else ".".join((*asset, frame_name))
        validation = gx_session.validate_frame(
            Path(docs_dir), suite_name, frame.df, expectations, run_id, cfg.docs_validation_limit
        )
        for c in checks:
            results = [r for r in validation.results if r.expectation_config.meta.get("check") == c.spec.name]
            by_name[c.spec.name] = _outcome(c, results, frame, validation.docs_path, resolver.notes, cfg, at)
    return [by_name[c.spec.name] for c in suite.checks]


def present_assets(con: duckdb.DuckDBPyConnection) -> list[AssetKey]:
    """Assets whose table exists (the accounting assets: whose raw table exists)."""
    out = []
    for asset in ASSETS:
        relation = ACCOUNTING_ASSETS[asset].raw if asset in ACCOUNTING_ASSETS else ".".join(asset)
        if relation_exists(con, relation):
            out.append(asset)
    return out


def run_all(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    docs_dir: Path | str,
    data_start: date | datetime,
    now: datetime | None = None,
    config: QualityConfig | None = None,
    assets: Iterable[AssetKey] | None = None,
) -> dict[AssetKey, list[CheckOutcome]]:
    """`run_checks` for several assets (default: every asset whose table exists) in one GE context."""
    chosen = present_assets(con) if assets is None else list(assets)
    return {
        a: run_checks(con, a, run_id=run_id, docs_dir=docs_dir, data_start=data_start, now=now, config=config)
        for a in chosen
    }
