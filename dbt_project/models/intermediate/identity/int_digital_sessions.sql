-- Web and app events rolled up to sessions: a session is one contact. A session can span drop
-- files (past midnight), so it changes with every event that arrives: its record time is its
-- latest event, its load time the latest load of any of its events.
with

web_events as (

    select * from {{ ref('stg_channel_drops__web_events') }}

),

app_events as (

    select * from {{ ref('stg_channel_drops__app_events') }}

),

events as (

    select * from web_events
    union all
    select * from app_events

),

sessions as (

    select
        channel,
        session_id,
        min(source_system) as source_system,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as event_count,
        -- The first identifying value the session shows (a login usually comes first).
        {{ first_value_of('email_pseudonym', 'event_at, event_id', 'email_pseudonym is not null') }}
            as email_pseudonym,
        {{ first_value_of('citizen_id', 'event_at, event_id', 'citizen_id is not null') }} as citizen_id,
        -- Prefer a request the session submitted over one it only looked at.
        {{ first_value_of('request_id', "event_name <> 'submit_request', event_at, event_id", 'request_id is not null') }}
            as request_id,
        {{ first_value_of('service_code', 'event_at, event_id', 'service_code is not null') }} as service_code,
        bool_or(event_name = 'submit_request') as has_submitted_request,
        max(event_at) as changed_at,
        max(_loaded_at) as loaded_at

    from events
    group by channel, session_id

)

select * from sessions
