-- Web and app events rolled up to sessions: a session is one contact. A session can span drop
-- files (past midnight), so it changes with every event that arrives: its record time is its
-- latest event, its load time the latest load of any of its events.
--
-- Incremental: a run recomputes only the sessions its new loads touch (macro
-- digital_sessions_touched), from all of their staged events, and replaces them on the session's
-- key. Rolling up the whole event history every day cost 11 s of a 48 s staging step at scale M,
-- for a day that touches about 0.5% of the sessions. A session whose every event the gates now
-- reject is removed before the insert (the pre-hook), as a full rebuild would drop it.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['channel', 'session_id'],
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_touched_digital_sessions() }}",
    )
}}
-- The gates the incremental scope reads (macro digital_sessions_touched), named here because dbt
-- only sees refs of the branch it parses (the first build's):
-- depends_on: {{ ref('base_channel_drops__web_events') }}, {{ ref('base_channel_drops__app_events') }}

with

web_events as (

    select * from {{ ref('stg_channel_drops__web_events') }}

),

app_events as (

    select * from {{ ref('stg_channel_drops__app_events') }}

),

all_events as (

    select * from web_events
    union all
    select * from app_events

),

{% if is_incremental() %}

touched as (

    {{ digital_sessions_touched() }}

),

events as (

    select all_events.*
    from all_events
    inner join touched
        on all_events.channel = touched.channel
        and all_events.session_id = touched.session_id

),

{% else %}

events as (

    select * from all_events

),

{% endif %}

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
        max(_loaded_at) as loaded_at,
        max(_loaded_at_utc) as _loaded_at_utc

    from events
    group by channel, session_id

)

select * from sessions
