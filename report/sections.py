"""The report's sections: each turns query results into HTML (text, tables and SVG charts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from report import charts, data
from report.blocking import blocking_lookup
from report.svg import BAD, GOOD, PALETTE, WARN, esc, fmt_int, fmt_month, fmt_pct

CHANNEL_COLOURS = {
    "web": PALETTE[0],
    "hotline": PALETTE[1],
    "app": PALETTE[2],
    "service_hall": PALETTE[6],
    "email": PALETTE[4],
    "social_media": PALETTE[5],
    "unknown": PALETTE[9],
}
KIND_COLOURS = {"resident": PALETTE[0], "business": PALETTE[1]}


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    status: str  # ok | skipped | error
    body: str
    lead: str = ""


def skipped(key: str, title: str, reason: str) -> Section:
    return Section(key, title, "skipped", f'<p class="skip">Skipped: {esc(reason)}.</p>')


def _badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{esc(text)}</span>'


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _count(value: Any) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else len(value)


def run_status(summary: Mapping[str, Any]) -> tuple[str, str]:
    """(label, tone) of a run summary: `status` if given, else from `success` and failed steps."""
    status = summary.get("status")
    if status is None:
        success = summary.get("success")
        status = (
            "unknown" if success is None else ("success" if success and not summary.get("steps_failed") else "failed")
        )
    status = str(status).lower()
    tone = {"success": "good", "succeeded": "good", "failed": "bad", "failure": "bad", "running": "info"}
    return status, tone.get(status, "muted")


def pipeline(summary: Mapping[str, Any] | None) -> Section:
    """The run that built this report, from the orchestrator's summary (RunReport fields, as a dict)."""
    title = "Pipeline run"
    if not summary:
        return skipped("pipeline", title, "no run summary was given (report built outside a pipeline run)")
    status, tone = run_status(summary)
    seconds = summary.get("seconds", summary.get("duration_seconds"))
    failed = summary.get("steps_failed") or {}
    if not isinstance(failed, Mapping):
        failed = {str(step): "" for step in failed} if isinstance(failed, list | tuple) else {}
    succeeded, skipped_steps = _count(summary.get("steps_succeeded")), _count(summary.get("steps_skipped"))
    total = summary.get("steps_total") or succeeded + len(failed) + skipped_steps
    facts = [
        ("Status", _badge(status, tone)),
        ("Run id", f"<code>{esc(summary.get('run_id', 'n/a'))}</code>"),
        ("Duration", esc(_duration(seconds))),
        ("Steps", esc(f"{succeeded} of {total} succeeded, {len(failed)} failed, {skipped_steps} skipped")),
    ]
    for key, label in (("started_at", "Started"), ("finished_at", "Finished"), ("log_path", "Log")):
        if summary.get(key):
            facts.append((label, f"<code>{esc(summary[key])}</code>"))
    body = '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    if failed:
        items = "".join(f"<li><code>{esc(step)}</code> {esc(msg)}</li>" for step, msg in failed.items())
        body += f'<div class="callout bad"><strong>Failed steps</strong><ul>{items}</ul></div>'
    checks_failed = summary.get("checks_failed") or []
    if checks_failed:
        items = "".join(f"<li><code>{esc(c)}</code></li>" for c in checks_failed)
        body += f'<div class="callout warn"><strong>Checks that failed during the run</strong><ul>{items}</ul></div>'
    return Section("pipeline", title, "ok", body)


@dataclass(frozen=True)
class QualityTally:
    run: data.QualityRun
    per_asset: dict[str, list[int]]  # asset -> [passed, failed warning, failed blocking]
    failures: list[tuple[data.CheckRow, bool | None]]  # failed check, blocking (None: unknown)

    @property
    def blocking(self) -> int:
        return sum(1 for _, b in self.failures if b)


def tally(run: data.QualityRun) -> QualityTally:
    lookup = blocking_lookup()
    per_asset: dict[str, list[int]] = {}
    failures = []
    for c in run.checks:
        counts = per_asset.setdefault(c.asset, [0, 0, 0])
        if c.passed:
            counts[0] += 1
            continue
        blocking = lookup(c.asset, c.check)
        counts[2 if blocking else 1] += 1
        failures.append((c, blocking))
    return QualityTally(run, per_asset, failures)


def quality(t: QualityTally, docs_href: str | None, docs_note: str | None) -> Section:
    run, per_asset, failures = t.run, t.per_asset, t.failures
    total = len(run.checks)
    blocking_failures = t.blocking
    rows = sorted(((a, *v) for a, v in per_asset.items()), key=lambda r: (-r[3], -r[2], r[0]))
    lead = (
        f"Latest quality run <code>{esc(run.run_id)}</code> ({run.started:%Y-%m-%d %H:%M}–{run.finished:%H:%M} UTC): "
        f"{total - len(failures)} of {total} checks passed on {len(per_asset)} assets"
    )
    if blocking_failures:
        lead += (
            f", <strong class='bad-text'>{blocking_failures} blocking failure{'s' * (blocking_failures != 1)}</strong>"
        )
    lead += "."
    if docs_href:
        lead += f' <a href="{esc(docs_href)}">Great Expectations Data Docs</a>.'
    elif docs_note:
        lead += f" {esc(docs_note)}"
    chart = charts.quality_bars("quality-checks", "Checks per asset in the latest quality run", rows)
    if failures:
        body_rows = []
        for c, blocking in sorted(failures, key=lambda f: (not f[1], f[0].asset, f[0].check)):
            severity = {True: _badge("blocking", "bad"), False: _badge("warns", "warn")}
            badge = severity.get(blocking, _badge("unknown", "muted"))
            body_rows.append(
                f'<tr class="{"row-bad" if blocking else ""}"><td class="nowrap"><code>{esc(c.asset)}</code></td>'
                f"<td>{esc(c.check)}</td><td>{badge}</td>"
                f'<td class="num">{c.failed_expectations} of {c.expectations}</td>'
                f"<td><code>{esc(c.failed_detail or '')}</code></td></tr>"
            )
        table = (
            '<table><thead><tr><th>Asset</th><th>Check</th><th>Severity</th><th class="num">Expectations failed</th>'
            f"<th>First failed expectation</th></tr></thead><tbody>{''.join(body_rows)}</tbody></table>"
        )
    else:
        table = f'<p class="callout good">All {total} checks passed.</p>'
    note = (
        f'<p class="note">Blocking checks stop everything downstream in the run; the others warn. '
        f"{run.runs_recorded} quality run{'s' * (run.runs_recorded != 1)} recorded in "
        f"<code>quality.check_results</code>.</p>"
    )
    return Section("quality", "Data quality", "ok", f'<figure class="chart">{chart}</figure>{table}{note}', lead)


def compliance(c: data.Compliance) -> Section:
    # Panel titles are narrow: "Department of Finance" reads as "Finance" there (the table has full names).
    panels = [charts.Panel(d.removeprefix("Department of "), v) for d, v in c.departments]
    chart = charts.small_multiples(
        "commitment-compliance",
        "Share of resolved requests within the published commitment, per month and department",
        c.months,
        panels,
        charts.Panel("City-wide", c.city),
    )
    last = c.months[-1]
    rows = "".join(
        f"<tr><td>{esc(d)}</td><td class='num'>{fmt_int(res)}</td><td class='num'>{fmt_int(w)}</td>"
        f"<td class='num'>{_rate_bar(rate)}</td></tr>"
        for d, res, w, rate in c.last_month
    )
    city = c.city[-1]
    lead = (
        f"Monthly share of resolved requests that met the service's published processing-time commitment, "
        f"{fmt_month(c.months[0])} to {fmt_month(last)} (complete months). City-wide in {fmt_month(last)}: "
        f"<strong>{fmt_pct(city, 1) if city is not None else 'n/a'}</strong>. Panels are ordered worst first; the "
        f"value is the latest month, green at or above the city-wide share, red below."
    )
    table = (
        f"<h3>{esc(fmt_month(last))}, by department</h3><table><thead><tr><th>Department</th>"
        f"<th class='num'>Resolved</th><th class='num'>Within commitment</th><th class='num'>Rate</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return Section("compliance", "Commitment compliance", "ok", f'<figure class="chart">{chart}</figure>{table}', lead)


def _rate_bar(rate: float) -> str:
    tone = GOOD if rate >= 0.85 else (WARN if rate >= 0.7 else BAD)
    return (
        f'<span class="rate"><span class="rate-bar"><span style="width:{rate * 100:.0f}%;background:{tone}">'
        f"</span></span>{fmt_pct(rate, 1)}</span>"
    )


def channel_mix(m: data.ChannelMix) -> Section:
    colours = [CHANNEL_COLOURS.get(code, PALETTE[(i + 3) % len(PALETTE)]) for i, (code, _, _) in enumerate(m.channels)]
    chart = charts.stacked_bars(
        "channel-mix",
        "Contacts per month by channel",
        m.months,
        [(name, values) for _, name, values in m.channels],
        colours,
        y_label="contacts",
    )
    digital = {"web", "app", "email", "social_media"}
    shares = []
    for index in (0, len(m.months) - 1):
        total = sum(v[index] for _, _, v in m.channels) or 1
        shares.append(sum(v[index] for code, _, v in m.channels if code in digital) / total)
    lead = (
        f"Every contact through every channel — calls, web and app sessions, and requests by service hall, email "
        f"and social media — per month. Digital channels (web, app, email, social media): "
        f"{fmt_pct(shares[0])} of contacts in {fmt_month(m.months[0])}, {fmt_pct(shares[1])} in "
        f"{fmt_month(m.months[-1])}."
    )
    if m.partial_last_month:
        lead += f" {fmt_month(m.months[-1])} is still in progress."
    return Section("channels", "Channel mix", "ok", f'<figure class="chart">{chart}</figure>', lead)


def _fmt_feature(column: str, value: object) -> str:
    if value is None:
        return "–"
    v = float(value)  # type: ignore[arg-type]
    if column.endswith("_share"):
        return fmt_pct(v)
    if column == "avg_satisfaction":
        return f"{v:.2f}"
    if column == "contacts_total":
        return f"{v:.1f}"
    return fmt_int(v)


def segment_profiles(s: data.Segments) -> Section:
    rows = [(str(r["kind"]), str(r["segment_name"]), float(r["size"])) for r in s.rows]  # type: ignore[arg-type]
    chart = charts.horizontal_bars("segment-sizes", "Citizens per segment", rows, KIND_COLOURS)
    head = "".join(f"<th class='num'>{esc(h)}</th>" for c, h in s.columns)
    body = "".join(
        f"<tr><td class='nowrap'>{charts.legend_swatch(KIND_COLOURS.get(str(r['kind']), PALETTE[9]))}"
        f"{esc(r['kind'])}</td>"
        f"<td>{esc(r['segment_name'])}</td>"
        + "".join(f"<td class='num'>{_fmt_feature(c, r[c])}</td>" for c, _ in s.columns)
        + "</tr>"
        for r in s.rows
    )
    table = (
        f'<div class="table-wrap"><table><thead><tr><th>Kind</th><th>Segment</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
    total = sum(r[2] for r in rows)
    lead = (
        f"{fmt_int(total)} citizens who consented to analytics, segmented separately for residents and businesses. "
        "The table gives each segment's mean of the features that named it."
    )
    return Section("segments", "Citizen segments", "ok", f'<figure class="chart">{chart}</figure>{table}', lead)


def series_label(series_id: str) -> str:
    category, _, district = series_id.rpartition("|")
    where = {"ALL": "city-wide", "unknown": "unknown district"}.get(district, f"district {district}")
    return f"{category[:1].upper()}{category[1:]} · {where}"


def forecast(f: data.Forecasts) -> Section:
    figures = []
    for i, s in enumerate(f.series):
        label = series_label(s.series_id)
        badge = _badge("fallback: seasonal naive", "warn") if s.is_fallback else _badge(s.model or "model", "info")
        chart = charts.fan_chart(f"forecast-{i + 1}", f"Daily requests and 28-day forecast: {label}", s)
        figures.append(f'<figure class="chart fan"><figcaption>{esc(label)} {badge}</figcaption>{chart}</figure>')
    horizon = ""
    if f.series and f.series[0].forecast_days:
        days = f.series[0].forecast_days
        horizon = f" from {days[0]:%d %b %Y} to {days[-1]:%d %b %Y}"
    lead = (
        f"Daily requests received over the last {data.ACTUAL_DAYS} days and the forecast{horizon} (median and "
        f"P10–P90 band) for the {len(f.series)} largest of {f.total_series} series. "
        f"{len(f.fallback_series)} series publish the seasonal-naive forecast because the model did not beat it "
        "in backtests; they are marked and drawn dashed."
    )
    body = f'<div class="grid2">{"".join(figures)}</div>'
    if f.fallback_series:
        items = ", ".join(esc(series_label(s)) for s in f.fallback_series)
        summary = f"Series on the fallback forecast ({len(f.fallback_series)})"
        body += f"<details><summary>{summary}</summary><p>{items}</p></details>"
    return Section("forecast", "Demand forecast", "ok", body, lead)
