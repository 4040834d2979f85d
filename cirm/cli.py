"""`cirm`, the project's command line. Errors caused by input or settings print a message, not a trace."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from cirm.errors import CirmError
from cirm.settings import DEMO_MARKER, Settings, load_settings, redact_url

# Two years of history, so forecasts have a seasonal baseline; small enough for a laptop in minutes.
DEMO_CITIZENS = 20_000
DEMO_DAYS = 730


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def _require_source(settings: Settings) -> str:
    if settings.source_url is None:
        raise CirmError("CIRM_SOURCE_URL=none: there is no case-management source to simulate into")
    return settings.source_url


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from simulator.run import continue_simulation, simulate

    settings.ensure_dirs()
    url = _require_source(settings)
    started = time.monotonic()
    if args.continue_:
        summary = continue_simulation(url, settings.drops_dir, settings.truth_dir, days=args.days or 1)
    else:
        summary = simulate(
            url,
            settings.drops_dir,
            settings.truth_dir,
            citizens=args.citizens,
            days=args.days or 365,
            seed=args.seed,
            start=args.start,
            city_timezone=settings.city_timezone,
            holiday_country=settings.holiday_country,
        )
    # Simulated people only: the development pseudonymization key may be used on this folder.
    (settings.data_dir / DEMO_MARKER).touch()
    print(f"simulated into {redact_url(url)} and {settings.drops_dir} in {time.monotonic() - started:.1f}s")
    print(summary.describe() if hasattr(summary, "describe") else summary)
    return 0


def print_layer_counts(settings: Settings) -> None:
    from ingest.warehouse import connect_warehouse, layer_row_counts

    if not settings.warehouse_path.exists():
        print(f"no warehouse at {settings.warehouse_path} yet")
        return
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        counts = layer_row_counts(con)
    print(f"warehouse: {settings.warehouse_path}")
    for schema, tables in counts.items():
        print(f"  {schema:<13} {sum(tables.values()):>12,} rows in {len(tables)} tables and views")
        for table, n in tables.items():
            print(f"      {table:<40} {n:>12,}")


def print_quarantine(settings: Settings) -> None:
    """Rows held back from the marts, by table and rule: never dropped, always visible."""
    from ingest.warehouse import connect_warehouse, quote_ident

    if not settings.warehouse_path.exists():
        return
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine' ORDER BY 1"
            ).fetchall()
        ]
        rows = []
        for table in tables:
            rows += con.execute(
                f"SELECT ?, failed_rule, count(*) FROM quarantine.{quote_ident(table)} GROUP BY ALL ORDER BY 3 DESC",
                [table],
            ).fetchall()
    if rows:
        print("  quarantined rows (kept in schema quarantine, not in the marts):")
        for table, rule, n in rows:
            print(f"      {table:<24} {rule:<36} {n:>10,}")


def _group_keys(groups: list[str]) -> list:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = [
        k for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups and graph.get(k).is_materializable
    ]
    if not keys:
        known = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})
        raise CirmError(f"no assets in group(s) {', '.join(groups)}; groups are: {', '.join(known)}")
    return keys


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    """The Dagster UI on the instance `cirm run` uses, so headless runs show there too."""
    import os
    import sys
    from pathlib import Path

    from orchestration.runner import dagster_instance

    settings.ensure_dirs()
    dagster_instance(settings)  # prepares DAGSTER_HOME and its dagster.yaml
    dagster = str(Path(sys.executable).with_name("dagster"))
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", *args.dagster_args])
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.runner import run_pipeline

    settings.ensure_dirs()
    report = run_pipeline(settings, asset_selection=_group_keys(args.select) if args.select else None)
    print()
    status = "succeeded" if report.success else "FAILED"
    print(
        f"run {report.run_id} {status} in {report.seconds:.1f}s: {len(report.steps_succeeded)} of "
        f"{report.steps_total} steps done, {len(report.steps_failed)} failed, {len(report.steps_skipped)} skipped"
    )
    for step, message in report.steps_failed.items():
        print(f"  failed  {step}: {message}")
    if report.steps_skipped:
        print(f"  not run (upstream failure or blocking check): {', '.join(report.steps_skipped)}")
    for check in report.checks_failed:
        print(f"  check   {check} failed")
    print_quarantine(settings)
    print(f"  full log: {report.log_path}  (and the run in the Dagster UI: make dev)")
    if args.counts:
        print_layer_counts(settings)
    return 0 if report.success else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """A fresh demo city, the whole pipeline, and where everything landed."""
    started = time.monotonic()
    if settings.source_url is not None and settings.source_kind == "sqlite":
        # The demo starts from scratch so that its numbers are reproducible.
        settings.warehouse_path.unlink(missing_ok=True)
        settings.warehouse_path.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    sim_args = argparse.Namespace(continue_=False, citizens=args.citizens, days=args.days, seed=args.seed, start=None)
    cmd_simulate(sim_args, settings)
    settings = load_settings()  # the folder is a demo city now
    code = cmd_run(argparse.Namespace(counts=True, select=None), settings)
    print(f"demo finished in {time.monotonic() - started:.1f}s (data folder {settings.data_dir})")
    return code


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.reconcile import reconcile_table
    from ingest.warehouse import connect_warehouse
    from simulator.schema import CASE_SYSTEM_TABLES

    url = _require_source(settings)
    ok = True
    with connect_warehouse(settings.warehouse_path, read_only=True) as con:
        print(f"{'table':<24}{'source keys':>14}{'raw rows':>14}{'raw keys':>14}  status")
        for table in CASE_SYSTEM_TABLES:
            r = reconcile_table(con, url, table)
            ok &= r.ok
            print(f"{table:<24}{r.source_keys:>14,}{r.raw_rows:>14,}{r.raw_keys:>14,}  {'ok' if r.ok else 'MISMATCH'}")
    return 0 if ok else 1


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """The mining targets, measured on this data folder (the demo city after `make demo`)."""
    from ml.targets import measure_targets

    database = settings.serving_path if settings.serving_path.exists() else settings.warehouse_path
    if not database.exists():
        raise CirmError(f"no warehouse at {settings.warehouse_path}: run `cirm demo` or `cirm run` first")
    targets = measure_targets(database, settings.truth_dir / "citizen_groups.csv", settings.models_dir)
    if not targets:
        raise CirmError("no mining outputs to evaluate yet")
    for t in targets:
        verdict = "met" if t.met else "MISSED"
        print(f"{t.name:<42} {t.value:>8.3f}   target {t.goal:<14} {verdict}")
    return 0 if all(t.met for t in targets) else 1


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    print(f"data folder: {settings.data_dir}")
    print(f"source:      {redact_url(settings.source_url)}")
    print_layer_counts(settings)
    return 0


def cmd_import_open311(args: argparse.Namespace, settings: Settings) -> int:
    """Open-data 311 exports into raw.open311_requests, each file exactly once."""
    from ingest.warehouse import connect_warehouse, new_load_id
    from open311 import import_files, load_mapping

    mapping = load_mapping(args.mapping)  # a bad mapping fails before the warehouse is opened
    settings.ensure_dirs()
    with connect_warehouse(settings.warehouse_path) as con:
        summary = import_files(con, mapping, args.files, new_load_id())
    print(summary.describe())
    return 0


def cmd_validate_mapping(args: argparse.Namespace, settings: Settings) -> int:
    """How a mapping fits an export; 0 when clean, 1 when the mapping would lose rows."""
    from open311 import load_mapping, validate_mapping

    report = validate_mapping(load_mapping(args.mapping), args.file)
    print(report.describe())
    return 0 if report.ok else 1


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    """Record erasure requests (the next run applies them); 1 when an id is unknown (recorded anyway)."""
    from privacy.erasure import compact_after_erasure, request_erasure

    if args.compact:
        print(compact_after_erasure(settings).describe())
        return 0
    report = request_erasure(settings, args.citizen, in_source=settings.erase_in_source)
    print(report.describe())
    return 1 if report.unknown else 0


def cmd_publish_postgres(args: argparse.Namespace, settings: Settings) -> int:
    """Mirror raw to PostgreSQL, build the models there, copy the ML outputs, refresh bi_reader."""
    from cirm.locking import data_folder_lock
    from pg_warehouse import publish_to_postgres

    url = args.url or settings.postgres_warehouse_url
    if not url:
        raise CirmError("no PostgreSQL warehouse: set CIRM_POSTGRES_WAREHOUSE_URL or pass --url postgresql://...")
    started = time.monotonic()
    # As `cirm run` and `cirm erase` do: one state of the DuckDB warehouse for the whole copy.
    with data_folder_lock(settings.data_dir):
        counts = publish_to_postgres(settings, url)
    print(f"published to {redact_url(url)} in {time.monotonic() - started:.1f}s (read-only role: bi_reader)")
    for table, n in counts.items():
        print(f"  {table:<48} {n:>12,}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """One benchmark scale: simulate, run, floors, one more day; results into bench/results/latest.json."""
    from bench.__main__ import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirm", description="CiRM Warehouse command line")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="generate the simulated city into the source and the drop folder")
    sim.add_argument("--citizens", type=int, default=5000, help="citizens at the start (default 5000)")
    sim.add_argument("--days", type=int, default=None, help="days to simulate (default 365; 1 with --continue)")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--start", type=_parse_date, default=None, help="first day, YYYY-MM-DD")
    sim.add_argument("--continue", dest="continue_", action="store_true", help="append days after the last one")
    sim.set_defaults(func=cmd_simulate)

    run = sub.add_parser("run", help="materialize every asset headless; exits non-zero if any step fails")
    run.add_argument("--no-counts", dest="counts", action="store_false", help="skip the row counts per layer")
    run.add_argument(
        "--select",
        action="append",
        metavar="GROUP",
        help="only the assets of this group (raw, staging, marts, ml, ...)",
    )
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate the demo city and run the whole pipeline on it")
    demo.add_argument("--citizens", type=int, default=DEMO_CITIZENS)
    demo.add_argument("--days", type=int, default=DEMO_DAYS)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=cmd_demo)

    rec = sub.add_parser("reconcile", help="compare source keys with raw rows and keys, per table")
    rec.set_defaults(func=cmd_reconcile)

    dev = sub.add_parser("dev", help="the Dagster UI (dagster dev) on the instance cirm run uses")
    dev.add_argument("dagster_args", nargs=argparse.REMAINDER, help="passed to dagster dev (e.g. -p 3001)")
    dev.set_defaults(func=cmd_dev)

    ev = sub.add_parser("evaluate", help="measure the mining targets (segments vs planted groups, forecast skill)")
    ev.set_defaults(func=cmd_evaluate)

    st = sub.add_parser("status", help="where the data lives and the row counts per layer")
    st.set_defaults(func=cmd_status)

    imp = sub.add_parser("import-open311", help="import open-data 311 exports (CSV) with a mapping, each file once")
    imp.add_argument("--mapping", required=True, type=Path, help="mapping file, e.g. mappings/nyc.yaml")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="export file(s) of that city and shape")
    imp.set_defaults(func=cmd_import_open311)

    val = sub.add_parser("validate-mapping", help="check a mapping against an export; exit 1 if it would lose rows")
    val.add_argument("--mapping", required=True, type=Path, help="mapping file, e.g. mappings/nyc.yaml")
    val.add_argument("file", type=Path, metavar="FILE", help="an export file")
    val.set_defaults(func=cmd_validate_mapping)

    era = sub.add_parser("erase", help="record erasure requests: the next run removes the citizens everywhere")
    what = era.add_mutually_exclusive_group(required=True)
    what.add_argument("--citizen", type=int, nargs="+", action="extend", metavar="ID", help="citizen id(s) to erase")
    what.add_argument(
        "--compact", action="store_true", help="after the run that applied an erasure: rewrite the warehouse file"
    )
    era.set_defaults(func=cmd_erase)

    pub = sub.add_parser(
        "publish-postgres", help="build the warehouse on PostgreSQL too (raw mirrored, dbt models, ML outputs)"
    )
    pub.add_argument("--url", help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (default CIRM_POSTGRES_WAREHOUSE_URL)")
    pub.set_defaults(func=cmd_publish_postgres)

    from bench.__main__ import add_arguments

    bench = sub.add_parser("bench", help="benchmark the pipeline on a simulated city of size S, M or L")
    add_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster's notices about APIs it plans to replace, or that are still in beta (the facts'
    # single-run backfill policy, once per asset at every start), are for developers, not for a
    # user's console.
    warnings.filterwarnings("ignore", message=r".*(superseded|deprecated).*")
    warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.func(args, settings))
    except CirmError as exc:
        print(f"cirm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
