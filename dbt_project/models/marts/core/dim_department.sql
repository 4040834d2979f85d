with

departments as (

    select * from {{ ref('stg_case_system__departments') }}

),

open_data as (

    select * from {{ ref('stg_open311__service_requests') }}

),

-- Agencies of imported open-data cities ("nyc:NYPD").
open_data_departments as (

    select
        {{ surrogate_key(['department_id']) }} as department_key,
        department_id,
        {{ arg_max('department_name', 'updated_at') }} as department_name

    from open_data
    where department_id is not null
    group by department_id

),

known as (

    select
        {{ surrogate_key(['department_id']) }} as department_key,
        department_id,
        department_name

    from departments

),

unknown as (

    select
        {{ unknown_key() }} as department_key,
        'unknown' as department_id,
        'Unknown department' as department_name

)

select * from known
union all
select * from open_data_departments
union all
select * from unknown
