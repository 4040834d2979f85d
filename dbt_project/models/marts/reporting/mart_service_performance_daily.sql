-- Day x service x district: requests received, closed and resolved that day, the backlog at the
-- end of the day, and resolution times of the requests resolved that day. A request counts as
-- resolved on the day of its resolution (resolved_at, or closed_at when closed without a resolved
-- event); the backlog is every request received so far and not yet resolved. Rows run from a
-- service and district's first request to the data's as-of date, skipping days with nothing
-- received, closed, resolved or open.
with

requests as (

    select * from {{ ref('fct_service_requests') }}

),

dates as (

    select * from {{ ref('dim_date') }}
    where date_key <> -1

),

services as (

    select * from {{ ref('dim_service') }}

),

departments as (

    select * from {{ ref('dim_department') }}

),

districts as (

    select * from {{ ref('dim_district') }}

),

as_of as (

    select * from {{ ref('int_data_as_of') }}

),

with_resolution_day as (

    select
        *,
        case when resolved_date_key <> -1 then resolved_date_key else closed_date_key end
            as resolution_date_key

    from requests

),

received as (

    select submitted_date_key as date_key, service_key, district_key, count(*) as requests_received
    from with_resolution_day
    group by submitted_date_key, service_key, district_key

),

closed as (

    select closed_date_key as date_key, service_key, district_key, count(*) as requests_closed
    from with_resolution_day
    where closed_date_key <> -1
    group by closed_date_key, service_key, district_key

),

resolved as (

    select
        resolution_date_key as date_key,
        service_key,
        district_key,
        count(*) as requests_resolved,
        {{ percentile('resolution_hours', 0.5) }} as median_resolution_hours,
        {{ percentile('resolution_hours', 0.9) }} as p90_resolution_hours,
        {{ mean('case when commitment_met then 1.0 else 0.0 end') }}
            filter (where commitment_met is not null) as share_within_commitment

    from with_resolution_day
    where resolution_date_key <> -1
    group by resolution_date_key, service_key, district_key

),

first_days as (

    select received.service_key, received.district_key, min(dates.date_day) as first_day
    from received
    inner join dates on received.date_key = dates.date_key
    group by received.service_key, received.district_key

),

grid as (

    select dates.date_key, dates.date_day, first_days.service_key, first_days.district_key
    from first_days
    inner join dates
        on dates.date_day >= first_days.first_day
        and dates.date_day <= (select as_of_date from as_of)

),

daily as (

    select
        grid.*,
        coalesce(received.requests_received, 0) as requests_received,
        coalesce(closed.requests_closed, 0) as requests_closed,
        coalesce(resolved.requests_resolved, 0) as requests_resolved,
        sum(coalesce(received.requests_received, 0) - coalesce(resolved.requests_resolved, 0)) over (
            partition by grid.service_key, grid.district_key
            order by grid.date_day
            rows between unbounded preceding and current row
        ) as backlog_end_of_day,
        resolved.median_resolution_hours,
        resolved.p90_resolution_hours,
        resolved.share_within_commitment

    from grid
    left join received using (date_key, service_key, district_key)
    left join closed using (date_key, service_key, district_key)
    left join resolved using (date_key, service_key, district_key)

),

final as (

    select
        daily.date_key,
        daily.date_day,
        daily.service_key,
        services.service_code,
        services.service_name,
        services.category,
        services.department_key,
        departments.department_name,
        daily.district_key,
        districts.district_id,
        districts.district_name,
        daily.requests_received,
        daily.requests_closed,
        daily.requests_resolved,
        cast(daily.backlog_end_of_day as bigint) as backlog_end_of_day,
        daily.median_resolution_hours,
        daily.p90_resolution_hours,
        daily.share_within_commitment

    from daily
    inner join services on daily.service_key = services.service_key
    inner join departments on services.department_key = departments.department_key
    inner join districts on daily.district_key = districts.district_key
    where daily.requests_received > 0
        or daily.requests_closed > 0
        or daily.requests_resolved > 0
        or daily.backlog_end_of_day > 0

)

select * from final
