-- City-wide demand forecast per service category for the next 28 days: the P10-P90 band and the
-- median, and whether the series fell back to the seasonal-naive forecast (the model did not beat it).
select
    split_part(series_id, '|', 1) as category,
    date::date as day,
    round(p10, 1) as p10,
    round(p50, 1) as p50,
    round(p90, 1) as p90,
    model,
    is_fallback
from ml.demand_forecast
where series_id like '%|ALL'
order by category, day;
