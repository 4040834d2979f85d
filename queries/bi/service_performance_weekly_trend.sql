-- City-wide service performance per week (Monday to Sunday) over the last 26 weeks of data, the
-- latest week possibly in progress: requests received and resolved, the backlog at the end of the
-- week, and the share of resolutions within the published commitment (weighted by resolutions,
-- services with a commitment only).
with as_of as (
    select max(date_day) as last_day from marts.mart_service_performance_daily
),
daily as (
    select
        date_day,
        sum(requests_received) as received,
        sum(requests_resolved) as resolved,
        sum(backlog_end_of_day) as backlog,
        sum(requests_resolved * share_within_commitment) as resolved_within_commitment,
        sum(requests_resolved) filter (where share_within_commitment is not null) as resolved_with_commitment
    from marts.mart_service_performance_daily
    where date_day >= date_trunc('week', (select last_day from as_of)) - interval 25 week
    group by date_day
)
select
    date_trunc('week', date_day)::date as week_start,
    sum(received) as requests_received,
    sum(resolved) as requests_resolved,
    arg_max(backlog, date_day) as backlog_end_of_week,
    round(sum(resolved_within_commitment) / nullif(sum(resolved_with_commitment), 0), 3) as share_within_commitment
from daily
group by week_start
order by week_start;
