"""`python -m bench --scale S|M|L` (what `cirm bench` and `make bench` call)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cirm.errors import CirmError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench options, shared by `python -m bench` and `cirm bench`."""
    parser.add_argument(
        "--scale",
        choices=["S", "M", "L", "XS"],
        metavar="S|M|L",
        help="S: 20,000 citizens × 1 year; M: 200,000 × 2 years; L: 1,000,000 × 3 years",
    )
    parser.add_argument("--skip-floors", action="store_true", help="skip the transform and ingest floors")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder for the benchmark city (default <CIRM_DATA_DIR>/bench/<scale>); wiped first",
    )
    orch = parser.add_mutually_exclusive_group()
    orch.add_argument(
        "--orchestration",
        dest="orchestration",
        action="store_true",
        default=None,
        help="also time the full run under the in-process and the multiprocess executor (default: S only)",
    )
    orch.add_argument("--skip-orchestration", dest="orchestration", action="store_false")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: re-judge the targets and regenerate bench/README.md from latest.json",
    )


def run(args: argparse.Namespace) -> int:
    from bench import results
    from bench.harness import run_scale

    if args.render_only:
        merged = results.load()
        if not merged:
            raise CirmError(f"no results to render: {results.LATEST} does not exist yet")
        merged["ratios"] = results.headline_ratios(merged.get("scales", {}))
        merged["targets"] = results.evaluate_targets(merged)
        results.save(merged)
        results.render_readme(merged)
        print(f"rendered {results.README} from {results.LATEST}")
        return 0
    if args.scale is None:
        raise CirmError("choose a scale: --scale S, M or L")
    run_scale(args.scale, data_dir=args.data_dir, floors=not args.skip_floors, orchestration=args.orchestration)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="CiRM Warehouse benchmarks")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except CirmError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
