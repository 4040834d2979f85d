"""Great Expectations suites as Dagster asset checks: one multi-check per guarded asset.

Blocking checks stop everything downstream of their asset in the same run (mining included);
the others warn. Every evaluation is appended to `quality.check_results` and the Data Docs under
`<data>/quality_docs/` are rebuilt.
"""

from collections.abc import Iterator

import dagster as dg

import quality
from ingest.warehouse import connect_warehouse
from orchestration.resources import WAREHOUSE_POOL, CirmSettings

_SAMPLE_ROWS = 5


def _metadata(outcome: quality.CheckOutcome) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        "expectations_evaluated": dg.MetadataValue.int(outcome.expectations_evaluated),
        "expectations_failed": dg.MetadataValue.int(outcome.expectations_failed),
        "observed": dg.MetadataValue.json(outcome.observed or {}),
        "blocking": dg.MetadataValue.bool(outcome.blocking),
    }
    if outcome.sample_failing_rows:
        meta["sample_failing_rows"] = dg.MetadataValue.json(outcome.sample_failing_rows[:_SAMPLE_ROWS])
    if outcome.docs_path:
        meta["data_docs"] = dg.MetadataValue.path(str(outcome.docs_path))
    return meta


def _asset_checks(asset: quality.AssetKey) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(list(asset))
    specs = quality.checks_for(asset)

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(s.name, asset=key, blocking=s.blocking, description=s.description) for s in specs],
        name=f"gx_{asset[0]}__{asset[1]}",
        description=f"Great Expectations suite for {asset[0]}.{asset[1]}",
        pool=WAREHOUSE_POOL,
    )
    def _checks(context: dg.AssetCheckExecutionContext, cirm: CirmSettings) -> Iterator[dg.AssetCheckResult]:
        settings = cirm.load()
        with connect_warehouse(settings.warehouse_path) as con:
            outcomes = quality.run_checks(
                con,
                asset,
                run_id=context.run.run_id,
                docs_dir=settings.quality_docs_dir,
                data_start=settings.data_start,
            )
            quality.record_results(con, context.run.run_id, asset, outcomes)
        for outcome in outcomes:
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=outcome.check_name,
                passed=outcome.success,
                severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
                metadata=_metadata(outcome),
            )

    return _checks


def quality_checks(existing: set[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """A suite for every quality asset that this code location defines."""
    return [_asset_checks(a) for a in quality.ASSETS if dg.AssetKey(list(a)) in existing]
