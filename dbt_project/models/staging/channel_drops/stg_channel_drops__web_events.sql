-- The events of raw.web_events that pass the hard rules, once each (int_web_events_checked).
with

checked as (

    select * from {{ ref('int_web_events_checked') }}

),

passed as (

    select
        event_id,
        source_system,
        channel,
        session_id,
        email_pseudonym,
        is_email_malformed,
        citizen_id,
        event_name,
        service_code,
        request_id,
        event_at,
        _source_file,
        _row_number,
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
