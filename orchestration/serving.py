"""Serving: the read-only copy BI tools query, and the HTML report people look at.

Both sit at the end of the graph, so they only refresh when everything upstream in the run
succeeded; a run stopped by a blocking check leaves BI on the last good copy.
"""

import shutil
import time
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster_dbt import DbtCliResource

import quality
from orchestration.dbt.assets import MANIFEST, dbt_environment
from orchestration.resources import WAREHOUSE_POOL, CirmSettings
from report import build_report
from serving import publish_serving_copy

OWNER = "team:data-engineering"
_UPSTREAM = [
    dg.AssetKey(["ml", "citizen_segments"]),
    dg.AssetKey(["ml", "segment_profiles"]),
    dg.AssetKey(["ml", "demand_forecast"]),
    dg.AssetKey(["ml", "forecast_backtest"]),
    dg.AssetKey(["marts", "mart_service_performance_daily"]),
    dg.AssetKey(["marts", "mart_satisfaction_monthly"]),
    dg.AssetKey(["marts", "mart_citizen_360"]),
    dg.AssetKey(["marts", "mart_public_commitments"]),
]
SERVING_COPY = dg.AssetKey(["serving", "serving_copy"])


@dg.asset(
    key=SERVING_COPY,
    deps=_UPSTREAM,
    group_name="serving",
    description="`serving.duckdb`: a read-only copy of schemas marts, ml and quality for BI tools, published "
    "atomically (written beside, then renamed over the old copy) after every successful run.",
    owners=[OWNER],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
)
def serving_copy(cirm: CirmSettings) -> dg.MaterializeResult:
    settings = cirm.load()
    result = publish_serving_copy(settings.warehouse_path, settings.serving_path)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.serving_path)),
            "tables": dg.MetadataValue.json(result.tables),
            "missing_schemas": str(list(result.missing_schemas) or "none"),
            "bytes": result.bytes,
            "publish_seconds": round(result.seconds, 2),
            "dagster/row_count": sum(result.tables.values()),
        }
    )


def _run_summary(context: dg.AssetExecutionContext) -> dict:
    """What the run did so far: the report is the run's last step, so that is all of it but itself."""
    run_id = context.run.run_id
    records = context.instance.get_records_for_run(
        run_id,
        of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.ASSET_CHECK_EVALUATION},
    ).records
    entries = [r.event_log_entry for r in records]
    by_type: dict[DagsterEventType, list] = {}
    for entry in entries:
        by_type.setdefault(entry.dagster_event_type, []).append(entry)
    checks_failed = [
        f"{data.asset_key.to_user_string()}:{data.check_name}"
        for entry in by_type.get(DagsterEventType.ASSET_CHECK_EVALUATION, [])
        if not (data := entry.dagster_event.event_specific_data).passed
    ]
    run_record = context.instance.get_run_record_by_id(run_id)
    start = run_record.start_time if run_record and run_record.start_time else time.time()
    failed = [e.step_key for e in by_type.get(DagsterEventType.STEP_FAILURE, [])]
    return {
        "run_id": run_id,
        "success": not failed,
        "seconds": time.time() - start,
        "steps_succeeded": [e.step_key for e in by_type.get(DagsterEventType.STEP_SUCCESS, [])],
        "steps_failed": {step: "failed" for step in failed},
        "checks_failed": checks_failed,
    }


@dg.asset(
    key=["serving", "report"],
    deps=[SERVING_COPY],
    group_name="serving",
    description="`report/index.html` in the data folder: pipeline status, quality summary, commitment "
    "compliance, channel mix, segments and forecast fan charts; dbt docs at `report/dbt-docs/index.html`.",
    owners=[OWNER],
    kinds={"html"},
    pool=WAREHOUSE_POOL,
)
def html_report(context: dg.AssetExecutionContext, cirm: CirmSettings, dbt: DbtCliResource) -> dg.MaterializeResult:
    settings = cirm.load()
    dbt_environment(settings)
    docs_target = settings.data_dir / "dbt_docs"
    # The docs come from the manifest the dbt steps ran with: compiling every model again for the
    # "compiled SQL" tab cost more CPU than the whole reporting build; the catalog is still read live.
    docs_target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MANIFEST, docs_target / "manifest.json")
    dbt.cli(["docs", "generate", "--static", "--no-compile"], target_path=docs_target, raise_on_error=True).wait()
    # The checks built their own Data Docs pages; the index is built once per run, here.
    if settings.quality_docs_dir.exists():
        quality.build_docs_index(settings.quality_docs_dir)
    index = build_report(
        settings.serving_path,
        settings.report_dir,
        run_summary=_run_summary(context),
        quality_docs=settings.quality_docs_dir / "index.html",
        dbt_docs_dir=Path(docs_target),
    )
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(index)),
            "dbt_docs": dg.MetadataValue.path(str(settings.report_dir / "dbt-docs" / "index.html")),
        }
    )


serving_assets = [serving_copy, html_report]
# The report's step key in a run (the asset key joined by "__").
REPORT_STEP = html_report.node_def.name
