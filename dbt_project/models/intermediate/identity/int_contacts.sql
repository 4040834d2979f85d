-- Every contact through every channel, one row each, before identity resolution: hotline calls,
-- web and app sessions, and the case-system requests of the channels that have no drop of their
-- own (service hall, email, social media; hotline/web/app requests are already contacts as the
-- call or session that created them).
-- A view: it only relabels and unions its inputs, and int_contacts_resolved reads it once per run.
-- As a table it rewrote every contact of the history on each daily run (3.0 s at scale M).
{{ config(materialized='view') }}

with

calls as (

    select * from {{ ref('stg_channel_drops__hotline_calls') }}

),

sessions as (

    select * from {{ ref('int_digital_sessions') }}

),

requests as (

    select * from {{ ref('stg_case_system__service_requests') }}

),

hotline as (

    select
        'hotline-' || call_id as contact_id,
        'hotline' as channel,
        'hotline_calls' as contact_source,
        source_system,
        call_started_at as contacted_at,
        duration_seconds,
        wait_seconds,
        outcome,
        cast(null as integer) as event_count,
        phone_pseudonym,
        cast(null as varchar) as email_pseudonym,
        cast(null as bigint) as citizen_id,
        request_id,
        cast(null as varchar) as service_code,
        -- A call is recorded when it happens.
        call_started_at as changed_at,
        _loaded_at as loaded_at

    from calls

),

digital as (

    select
        channel || '-' || session_id as contact_id,
        channel,
        channel || '_events' as contact_source,
        source_system,
        started_at as contacted_at,
        cast({{ dbt.datediff('started_at', 'ended_at', 'second') }} as integer) as duration_seconds,
        cast(null as integer) as wait_seconds,
        cast(null as varchar) as outcome,
        cast(event_count as integer) as event_count,
        cast(null as varchar) as phone_pseudonym,
        email_pseudonym,
        citizen_id,
        request_id,
        service_code,
        changed_at,
        loaded_at

    from sessions

),

case_system as (

    select
        source_system || '-' || request_id as contact_id,
        channel,
        'service_requests' as contact_source,
        source_system,
        submitted_at as contacted_at,
        cast(null as integer) as duration_seconds,
        cast(null as integer) as wait_seconds,
        cast(null as varchar) as outcome,
        cast(null as integer) as event_count,
        cast(null as varchar) as phone_pseudonym,
        cast(null as varchar) as email_pseudonym,
        citizen_id,
        request_id,
        service_code,
        updated_at as changed_at,
        _loaded_at as loaded_at

    from requests
    where channel in ('service_hall', 'email', 'social_media')

),

unioned as (

    select * from hotline
    union all
    select * from digital
    union all
    select * from case_system

)

select * from unioned
