with

departments as (

    select * from {{ ref('stg_case_system__departments') }}

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
select * from unknown
