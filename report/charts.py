"""The report's chart types, drawn as SVG from small, already aggregated query results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from report.svg import (
    BAD,
    CHAR_WIDTH,
    GOOD,
    INK,
    MUTED,
    PALETTE,
    WARN,
    Linear,
    Svg,
    date_scale,
    date_ticks,
    esc,
    fmt_compact,
    fmt_int,
    fmt_month,
    fmt_pct,
    nice_domain,
    points_path,
)

REFERENCE = "#9aa3af"


@dataclass(frozen=True)
class Panel:
    label: str
    values: Sequence[float | None]


def small_multiples(
    name: str,
    title: str,
    months: Sequence[date],
    panels: Sequence[Panel],
    reference: Panel,
    *,
    fmt: Callable[[float], str] = fmt_pct,
    columns: int = 4,
    width: int = 960,
) -> str:
    """One small line chart per panel on a shared y scale, each with the reference line in grey.

    Eight departments on one chart would be eight tangled lines; side by side, each reads at a glance
    against the city-wide line."""
    rows = -(-len(panels) // columns)
    panel_w, panel_h = width / columns, 170
    legend_h = 30
    svg = Svg(name, width, int(legend_h + rows * panel_h + 8), title)
    svg.legend([("Department", PALETTE[0], "line"), (reference.label, REFERENCE, "line")], 8, 14, width)
    values = [v for p in (*panels, reference) for v in p.values if v is not None] or [0.0, 1.0]
    lo, hi, ticks = nice_domain(min(values), max(values), 3)
    x_scale = Linear(0, max(len(months) - 1, 1), 0, 1)
    for i, panel in enumerate(panels):
        ox = (i % columns) * panel_w
        oy = legend_h + (i // columns) * panel_h
        left, right, top, bottom = ox + 44, ox + panel_w - 14, oy + 24, oy + panel_h - 26
        y = Linear(lo, hi, bottom, top)

        def x(k: int, left: float = left, right: float = right) -> float:
            return left + x_scale(k) * (right - left)

        # Leave room for the latest value at the panel's right edge.
        room = int((panel_w - 64) / (CHAR_WIDTH * 1.05))
        label = panel.label if len(panel.label) <= room else panel.label[: room - 1] + "…"
        svg.text(ox + 8, oy + 12, label, cls="panel-title")
        svg.y_axis(y, ticks, left, right, fmt)
        svg.path(
            points_path((x(k), None if v is None else y(v)) for k, v in enumerate(reference.values)),
            stroke=REFERENCE,
            width=1.5,
            tooltip=reference.label,
        )
        svg.path(
            points_path((x(k), None if v is None else y(v)) for k, v in enumerate(panel.values)),
            stroke=PALETTE[0],
            width=2.2,
            tooltip=panel.label,
        )
        for k, v in enumerate(panel.values):
            if v is not None:
                tip = (
                    f"{panel.label}, {fmt_month(months[k])}: {fmt(v)} (city-wide {_fmt_opt(reference.values[k], fmt)})"
                )
                svg.circle(x(k), y(v), 2.2, PALETTE[0], tip, stroke="none")
        last = next((v for v in reversed(panel.values) if v is not None), None)
        if last is not None:
            svg.text(right, oy + 12, fmt(last), anchor="end", cls="panel-value", fill=_trend_colour(panel, reference))
        svg.text(left, bottom + 16, months[0].strftime("%b %y"), cls="tick")
        svg.text(right, bottom + 16, months[-1].strftime("%b %y"), anchor="end", cls="tick")
    return svg.render(f"{title}: {len(panels)} panels, {len(months)} months")


def _fmt_opt(value: float | None, fmt: Callable[[float], str]) -> str:
    return "n/a" if value is None else fmt(value)


def _trend_colour(panel: Panel, reference: Panel) -> str:
    last = next((v for v in reversed(panel.values) if v is not None), None)
    ref = next((v for v in reversed(reference.values) if v is not None), None)
    if last is None or ref is None:
        return INK
    return GOOD if last >= ref else BAD


def stacked_bars(
    name: str,
    title: str,
    categories: Sequence[date],
    series: Sequence[tuple[str, Sequence[float]]],
    colours: Sequence[str],
    *,
    y_label: str,
    width: int = 960,
    height: int = 340,
) -> str:
    """Vertical bars per month, stacked by series, with a legend giving each series' overall share."""
    svg = Svg(name, width, height, title)
    totals = [sum(s[1][i] for s in series) for i in range(len(categories))]
    grand = sum(totals) or 1
    items = [(f"{label} ({fmt_pct(sum(vals) / grand)})", colours[i], "box") for i, (label, vals) in enumerate(series)]
    top = svg.legend(items, 64, 14, width - 80) + 8
    left, right, bottom = 64, width - 12, height - 28
    _, hi, ticks = nice_domain(0, max(totals) if totals else 1, 5)
    y = Linear(0, hi, bottom, top)
    svg.y_axis(y, ticks, left, right, fmt_compact, label=y_label)
    band = (right - left) / max(len(categories), 1)
    bar = band * 0.72
    every = max(1, int(round(len(categories) / 12)))
    for i, month in enumerate(categories):
        x = left + i * band + (band - bar) / 2
        base = 0.0
        for j, (label, vals) in enumerate(series):
            value = vals[i]
            if value <= 0:
                continue
            share = value / totals[i] if totals[i] else 0
            svg.rect(
                x,
                y(base + value),
                bar,
                y(base) - y(base + value),
                colours[j],
                f"{fmt_month(month)} · {label}: {fmt_int(value)} ({fmt_pct(share)})",
            )
            base += value
        if i % every == 0:
            fmt = "%b %Y" if i == 0 or month.month == 1 else "%b"
            svg.text(x + bar / 2, bottom + 16, month.strftime(fmt), anchor="middle", cls="tick")
    svg.line(left, bottom, right, bottom, stroke=MUTED)
    return svg.render(f"{title}: {len(categories)} months, {len(series)} series")


def horizontal_bars(
    name: str,
    title: str,
    rows: Sequence[tuple[str, str, float]],
    group_colours: dict[str, str],
    *,
    fmt: Callable[[float], str] = fmt_int,
    width: int = 960,
) -> str:
    """One bar per (group, label, value) row, grouped with a heading per group."""
    groups = list(dict.fromkeys(g for g, _, _ in rows))
    row_h, head_h = 26, 24
    height = 20 + len(rows) * row_h + len(groups) * head_h
    svg = Svg(name, width, height, title)
    label_w = min(320, max(len(label) for _, label, _ in rows) * CHAR_WIDTH + 16)
    left, right = label_w + 12, width - 70
    x = Linear(0, max(v for _, _, v in rows) or 1, left, right)
    cy = 10
    for group in groups:
        svg.text(8, cy + 16, group.capitalize(), cls="group-title")
        cy += head_h
        for _, label, value in (r for r in rows if r[0] == group):
            svg.text(left - 8, cy + 17, label, anchor="end", cls="bar-label")
            svg.rect(
                left,
                cy + 5,
                x(value) - left,
                row_h - 10,
                group_colours.get(group, PALETTE[0]),
                f"{group} · {label}: {fmt(value)}",
                rx=2,
            )
            svg.text(x(value) + 6, cy + 17, fmt(value), cls="bar-value")
            cy += row_h
    return svg.render(f"{title}: {len(rows)} bars")


def quality_bars(name: str, title: str, rows: Sequence[tuple[str, int, int, int]], *, width: int = 960) -> str:
    """Per asset: checks passed, failed (warning) and failed (blocking), stacked horizontally."""
    row_h = 22
    svg = Svg(name, width, 40 + len(rows) * row_h + 10, title)
    svg.legend(
        [("passed", GOOD, "box"), ("failed, warns", WARN, "box"), ("failed, blocking", BAD, "box")], 8, 14, width
    )
    label_w = min(340, max(len(r[0]) for r in rows) * CHAR_WIDTH + 16)
    left, right = label_w + 12, width - 90
    x = Linear(0, max(p + w + b for _, p, w, b in rows) or 1, left, right)
    for i, (asset, passed, warned, blocking) in enumerate(rows):
        top = 34 + i * row_h
        svg.text(left - 8, top + 14, asset, anchor="end", cls="bar-label")
        start = 0
        for count, colour, what in (
            (passed, GOOD, "passed"),
            (warned, WARN, "failed (warns)"),
            (blocking, BAD, "failed (blocking)"),
        ):
            if count:
                svg.rect(
                    x(start),
                    top + 4,
                    x(start + count) - x(start),
                    row_h - 8,
                    colour,
                    f"{asset}: {count} check{'s' if count != 1 else ''} {what}",
                )
                start += count
        failed = warned + blocking
        note = f"{failed} failed" if failed else "all passed"
        svg.text(x(start) + 6, top + 14, note, cls="bar-value", fill=BAD if blocking else (WARN if warned else MUTED))
    return svg.render(f"{title}: {len(rows)} assets")


@dataclass(frozen=True)
class FanSeries:
    series_id: str
    actual_days: Sequence[date]
    actual: Sequence[float]
    forecast_days: Sequence[date]
    p10: Sequence[float]
    p50: Sequence[float]
    p90: Sequence[float]
    is_fallback: bool
    model: str


def fan_chart(name: str, title: str, s: FanSeries, *, width: int = 470, height: int = 250) -> str:
    """Recent actuals, then the forecast's P10-P90 band and median; a fallback forecast is dashed."""
    svg = Svg(name, width, height, title)
    colour = WARN if s.is_fallback else PALETTE[0]
    p50_label = "P50 (fallback)" if s.is_fallback else "P50 forecast"
    top = (
        svg.legend(
            [
                ("actual", INK, "line"),
                (p50_label, colour, "dash" if s.is_fallback else "line"),
                ("P10–P90", colour, "band"),
            ],
            52,
            12,
            width - 60,
        )
        + 6
    )
    left, right, bottom = 52, width - 12, height - 26
    days = [*s.actual_days, *s.forecast_days]
    x = date_scale(min(days), max(days), left, right)
    _, hi, ticks = nice_domain(0, max([*s.actual, *s.p90, 1]), 4)
    y = Linear(0, hi, bottom, top)
    svg.y_axis(y, ticks, left, right, fmt_compact)
    if s.forecast_days:
        start = x(s.forecast_days[0])
        svg.rect(start, top, right - start, bottom - top, "#f3f4f6")
        svg.line(start, top, start, bottom, stroke=MUTED, dash="3 3")
        svg.text(start + 4, top + 11, "forecast", cls="tick")
        band = [(x(d), y(v)) for d, v in zip(s.forecast_days, s.p90, strict=True)]
        band += [(x(d), y(v)) for d, v in reversed(list(zip(s.forecast_days, s.p10, strict=True)))]
        svg.path(
            points_path(band) + "Z",
            fill=colour,
            opacity=0.22,
            width=0,
            tooltip=f"{s.series_id}: P10–P90 band, {s.model}",
        )
        svg.path(
            points_path((x(d), y(v)) for d, v in zip(s.forecast_days, s.p50, strict=True)),
            stroke=colour,
            width=2,
            dash="5 3" if s.is_fallback else None,
            tooltip=f"{s.series_id}: P50 ({s.model})",
        )
        for d, lo, mid, up in zip(s.forecast_days, s.p10, s.p50, s.p90, strict=True):
            svg.circle(
                x(d), y(mid), 2, colour, f"{d:%a %d %b %Y}: P50 {mid:.0f} (P10 {lo:.0f} – P90 {up:.0f})", stroke="none"
            )
    svg.path(
        points_path((x(d), y(v)) for d, v in zip(s.actual_days, s.actual, strict=True)),
        stroke=INK,
        width=1.6,
        tooltip=f"{s.series_id}: requests received",
    )
    for d, v in zip(s.actual_days, s.actual, strict=True):
        svg.circle(x(d), y(v), 1.6, INK, f"{d:%a %d %b %Y}: {v:.0f} received", stroke="none")
    for day, label in date_ticks(min(days), max(days), 6):
        svg.line(x(day), bottom, x(day), bottom + 4, stroke=MUTED)
        svg.text(x(day), bottom + 16, label, anchor="middle", cls="tick")
    svg.line(left, bottom, right, bottom, stroke=MUTED)
    return svg.render(f"{title}: {len(s.actual_days)} days of actuals, {len(s.forecast_days)} forecast days")


def legend_swatch(colour: str) -> str:
    """A small inline colour chip for HTML tables next to the charts."""
    return f'<span class="swatch" style="background:{esc(colour)}"></span>'
