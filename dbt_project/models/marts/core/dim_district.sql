with

districts as (

    select * from {{ ref('stg_case_system__districts') }}

),

known as (

    select
        {{ surrogate_key(['district_id']) }} as district_key,
        district_id,
        district_name,
        population

    from districts

),

unknown as (

    select
        {{ unknown_key() }} as district_key,
        'unknown' as district_id,
        'Unknown district' as district_name,
        cast(null as integer) as population

)

select * from known
union all
select * from unknown
