"""Demand forecasting: series building, leakage, backtest accuracy, intervals and the publishing gate."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from ml import forecasting
from ml.demand_features import build_features
from ml.demand_series import build_panel
from ml.forecasting import BACKTEST_COLUMNS, FORECAST_COLUMNS, GBM, NAIVE, ForecastResult, forecast_demand
from ml.synthetic import make_daily_demand


@pytest.fixture(scope="module")
def seasonal() -> tuple[pd.DataFrame, set]:
    """4 categories x 4 districts, 3 years of Poisson counts with trends and annual cycles."""
    return make_daily_demand(4, 4, years=3.0, seed=11)


@pytest.fixture(scope="module")
def result(seasonal) -> ForecastResult:
    daily, holidays = seasonal
    return forecast_demand(daily, holidays=holidays, seed=42)


def test_model_beats_seasonal_naive_with_calibrated_intervals(result: ForecastResult) -> None:
    metrics = result.metadata["metrics"]
    assert metrics[GBM]["mase"] <= 0.85 * metrics[NAIVE]["mase"], metrics
    assert metrics[GBM]["wape"] < metrics[NAIVE]["wape"]
    assert 0.70 <= metrics[GBM]["coverage_p10_p90"] <= 0.90, metrics
    assert result.metadata["gate"]["aggregate_passed"] is True
    assert not result.forecast["is_fallback"].all()


def test_backtest_has_four_origins_three_models_every_series(result: ForecastResult) -> None:
    backtest = result.backtest
    assert list(backtest.columns) == BACKTEST_COLUMNS
    assert backtest["origin_date"].nunique() == 4
    assert set(backtest["model"]) == {GBM, NAIVE, "moving_average"}
    assert len(backtest) == 4 * 3 * 20  # 16 district series + 4 city-wide
    origins = np.sort(backtest["origin_date"].unique())
    assert (np.diff(origins) == np.timedelta64(28, "D")).all()
    last_day = pd.Timestamp(result.metadata["training_window"]["end"])
    assert pd.Timestamp(origins[-1]) == last_day - pd.Timedelta(days=28)


def test_forecast_rows_cover_the_horizon_for_every_series(result: ForecastResult) -> None:
    forecast = result.forecast
    assert list(forecast.columns) == FORECAST_COLUMNS
    assert forecast.groupby("series_id").size().eq(28).all()
    assert forecast["series_id"].nunique() == 20
    assert {"cat0|ALL", "cat0|D01"} <= set(forecast["series_id"])
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    assert (forecast["p10"] >= 0).all()
    first = pd.Timestamp(result.metadata["training_window"]["end"]) + pd.Timedelta(days=1)
    assert forecast["date"].min() == first
    assert forecast["model_version"].nunique() == 1


def test_forecast_is_deterministic_for_a_seed(seasonal, result: ForecastResult) -> None:
    daily, holidays = seasonal
    again = forecast_demand(daily, holidays=holidays, seed=42)
    pd.testing.assert_frame_equal(again.forecast, result.forecast)


def _volatile_series(dates: pd.DatetimeIndex) -> pd.DataFrame:
    """A level that random-walks week to week: last week is the best guess, older lags mislead."""
    rng = np.random.default_rng(3)
    t = np.arange(len(dates))
    level = np.clip(1000 * np.exp(np.cumsum(rng.normal(0, 0.4, len(dates) // 7 + 1)))[t // 7], 20, 50_000)
    return pd.DataFrame({"date": dates, "category": "volatile", "district_id": "D01", "received": rng.poisson(level)})


def test_a_series_where_the_model_loses_publishes_the_seasonal_naive_fallback() -> None:
    daily, holidays = make_daily_demand(3, 2, years=2.2, seed=5)
    crafted = _volatile_series(pd.date_range(daily["date"].min(), daily["date"].max()))
    result = forecast_demand(pd.concat([daily, crafted], ignore_index=True), holidays=holidays)

    per_series = result.backtest.pivot_table(index="series_id", columns="model", values="mase")
    assert per_series.loc["volatile|D01", GBM] > per_series.loc["volatile|D01", NAIVE]
    assert result.metadata["gate"]["aggregate_passed"] is True
    volatile = result.forecast.loc[result.forecast["series_id"] == "volatile|D01"]
    assert volatile["is_fallback"].all() and (volatile["model"] == NAIVE).all()
    # The fallback is exactly the last observed week repeated.
    last_week = crafted["received"].to_numpy()[-7:]
    assert volatile["p50"].to_numpy() == pytest.approx(np.tile(last_week, 4))
    assert "volatile|D01" in result.metadata["fallback_series"]
    # Series where the model won keep it.
    won = per_series.index[per_series[GBM] < per_series[NAIVE]]
    kept = result.forecast.loc[result.forecast["series_id"].isin(won)]
    assert len(kept) and not kept["is_fallback"].any()


def test_when_the_model_loses_in_aggregate_everything_falls_back() -> None:
    daily, holidays = make_daily_demand(1, 1, years=2.2, seed=5)
    crafted = _volatile_series(pd.date_range(daily["date"].min(), daily["date"].max()))
    result = forecast_demand(crafted, holidays=holidays)
    assert result.metadata["gate"]["aggregate_passed"] is False
    assert result.metadata["is_fallback"] is True
    assert result.forecast["is_fallback"].all() and (result.forecast["model"] == NAIVE).all()
    assert result.metadata["fallback_series_count"] == 2


def test_panel_fills_missing_days_with_zero_and_adds_city_wide_series() -> None:
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02", "2025-01-02", "2025-01-03"]),
            "category": ["roads", "roads", "roads", "snow", "roads"],
            "district_id": ["D01", "D01", "D02", "D01", "D02"],
            "received": [4, 2, 1, 7, 3],
        }
    )
    panel = build_panel(daily)
    assert panel.series_id.tolist() == ["roads|ALL", "roads|D01", "roads|D02", "snow|ALL", "snow|D01"]
    expected = [[4, 1, 5], [4, 0, 2], [np.nan, 1, 3], [np.nan, 7, 0], [np.nan, 7, 0]]
    np.testing.assert_array_equal(panel.values, np.array(expected, dtype=float))
    assert panel.is_city_wide.tolist() == [True, False, False, True, False]


def test_features_only_use_data_at_least_a_horizon_old() -> None:
    daily, holidays = make_daily_demand(1, 2, years=1.5, seed=2)
    panel = build_panel(daily)
    before = build_features(panel, 28, holidays)
    day = 400
    panel.values[:, day - 27 :] = 10_000.0  # rewrite everything younger than 28 days before `day`
    after = build_features(panel, 28, holidays)
    rows = before.day_index == day
    pd.testing.assert_frame_equal(before.features.loc[rows], after.features.loc[rows])
    np.testing.assert_array_equal(before.scale[rows], after.scale[rows])


def test_series_too_young_are_held_back_with_the_reason() -> None:
    from ml.forecasting import MIN_HISTORY_DAYS, history_gate

    days = pd.date_range("2024-01-01", periods=100)
    old = pd.DataFrame({"date": days, "category": "roads", "district_id": "D1", "received": 3})
    # Five days of requests, then months of zeros (the backlog closing): five days of history.
    young = pd.DataFrame({"date": days, "category": "parks", "district_id": "D1", "received": [2] * 5 + [0] * 95})
    keep, short = history_gate(pd.concat([old, young]))
    assert set(keep["category"]) == {"roads"} and len(keep) == 100
    assert short[["category", "history_days"]].values.tolist() == [["parks", 5]]
    assert short["reason"][0] == f"5 day(s) of history; a forecast needs at least {MIN_HISTORY_DAYS}"
    nothing, none_short = history_gate(young.assign(received=0))
    assert nothing.empty and none_short.empty


# --- reusing a prior run's backtest -----------------------------------------------------------------

EVALUATED_AT = "2025-07-01T06:00:00"


class Backtested(Exception):
    """Raised by the stand-in for _backtest: this run backtested again."""


def _prior(result: ForecastResult) -> dict:
    """`result`'s metadata the way the next run reads it from metadata.json, backtested on EVALUATED_AT."""
    prior = json.loads(json.dumps(result.metadata, default=str))
    prior["backtest"]["evaluated_at"] = EVALUATED_AT
    return prior


def _forecast_again(daily, holidays, prior: dict, day: int, days: int = 7, **kwargs) -> ForecastResult:
    clock = lambda: datetime(2025, 7, day, 6)  # noqa: E731
    return forecast_demand(daily, holidays=holidays, seed=42, prior=prior, selection_days=days, clock=clock, **kwargs)


@pytest.fixture
def no_backtest(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise Backtested

    monkeypatch.setattr(forecasting, "_backtest", refuse)


def test_a_backtest_run_records_what_a_later_run_needs(result: ForecastResult) -> None:
    assert result.metadata["evaluation"] == "backtested"
    record = result.metadata["backtest"]
    assert record["evaluated_in"] == result.metadata["model_version"] and record["evaluated_at"]
    assert record["aggregate_passed"] is result.metadata["gate"]["aggregate_passed"] is True
    assert set(record["calibration"]) == {GBM, NAIVE, "moving_average"}
    per_series = result.backtest.pivot_table(index="series_id", columns="model", values="mase")
    assert record["model_loses"] == sorted(per_series.index[per_series[GBM] > per_series[NAIVE]])


def test_a_young_prior_backtest_is_reused_and_the_model_refitted(seasonal, result, no_backtest) -> None:
    daily, holidays = seasonal
    prior = _prior(result)
    again = _forecast_again(daily, holidays, prior, day=7)  # 6 days on
    assert again.backtest is None  # the published backtest stays the prior's
    assert again.metadata["evaluation"] == f"reused from 2025-07-01/{result.metadata['model_version']}"
    assert again.metadata["backtest"]["evaluated_at"] == EVALUATED_AT
    assert again.metadata["metrics"] == prior["metrics"] and again.metadata["origins"] == prior["origins"]
    assert again.model.estimator is not None and again.timings["final_fit_s"] > 0
    # Same data, same verdicts, same calibration: the forecast, and version, a fresh backtest gave.
    pd.testing.assert_frame_equal(again.forecast, result.forecast)
    pd.testing.assert_frame_equal(_forecast_again(daily, holidays, prior, day=7).forecast, again.forecast)
    # A reused run's metadata is the next run's prior, and it still ages from the backtest.
    chained = json.loads(json.dumps(again.metadata, default=str))
    assert _forecast_again(daily, holidays, chained, day=7).metadata["evaluation"] == again.metadata["evaluation"]
    with pytest.raises(Backtested):
        _forecast_again(daily, holidays, chained, day=8)


def test_the_fallback_follows_the_reused_verdicts(seasonal, result, no_backtest) -> None:
    daily, holidays = seasonal
    prior = _prior(result)
    prior["backtest"]["model_loses"] = ["cat0|D01"]
    again = _forecast_again(daily, holidays, prior, day=2)
    fallback = again.forecast.groupby("series_id")["is_fallback"].all()
    assert fallback[fallback].index.tolist() == ["cat0|D01"]
    assert (again.forecast.loc[again.forecast["series_id"] == "cat0|D01", "model"] == NAIVE).all()
    assert again.metadata["model_version"] != result.metadata["model_version"]  # other verdicts, other forecast
    prior["backtest"]["aggregate_passed"] = False
    lost = _forecast_again(daily, holidays, prior, day=2)
    assert lost.forecast["is_fallback"].all() and lost.metadata["is_fallback"] is True


def _seed_changed(prior: dict) -> None:
    prior["backtest"]["params"]["seed"] = 7


def _code_changed(prior: dict) -> None:
    prior["backtest"]["code_version"] = "0.0.1+gfeedfacecafe"


def _no_record(prior: dict) -> None:
    del prior["backtest"]


def _corrupt(prior: dict) -> None:
    prior["backtest"]["calibration"] = {GBM: {"alpha": "x"}}


@pytest.mark.parametrize(
    ("day", "days", "change"),
    [
        (8, 7, None),  # 7 days old: due
        (1, 0, None),  # 0 days: backtest on every run
        (2, 7, _seed_changed),
        (2, 7, _code_changed),
        (2, 7, _no_record),  # e.g. written by an older version
        (2, 7, _corrupt),
    ],
)
def test_an_old_or_different_prior_backtests_again(seasonal, result, no_backtest, day, days, change) -> None:
    daily, holidays = seasonal
    prior = _prior(result)
    if change:
        change(prior)
    with pytest.raises(Backtested):
        _forecast_again(daily, holidays, prior, day=day, days=days)


def test_a_prior_over_other_series_or_parameters_than_today_is_not_reused(seasonal, result, no_backtest) -> None:
    daily, holidays = seasonal
    with pytest.raises(Backtested):
        _forecast_again(daily.loc[daily["category"] != "cat3"], holidays, _prior(result), day=2)
    with pytest.raises(Backtested):
        _forecast_again(daily, holidays, _prior(result), day=2, hgb_params={"max_iter": 100})
