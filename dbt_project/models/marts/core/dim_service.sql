-- The service catalogue with its category, owning department and published commitment; imported
-- open-data cities add their request types ("nyc:noise - residential"), without a commitment.
with

services as (

    select * from {{ ref('stg_case_system__services') }}

),

departments as (

    select * from {{ ref('stg_case_system__departments') }}

),

open_data as (

    select * from {{ ref('stg_open311__service_requests') }}

),

known as (

    select
        {{ surrogate_key(['services.service_code']) }} as service_key,
        services.service_code,
        services.service_name,
        services.category,
        -- A department missing from the department table points at the unknown department.
        case
            when departments.department_id is not null then {{ surrogate_key(['departments.department_id']) }}
            else {{ unknown_key() }}
        end as department_key,
        services.department_id,
        services.commitment_hours

    from services
    left join departments on services.department_id = departments.department_id

),

-- One name, category and agency per code: the latest the city published.
open_data_catalogue as (

    select
        service_code,
        {{ arg_max('service_name', 'updated_at') }} as service_name,
        {{ arg_max('service_category', 'updated_at') }} as category,
        {{ arg_max('department_id', 'updated_at') }} as department_id

    from open_data
    group by service_code

),

open_data_services as (

    select
        {{ surrogate_key(['service_code']) }} as service_key,
        service_code,
        service_name,
        category,
        case
            when department_id is not null then {{ surrogate_key(['department_id']) }}
            else {{ unknown_key() }}
        end as department_key,
        coalesce(department_id, 'unknown') as department_id,
        cast(null as integer) as commitment_hours

    from open_data_catalogue

),

unknown as (

    select
        {{ unknown_key() }} as service_key,
        'unknown' as service_code,
        'Unknown service' as service_name,
        'unknown' as category,
        {{ unknown_key() }} as department_key,
        'unknown' as department_id,
        cast(null as integer) as commitment_hours

)

select * from known
union all
select * from open_data_services
union all
select * from unknown
