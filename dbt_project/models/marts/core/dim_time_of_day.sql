-- Hours of the day (city-local), keyed by the hour itself.
with

hours as (

    select cast(hour as integer) as hour from generate_series(0, 23) as series (hour)

),

known as (

    select
        hour as time_of_day_key,
        hour,
        lpad(cast(hour as varchar), 2, '0') || ':00-' || lpad(cast(hour as varchar), 2, '0') || ':59'
            as hour_label,
        case
            when hour < 6 then 'night'
            when hour < 12 then 'morning'
            when hour < 18 then 'afternoon'
            else 'evening'
        end as part_of_day,
        hour >= {{ var('office_hours_start') }} and hour < {{ var('office_hours_end') }} as is_office_hours

    from hours

),

unknown as (

    select
        -1 as time_of_day_key,
        cast(null as integer) as hour,
        'unknown' as hour_label,
        'unknown' as part_of_day,
        false as is_office_hours

)

select * from known
union all
select * from unknown
