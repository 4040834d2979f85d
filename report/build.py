"""build_report: query the warehouse (or its serving copy) and write `<out_dir>/index.html`."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from cirm.errors import CirmError
from report import data, sections
from report.dbt_docs import copy_dbt_docs
from report.page import Kpi, Link, render_page
from report.sections import Section
from report.svg import esc, fmt_compact, fmt_int, fmt_month, fmt_pct

log = logging.getLogger(__name__)


class ReportError(CirmError):
    """The report cannot be built from this input."""


def build_report(
    warehouse_or_serving_path: Path,
    out_dir: Path,
    *,
    run_summary: Mapping[str, Any] | None = None,
    quality_docs: Path | None = None,
    dbt_docs_dir: Path | None = None,
) -> Path:
    """Write a self-contained HTML report to out_dir/index.html and return its path.

    Reads the database read-only; prefer the serving copy, which no writer ever locks. Sections whose
    tables are missing (no ml in open-data mode, no quality run yet) show why they were skipped.
    `run_summary` takes the fields of orchestration's RunReport as a dict (run_id, success or status,
    seconds, steps_total, steps_succeeded, steps_failed, steps_skipped, checks_failed, log_path).
    """
    source = Path(warehouse_or_serving_path)
    out_dir = Path(out_dir)
    if not source.is_file():
        raise ReportError(f"no database at {source}: run the pipeline (and publish the serving copy) first")
    out_dir.mkdir(parents=True, exist_ok=True)
    links: list[Link] = []
    docs_href, docs_note = _quality_docs_link(quality_docs, out_dir)
    if docs_href:
        links.append(Link("Data Docs", docs_href))
    dbt_note = None
    if dbt_docs_dir is not None:
        href, dbt_note = copy_dbt_docs(Path(dbt_docs_dir), out_dir)
        if href:
            links.append(Link("dbt docs", href))
    try:
        con = duckdb.connect(str(source), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(f"cannot open {source} read-only (a writer holds it? use the serving copy): {exc}") from exc
    try:
        page_sections, kpis, day = _collect(con, run_summary, docs_href, docs_note)
    finally:
        con.close()
    now = datetime.now(UTC)
    subtitle = f"Data as of {day:%d %b %Y}" if day else "No service data yet"
    subtitle += f" · generated {now:%Y-%m-%d %H:%M} UTC · from {source.name}"
    footer = (
        "Self-contained page: charts are inline SVG drawn from DuckDB query results; no scripts, no external files."
    )
    if dbt_note:
        footer += " " + dbt_note
    html = render_page(subtitle=subtitle, kpis=kpis, sections=page_sections, links=links, footer=footer)
    target = out_dir / "index.html"
    tmp = out_dir / f".index.html.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, target)  # a reader refreshing the page never gets half of it
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _collect(
    con: duckdb.DuckDBPyConnection, run_summary: Mapping[str, Any] | None, docs_href: str | None, docs_note: str | None
) -> tuple[list[Section], list[Kpi], Any]:
    tables = data.existing_tables(con)
    day = data.as_of(con, tables)
    tally: sections.QualityTally | None = None

    def quality_section() -> Section:
        nonlocal tally
        tally = sections.tally(data.quality_run(con, tables))
        return sections.quality(tally, docs_href, docs_note)

    page_sections = [
        sections.pipeline(run_summary),
        _guard("quality", "Data quality", quality_section),
        _guard("compliance", "Commitment compliance", lambda: sections.compliance(data.compliance(con, tables, day))),
        _guard("channels", "Channel mix", lambda: sections.channel_mix(data.channel_mix(con, tables, day))),
        _guard("segments", "Citizen segments", lambda: sections.segment_profiles(data.segments(con, tables))),
        _guard("forecast", "Demand forecast", lambda: sections.forecast(data.forecasts(con, tables, day))),
    ]
    headline = data.headline(con, tables, day) if day else None
    return page_sections, _kpis(run_summary, tally, headline), day


def _guard(key: str, title: str, build: Callable[[], Section]) -> Section:
    """A section that cannot be drawn becomes a panel saying why, never a failed report."""
    try:
        return build()
    except data.MissingTables as exc:
        return sections.skipped(key, title, str(exc))
    except duckdb.Error as exc:  # e.g. a renamed column: the rest of the report is still worth having
        log.warning("report section %s failed: %s", key, exc)
        return Section(key, title, "error", f'<p class="skip">Could not draw this section: <code>{esc(exc)}</code></p>')


def _kpis(
    run_summary: Mapping[str, Any] | None, tally: sections.QualityTally | None, h: data.Headline | None
) -> list[Kpi]:
    kpis = []
    if run_summary:
        status, tone = sections.run_status(run_summary)
        kpis.append(Kpi("Pipeline run", status, str(run_summary.get("run_id", ""))[:18], {"info": ""}.get(tone, tone)))
    if tally is not None:
        total, failed = len(tally.run.checks), len(tally.failures)
        detail = f"{tally.blocking} blocking failure{'s' * (tally.blocking != 1)}" if failed else "all checks passed"
        tone = "bad" if tally.blocking else ("warn" if failed else "good")
        kpis.append(Kpi("Quality checks passed", f"{total - failed} / {total}", detail, tone))
    if h and h.received_28d is not None:
        detail = ""
        if h.received_prev_28d:
            change = h.received_28d / h.received_prev_28d - 1
            detail = f"{'+' if change >= 0 else '−'}{abs(change) * 100:.0f}% vs previous 28 days"
        kpis.append(Kpi("Requests, last 28 days", fmt_int(h.received_28d), detail))
    if h and h.compliance is not None and h.compliance_month is not None:
        kpis.append(Kpi("Within commitment", fmt_pct(h.compliance, 1), fmt_month(h.compliance_month)))
    if h and h.forecast_28d is not None:
        kpis.append(Kpi("Forecast, next 28 days", fmt_compact(h.forecast_28d), "requests, city-wide median"))
    return kpis


def _quality_docs_link(quality_docs: Path | None, out_dir: Path) -> tuple[str | None, str | None]:
    """A relative link from the report to the Data Docs index, so the data folder can move as a whole."""
    if quality_docs is None:
        return None, None
    index = Path(quality_docs)
    if index.is_dir():
        index = index / "index.html"
    if not index.is_file():
        return None, f"Data Docs not built yet ({index})."
    return Path(os.path.relpath(index.resolve(), out_dir.resolve())).as_posix(), None
