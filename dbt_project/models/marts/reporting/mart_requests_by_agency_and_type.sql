-- Source x agency x request type (complaint type): how many requests came in, how many are
-- closed, and how long closing took (median and 90th percentile hours). The question every 311
-- open-data user asks first; it reads the same for the case system's departments and services.
with

requests as (

    select * from {{ ref('fct_service_requests') }}

),

services as (

    select * from {{ ref('dim_service') }}

),

departments as (

    select * from {{ ref('dim_department') }}

),

final as (

    select
        requests.source_system,
        departments.department_key,
        departments.department_id,
        departments.department_name,
        services.service_key,
        services.service_code,
        services.service_name,
        services.category,
        count(*) as requests,
        count(requests.closed_at) as requests_closed,
        count(*) filter (where requests.is_open) as requests_open,
        {{ percentile('requests.closure_hours', 0.5) }} as median_hours_to_close,
        {{ percentile('requests.closure_hours', 0.9) }} as p90_hours_to_close,
        min(requests.submitted_at) as first_submitted_at,
        max(requests.submitted_at) as last_submitted_at

    from requests
    inner join services on requests.service_key = services.service_key
    inner join departments on requests.department_key = departments.department_key
    group by
        requests.source_system,
        departments.department_key,
        departments.department_id,
        departments.department_name,
        services.service_key,
        services.service_code,
        services.service_name,
        services.category

)

select * from final
