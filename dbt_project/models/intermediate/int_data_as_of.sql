-- The moment the warehouse's data reaches: the latest business timestamp staged. Marts measure
-- recency, tenure and backlog against it rather than the wall clock, so a rebuild of the same data
-- gives the same numbers.
with

requests as (

    select max(greatest(submitted_at, closed_at)) as latest_at
    from {{ ref('stg_case_system__service_requests') }}

),

events as (

    select max(event_at) as latest_at from {{ ref('stg_case_system__request_events') }}

),

surveys as (

    select max(submitted_at) as latest_at from {{ ref('stg_case_system__satisfaction_surveys') }}

),

contacts as (

    select max(contacted_at) as latest_at from {{ ref('int_contacts') }}

),

open_data as (

    select max(greatest(submitted_at, closed_at)) as latest_at
    from {{ ref('stg_open311__service_requests') }}

),

final as (

    select
        greatest(requests.latest_at, events.latest_at, surveys.latest_at, contacts.latest_at, open_data.latest_at) as as_of_at,
        cast(greatest(requests.latest_at, events.latest_at, surveys.latest_at, contacts.latest_at, open_data.latest_at) as date)
            as as_of_date

    from requests, events, surveys, contacts, open_data

)

select * from final
