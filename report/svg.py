"""SVG building blocks for the report's charts: scales, ticks, number formats, axes, legends.

Charts are drawn in Python as plain SVG text so the page needs no JavaScript and no external file.
Each chart is one `<svg data-chart="name">`; every mark carries a `<title>`, which browsers show as
a tooltip and screen readers read.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

# Tableau 10: distinguishable, print-safe, and readable for the common colour-vision deficiencies.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
GOOD = "#2f9e6e"
WARN = "#e8a33d"
BAD = "#d64545"
FONT_SIZE = 12
# No text measurement without a browser: an average glyph width is close enough to lay out legends.
CHAR_WIDTH = 0.6 * FONT_SIZE


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def fmt_compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_pct(value: float, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}%"


def fmt_month(day: date) -> str:
    return day.strftime("%b %Y")


def nice_step(span: float, count: int) -> float:
    raw = max(span, 1e-12) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude


def nice_domain(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """Round a data range out to tick boundaries; returns (lo, hi, ticks)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo, count)
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
    ticks = [lo + i * step for i in range(int(round((hi - lo) / step)) + 1)]
    return lo, hi, [round(t, 10) for t in ticks]


class Linear:
    """Maps a numeric domain onto pixel positions."""

    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def date_scale(first: date, last: date, r0: float, r1: float) -> Callable[[date], float]:
    scale = Linear(first.toordinal(), last.toordinal(), r0, r1)
    return lambda day: scale(day.toordinal())


def date_ticks(first: date, last: date, max_ticks: int = 8) -> list[tuple[date, str]]:
    """Month starts when the range spans a few months, else Mondays (every week or two)."""
    months = []
    day = date(first.year, first.month, 1)
    while day <= last:
        if day >= first:
            months.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    if len(months) >= 3:
        every = math.ceil(len(months) / max_ticks)
        return [(m, m.strftime("%b %Y" if m.month == 1 or i == 0 else "%b")) for i, m in enumerate(months[::every])]
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    mondays = [monday + timedelta(weeks=i) for i in range((last - monday).days // 7 + 1)]
    every = math.ceil(len(mondays) / max_ticks) or 1
    return [(m, m.strftime("%d %b")) for m in mondays[::every]]


def points_path(points: Iterable[tuple[float, float]]) -> str:
    """An SVG path through the points; None values break the line into segments."""
    parts: list[str] = []
    pen_down = False
    for x, y in points:
        if y is None or x is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return "".join(parts)


class Svg:
    """An SVG document assembled from strings, with helpers for the marks the charts use."""

    def __init__(self, name: str, width: int, height: int, title: str) -> None:
        self.name, self.width, self.height, self.title = name, width, height, title
        self.parts: list[str] = []

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def text(
        self,
        x: float,
        y: float,
        content: object,
        *,
        anchor: str = "start",
        cls: str = "",
        size: int | None = None,
        weight: str | None = None,
        fill: str | None = None,
    ) -> None:
        attrs = [f'x="{x:.1f}"', f'y="{y:.1f}"', f'text-anchor="{anchor}"']
        if cls:
            attrs.append(f'class="{cls}"')
        if size:
            attrs.append(f'font-size="{size}"')
        if weight:
            attrs.append(f'font-weight="{weight}"')
        if fill:
            attrs.append(f'fill="{fill}"')
        self.add(f"<text {' '.join(attrs)}>{esc(content)}</text>")

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str = GRID,
        width: float = 1,
        dash: str | None = None,
    ) -> None:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width}"{dash_attr}/>'
        )

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str,
        tooltip: str | None = None,
        *,
        rx: float = 0,
        opacity: float | None = None,
    ) -> None:
        extra = f' rx="{rx}"' if rx else ""
        extra += f' fill-opacity="{opacity}"' if opacity is not None else ""
        title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self.add(
            f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{fill}"{extra}>{title}</rect>'
        )

    def path(
        self,
        d: str,
        *,
        stroke: str = "none",
        fill: str = "none",
        width: float = 2,
        tooltip: str | None = None,
        dash: str | None = None,
        opacity: float | None = None,
    ) -> None:
        if not d:
            return
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' fill-opacity="{opacity}"' if opacity is not None else ""
        title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self.add(
            f'<path class="mark" d="{d}" stroke="{stroke}" fill="{fill}" stroke-width="{width}" '
            f'stroke-linejoin="round" stroke-linecap="round"{extra}>{title}</path>'
        )

    def circle(
        self, x: float, y: float, r: float, fill: str, tooltip: str | None = None, *, stroke: str = "#ffffff"
    ) -> None:
        title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self.add(
            f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1">{title}</circle>'
        )

    def y_axis(
        self,
        scale: Linear,
        ticks: Sequence[float],
        x0: float,
        x1: float,
        fmt: Callable[[float], str],
        *,
        label: str | None = None,
    ) -> None:
        """Horizontal grid lines with tick labels left of x0; an optional rotated axis label."""
        for tick in ticks:
            y = scale(tick)
            self.line(x0, y, x1, y, stroke=GRID)
            self.text(x0 - 6, y + 4, fmt(tick), anchor="end", cls="tick")
        if label:
            mid = (scale(ticks[0]) + scale(ticks[-1])) / 2
            self.add(
                f'<text class="axis-label" text-anchor="middle" transform="translate({x0 - 44:.1f},{mid:.1f}) '
                f'rotate(-90)">{esc(label)}</text>'
            )

    def legend(self, items: Sequence[tuple[str, str, str]], x: float, y: float, max_width: float) -> float:
        """Swatches and labels in rows from (x, y); items are (label, colour, kind: box|line|dash|band).
        Returns the y below the legend."""
        cx, cy = x, y
        for label, colour, kind in items:
            width = 22 + len(label) * CHAR_WIDTH + 16
            if cx + width > x + max_width and cx > x:
                cx, cy = x, cy + 18
            if kind == "line":
                self.line(cx, cy, cx + 16, cy, stroke=colour, width=2.5)
            elif kind == "dash":
                self.line(cx, cy, cx + 16, cy, stroke=colour, width=2.5, dash="4 3")
            elif kind == "band":
                self.add(
                    f'<rect x="{cx:.1f}" y="{cy - 6:.1f}" width="16" height="12" fill="{colour}" '
                    f'fill-opacity="0.25" stroke="{colour}" stroke-opacity="0.5"/>'
                )
            else:
                self.add(f'<rect x="{cx:.1f}" y="{cy - 6:.1f}" width="12" height="12" rx="2" fill="{colour}"/>')
            self.text(cx + 22, cy + 4, label, cls="legend")
            cx += width
        return cy + 14

    def render(self, description: str = "") -> str:
        desc = f"<desc>{esc(description)}</desc>" if description else ""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" data-chart="{esc(self.name)}" '
            f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" '
            f'role="img"><title>{esc(self.title)}</title>{desc}{"".join(self.parts)}</svg>'
        )
