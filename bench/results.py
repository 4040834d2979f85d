"""bench/results/latest.json (merged one scale at a time) and the table in bench/README.md.

Each scale keeps the time, commit and machine it was measured with, so results of different
runs can sit side by side without pretending to be one measurement.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LATEST = BENCH_DIR / "results" / "latest.json"
README = BENCH_DIR / "README.md"
PUBLIC_SCALES = ("S", "M", "L")
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
# The ratio headline comes from the largest city measured with floors, M first (the targets' scale).
_RATIO_PREFERENCE = ("M", "L", "S")
_PACKAGES = (
    "dagster",
    "dagster-dbt",
    "dbt-core",
    "dbt-duckdb",
    "duckdb",
    "connectorx",
    "pyarrow",
    "pandas",
    "numpy",
    "scikit-learn",
    "great-expectations",
)


def machine_info() -> dict:
    """Cores, memory, CPU model and the versions that matter for these numbers."""
    memory_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        meminfo = Path("/proc/meminfo").read_text()
        memory_kb = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")))
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
        cpu = models[0] if models else cpu
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def git_commit(repo: Path = REPO_DIR) -> dict:
    """HEAD and whether tracked files differ from it (a dirty tree is not exactly that commit).

    The benchmark's own outputs do not count: after one scale has written its results, the next
    scale of the same `make bench` would otherwise record a dirty tree.
    """

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    outputs = (f":(exclude){path.relative_to(REPO_DIR)}" for path in (LATEST, README))
    dirty = git("status", "--porcelain", "-uno", "--", ".", *outputs)
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(dirty)}


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(path: Path = LATEST) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def merge(existing: dict, scale: str, result: dict, *, orchestration: dict | None = None) -> dict:
    """`existing` with one scale's result replaced; the other scales are kept as they were."""
    machine = result.get("machine", existing.get("machine", {}))
    merged = {"machine": machine, **existing, "scales": {**existing.get("scales", {}), scale: result}}
    merged["machine"] = machine
    if orchestration is not None:
        merged["orchestration"] = orchestration
    merged["ratios"] = headline_ratios(merged["scales"])
    merged["targets"] = evaluate_targets(merged)
    return merged


def save(results: dict, path: Path = LATEST) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def headline_ratios(scales: dict) -> dict:
    for name in _RATIO_PREFERENCE:
        ratios = scales.get(name, {}).get("ratios") or {}
        if ratios.get("transform") is not None and ratios.get("ingest") is not None:
            return {"transform": ratios["transform"], "ingest": ratios["ingest"], "scale": name}
    return {"transform": None, "ingest": None, "scale": None}


@dataclass(frozen=True)
class Target:
    name: str
    goal: float
    unit: str
    value: float | None

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.goal

    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        margin = self.value - self.goal
        pct = abs(margin) / self.goal * 100 if self.goal else 0.0
        if margin <= 0:
            return f"met ({_fmt(-margin)}{self.unit} to spare, {pct:.0f}%)"
        if self.value >= 2 * self.goal:
            return f"MISSED by {_fmt(margin)}{self.unit} ({self.value / self.goal:.1f}× the goal)"
        return f"MISSED by {_fmt(margin)}{self.unit} (+{pct:.0f}%)"

    def as_dict(self) -> dict:
        return {
            "target": self.name,
            "goal": self.goal,
            "unit": self.unit.strip(),
            "value": None if self.value is None else round(self.value, 3),
            "met": self.met,
            "verdict": self.verdict(),
        }


def _fmt(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _get(scales: dict, scale: str, key: str) -> float | None:
    value = scales.get(scale, {}).get(key)
    return float(value) if value is not None else None


def _divide(a: float | None, b: float | None, factor: float = 1.0) -> float | None:
    return None if a is None or not b else a / b * factor


def targets(results: dict) -> list[Target]:
    """The issue's targets (2 cores, 24 GB), measured from the merged results."""
    scales = results.get("scales", {})
    ratios = results.get("ratios") or headline_ratios(scales)
    m_full, m_inc = _get(scales, "M", "full_wall_s"), _get(scales, "M", "incremental_wall_s")
    s_inc = _get(scales, "S", "incremental_wall_s")
    l_peak = _get(scales, "L", "full_peak_rss_mb")
    return [
        Target("M full pipeline ≤ 5 min", 300.0, " s", m_full),
        Target("M incremental day ≤ 10% of the M full run", 10.0, " %", _divide(m_inc, m_full, 100.0)),
        Target("M incremental day ≤ 1.5× the S incremental day", 1.5, "×", _divide(m_inc, s_inc)),
        Target("transform ratio (pipeline ÷ floor) ≤ 1.5", 1.5, "", ratios.get("transform")),
        Target("ingest ratio (pipeline ÷ floor) ≤ 2", 2.0, "", ratios.get("ingest")),
        Target("L peak memory ≤ 4 GB", 4.0, " GB", None if l_peak is None else l_peak / 1024),
    ]


def evaluate_targets(results: dict) -> list[dict]:
    return [t.as_dict() for t in targets(results)]


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _rows(stage: dict) -> str:
    if "rows_in" not in stage:
        return "–"
    return f"{stage['rows_in']:,} → {stage['rows_out']:,}"


def render_tables(results: dict) -> str:
    """Markdown for the README, from the merged results only (so it is reproducible from the JSON)."""
    scales = results.get("scales", {})
    machine = results.get("machine", {})
    lines = []
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    lines += [
        f"Machine of the latest run: {machine.get('cores', '?')} cores, {machine.get('memory_gb', '?')} GB, "
        f"{machine.get('cpu', '?')}, {machine.get('os', '?')}.",
        "",
        f"Versions: {versions or 'unknown'}.",
        "",
        "### Targets",
        "",
        "| target | measured | verdict |",
        "|---|---:|---|",
    ]
    for target in targets(results):
        value = "–" if target.value is None else f"{_fmt(target.value)}{target.unit}"
        lines.append(f"| {target.name} | {value} | {target.verdict()} |")
    headline = results.get("ratios") or {}
    if headline.get("scale"):
        lines += ["", f"Ratios in the targets are the {headline['scale']} city's."]
    lines += [
        "",
        "### Runs",
        "",
        "| scale | city | measured (UTC) | commit | full run | incremental day | peak memory "
        "| transform ratio | ingest ratio |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name in PUBLIC_SCALES:
        s = scales.get(name)
        if not s:
            lines.append(f"| {name} | {_CITY[name]} | not measured yet | | | | | | |")
            continue
        commit = s.get("commit", {})
        sha = (commit.get("commit") or "?")[:10] + (" (dirty)" if commit.get("dirty") else "")
        ratios = s.get("ratios") or {}
        lines.append(
            f"| {name} | {s['citizens']:,} citizens × {s['days']:,} days | {s.get('measured_at', '?')} | {sha} "
            f"| {_num(s.get('full_wall_s'))} s | {_num(s.get('incremental_wall_s'))} s "
            f"| {_num(s.get('full_peak_rss_mb'), 0)} MB | {_num(ratios.get('transform'), 2)} "
            f"| {_num(ratios.get('ingest'), 2)} |"
        )
    for name in PUBLIC_SCALES:
        s = scales.get(name)
        if not s:
            continue
        lines += [
            "",
            f"#### {name}: per stage (full load)",
            "",
            "| stage | wall s | CPU s | peak RSS MB | rows in → out | incremental wall s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        inc = (s.get("incremental") or {}).get("stages", {})
        for stage, m in s.get("stages", {}).items():
            inc_wall = (inc.get(stage) or {}).get("wall_s")
            lines.append(
                f"| {stage} | {_num(m.get('wall_s'))} | {_num(m.get('cpu_s'))} | {_num(m.get('peak_rss_mb'), 0)} "
                f"| {_rows(m)} | {_num(inc_wall)} |"
            )
        other = (s.get("full_run") or {}).get("other_cpu_s")
        cores = (s.get("machine") or {}).get("cores")
        if other is not None and cores and s.get("full_wall_s"):
            share = other / (cores * s["full_wall_s"]) * 100
            lines += [
                "",
                f"Other processes on the machine used {other:,.0f} CPU s during the full run "
                f"({share:.0f}% of its {cores} cores): the higher, the more these times are inflated.",
            ]
        floors = s.get("floors") or {}
        if floors:
            t, i = floors.get("transform", {}), floors.get("ingest", {})
            lines += [
                "",
                f"Floors: transform {_num(t.get('wall_s'), 2)} s (pipeline {_num(t.get('pipeline_wall_s'))} s), "
                f"ingest {_num(i.get('wall_s'), 2)} s (pipeline {_num(i.get('pipeline_wall_s'))} s). "
                f"Not in any step (Dagster between steps, process start): {_num(s.get('unattributed_s'))} s "
                f"of the {_num(s.get('full_wall_s'))} s run.",
            ]
    orch = results.get("orchestration")
    if orch:
        lines += [
            "",
            f"### Orchestration overhead ({orch.get('scale')} city, measured {orch.get('measured_at', '?')})",
            "",
            "| executor | process wall s | run wall s | in steps s | overhead s (run − steps) | per step s | steps |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for executor in ("in_process", "multiprocess"):
            e = orch.get(executor)
            if e:
                lines.append(
                    f"| {executor} | {_num(e.get('process_wall_s'))} | {_num(e.get('run_wall_s'))} "
                    f"| {_num(e.get('step_s'))} | {_num(e.get('overhead_s'))} "
                    f"| {_num(e.get('overhead_per_step_s'), 2)} "
                    f"| {e.get('steps', '–')} |"
                )
        if orch.get("conclusion"):
            lines += ["", orch["conclusion"]]
    return "\n".join(lines)


_CITY = {"S": "20,000 citizens × 365 days", "M": "200,000 citizens × 730 days", "L": "1,000,000 citizens × 1,095 days"}


def render_readme(results: dict, readme: Path = README) -> None:
    """Replace the text between the markers of `readme` with the tables of `results`."""
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{render_tables(results)}\n{END}{tail}")
