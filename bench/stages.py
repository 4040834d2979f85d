"""Per-stage attribution of one monitored pipeline run (pure functions over the run's records).

A step belongs to the stage of the assets it materialized (raw -> ingest, dbt layers -> transform,
ml -> mining, serving -> publish); a step that only evaluates checks is quality. dbt runs its tests
inside the transform steps (`dbt build`); their windows, from dbt's run results, move to quality,
so that transform is the models' work, comparable with the transform floor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.events import DbtNode, RunEvents, StepRecord
from bench.monitor import Measured

STAGES = ("simulate", "ingest", "transform", "quality", "mining", "publish")
PIPELINE_STAGES = STAGES[1:]
_LAYER_STAGE = {
    "raw": "ingest",
    "staging": "transform",
    "intermediate": "transform",
    "quarantine": "transform",
    "snapshots": "transform",
    "marts": "transform",
    "ml": "mining",
    "serving": "publish",
}
# For a step that failed before materializing anything: its name is all there is.
_NAME_STAGE = (("raw__", "ingest"), ("dbt_", "transform"), ("gx_", "quality"), ("freshness_check", "quality"))
_NAME_STAGE += (("serving__", "publish"), ("citizen_segments", "mining"), ("demand_forecast", "mining"))


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    stage: str
    step: str

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


def step_stage(step: StepRecord) -> str:
    layers = {_LAYER_STAGE.get(key[0], "other") for key in step.asset_keys}
    if len(layers) == 1:
        return layers.pop()
    if not step.asset_keys and step.check_assets:
        return "quality"
    for prefix, stage in _NAME_STAGE:
        if step.key.startswith(prefix):
            return stage
    return "other"


def _subtract(window: Window, holes: Sequence[tuple[float, float]], hole_stage: str) -> list[Window]:
    """`window` cut around `holes` (sorted, disjoint), the cut-out pieces assigned to `hole_stage`."""
    pieces: list[Window] = []
    cursor = window.start
    for start, end in holes:
        start, end = max(start, window.start), min(end, window.end)
        if end <= start or start < cursor:
            continue
        if start > cursor:
            pieces.append(Window(cursor, start, window.stage, window.step))
        pieces.append(Window(start, end, hole_stage, window.step))
        cursor = end
    if cursor < window.end:
        pieces.append(Window(cursor, window.end, window.stage, window.step))
    return pieces


def stage_windows(events: RunEvents, dbt: Iterable[DbtNode] = ()) -> list[Window]:
    """The run's steps as stage windows, dbt tests carved out of the transform steps as quality."""
    tests: dict[str, list[tuple[float, float]]] = {}
    for node in dbt:
        if node.kind == "test":
            tests.setdefault(node.step, []).append((node.start, node.end))
    windows: list[Window] = []
    for step in events.steps:
        window = Window(step.start, step.end, step_stage(step), step.key)
        if window.stage == "transform" and step.key in tests:
            windows += _subtract(window, _merge(tests[step.key]), "quality")
        else:
            windows.append(window)
    return windows


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def stage_metrics(windows: Sequence[Window], measured: Measured) -> dict[str, dict[str, float]]:
    """Wall, CPU and peak tree RSS per stage: steps run one at a time, so a stage's windows add up."""
    out: dict[str, dict[str, float]] = {}
    for stage in sorted({w.stage for w in windows}):
        mine = [w for w in windows if w.stage == stage]
        out[stage] = {
            "wall_s": round(sum(w.seconds for w in mine), 3),
            "cpu_s": round(sum(measured.cpu_between(w.start, w.end) for w in mine), 3),
            "peak_rss_mb": round(max(measured.peak_rss_between(w.start, w.end) for w in mine), 1),
            "steps": len({w.step for w in mine}),
        }
    return out


def whole_process(measured: Measured) -> dict[str, float]:
    """A stage that is one whole command (simulate): its own rusage and sampled tree."""
    return {
        "wall_s": round(measured.wall_s, 3),
        "cpu_s": round(measured.cpu_s, 3),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
    }
