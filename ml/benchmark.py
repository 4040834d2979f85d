"""Time and score the demand forecast on synthetic data: `python -m ml.benchmark [categories] [districts]`.

10 categories x 49 districts + 10 city-wide series = 500 series over 3 years by default.
"""

from __future__ import annotations

import json
import sys
import time

from ml.forecasting import forecast_demand
from ml.synthetic import make_daily_demand


def main(argv: list[str]) -> None:
    n_categories = int(argv[0]) if argv else 10
    n_districts = int(argv[1]) if len(argv) > 1 else 49
    daily, holidays = make_daily_demand(n_categories, n_districts, years=3.0, seed=3)
    started = time.perf_counter()
    result = forecast_demand(daily, holidays=holidays)
    elapsed = time.perf_counter() - started
    meta = result.metadata
    print(
        json.dumps(
            {
                "series": meta["series"],
                "input_rows": len(daily),
                "seconds": round(elapsed, 1),
                "timings_s": meta["timings_s"],
                "metrics": meta["metrics"],
                "mase_ratio_vs_seasonal_naive": meta["mase_ratio_vs_seasonal_naive"],
                "fallback_series_count": meta["fallback_series_count"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
