-- The rows of raw.request_events that pass the hard rules (int_request_events_checked).
with

checked as (

    select * from {{ ref('int_request_events_checked') }}

),

passed as (

    select
        event_id,
        source_system,
        request_id,
        event_type,
        department_id,
        event_at,
        recorded_at,
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
