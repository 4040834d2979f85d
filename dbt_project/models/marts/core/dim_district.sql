with

districts as (

    select * from {{ ref('stg_case_system__districts') }}

),

open_data as (

    select * from {{ ref('stg_open311__service_requests') }}

),

-- Districts of imported open-data cities ("nyc:BROOKLYN"), as their mappings derive them.
open_data_districts as (

    select
        {{ surrogate_key(['district_id']) }} as district_key,
        district_id,
        {{ arg_max('district_name', 'updated_at') }} as district_name,
        cast(null as integer) as population

    from open_data
    where district_id is not null
    group by district_id

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
select * from open_data_districts
union all
select * from unknown
