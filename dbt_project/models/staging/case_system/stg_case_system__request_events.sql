-- The rows of raw.request_events that pass the hard rules (base_case_system__request_events).
with

checked as (

    select * from {{ ref('base_case_system__request_events') }}

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
