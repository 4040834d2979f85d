-- One row per country and date: a date with two holiday names keeps them joined, and a
-- re-delivered row collapses.
with

source as (

    select * from {{ source('calendar', 'public_holidays') }}

),

renamed as (

    select
        holiday_date,
        upper(trim(country)) as country_code,
        trim(name) as holiday_name,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source
    where holiday_date is not null

),

deduplicated as (

    select
        holiday_date,
        country_code,
        string_agg(distinct holiday_name, '; ' order by holiday_name) as holiday_name,
        max(_load_id) as _load_id,
        max(_loaded_at) as _loaded_at

    from renamed
    group by holiday_date, country_code

)

select * from deduplicated
