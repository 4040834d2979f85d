"""Fault injection for `cirm run`: start the real CLI, SIGKILL it at a chosen point, and describe what
it left behind; fingerprint a warehouse so that two of them can be compared.

Used by tests/test_fault_injection.py. Everything here observes from outside, as an operator would:
the CLI's progress lines on stdout (`[n/N]  12.3s  running <step>`), the data folder, the run's dbt
log, and the Dagster event log (read-only), never the pipeline's own objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.warehouse import quote_ident, table_checksum
from serving.publish import DEFAULT_SCHEMAS, temporary_copies

ROOT = Path(__file__).resolve().parents[1]

# The schemas a rerun after a kill must rebuild exactly as a clean run does (meta and quality are
# bookkeeping that legitimately grows with every run, killed or not).
CHECKED_SCHEMAS: tuple[str, ...] = ("raw", "staging", "intermediate", "quarantine", "snapshots", "marts", "ml")
# What `serving.duckdb` holds.
SERVING_SCHEMAS: tuple[str, ...] = DEFAULT_SCHEMAS

# Columns that record when something ran, not what the data is: two runs over the same data differ
# in them, so the content checksums leave them out (row counts and column lists still cover them).
# Found by comparing two clean runs of one city column by column; every other column of every table
# in CHECKED_SCHEMAS came out identical. Deliberately NOT here: the snapshot's dbt_valid_from /
# dbt_valid_to / dbt_updated_at / dbt_scd_id (taken from the source row's updated_at, see
# snapshots/citizens_snapshot.yml), `_changed_at` (business time), and `model_version` (a hash of
# the training data).
VOLATILE_COLUMNS: Mapping[str, str] = {
    "_load_id": "the id of the ingest run that landed the row (new per run); raw, carried to staging, "
    "snapshots and quarantine",
    "_loaded_at": "the wall-clock time ingestion landed the row; carried on as the incremental facts' watermark",
    "loaded_at": "the same ingest wall-clock time, as the identity and contact models name it",
    "identity_loaded_at": "int_citizen_identity: ingest wall-clock time of the identity's inputs",
    "events_loaded_at": "int_request_lifecycle: ingest wall-clock time of the request's events",
    "_loaded_at_utc": "the drop gates' watermark: the same ingest wall-clock time, in UTC",
    "_gated_at": "the drop gates (staging.base_channel_drops__*): when the dbt invocation that judged the row "
    "started (run_started_at)",
    "quarantined_at": "quarantine.*: when the dbt invocation that held the row back started (run_started_at)",
    "scored_at": "ml.citizen_segments: when segmentation ran",
}

# `[3/42]   12.3s  running raw__citizens`, as orchestration/runner.py prints it.
PROGRESS = re.compile(
    r"^\[\d+/\d+\]\s+(?P<elapsed>[\d.]+)s\s+(?P<what>running|done|FAILED|skipped)\s+(?P<step>[^\s:]+)"
)
# The temporary copy serving/publish.py writes before the atomic swap.
# Relations dbt builds beside a model and swaps in; one that outlives its run is a leftover.
DBT_SCRATCH = ("__dbt_tmp", "__dbt_backup")


@dataclass(frozen=True)
class KillPoint:
    """Where to SIGKILL a run: `delay` seconds after the CLI reports `step` running; as soon as the dbt
    process of `step` starts building `dbt_node` (a dbt unique id, seen in the structured log dbt
    writes as it goes); `at` seconds after launch ("by time"); or the moment a file matching
    `when_file` exists in the data folder."""

    name: str
    area: str  # ingest, dbt, quality, mining, publish
    step: str | None = None
    delay: float = 0.0
    dbt_node: str | None = None
    at: float | None = None
    when_file: str | None = None
    select: tuple[str, ...] = ()  # `cirm run --select` groups; () runs the whole pipeline

    def trigger(self) -> str:
        if self.at is not None:
            return f"{self.at:.0f}s after launch"
        if self.when_file is not None:
            return f"{self.when_file} appears"
        if self.dbt_node is not None:
            return f"{self.step}: dbt starts {self.dbt_node.split('.', 2)[-1]}"
        return f"{self.step} +{self.delay:g}s"


@dataclass
class RunResult:
    """One `cirm run`: its output and, when killed, what was in progress."""

    label: str
    select: tuple[str, ...]
    returncode: int | None
    seconds: float
    lines: list[str]
    run_id: str | None
    killed_at: float | None = None  # seconds after launch
    in_progress: str = ""
    survivors: list[int] = field(default_factory=list)  # processes of the group alive after the kill
    status_after_kill: str | None = None  # the Dagster run's status as the kill left it

    @property
    def killed(self) -> bool:
        return self.killed_at is not None

    def steps(self, what: str) -> list[str]:
        return [m["step"] for line in self.lines if (m := PROGRESS.match(line)) and m["what"] == what]

    @property
    def stale_runs_released(self) -> int:
        return sum(1 for line in self.lines if "its process had stopped" in line)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])


def cirm_env(data_dir: Path) -> dict[str, str]:
    """The environment of a test run on `data_dir`: simulated city, its own Dagster instance. The
    caller's CIRM_* and DAGSTER_* settings are dropped (every folder runs the same pipeline: no
    PostgreSQL warehouse step, no open-data imports, no other executor), except the three below."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRM_", "DAGSTER_"))}
    env.update(
        CIRM_DATA_DIR=str(data_dir),
        DAGSTER_HOME=str(data_dir / "dagster_home"),
        CIRM_DEMO_MODE="true",
        # A query per model after each dbt step; nothing here reads column lineage.
        CIRM_DBT_COLUMN_LINEAGE="false",
        PYTHONUNBUFFERED="1",
    )
    for name in ("CIRM_PSEUDONYM_SECRET", "CIRM_CITY_TIMEZONE", "CIRM_HOLIDAY_COUNTRY"):
        if name in os.environ:  # keep what the caller chose, the same for every folder
            env[name] = os.environ[name]
    return env


def run_cirm(
    data_dir: Path,
    *,
    select: Iterable[str] = (),
    kill: KillPoint | None = None,
    label: str = "",
    timeout: float = 900,
    transcript: Path | None = None,
) -> RunResult:
    """`cirm run` on `data_dir` as a subprocess in its own session; with `kill`, SIGKILL its whole
    process group (dbt runs as a child) at that point. Returns when every process of it is gone.
    `transcript`, if given, receives the command and everything it printed."""
    select = tuple(select)
    command = [sys.executable, "-m", "cirm.cli", "run", "--no-counts"]
    for group in select:
        command += ["--select", group]
    logs = data_dir / "logs"
    logs_before = set(logs.glob("run-*.log")) if logs.is_dir() else set()
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=cirm_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group, so one killpg reaches dbt too
    )
    lines: list[str] = []
    incoming: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc, incoming), daemon=True)
    reader.start()
    trigger = _Trigger(kill, data_dir, logs_before, started) if kill is not None else None
    killed_at: float | None = None
    in_progress = ""
    survivors: list[int] = []
    # A file trigger waits for a window of a fraction of a second: poll often then.
    poll = 0.005 if kill is not None and kill.when_file else 0.02
    while True:
        try:
            line = incoming.get(timeout=poll)
        except queue.Empty:
            line = ""
        if line is None:  # end of output: the process is done
            break
        if line:
            lines.append(line)
        now = time.monotonic()
        if trigger is not None and killed_at is None and trigger.due(line, now):
            temp_present = serving_leftovers(data_dir)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            killed_at = now - started
            survivors = _wait_for_group_gone(proc.pid)
            in_progress = "serving temp copy present; " if temp_present else ""
        if now - started > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"{label}: `cirm run` still running after {timeout}s\n" + "\n".join(lines[-40:]))
    proc.wait()
    reader.join(10)
    seconds = time.monotonic() - started
    run_id = _new_run_id(data_dir, logs_before)
    status = None
    if killed_at is not None:
        in_progress += _in_progress(data_dir, run_id)
        status = run_statuses(data_dir).get(run_id or "", "no run record")
    if transcript is not None:
        transcript.parent.mkdir(parents=True, exist_ok=True)
        transcript.write_text("\n".join([" ".join(command), *lines, ""]))
    return RunResult(label, select, proc.returncode, seconds, lines, run_id, killed_at, in_progress, survivors, status)


def _pump(proc: subprocess.Popen, incoming: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        incoming.put(line.rstrip("\n"))
    incoming.put(None)


def _new_run_id(data_dir: Path, logs_before: set[Path]) -> str | None:
    """The run's id, from the log file the runner opens as it starts the run."""
    logs = data_dir / "logs"
    new = sorted((set(logs.glob("run-*.log")) if logs.is_dir() else set()) - logs_before)
    return new[-1].stem.removeprefix("run-") if new else None


def _dbt_log(data_dir: Path, run_id: str | None, step: str) -> Path | None:
    """The structured log of a dbt step's invocation: dagster-dbt gives each invocation its own target
    folder, `<step>-<run id prefix>-<hash>`, and dbt writes (and flushes) `dbt.log` there as it goes."""
    if run_id is None:
        return None
    found = sorted((ROOT / "dbt_project" / "target").glob(f"{step}-{run_id[:7]}-*/dbt.log"))
    return found[-1] if found else None


class _Trigger:
    """Decides, line by line and between lines, whether the kill point is reached."""

    def __init__(self, kill: KillPoint, data_dir: Path, logs_before: set[Path], started: float) -> None:
        self.kill, self.data_dir, self.logs_before, self.started = kill, data_dir, logs_before, started
        self.step_seen_at: float | None = None
        self.dbt_log: Path | None = None
        self.dbt_offset = 0
        self.dbt_partial = ""

    def due(self, line: str, now: float) -> bool:
        kill = self.kill
        if kill.at is not None:
            return now - self.started >= kill.at
        if kill.when_file is not None:
            # Armed from launch: the CLI reports a step up to half a second late, longer than a
            # small publish takes.
            return any(self.data_dir.glob(kill.when_file))
        match = PROGRESS.match(line) if line else None
        if match and match["what"] == "running" and match["step"] == kill.step and self.step_seen_at is None:
            self.step_seen_at = now
        if self.step_seen_at is None:
            return False
        if kill.dbt_node is not None:
            return self._dbt_started(kill.dbt_node)
        return now - self.step_seen_at >= kill.delay

    def _dbt_started(self, node: str) -> bool:
        """Whether the step's dbt log, read on from where it was last read, shows `node` starting."""
        if self.dbt_log is None:
            run_id = _new_run_id(self.data_dir, self.logs_before)
            self.dbt_log = _dbt_log(self.data_dir, run_id, self.kill.step or "")
            if self.dbt_log is None:
                return False
        with open(self.dbt_log, "rb") as handle:
            handle.seek(self.dbt_offset)
            chunk = handle.read()
        self.dbt_offset += len(chunk)
        *complete, self.dbt_partial = (self.dbt_partial + chunk.decode("utf-8", "replace")).split("\n")
        return any('"NodeStart"' in entry and f'"unique_id": "{node}"' in entry for entry in complete)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _wait_for_group_gone(pgid: int, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (members := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def serving_leftovers(data_dir: Path) -> list[str]:
    """Temporary serving copies beside `serving.duckdb` (a killed publish leaves one)."""
    return [p.name for p in temporary_copies(data_dir / "serving.duckdb")]


def other_leftovers(data_dir: Path) -> list[str]:
    """Hidden staging files and folders of the report, the dbt docs and the model artefacts that a kill
    can leave behind (they are written beside their target and renamed into place)."""
    found = []
    for folder in (data_dir / "report", *(data_dir / "models").glob("*")):
        if folder.is_dir():
            found += [
                str(p.relative_to(data_dir))
                for p in folder.iterdir()
                if (p.name.startswith(".") and p.name.endswith((".tmp", ".old"))) or p.name.startswith(".staging-")
            ]
    return sorted(found)


def _in_progress(data_dir: Path, run_id: str | None) -> str:
    """The step(s) the run had started and not finished, from its Dagster event log (the CLI's own
    lines lag by up to half a second), and for a dbt step the node dbt was building."""
    events = _step_events(data_dir, run_id)
    if events is None:
        return "start-up (no Dagster run yet)"
    if not events:
        return "Dagster run created, no step started"
    unfinished: dict[str, None] = {}
    finished = ""
    for step, event in events:
        if event == "STEP_START":
            unfinished[step] = None
        else:
            unfinished.pop(step, None)
            finished = step
    if not unfinished:
        return f"between steps (after {finished})"
    described = []
    for step in unfinished:
        node = _dbt_node_in_progress(data_dir, run_id, step) if step.startswith("dbt_") else None
        described.append(f"{step}: {node}" if node else step)
    return ", ".join(described)


def _step_events(data_dir: Path, run_id: str | None) -> list[tuple[str, str]] | None:
    """(step, event type) of the run's step events, in order; None if the run has no event log."""
    db = data_dir / "dagster_home" / "history" / "runs" / f"{run_id}.db"
    if run_id is None or not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT step_key, dagster_event_type FROM event_logs WHERE dagster_event_type IN "
            "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED') ORDER BY id"
        ).fetchall()
    finally:
        con.close()


def run_statuses(data_dir: Path) -> dict[str, str]:
    """Every Dagster run of the data folder's instance and its status, read-only."""
    db = data_dir / "dagster_home" / "history" / "runs.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    finally:
        con.close()


def _dbt_node_in_progress(data_dir: Path, run_id: str | None, step: str) -> str:
    log = _dbt_log(data_dir, run_id, step)
    if log is None:
        return "dbt starting (no log yet)"
    running: dict[str, None] = {}
    finished = ""
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the last line may be cut short by the kill
        node = ((event.get("data") or {}).get("node_info") or {}).get("unique_id", "?")
        name = (event.get("info") or {}).get("name")
        if name == "NodeStart":
            running[node] = None
        elif name == "NodeFinished":
            running.pop(node, None)
            finished = node
    if running:
        return "building " + ", ".join(u.replace(".cirm.", " ") for u in running)
    return f"between nodes (after {finished.replace('.cirm.', ' ')})" if finished else "dbt starting (no node yet)"


@dataclass(frozen=True)
class TablePrint:
    columns: tuple[str, ...]  # name and type, in table order
    rows: int
    checksum: str  # md5 over the sorted text of every row, VOLATILE_COLUMNS left out


def warehouse_fingerprint(
    database: Path,
    schemas: Iterable[str] = CHECKED_SCHEMAS,
    *,
    exclude: Iterable[str] = tuple(VOLATILE_COLUMNS),
) -> dict[str, TablePrint]:
    """Every table (and view) of `schemas`: columns, row count and a content checksum over the columns
    not in `exclude`. Opens `database` read-only."""
    excluded = {c.lower() for c in exclude}
    con = duckdb.connect(str(database), read_only=True)
    try:
        objects = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND list_contains(?, table_schema) ORDER BY 1, 2",
            [list(schemas)],
        ).fetchall()
        prints = {}
        for schema, table in objects:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            prints[f"{schema}.{table}"] = _table_print(con, schema, table, columns, excluded)
        return prints
    finally:
        con.close()


def _table_print(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]], excluded: set[str]
) -> TablePrint:
    rows, digest = table_checksum(con, schema, table, exclude=excluded)
    return TablePrint(tuple(f"{name} {dtype}" for name, dtype in columns), rows, digest)


def fingerprint_differences(expected: Mapping[str, TablePrint], actual: Mapping[str, TablePrint]) -> list[str]:
    """What differs between two fingerprints, one line per table; empty when they are equal."""
    out = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None or got is None:
            out.append(f"{name}: {'missing' if got is None else 'not in the reference'}")
        elif want.columns != got.columns:
            out.append(f"{name}: columns {got.columns} != {want.columns}")
        elif want.rows != got.rows:
            out.append(f"{name}: {got.rows} rows != {want.rows}")
        elif want.checksum != got.checksum:
            out.append(f"{name}: same {got.rows} rows, different content")
    return out


def dbt_scratch_relations(database: Path) -> list[str]:
    """Relations dbt builds beside a model and renames or drops before it commits."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        names = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database()"
        ).fetchall()
    finally:
        con.close()
    return sorted(n for (n,) in names if n.endswith(DBT_SCRATCH))


def serving_counts(serving_path: Path) -> dict[str, int] | None:
    """Rows per table of the serving copy, opened read-only as BI tools open it; None if absent.
    Raises if the file cannot be opened: a half-written copy would."""
    if not serving_path.exists():
        return None
    con = duckdb.connect(str(serving_path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f"SELECT count(*) FROM {quote_ident(s)}.{quote_ident(t)}").fetchall()[0][0]
            for s, t in tables
        }
    finally:
        con.close()


def warehouse_counts(database: Path, schemas: Iterable[str] = SERVING_SCHEMAS) -> dict[str, int]:
    """Rows per table and view of `schemas` in the warehouse: what a publish now would copy."""
    return {name: p.rows for name, p in warehouse_fingerprint(database, schemas, exclude=()).items()}
