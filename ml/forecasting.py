"""Demand forecasting: one global gradient-boosting model over all series, backtested and gated.

Flow: build the series panel -> one feature matrix -> for each rolling origin fit on the past and
forecast `horizon` days (plus the two baselines) -> calibrate intervals on backtest residuals ->
decide per series whether the model beat seasonal naive -> refit on everything and forecast.

Publishing gate: the model is published only if its aggregate MASE beats seasonal naive; if it does
not, every series publishes the seasonal-naive forecast. When it does, each series is checked again
(its mean MASE over the origins) and a series where the model lost publishes seasonal naive too.
Fallback rows carry is_fallback = true, and the metadata lists them.

The backtest (one fit per origin) costs most of the run. A prior run's backtest younger than
`selection_days` is reused: the final model is still refitted on today's history and forecasts,
while the gate verdicts and interval calibration are the prior's, so they stay those of one evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from ml import charts
from ml.artifacts import reusable_prior, reuse_label
from ml.baselines import moving_average, seasonal_naive
from ml.demand_features import FeatureBinner, FeatureMatrix, build_features
from ml.demand_series import DemandPanel, build_panel
from ml.intervals import IntervalCalibration, calibrate, interval
from ml.metrics import interval_coverage, mase, seasonal_naive_scale, wape
from ml.versioning import code_version, fingerprint, utc_now

MODEL_NAME = "demand_forecast"
GBM = "hgb_poisson"
NAIVE = "seasonal_naive"
MOVING = "moving_average"
MODELS = (GBM, NAIVE, MOVING)
# Modest boosting keeps 500 series x 3 years x 5 fits inside the time budget on two cores.
HGB_PARAMS: dict[str, Any] = {
    "loss": "poisson",
    "learning_rate": 0.1,
    "max_iter": 150,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "max_bins": 255,
    "early_stopping": False,
}
# OpenMP threads for the boosting. One by default: on a shared two-core machine (Dagster runs other
# assets beside this one) two spinning OpenMP threads were measured 5-8x slower than one thread.
DEFAULT_THREADS = 1
MIN_TRAIN_DAYS = 91  # an origin needs this much history before it to be backtested

FORECAST_COLUMNS = ["series_id", "date", "p10", "p50", "p90", "model", "model_version", "is_fallback"]
# Below this, a series has not seen the 28-day lags and a few weeks of weekly pattern: no forecast
# at all beats a made-up one. Open-data samples of a few days stop here, and say so.
MIN_HISTORY_DAYS = 56
BACKTEST_COLUMNS = ["origin_date", "series_id", "model", "mase", "wape", "coverage_p10_p90"]


@dataclass
class DemandModel:
    """The fitted global model and what is needed to use or audit it."""

    estimator: BinnedRegressor | None
    feature_names: list[str]
    categorical: list[str]
    categories: list[str]
    districts: list[str]
    horizon: int
    intervals: dict[str, IntervalCalibration]
    fallback_series: list[str]
    params: dict[str, Any]


@dataclass
class ForecastResult:
    forecast: pd.DataFrame  # demand_forecast
    backtest: pd.DataFrame | None  # forecast_backtest; None when a prior run's backtest was reused
    metadata: dict[str, Any]
    chart_png: bytes | None  # None where matplotlib is not installed
    chart_markdown: str
    model: DemandModel | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Backtest:
    origins: np.ndarray  # day index of each origin (last training day)
    actual: np.ndarray  # (origin, series, horizon)
    points: dict[str, np.ndarray]  # model -> (origin, series, horizon)
    scale: np.ndarray  # (origin, series) in-sample seasonal-naive MAE
    valid: np.ndarray  # (origin, series) whether the series counts at that origin


@dataclass
class _Evaluation:
    """What publishing needs from a backtest, run today or reused from a prior run's metadata."""

    aggregate: dict[str, dict[str, float]]
    gate_passed: bool
    model_loses: list[str]  # series whose mean backtest MASE is worse than seasonal naive's
    calibrations: dict[str, IntervalCalibration]
    origins: list[str]
    source: dict[str, Any]  # when, in which model version and with which parameters it was backtested
    reused: bool = False

    def verdicts(self) -> dict[str, Any]:
        """What decides the published forecast, exactly: which series fall back and the interval calibration."""
        return {
            "aggregate_passed": self.gate_passed,
            "model_loses": self.model_loses,
            "calibration": {name: cal.to_dict(exact=True) for name, cal in self.calibrations.items()},
        }


@dataclass
class BinnedRegressor:
    """A HistGradientBoosting model on pre-binned features (see FeatureBinner for why)."""

    binner: FeatureBinner
    estimator: HistGradientBoostingRegressor

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.estimator.predict(self.binner.transform(matrix))


def _fit(fm: FeatureMatrix, rows: np.ndarray, params: dict[str, Any], seed: int) -> BinnedRegressor:
    """Poisson regression of count/scale weighted by scale: a log-offset by the series' level."""
    categorical = [fm.features.columns.get_loc(c) for c in fm.categorical]
    matrix = fm.features.to_numpy()[rows]
    binner = FeatureBinner.fit(matrix, skip=categorical, max_bins=params.get("max_bins", 255), seed=seed)
    model = HistGradientBoostingRegressor(**params, categorical_features=categorical, random_state=seed)
    scale = fm.scale[rows]
    model.fit(binner.transform(matrix), fm.target[rows] / scale, sample_weight=scale)
    return BinnedRegressor(binner, model)


def _predict(model: BinnedRegressor, fm: FeatureMatrix, first_day: int, horizon: int) -> np.ndarray:
    """(series, horizon) forecasts for days first_day .. first_day + horizon - 1; NaN where unmodellable."""
    n_days = len(fm.dates)
    n_series = len(fm.target) // n_days
    day_block = np.arange(first_day, first_day + horizon)
    rows = (np.arange(n_series)[:, None] * n_days + day_block[None, :]).ravel()
    scale = fm.scale[rows]
    out = np.full(len(rows), np.nan)
    ok = ~np.isnan(scale)
    if ok.any():
        out[ok] = model.predict(fm.features.to_numpy()[rows[ok]]) * scale[ok]
    return out.reshape(n_series, horizon)


def _backtest(
    panel: DemandPanel, fm: FeatureMatrix, trainable: np.ndarray, horizon: int, n_origins: int, params, seed
) -> _Backtest:
    last = panel.values.shape[1] - 1
    origins = np.array([last - horizon * i for i in range(n_origins, 0, -1)])
    origins = origins[origins >= MIN_TRAIN_DAYS]
    n_series = panel.n_series
    actual = np.full((len(origins), n_series, horizon), np.nan)
    points = {m: np.full_like(actual, np.nan) for m in MODELS}
    scale = np.full((len(origins), n_series), np.nan)
    for i, origin in enumerate(origins):  # a handful of origins; everything inside is vectorized
        history = panel.values[:, : origin + 1]
        actual[i] = panel.values[:, origin + 1 : origin + 1 + horizon]
        scale[i] = seasonal_naive_scale(history)
        naive = seasonal_naive(history, horizon)
        model = _fit(fm, trainable & (fm.day_index <= origin), params, seed)
        predicted = _predict(model, fm, origin + 1, horizon)
        points[GBM][i] = np.where(np.isnan(predicted), naive, predicted)
        points[NAIVE][i] = naive
        points[MOVING][i] = moving_average(history, horizon)
    # A series counts at an origin when the whole horizon is observed and MASE has a scale.
    valid = ~np.isnan(actual).any(axis=2) & ~np.isnan(scale)
    return _Backtest(origins, actual, points, scale, valid)


def _backtest_intervals(bt: _Backtest) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals for each origin calibrated on the other origins only, so coverage is out of sample."""
    bounds = {}
    n = len(bt.origins)
    for name in MODELS:
        lower, upper = np.full_like(bt.actual, np.nan), np.full_like(bt.actual, np.nan)
        for i in range(n):
            others = np.arange(n) != i if n > 1 else np.ones(n, dtype=bool)
            cal = calibrate(bt.actual[others], bt.points[name][others], bt.valid[others])
            lower[i], upper[i] = interval(bt.points[name][i], cal)
        bounds[name] = (lower, upper)
    return bounds


def _metrics_table(panel: DemandPanel, bt: _Backtest, bounds) -> pd.DataFrame:
    frames = []
    for name in MODELS:
        point = bt.points[name]
        lower, upper = bounds[name]
        frames.append(
            pd.DataFrame(
                {
                    "origin_date": np.repeat(panel.dates[bt.origins].to_numpy(), panel.n_series),
                    "series_id": np.tile(panel.series_id, len(bt.origins)),
                    "model": name,
                    "mase": mase(bt.actual, point, bt.scale).ravel(),
                    "wape": np.asarray(wape(bt.actual, point, axis=-1)).ravel(),
                    "coverage_p10_p90": interval_coverage(bt.actual, lower, upper, axis=-1).ravel(),
                    "_valid": bt.valid.ravel(),
                    "_abs_error": np.abs(bt.actual - point).sum(axis=-1).ravel(),
                    "_actual": bt.actual.sum(axis=-1).ravel(),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    return table.loc[table["_valid"]].reset_index(drop=True)


def _aggregate(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Aggregate MASE = mean of per (series, origin) MASE; WAPE = total |error| / total actual."""
    grouped = table.groupby("model", sort=False)
    out = {}
    for name, part in grouped:
        total = float(part["_actual"].sum())
        out[str(name)] = {
            "mase": round(float(part["mase"].mean()), 4),
            "wape": round(float(part["_abs_error"].sum() / total), 4) if total > 0 else float("nan"),
            "coverage_p10_p90": round(float(part["coverage_p10_p90"].mean()), 4),
            "evaluations": int(len(part)),
        }
    return out


def _gate(table: pd.DataFrame, aggregate: dict, series_id: np.ndarray) -> tuple[bool, list[str]]:
    """(aggregate gate passed, series where the model lost to seasonal naive; empty when it failed)."""
    model_mase = aggregate.get(GBM, {}).get("mase", np.nan)
    naive_mase = aggregate.get(NAIVE, {}).get("mase", np.nan)
    passed = bool(np.isfinite(model_mase) and np.isfinite(naive_mase) and model_mase < naive_mase)
    if not passed:
        return False, []
    per_series = table.pivot_table(index="series_id", columns="model", values="mase", aggfunc="mean")
    per_series = per_series.reindex(series_id)
    # Ties and series never backtested keep the model: the aggregate gate vouches for it there.
    loses = (per_series[GBM] > per_series[NAIVE]).fillna(False).to_numpy(dtype=bool)
    return True, series_id[loses].tolist()


def _fallback(evaluation: _Evaluation, series_id: np.ndarray) -> np.ndarray:
    """Per series in panel order, whether the backtest says to publish seasonal naive."""
    if not evaluation.gate_passed:
        return np.ones(len(series_id), dtype=bool)
    return np.isin(series_id, evaluation.model_loses)


def _reused_evaluation(
    prior: Mapping[str, Any] | None, expect: dict[str, Any], now: datetime, max_age_days: int
) -> _Evaluation | None:
    """The backtest of `prior` (a previous result's metadata) when it may stand in for today's, else None."""
    record = prior.get("backtest") if isinstance(prior, Mapping) else None
    record = record if isinstance(record, Mapping) else None
    if reusable_prior(record, stamp="evaluated_at", now=now, max_age_days=max_age_days, expect=expect) is None:
        return None
    try:
        evaluation = _Evaluation(
            aggregate=dict(prior["metrics"]),
            gate_passed=record["aggregate_passed"] is True,
            model_loses=[str(s) for s in record["model_loses"]],
            calibrations={str(m): IntervalCalibration.from_dict(c) for m, c in record["calibration"].items()},
            origins=[str(o) for o in prior["origins"]],
            source={key: record[key] for key in (*expect, "evaluated_at", "evaluated_in")},
            reused=True,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # metadata this code cannot read is no prior: backtest again
    # A prior without a single origin backtested nothing: there is no evaluation to reuse.
    return evaluation if evaluation.origins and set(MODELS) <= set(evaluation.calibrations) else None


def _no_backtest(n_series: int, horizon: int) -> _Backtest:
    empty, no_origin = np.empty((0, n_series, horizon)), np.empty((0, n_series))
    return _Backtest(np.empty(0, dtype=np.int64), empty, dict.fromkeys(MODELS, empty), no_origin, no_origin > 0)


def history_gate(daily: pd.DataFrame, min_days: int = MIN_HISTORY_DAYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `daily` into the rows of series with at least `min_days` of history (first to last day
    with requests received) and a table of the series too young to forecast, with the reason.

    Days after the last request (a backlog still closing, or an export that ends) are not history:
    a 5-day export whose requests close for months has 5 days to learn from.
    """
    columns = ["category", "district_id", "first_date", "last_date", "history_days", "reason"]
    received = daily[daily["received"] > 0]
    if received.empty:
        return daily.iloc[0:0], pd.DataFrame(columns=columns)
    dates = pd.to_datetime(received["date"])
    span = dates.groupby([received["category"], received["district_id"]]).agg(first_date="min", last_date="max")
    span = span.reset_index()
    span["history_days"] = (span["last_date"] - span["first_date"]).dt.days + 1
    short = span[span["history_days"] < min_days].copy()
    short["reason"] = short["history_days"].astype(str) + f" day(s) of history; a forecast needs at least {min_days}"
    keep = daily.merge(span.loc[span["history_days"] >= min_days, ["category", "district_id"]])
    return keep, short[columns].reset_index(drop=True)


def forecast_demand(
    daily: pd.DataFrame,
    *,
    holidays: set[date] | None = None,
    horizon: int = 28,
    origins: int = 4,
    seed: int = 42,
    hgb_params: dict[str, Any] | None = None,
    n_threads: int | None = DEFAULT_THREADS,
    prior: Mapping[str, Any] | None = None,
    selection_days: int = 0,
    clock: Callable[[], datetime] = utc_now,
) -> ForecastResult:
    """Backtest, gate and forecast daily demand for every category x district and category city-wide.

    `daily` has date, category, district_id and received (requests per day). The forecast covers the
    `horizon` days after the last date in the data. `model_version` hashes the series, the holiday
    set, the parameters, the code version and the backtest's verdicts: the same inputs give the
    same version. `n_threads` caps OpenMP threads while fitting (None: all cores).

    `prior` is a previous result's metadata (as saved with its artefact). Its backtest is reused,
    not rerun, when it is fewer than `selection_days` calendar days old by `clock` (0: always
    backtest) and was made with today's parameters, code version and set of series; the result's
    `backtest` frame is then None, and `metadata["evaluation"]` says which happened.
    """
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return _forecast_demand(daily, holidays, horizon, origins, seed, hgb_params, prior, selection_days, clock())


def _forecast_demand(
    daily: pd.DataFrame,
    holidays: set[date] | None,
    horizon: int,
    origins: int,
    seed: int,
    hgb_params: dict[str, Any] | None,
    prior: Mapping[str, Any] | None,
    selection_days: int,
    now: datetime,
) -> ForecastResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    params = {**HGB_PARAMS, **(hgb_params or {})}
    panel = build_panel(daily)
    fm = build_features(panel, horizon, holidays)
    timings["features_s"] = time.perf_counter() - started
    last = panel.values.shape[1] - 1
    trainable = ~np.isnan(fm.target) & ~np.isnan(fm.scale) & (fm.day_index <= last)
    run_params = {"horizon": horizon, "origins": origins, "seed": seed, **params}
    expect = {"params": run_params, "code_version": code_version(), "series": fingerprint(panel.series_id)}
    evaluation = _reused_evaluation(prior, expect, now, selection_days)
    backtest_started = time.perf_counter()
    if evaluation:
        bt, bounds, backtest = _no_backtest(panel.n_series, horizon), {}, None
    else:
        bt = _backtest(panel, fm, trainable, horizon, origins, params, seed)
        bounds = _backtest_intervals(bt)
        table = _metrics_table(panel, bt, bounds)
        aggregate = _aggregate(table)
        gate_passed, model_loses = _gate(table, aggregate, panel.series_id)
        evaluation = _Evaluation(
            aggregate,
            gate_passed,
            model_loses,
            {m: calibrate(bt.actual, bt.points[m], bt.valid) for m in MODELS} if len(bt.origins) else {},
            [str(panel.dates[o].date()) for o in bt.origins],
            {**expect, "evaluated_at": pd.Timestamp(now).isoformat()},
        )
        backtest = table[BACKTEST_COLUMNS].copy()
    timings["backtest_s"] = time.perf_counter() - backtest_started
    # The verdicts are hashed, not where they came from: reusing the backtest of the same data gives
    # the same forecast, and so the same version.
    model_version = fingerprint(
        panel.values, panel.series_id, str(panel.dates[0]), sorted(str(d) for d in holidays or ()),
        run_params, code_version(), evaluation.verdicts(),
    )  # fmt: skip
    evaluation.source.setdefault("evaluated_in", model_version)

    fit_started = time.perf_counter()
    final_model = _fit(fm, trainable, params, seed) if trainable.any() else None
    timings["final_fit_s"] = time.perf_counter() - fit_started
    history = panel.values
    naive_future = seasonal_naive(history, horizon)
    model_future = _predict(final_model, fm, last + 1, horizon) if final_model else np.full_like(naive_future, np.nan)
    # A series too young for the model publishes naive, whatever the backtest said.
    fallback = _fallback(evaluation, panel.series_id) | np.isnan(model_future).any(axis=1)
    calibrations = evaluation.calibrations

    point = np.where(fallback[:, None], naive_future, model_future)
    lower, upper = np.zeros_like(point), np.zeros_like(point)
    for name, mask in ((GBM, ~fallback), (NAIVE, fallback)):
        if mask.any() and name in calibrations:
            lower[mask], upper[mask] = interval(point[mask], calibrations[name])
        elif mask.any():  # no backtest at all: no calibrated spread, a point forecast only
            lower[mask], upper[mask] = point[mask], point[mask]
    future_dates = pd.date_range(panel.dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    forecast = pd.DataFrame(
        {
            "series_id": np.repeat(panel.series_id, horizon),
            "date": np.tile(future_dates.to_numpy(), panel.n_series),
            "p10": lower.ravel(),
            "p50": point.ravel(),
            "p90": upper.ravel(),
            "model": np.repeat(np.where(fallback, NAIVE, GBM), horizon),
            "model_version": model_version,
            "is_fallback": np.repeat(fallback, horizon),
        }
    )
    model = DemandModel(
        estimator=final_model,
        feature_names=list(fm.features.columns),
        categorical=fm.categorical,
        categories=sorted(set(panel.category)),
        districts=sorted(set(panel.district)),
        horizon=horizon,
        intervals=calibrations,
        fallback_series=panel.series_id[fallback].tolist(),
        params=params,
    )
    timings["total_s"] = time.perf_counter() - started
    metadata = _metadata(panel, evaluation, fallback, model, model_version, horizon, seed, timings)
    chart_png, chart_markdown = _charts(panel, bt, bounds, point, lower, upper, future_dates)
    metadata["chart_markdown"] = chart_markdown
    return ForecastResult(forecast, backtest, metadata, chart_png, chart_markdown, model, timings)


def _metadata(panel, evaluation: _Evaluation, fallback, model, model_version, horizon, seed, timings) -> dict:
    aggregate, source = evaluation.aggregate, evaluation.source
    label = reuse_label(source["evaluated_at"], source["evaluated_in"]) if evaluation.reused else None
    model_mase = aggregate.get(GBM, {}).get("mase", float("nan"))
    naive_mase = aggregate.get(NAIVE, {}).get("mase", float("nan"))
    return {
        "model_name": MODEL_NAME,
        "model_version": model_version,
        "code_version": code_version(),
        "training_window": {"start": str(panel.dates[0].date()), "end": str(panel.dates[-1].date())},
        "horizon_days": horizon,
        "seed": seed,
        "series": int(panel.n_series),
        # Which backtest the gate and intervals below come from; "backtest" has what reusing it needs.
        "evaluation": label or "backtested",
        "origins": evaluation.origins,
        "features": model.feature_names,
        "params": model.params,
        "metrics": aggregate,
        "mase_ratio_vs_seasonal_naive": round(model_mase / naive_mase, 4) if naive_mase else float("nan"),
        "coverage_p10_p90": aggregate.get(GBM, {}).get("coverage_p10_p90"),
        "gate": {
            "rule": "publish the model where its backtest MASE beats seasonal naive: in aggregate, then per series",
            "aggregate_passed": evaluation.gate_passed,
            "reason": None if evaluation.origins else f"no backtest origin with {MIN_TRAIN_DAYS} days of history",
            "model_mase": model_mase,
            "seasonal_naive_mase": naive_mase,
        },
        "is_fallback": bool(fallback.all()),
        "fallback_series_count": int(fallback.sum()),
        "fallback_series": model.fallback_series[:50],
        "intervals": {name: cal.to_dict() for name, cal in model.intervals.items()},
        "backtest": {**source, **evaluation.verdicts()},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


def _charts(panel, bt, bounds, point, lower, upper, future_dates) -> tuple[bytes | None, str]:
    """Forecast vs actual for the busiest city-wide series: last backtest origin, then the forecast."""
    city = np.flatnonzero(panel.is_city_wide)
    if not len(city):
        city = np.arange(panel.n_series)
    volume = np.nansum(panel.values[city, -90:], axis=1)
    top = city[np.argsort(-volume, kind="stable")[:4]]
    rows, panels = [], {}
    for s in top:  # at most four series
        sid = str(panel.series_id[s])
        bt_actual = bt.actual[-1, s] if len(bt.origins) else np.array([])
        bt_point = bt.points[GBM][-1, s] if len(bt.origins) else np.array([])
        bt_naive = bt.points[NAIVE][-1, s] if len(bt.origins) else np.array([])
        rows.append(
            {
                "series": sid,
                "backtest actual": float(np.nansum(bt_actual)),
                "backtest model": float(np.nansum(bt_point)),
                "backtest naive": float(np.nansum(bt_naive)),
                "forecast P10": float(lower[s].sum()),
                "forecast P50": float(point[s].sum()),
                "forecast P90": float(upper[s].sum()),
            }
        )
        if len(bt.origins):
            o = bt.origins[-1]
            hist_dates = panel.dates[max(0, o - 55) : o + 1 + len(bt_actual)]
            n_hist = len(hist_dates)
            lo_bt, hi_bt = bounds[GBM][0][-1, s], bounds[GBM][1][-1, s]
            pad = n_hist - len(bt_point)
            panels[sid] = pd.DataFrame(
                {
                    "date": np.concatenate([hist_dates.to_numpy(), future_dates.to_numpy()]),
                    "actual": np.concatenate([panel.values[s, max(0, o - 55) : o + 1 + len(bt_actual)],
                                              np.full(len(future_dates), np.nan)]),
                    "p50": np.concatenate([np.full(pad, np.nan), bt_point, point[s]]),
                    "p10": np.concatenate([np.full(pad, np.nan), lo_bt, lower[s]]),
                    "p90": np.concatenate([np.full(pad, np.nan), hi_bt, upper[s]]),
                }
            )  # fmt: skip
    table = pd.DataFrame(rows)
    title = f"28-day totals: last backtest origin and forecast from {future_dates[0].date()}"
    if not len(bt.origins):  # nothing backtested in this run (no origin possible, or a prior's reused)
        table = table.drop(columns=["backtest actual", "backtest model", "backtest naive"])
        title = f"28-day forecast totals from {future_dates[0].date()}"
    markdown = f"**{title}**\n\n" + charts.markdown_table(table, float_format="{:.0f}")
    png = charts.forecast_lines_png(panels, "Forecast vs actual (last backtest origin, then forecast)")
    return png, markdown
