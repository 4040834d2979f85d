-- The service catalogue with its category, owning department and published commitment.
with

services as (

    select * from {{ ref('stg_case_system__services') }}

),

departments as (

    select * from {{ ref('stg_case_system__departments') }}

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
select * from unknown
