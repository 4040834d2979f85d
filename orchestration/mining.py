"""Mining assets: citizen segments and demand forecasts, written back to schema `ml`.

They sit downstream of the marts, so a failed blocking check on any mart (or on staging's
reconciliation) keeps them from running on poisoned data.

Both fit and score on today's data every run, but reuse the previous artefact's choice of k and its
backtest while those are younger than CIRM_MODEL_SELECTION_DAYS (see ml/segmentation.py and
ml/forecasting.py for when a prior qualifies).
"""

import base64
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from ingest.warehouse import connect_warehouse, fetch_one, table_exists
from ml.artifacts import latest_metadata, save_model_artifact
from ml.forecasting import MIN_HISTORY_DAYS, forecast_demand, history_gate
from ml.segmentation import segment_citizens
from orchestration.resources import WAREHOUSE_POOL, CirmSettings

OWNER = "team:data-science"
CITIZEN_360 = dg.AssetKey(["marts", "mart_citizen_360"])
PERFORMANCE_DAILY = dg.AssetKey(["marts", "mart_service_performance_daily"])
HOLIDAYS = dg.AssetKey(["staging", "stg_calendar__public_holidays"])


_EMPTY_SEGMENTS_DDL = """
CREATE SCHEMA IF NOT EXISTS ml;
CREATE OR REPLACE TABLE ml.citizen_segments (citizen_id BIGINT, kind VARCHAR, segment_id BIGINT,
    segment_name VARCHAR, model_version VARCHAR, scored_at TIMESTAMP);
CREATE OR REPLACE TABLE ml.segment_profiles (kind VARCHAR, segment_id BIGINT, segment_name VARCHAR, size BIGINT);
"""


_EMPTY_FORECAST_DDL = """
CREATE SCHEMA IF NOT EXISTS ml;
CREATE OR REPLACE TABLE ml.demand_forecast (series_id VARCHAR, date TIMESTAMP, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE,
    model VARCHAR, model_version VARCHAR, is_fallback BOOLEAN);
CREATE OR REPLACE TABLE ml.forecast_backtest (origin_date TIMESTAMP, series_id VARCHAR, model VARCHAR, mase DOUBLE,
    wape DOUBLE, coverage_p10_p90 DOUBLE);
"""


def _ml_spec(name: str, deps: list[dg.AssetKey], description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        ["ml", name],
        deps=deps,
        description=description,
        owners=[OWNER],
        kinds={"scikit-learn", "duckdb"},
        group_name="ml",
    )


def _replace_table(con, schema: str, table: str, frame: pd.DataFrame) -> None:  # noqa: ANN001
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("frame", frame)
    con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT * FROM frame")
    con.unregister("frame")


def _backtest_on_file(con, prior: dict | None) -> bool:  # noqa: ANN001
    """Whether ml.forecast_backtest still holds `prior`'s backtest, so reusing its verdicts matches the table.

    It does not after a skipped run (which empties it) or a run that wrote it but failed before saving its artefact.
    """
    if not prior or not table_exists(con, "ml", "forecast_backtest"):
        return False
    origins = con.execute("SELECT DISTINCT origin_date::DATE FROM ml.forecast_backtest ORDER BY 1").fetchall()
    return [str(d) for (d,) in origins] == prior.get("origins")


def _chart(png: bytes | None, fallback_markdown: str) -> dg.MetadataValue:
    """The chart as an inline image in the Dagster UI, with its table below for screen readers."""
    if not png:
        return dg.MetadataValue.md(fallback_markdown)
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![chart](data:image/png;base64,{encoded})\n\n{fallback_markdown}")


def _plain(value: object) -> object:
    """Metadata values Dagster accepts: JSON-able scalars, lists and dicts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()  # numpy scalar
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@dg.multi_asset(
    specs=[
        _ml_spec(
            "citizen_segments",
            [CITIZEN_360],
            "Segment of every citizen who consented to analytics (residents and businesses segmented apart): "
            "citizen_id, kind, segment_id, segment_name, model_version, scored_at.",
        ),
        _ml_spec("segment_profiles", [CITIZEN_360], "Per segment: size, feature means and readable name."),
    ],
    name="citizen_segments",
    pool=WAREHOUSE_POOL,
)
def citizen_segments(context: dg.AssetExecutionContext, cirm: CirmSettings) -> Iterator[dg.MaterializeResult]:
    settings = cirm.load()
    with connect_warehouse(settings.warehouse_path) as con:
        citizens = con.sql("SELECT * FROM marts.mart_citizen_360").df()
        consenting = int(citizens["consent_analytics"].fillna(False).astype(bool).sum()) if len(citizens) else 0
        if consenting == 0:
            reason = "no citizen identities (open-data mode)" if citizens.empty else "no citizen consented"
            context.log.warning(f"segmentation skipped: {reason}")
            # Old segments must not outlive the data (or the consent) they were made from.
            con.execute(_EMPTY_SEGMENTS_DDL)
            for key in ("citizen_segments", "segment_profiles"):
                yield dg.MaterializeResult(asset_key=["ml", key], metadata={"skipped": reason, "dagster/row_count": 0})
            return
        prior = latest_metadata(settings.models_dir, "citizen_segments")
        result = segment_citizens(citizens, prior=prior, selection_days=settings.model_selection_days)
        context.log.info(f"segmentation: k per kind {result.metadata['selection']}")
        _replace_table(con, "ml", "citizen_segments", result.segments)
        _replace_table(con, "ml", "segment_profiles", result.profiles)
    artefact = save_model_artifact(settings.models_dir, "citizen_segments", result.model, result.metadata)
    meta = {k: v for k, v in result.metadata.items() if k != "chart_markdown"}
    yield dg.MaterializeResult(
        asset_key=["ml", "citizen_segments"],
        metadata={
            "summary": dg.MetadataValue.json(_plain(meta)),
            "selection": result.metadata["selection"],
            "segmented_citizens": len(result.segments),
            "not_segmented_no_consent": len(citizens) - consenting,
            "profiles": _chart(result.chart_png, result.chart_markdown),
            "artefact": dg.MetadataValue.path(str(artefact)),
            "dagster/row_count": len(result.segments),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "segment_profiles"],
        metadata={"profiles": dg.MetadataValue.md(result.chart_markdown), "dagster/row_count": len(result.profiles)},
    )


@dg.multi_asset(
    specs=[
        _ml_spec(
            "demand_forecast",
            [PERFORMANCE_DAILY, HOLIDAYS],
            "Daily requests for the next 28 days per service category x district and per category "
            "city-wide: p10/p50/p90, the model used, and whether the seasonal-naive fallback was published.",
        ),
        _ml_spec(
            "forecast_backtest",
            [PERFORMANCE_DAILY, HOLIDAYS],
            "Rolling-origin backtest: MASE, WAPE and P10-P90 coverage per origin, series and model "
            "(gradient boosting, seasonal naive, moving average).",
        ),
    ],
    name="demand_forecast",
    pool=WAREHOUSE_POOL,
)
def demand_forecast(context: dg.AssetExecutionContext, cirm: CirmSettings) -> Iterator[dg.MaterializeResult]:
    settings = cirm.load()
    with connect_warehouse(settings.warehouse_path) as con:
        daily = con.sql(
            "SELECT date_day AS date, category, coalesce(district_id, 'unknown') AS district_id, "
            "sum(requests_received)::BIGINT AS received FROM marts.mart_service_performance_daily GROUP BY ALL "
            # Series in a fixed order, whatever order the scan returns.
            "ORDER BY date, category, district_id"
        ).df()
        holidays = {
            d for (d,) in con.execute("SELECT holiday_date FROM staging.stg_calendar__public_holidays").fetchall()
        }
        daily, too_short = history_gate(daily)
        _replace_table(con, "ml", "forecast_history_gaps", too_short)
        if daily.empty:
            reason = (
                f"no series has {MIN_HISTORY_DAYS} days of history yet ({len(too_short)} too short, listed in "
                "ml.forecast_history_gaps): no forecast is published"
            )
            context.log.warning(f"forecast skipped: {reason}")
            # Old forecasts must not outlive the data they were made from.
            con.execute(_EMPTY_FORECAST_DDL)
            for key in ("demand_forecast", "forecast_backtest"):
                yield dg.MaterializeResult(asset_key=["ml", key], metadata={"skipped": reason, "dagster/row_count": 0})
            return
        prior = latest_metadata(settings.models_dir, "demand_forecast")
        result = forecast_demand(
            daily,
            holidays=holidays,
            prior=prior if _backtest_on_file(con, prior) else None,
            selection_days=settings.model_selection_days,
        )
        _replace_table(con, "ml", "demand_forecast", result.forecast)
        if result.backtest is not None:  # else the prior's backtest, which the gate reused, stays published
            _replace_table(con, "ml", "forecast_backtest", result.backtest)
        fallback = fetch_one(con, "SELECT count(DISTINCT series_id) FROM ml.demand_forecast WHERE is_fallback")[0]
        backtest_rows = fetch_one(con, "SELECT count(*) FROM ml.forecast_backtest")[0]
    context.log.info(f"forecast: {result.metadata['evaluation']}")
    if len(too_short):
        first = too_short.head(10).itertuples()
        named = ", ".join(f"{r.category}/{r.district_id} ({r.history_days} days)" for r in first)
        context.log.warning(f"{len(too_short)} series too young to forecast (ml.forecast_history_gaps): {named}")
    artefact = save_model_artifact(settings.models_dir, "demand_forecast", result.model, result.metadata)
    meta = {k: v for k, v in result.metadata.items() if k != "chart_markdown"}
    if result.metadata.get("skipped_reason"):
        context.log.warning(f"forecast: {result.metadata['skipped_reason']}")
    yield dg.MaterializeResult(
        asset_key=["ml", "demand_forecast"],
        metadata={
            "summary": dg.MetadataValue.json(_plain(meta)),
            "evaluation": result.metadata["evaluation"],
            "fallback_series": int(fallback),
            "series_too_short": len(too_short),
            "forecast_vs_actual": _chart(result.chart_png, result.chart_markdown),
            "artefact": dg.MetadataValue.path(str(artefact)),
            "dagster/row_count": len(result.forecast),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "forecast_backtest"],
        metadata={
            "evaluation": result.metadata["evaluation"],
            "evaluated_at": result.metadata["backtest"]["evaluated_at"],
            "dagster/row_count": int(backtest_rows),
        },
    )


mining_assets = [citizen_segments, demand_forecast]
