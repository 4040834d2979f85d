"""Run a command and sample its whole process tree: resident memory summed over the tree, and CPU time.

Reads Linux /proc directly (psutil is not in the pinned set, and /proc is all this needs). A
dedicated thread samples every `interval` seconds; the command's own total comes from `wait4`
rusage, which the kernel keeps exactly for it and every descendant it waited for.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
DEFAULT_INTERVAL = 0.2


@dataclass(frozen=True)
class Sample:
    t: float  # epoch seconds: the clock Dagster stamps its events with, so windows line up
    cpu_s: float  # user + system of the tree so far, reaped descendants included
    rss_mb: float  # resident memory summed over the live tree


@dataclass
class Measured:
    argv: list[str]
    returncode: int
    started: float
    ended: float
    cpu_s: float  # rusage of the command and every descendant it waited for
    max_process_rss_mb: float  # ru_maxrss: the largest single process, not the tree
    samples: list[Sample] = field(default_factory=list)
    log_path: Path | None = None
    machine_busy_s: float = 0.0  # CPU seconds the whole machine spent busy meanwhile

    @property
    def other_cpu_s(self) -> float:
        """CPU the rest of the machine used meanwhile: other work competing for the same cores."""
        return max(self.machine_busy_s - self.cpu_s, 0.0)

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def peak_rss_mb(self) -> float:
        """The tree's sampled peak. Not floored by ru_maxrss: a child's ru_maxrss counts the pages it
        shared with its forking parent before exec, so a large parent (a test worker) inflates it."""
        return max((s.rss_mb for s in self.samples), default=0.0)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used in [start, end], interpolated between samples."""
        if not self.samples or end <= start:
            return 0.0
        t = np.array([s.t for s in self.samples])
        cpu = np.array([s.cpu_s for s in self.samples])
        lo, hi = np.interp([start, end], t, cpu)
        return float(max(hi - lo, 0.0))

    def peak_rss_between(self, start: float, end: float) -> float:
        """The tree's largest sampled RSS in [start, end]; a window shorter than the sampling
        interval takes the sample nearest its middle."""
        if not self.samples:
            return 0.0
        t = np.array([s.t for s in self.samples])
        rss = np.array([s.rss_mb for s in self.samples])
        inside = (t >= start) & (t <= end)
        if inside.any():
            return float(rss[inside].max())
        return float(rss[np.abs(t - (start + end) / 2).argmin()])


def _proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, cpu seconds incl. waited-for children, rss MB) of one process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    rss_pages = int(fields[21])
    return ppid, (utime + stime + cutime + cstime) / _CLOCK_TICKS, rss_pages * _PAGE_MB


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat, all but idle and iowait)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def tree_sample(root: int) -> Sample:
    """One sample of `root` and its descendants.

    Summing utime+stime+cutime+cstime over the live tree counts every process once: a finished
    child's time moves into its parent's cutime when the parent reaps it.
    """
    stats: dict[int, tuple[int, float, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    cpu = rss = 0.0
    todo = [root] if root in stats else []
    while todo:
        pid = todo.pop()
        _, pid_cpu, pid_rss = stats[pid]
        cpu += pid_cpu
        rss += pid_rss
        todo.extend(children.get(pid, []))
    return Sample(time.time(), cpu, rss)


def close_series(samples: list[Sample], ended: float, cpu_s: float) -> list[Sample]:
    """The samples taken before the exit, in time order, closed by one at `ended` with the exact total.

    A sample stamped at or after the exit saw the tree gone or half-reaped (the sampler stops only
    after wait4 returns), and would put the series out of time order for interpolation; the last one
    kept may predate the exit by up to one interval.
    """
    kept = sorted((s for s in samples if s.t < ended), key=lambda s: s.t)
    return [*kept, Sample(ended, max(cpu_s, kept[-1].cpu_s if kept else 0.0), 0.0)]


def run_monitored(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    interval: float = DEFAULT_INTERVAL,
) -> Measured:
    """Run `argv` to completion (output to `log_path`), sampling its process tree meanwhile."""
    argv = [str(a) for a in argv]
    log = open(log_path, "w", encoding="utf-8") if log_path else subprocess.DEVNULL  # noqa: SIM115
    samples: list[Sample] = []
    stop = threading.Event()
    try:
        busy = machine_busy_s()
        started = time.time()
        proc = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd, stdout=log, stderr=log)

        def sample() -> None:
            while not stop.is_set():
                samples.append(tree_sample(proc.pid))
                stop.wait(interval)

        sampler = threading.Thread(target=sample, name="bench-monitor", daemon=True)
        sampler.start()
        # wait4, not Popen.wait: its rusage is exactly this command's tree, unlike RUSAGE_CHILDREN,
        # which would also include anything else this process ran before.
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.time()
        busy = machine_busy_s() - busy
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(
        argv=argv,
        returncode=proc.returncode,
        started=started,
        ended=ended,
        cpu_s=cpu,
        max_process_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        samples=close_series(samples, ended, cpu),
        log_path=log_path,
        machine_busy_s=busy,
    )


def self_cpu_s() -> float:
    """CPU seconds of this process so far, all threads (DuckDB and connectorx work in threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
