"""The mining assets reuse the previous artefact's model selection, and keep the backtest it was judged on."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ml import forecasting, segmentation
from ml.synthetic import make_citizen_360, make_daily_demand
from orchestration.mining import _EMPTY_FORECAST_DDL, citizen_segments, demand_forecast
from orchestration.resources import CirmSettings


class Reevaluated(Exception):
    """Raised by the stand-ins for select_k and _backtest."""


@pytest.fixture
def warehouse(data_dir: Path) -> Path:
    """The marts the mining assets read, from small synthetic data."""
    daily, holidays = make_daily_demand(2, 2, years=1.5, seed=2)
    citizens, _ = make_citizen_360(n_residents=500, n_businesses=150, seed=7)
    path = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA staging")
        con.register("daily", daily.rename(columns={"date": "date_day", "received": "requests_received"}))
        con.execute("CREATE TABLE marts.mart_service_performance_daily AS SELECT * FROM daily")
        con.register("citizens", citizens)
        con.execute("CREATE TABLE marts.mart_citizen_360 AS SELECT * FROM citizens")
        con.execute(
            "CREATE TABLE staging.stg_calendar__public_holidays AS SELECT unnest(?::DATE[]) AS holiday_date",
            [sorted(holidays)],
        )
    return path


def _run(asset: dg.AssetsDefinition) -> dict[str, dict]:
    result = dg.materialize([asset], resources={"cirm": CirmSettings()})
    return {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node(asset.node_def.name)}


def _backtest_rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT * FROM ml.forecast_backtest ORDER BY ALL").fetchall()


def _refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise Reevaluated

    monkeypatch.setattr(forecasting, "_backtest", refuse)
    monkeypatch.setattr(segmentation, "select_k", refuse)


def test_a_young_backtest_is_reused_and_stays_published(warehouse: Path) -> None:
    first = _run(demand_forecast)
    assert first["demand_forecast"]["evaluation"].value == "backtested"
    published = _backtest_rows(warehouse)
    assert published

    with pytest.MonkeyPatch.context() as patch:
        _refuse(patch)
        second = _run(demand_forecast)
        assert second["demand_forecast"]["evaluation"].value.startswith("reused from ")
        assert second["forecast_backtest"]["evaluated_at"] == first["forecast_backtest"]["evaluated_at"]
        assert second["forecast_backtest"]["dagster/row_count"].value == len(published)
        assert _backtest_rows(warehouse) == published

        # A skipped run empties the table: the verdicts it held are not reused without it.
        with duckdb.connect(str(warehouse)) as con:
            con.execute(_EMPTY_FORECAST_DDL)
        with pytest.raises(Reevaluated):
            _run(demand_forecast)
    assert _run(demand_forecast)["demand_forecast"]["evaluation"].value == "backtested"
    assert _backtest_rows(warehouse) == published


def test_zero_days_reevaluates_every_run(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRM_MODEL_SELECTION_DAYS", "0")
    _run(citizen_segments)
    _run(demand_forecast)
    _refuse(monkeypatch)
    with pytest.raises(Reevaluated):
        _run(citizen_segments)
    with pytest.raises(Reevaluated):
        _run(demand_forecast)


def test_a_young_choice_of_k_is_reused(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(citizen_segments)
    assert first["citizen_segments"]["selection"].value == "selected"
    _refuse(monkeypatch)
    second = _run(citizen_segments)
    assert second["citizen_segments"]["selection"].value.startswith("reused from ")
    assert second["citizen_segments"]["segmented_citizens"] == first["citizen_segments"]["segmented_citizens"]
