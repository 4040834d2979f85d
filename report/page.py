"""The report page: one self-contained HTML file (inline CSS, inline SVG, no script, no external URL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from report.sections import Section
from report.svg import esc

CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f4f6f9; --card:#fff; --accent:#2563eb;
  --good:#2f9e6e; --warn:#b7791f; --bad:#c53030; --info:#2b6cb0; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.5;
  font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",
  "DejaVu Sans",sans-serif; }
.wrap { max-width:1040px; margin:0 auto; padding:0 24px; }
header.top { background:#0f172a; color:#e2e8f0; padding:28px 0 18px; }
header.top .brand { font-size:12px; letter-spacing:.12em; text-transform:uppercase; color:#93c5fd; font-weight:600; }
header.top h1 { margin:4px 0 2px; font-size:28px; font-weight:650; color:#fff; }
header.top .sub { margin:0; color:#94a3b8; }
header.top nav { margin-top:14px; display:flex; flex-wrap:wrap; gap:6px 18px; font-size:13px; }
header.top nav a { color:#cbd5e1; text-decoration:none; border-bottom:1px solid transparent; }
header.top nav a:hover { border-bottom-color:#cbd5e1; }
header.top nav .ext { color:#93c5fd; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(180px,1fr)); gap:12px; margin:-1px 0 0;
  padding:18px 0 6px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.kpi .label { font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.05em; }
.kpi .value { font-size:24px; font-weight:650; margin-top:2px; font-variant-numeric:tabular-nums; }
.kpi .detail { font-size:12px; color:var(--muted); }
.kpi.good .value { color:var(--good); } .kpi.bad .value { color:var(--bad); } .kpi.warn .value { color:var(--warn); }
section.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:20px 24px;
  margin:16px 0; box-shadow:0 1px 2px rgba(15,23,42,.04); }
section.card h2 { margin:0 0 6px; font-size:19px; font-weight:650; }
section.card h3 { margin:18px 0 6px; font-size:14px; font-weight:650; }
.lead { margin:0 0 12px; color:#374151; max-width:80ch; }
.note { color:var(--muted); font-size:12px; margin:10px 0 0; }
.skip { margin:0; padding:12px 14px; border:1px dashed #cbd5e1; border-radius:8px; color:var(--muted);
  background:#f8fafc; }
figure.chart { margin:8px 0 4px; }
figure.chart svg { display:block; max-width:100%; height:auto; }
figure.chart figcaption { font-weight:600; font-size:13px; margin-bottom:2px; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:8px 24px; }
svg text { font-family:inherit; fill:#374151; font-size:12px; }
svg .tick { fill:#6b7280; font-size:11px; }
svg .axis-label { fill:#6b7280; font-size:11px; }
svg .legend { font-size:12px; }
svg .panel-title { font-weight:600; font-size:12px; }
svg .panel-value { font-weight:700; font-size:12px; }
svg .group-title { font-weight:700; font-size:12px; fill:#111827; }
svg .bar-label { font-size:12px; } svg .bar-value { font-size:11px; fill:#4b5563; }
svg .mark:hover { opacity:.8; }
table { border-collapse:collapse; width:100%; margin:6px 0 0; font-size:13px; }
th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; background:#f9fafb; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.row-bad td { background:#fff5f5; }
.table-wrap { overflow-x:auto; } td.nowrap { white-space:nowrap; } td.nowrap code { word-break:normal; }
code { font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; color:#334155;
  word-break:break-all; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:11px; font-weight:650;
  letter-spacing:.02em; vertical-align:1px; white-space:nowrap; }
.badge.good { background:#e6f6ee; color:#1f7a53; } .badge.bad { background:#fde8e8; color:#b42323; }
.badge.warn { background:#fdf3e1; color:#96600f; } .badge.info { background:#e7effb; color:#24548f; }
.badge.muted { background:#eef0f3; color:#4b5563; }
.bad-text { color:var(--bad); }
.callout { margin:12px 0 0; padding:10px 14px; border-radius:8px; border-left:4px solid; }
.callout.bad { background:#fff5f5; border-color:var(--bad); }
.callout.warn { background:#fffaf0; border-color:#dd9a2b; }
.callout.good { background:#f0faf5; border-color:var(--good); }
.callout ul { margin:4px 0 0; padding-left:20px; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 18px; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
.rate { display:inline-flex; align-items:center; gap:8px; }
.rate-bar { display:inline-block; width:90px; height:8px; background:#eef0f3; border-radius:4px; overflow:hidden; }
.rate-bar span { display:block; height:100%; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:0; }
details { margin-top:12px; color:#374151; } summary { cursor:pointer; color:var(--accent); }
footer { color:var(--muted); font-size:12px; padding:8px 0 32px; }
@media print { body { background:#fff; } section.card { break-inside:avoid; box-shadow:none; } }
"""


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    detail: str = ""
    tone: str = ""  # good | warn | bad | ""


@dataclass(frozen=True)
class Link:
    label: str
    href: str


def render_page(
    *, subtitle: str, kpis: Sequence[Kpi], sections: Sequence[Section], links: Sequence[Link], footer: str
) -> str:
    nav = "".join(f'<a href="#{esc(s.key)}">{esc(s.title)}</a>' for s in sections)
    nav += "".join(f'<a class="ext" href="{esc(link.href)}">{esc(link.label)} ↗</a>' for link in links)
    tiles = "".join(
        f'<div class="kpi {esc(k.tone)}"><div class="label">{esc(k.label)}</div><div class="value">{esc(k.value)}</div>'
        f'<div class="detail">{esc(k.detail)}</div></div>'
        for k in kpis
    )
    body = "".join(
        f'<section class="card" id="{esc(s.key)}" data-section="{esc(s.key)}" data-section-status="{esc(s.status)}">'
        f"<h2>{esc(s.title)}</h2>{f'<p class=lead>{s.lead}</p>' if s.lead else ''}{s.body}</section>"
        for s in sections
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>CiRM Warehouse — pipeline report</title><style>{CSS}</style></head><body>"
        '<header class="top"><div class="wrap"><div class="brand">CiRM Warehouse</div><h1>Pipeline report</h1>'
        f'<p class="sub">{esc(subtitle)}</p><nav>{nav}</nav></div></header>'
        f'<main class="wrap"><div class="kpis">{tiles}</div>{body}</main>'
        f'<footer class="wrap">{esc(footer)}</footer></body></html>'
    )
