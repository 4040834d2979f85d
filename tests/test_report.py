"""The static HTML report: built from a small warehouse, checked as HTML, and rendered in headless
Chromium to prove every chart draws (with CI=true a missing Chromium fails instead of skipping)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from report import ReportError, build_report
from tests.fixtures.marts_fixture import LATEST_RUN, build_marts_warehouse

IN_CI = os.environ.get("CI", "").lower() == "true"
CHARTS = {
    "quality-checks",
    "commitment-compliance",
    "channel-mix",
    "segment-sizes",
    *(f"forecast-{i}" for i in range(1, 7)),
}
SECTIONS = ("pipeline", "quality", "compliance", "channels", "segments", "forecast")
RUN_SUMMARY = {
    "run_id": "0f3c2a1e-run",
    "success": False,
    "seconds": 754.2,
    "steps_total": 40,
    "steps_succeeded": [f"step_{i}" for i in range(37)],
    "steps_failed": {"marts/fct_contacts": "blocking check primary_key_unique failed"},
    "steps_skipped": ["ml/demand_forecast", "ml/citizen_segments"],
    "checks_failed": ["marts/fct_contacts:primary_key_unique"],
}
MARK_TAGS = {"path", "rect", "circle"}


class _ReportParser(HTMLParser):
    """Collects each chart's marks and each section's status from the report's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[dict[str, str]]] = {}
        self.sections: dict[str, str] = {}
        self.urls: list[str] = []
        self.scripts = 0
        self._chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        elif tag in MARK_TAGS and self._chart and a.get("class") == "mark":
            self.charts[self._chart].append({"tag": tag, **a})
        if tag == "section" and "data-section" in a:
            self.sections[a["data-section"]] = a["data-section-status"]
        if tag == "script":
            self.scripts += 1
        self.urls += [a[k] for k in ("href", "src") if k in a]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None


def _parse(path: Path) -> _ReportParser:
    parser = _ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _has_size(mark: dict[str, str]) -> bool:
    if mark["tag"] == "rect":
        return float(mark["width"]) > 0 and float(mark["height"]) > 0
    if mark["tag"] == "circle":
        return float(mark["r"]) > 0
    return len(re.findall(r"[ML]", mark["d"])) >= 2


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    warehouse = build_marts_warehouse(folder / "warehouse.duckdb")
    docs = folder / "quality_docs"
    docs.mkdir()
    (docs / "index.html").write_text("<html>data docs</html>")
    target = folder / "dbt_target"
    target.mkdir()
    (target / "static_index.html").write_text("<html>static dbt docs</html>")
    (target / "index.html").write_text("<html>fetching dbt docs</html>")
    return build_report(
        warehouse, folder / "data" / "report", run_summary=RUN_SUMMARY, quality_docs=docs, dbt_docs_dir=target
    )


def test_report_has_every_section_and_chart(built: Path) -> None:
    assert built.name == "index.html" and built.is_file()
    parsed = _parse(built)
    assert parsed.sections == dict.fromkeys(SECTIONS, "ok")
    assert set(parsed.charts) == CHARTS
    for name, marks in parsed.charts.items():
        drawn = [m for m in marks if _has_size(m)]
        assert drawn, f"chart {name} has no drawn marks"
    html = built.read_text()
    # Every mark explains itself on hover.
    assert html.count("<title>") >= sum(len(m) for m in parsed.charts.values())
    assert "blocking" in html and "primary_key_unique" in html  # the blocking failure is named
    assert "fallback: seasonal naive" in html  # the fallback series is marked
    assert "0f3c2a1e-run" in html and "12 min 34 s" in html and "marts/fct_contacts" in html


def test_report_is_self_contained(built: Path) -> None:
    parsed = _parse(built)
    assert parsed.scripts == 0
    html = built.read_text()
    # The only URL-looking text allowed is the SVG namespace, which nothing fetches.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "@import" not in html and "url(" not in html
    for url in parsed.urls:
        assert url.startswith("#") or not re.match(r"^[a-z]+:", url), url


def test_report_links_data_docs_and_copies_static_dbt_docs(built: Path) -> None:
    parsed = _parse(built)
    assert "../../quality_docs/index.html" in parsed.urls
    assert "dbt-docs/index.html" in parsed.urls
    docs = built.parent / "dbt-docs"
    assert (docs / "index.html").read_text() == "<html>static dbt docs</html>"
    assert sorted(p.name for p in docs.iterdir()) == ["index.html"]
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".")] == []


def test_plain_dbt_docs_are_copied_with_manifest_and_catalog(tmp_path: Path) -> None:
    warehouse = build_marts_warehouse(tmp_path / "warehouse.duckdb")
    target = tmp_path / "target"
    target.mkdir()
    for name in ("index.html", "manifest.json", "catalog.json", "run_results.json"):
        (target / name).write_text(name)
    report = build_report(warehouse, tmp_path / "report", dbt_docs_dir=target)
    docs = report.parent / "dbt-docs"
    assert sorted(p.name for p in docs.iterdir()) == ["catalog.json", "index.html", "manifest.json"]
    assert "python -m http.server" in report.read_text()  # says how to open the fetching page


def test_missing_ml_and_quality_are_skipped_with_a_reason(tmp_path: Path) -> None:
    warehouse = build_marts_warehouse(tmp_path / "warehouse.duckdb", with_ml=False, with_quality=False)
    report = build_report(warehouse, tmp_path / "report")
    parsed = _parse(report)
    assert parsed.sections == {
        "pipeline": "skipped",
        "quality": "skipped",
        "compliance": "ok",
        "channels": "ok",
        "segments": "skipped",
        "forecast": "skipped",
    }
    assert set(parsed.charts) == {"commitment-compliance", "channel-mix"}
    html = report.read_text()
    assert "Skipped: ml.segment_profiles is not in this warehouse" in html
    assert "Skipped: quality.check_results is not in this warehouse" in html


def test_an_empty_warehouse_gives_a_report_of_skipped_sections(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    parsed = _parse(build_report(empty, tmp_path / "report"))
    assert set(parsed.sections.values()) == {"skipped"} and parsed.charts == {}


def test_a_broken_table_spoils_only_its_section(tmp_path: Path) -> None:
    warehouse = build_marts_warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(warehouse))
    con.execute("ALTER TABLE marts.mart_public_commitments RENAME COLUMN department_name TO dept")
    con.close()
    parsed = _parse(build_report(warehouse, tmp_path / "report"))
    assert parsed.sections["compliance"] == "error"
    assert [k for k, v in parsed.sections.items() if v == "error"] == ["compliance"]


def test_a_missing_database_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no database"):
        build_report(tmp_path / "nope.duckdb", tmp_path / "report")


def test_latest_quality_run_is_the_one_reported(built: Path) -> None:
    html = built.read_text()
    assert LATEST_RUN in html and "run-earlier" not in html
    assert "4 of 6 checks passed" in html


# --- headless Chromium ---------------------------------------------------------------------------

# Test-only probe, injected into a copy of the page: the report itself has no script. For each chart
# it measures the rendered box, counts marks with a non-empty bounding box, and rasterizes the SVG on
# a canvas twice, with and without its marks: the pixels that differ are what the marks painted.
PROBE = """
<script>
async function raster(svg, width, height) {
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height);
  ctx.drawImage(img, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}
window.addEventListener('load', async () => {
  const out = [];
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('path.mark, rect.mark, circle.mark')];
    const drawn = marks.filter(m => {
      const b = m.getBBox();
      // A line may be flat (zero height); a bar or a dot needs both sides.
      return m.tagName === 'path' ? (b.width > 0 || b.height > 0) : (b.width > 0 && b.height > 0);
    }).length;
    const result = {name: svg.dataset.chart, width: box.width, height: box.height, marks: marks.length, drawn};
    try {
      const w = Math.ceil(box.width), h = Math.ceil(box.height);
      const full = await raster(svg, w, h);
      const bare = svg.cloneNode(true);
      bare.querySelectorAll('.mark').forEach(m => m.remove());
      const axes = await raster(bare, w, h);
      let n = 0, sum = 0, sq = 0, painted = 0;
      for (let i = 0; i < full.length; i += 4) {
        const lum = 0.299 * full[i] + 0.587 * full[i + 1] + 0.114 * full[i + 2];
        n++; sum += lum; sq += lum * lum;
        let diff = 0;
        for (let c = 0; c < 3; c++) diff += Math.abs(full[i + c] - axes[i + c]);
        if (diff > 30) painted++;
      }
      result.variance = sq / n - (sum / n) ** 2;
      result.painted_by_marks = painted / n;
    } catch (e) { result.error = String(e); }
    out.push(result);
  }
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium is not installed (Debian: apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{message}; CI must render the report")
    pytest.skip(message)


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", header[16:24])


def test_charts_render_in_headless_chromium(built: Path, tmp_path: Path) -> None:
    binary = _chromium()
    probe_page = built.parent / "probe.html"
    probe_page.write_text(built.read_text().replace("</body>", PROBE + "</body>"))
    try:
        # Virtual time lets the probe's image decoding finish before the DOM is dumped.
        dom = _run_chromium(
            binary,
            tmp_path / "profile",
            "--window-size=1200,4000",
            "--virtual-time-budget=15000",
            "--dump-dom",
            probe_page.as_uri(),
        ).stdout
    finally:
        probe_page.unlink()
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; DOM tail: {dom[-500:]}"
    results = {r["name"]: r for r in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))}
    assert set(results) == CHARTS
    print(json.dumps(results, indent=1))  # shown with -s or on failure: what each chart painted
    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
        assert r["width"] > 300 and r["height"] > 60, f"{name} rendered at {r['width']}x{r['height']}"
        assert r["drawn"] > 0 and r["drawn"] >= 0.9 * r["marks"], f"{name}: {r['drawn']} of {r['marks']} marks drawn"
        assert r["variance"] > 50, f"{name} looks blank: {r}"
        assert r["painted_by_marks"] > 0.005, f"{name}: its marks paint almost nothing: {r}"

    shot = tmp_path / "report.png"
    _run_chromium(binary, tmp_path / "profile", "--window-size=1200,4000", f"--screenshot={shot}", built.as_uri())
    assert _png_size(shot) == (1200, 4000)
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kB
