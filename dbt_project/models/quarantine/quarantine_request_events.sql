-- Rows of raw.request_events that failed a hard rule of base_case_system__request_events, with the
-- rule, so raw.request_events = stg + quarantine, row for row. Rebuilt on every run: a row fixed at
-- the source leaves quarantine on the next run. Personal fields appear only as pseudonyms.
{{ config(alias='request_events') }}

with

checked as (

    select * from {{ ref('base_case_system__request_events') }}

),

failed as (

    select
        event_id,
        source_system,
        request_id,
        event_type,
        department_id,
        event_at,
        recorded_at,
        failed_rule,
        _load_id,
        _loaded_at,
        {{ run_started_at_city() }} as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
