-- Rows of raw.app_events that failed a hard rule of int_app_events_checked, with the rule, so
-- raw.app_events = stg + quarantine, row for row. Rebuilt on every run: a row fixed at the source
-- leaves quarantine on the next run. Personal fields appear only as pseudonyms.
{{ config(alias='app_events') }}

with

checked as (

    select * from {{ ref('int_app_events_checked') }}

),

failed as (

    select
        event_id,
        source_system,
        channel,
        session_id,
        email_pseudonym,
        is_email_malformed,
        citizen_id_text,
        event_name,
        service_code,
        request_id_text,
        ts_text,
        event_at,
        _source_file,
        _row_number,
        failed_rule,
        _load_id,
        _loaded_at,
        {{ run_started_at_city() }} as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
