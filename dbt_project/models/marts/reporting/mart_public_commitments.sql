-- Department x service x month: the processing time the city publishes for each service and how
-- often it kept it, over the requests resolved that month (resolved, or closed without a resolved
-- event). Only services with a published commitment appear.
with

requests as (

    select * from {{ ref('fct_service_requests') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

services as (

    select * from {{ ref('dim_service') }}

),

departments as (

    select * from {{ ref('dim_department') }}

),

resolved as (

    select
        *,
        case when resolved_date_key <> -1 then resolved_date_key else closed_date_key end
            as resolution_date_key

    from requests
    where commitment_met is not null

),

final as (

    select
        dates.month_start_date as month_start,
        services.department_key,
        departments.department_id,
        departments.department_name,
        resolved.service_key,
        services.service_code,
        services.service_name,
        services.commitment_hours,
        count(*) as requests_resolved,
        count(*) filter (where resolved.commitment_met) as resolved_within_commitment,
        {{ ratio('count(*) filter (where resolved.commitment_met)', 'count(*)') }} as achieved_rate,
        {{ percentile('resolved.resolution_hours', 0.5) }} as median_resolution_hours

    from resolved
    inner join dates on resolved.resolution_date_key = dates.date_key
    inner join services on resolved.service_key = services.service_key
    inner join departments on services.department_key = departments.department_key
    group by
        dates.month_start_date,
        services.department_key,
        departments.department_id,
        departments.department_name,
        resolved.service_key,
        services.service_code,
        services.service_name,
        services.commitment_hours

)

select * from final
