-- Calendar days over whole years covering every business date in the data (city-local dates),
-- with public holidays of var holiday_country.
with

holidays as (

    select * from {{ ref('stg_calendar__public_holidays') }}
    where country_code = upper('{{ var("holiday_country") }}')

),

data_dates as (

    select cast(submitted_at as date) as day from {{ ref('stg_case_system__service_requests') }}
    union all
    select cast(closed_at as date) from {{ ref('stg_case_system__service_requests') }}
    union all
    select cast(event_at as date) from {{ ref('stg_case_system__request_events') }}
    union all
    select cast(submitted_at as date) from {{ ref('stg_case_system__satisfaction_surveys') }}
    union all
    select cast(contacted_at as date) from {{ ref('int_contacts') }}
    union all
    select cast(submitted_at as date) from {{ ref('stg_open311__service_requests') }}
    union all
    select cast(closed_at as date) from {{ ref('stg_open311__service_requests') }}

),

bounds as (

    select
        make_date(cast(extract(year from coalesce(min(day), current_date)) as integer), 1, 1) as first_day,
        make_date(cast(extract(year from coalesce(max(day), current_date)) as integer), 12, 31) as last_day

    from data_dates

),

spine as (

    select {{ days_from_to('first_day', 'last_day') }} as date_day
    from bounds

),

known as (

    select
        {{ date_key('spine.date_day') }} as date_key,
        spine.date_day,
        cast(extract(isodow from spine.date_day) as bigint) as day_of_week,
        {{ day_name('spine.date_day') }} as day_name,
        extract(isodow from spine.date_day) >= 6 as is_weekend,
        -- ISO 8601 week, as isodow is the ISO day.
        cast(extract(week from spine.date_day) as bigint) as iso_week,
        cast({{ dbt.date_trunc('week', 'spine.date_day') }} as date) as week_start_date,
        cast(extract(month from spine.date_day) as bigint) as month,
        {{ month_name('spine.date_day') }} as month_name,
        cast({{ dbt.date_trunc('month', 'spine.date_day') }} as date) as month_start_date,
        cast(extract(quarter from spine.date_day) as bigint) as quarter,
        cast(extract(year from spine.date_day) as bigint) as year,
        holidays.holiday_date is not null as is_public_holiday,
        holidays.holiday_name,
        extract(isodow from spine.date_day) < 6 and holidays.holiday_date is null as is_working_day

    from spine
    left join holidays on spine.date_day = holidays.holiday_date

),

unknown as (

    select
        -1 as date_key,
        cast(null as date) as date_day,
        cast(null as bigint) as day_of_week,
        'unknown' as day_name,
        false as is_weekend,
        cast(null as bigint) as iso_week,
        cast(null as date) as week_start_date,
        cast(null as bigint) as month,
        'unknown' as month_name,
        cast(null as date) as month_start_date,
        cast(null as bigint) as quarter,
        cast(null as bigint) as year,
        false as is_public_holiday,
        cast(null as varchar) as holiday_name,
        false as is_working_day

)

select * from known
union all
select * from unknown
