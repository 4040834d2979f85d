"""`dbt build --target postgres`: the warehouse's models, snapshot and tests on PostgreSQL.

dbt runs as a subprocess, as Dagster runs it for DuckDB, with the connection and the key in its
environment only (pg_warehouse.connection.dbt_environment). Its artefacts go to a folder of their
own, never dbt_project/target, whose manifest Dagster reads for the DuckDB warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cirm.dbt_paths import DBT_EXECUTABLE, DBT_PROJECT_DIR
from pg_warehouse.connection import PgWarehouseError, dbt_environment, parse_pg_url

TIMEOUT_SECONDS = 3 * 3600
_FAILED = {"error", "fail", "runtime error"}


class PgBuildError(PgWarehouseError):
    """dbt build on PostgreSQL failed; the message names the failing models and tests."""


@dataclass(frozen=True)
class BuildResult:
    returncode: int
    failed: tuple[str, ...]  # unique ids of the models, snapshots and tests that errored or failed
    skipped: tuple[str, ...]  # not run because something upstream failed
    output: str  # dbt's console output
    target_path: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed

    def raise_for_failures(self) -> None:
        if self.ok:
            return
        if self.failed:
            what = f"{len(self.failed)} node(s) failed: {', '.join(self.failed)}"
            if self.skipped:
                what += f" ({len(self.skipped)} skipped downstream)"
        else:
            # No node failed: dbt stopped before running any (connection, parse or hook error).
            what = "dbt stopped before building: " + _last_lines(self.output)
        raise PgBuildError(f"dbt build on PostgreSQL failed (exit {self.returncode}): {what}")


def build_postgres(
    pg_url: str,
    pseudonym_secret: str,
    work_dir: Path,
    *,
    full_refresh: bool = True,
    dbt_vars: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Run `dbt build --target postgres` against `pg_url`; dbt's target and logs go under `work_dir`.

    `full_refresh` (the default) rebuilds the incremental facts from the mirrored raw layer: the
    copy then holds exactly what DuckDB's raw holds, erasures included (macros/erasure.sql).
    """
    args = ["build", *(["--full-refresh"] if full_refresh else [])]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    return run_dbt_postgres(pg_url, pseudonym_secret, work_dir, [*args, *extra_args], env=env)


def run_dbt_postgres(
    pg_url: str,
    pseudonym_secret: str,
    work_dir: Path,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Any dbt command against the PostgreSQL target (build, show, test ...)."""
    target = parse_pg_url(pg_url)
    work_dir = Path(work_dir)
    target_path = work_dir / "target"
    command = [
        DBT_EXECUTABLE, *args, "--target", "postgres",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    # Plain text: the output ends up in error messages.
    base = {
        **(os.environ if env is None else env),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    run_results = target_path / "run_results.json"
    # Left by an earlier invocation, it would name that one's failures.
    run_results.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            command,
            env=dbt_environment(target, pseudonym_secret, base),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            cwd=DBT_PROJECT_DIR,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PgBuildError(f"could not run dbt ({DBT_EXECUTABLE}): {exc}") from exc
    failed, skipped = _node_statuses(run_results)
    return BuildResult(proc.returncode, failed, skipped, proc.stdout + proc.stderr, target_path)


def _node_statuses(run_results: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not run_results.is_file():  # dbt stopped before running any node
        return (), ()
    results = json.loads(run_results.read_text())["results"]
    failed = tuple(r["unique_id"] for r in results if r["status"] in _FAILED)
    skipped = tuple(r["unique_id"] for r in results if r["status"] == "skipped")
    return failed, skipped


def _last_lines(output: str, n: int = 8) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) or "no output"
