-- Rows of raw.hotline_calls that failed a hard rule of int_hotline_calls_checked, with the rule, so
-- raw.hotline_calls = stg + quarantine, row for row. Rebuilt on every run: a row fixed at the source
-- leaves quarantine on the next run. Personal fields appear only as pseudonyms.
{{ config(alias='hotline_calls') }}

with

checked as (

    select * from {{ ref('int_hotline_calls_checked') }}

),

failed as (

    select
        call_id,
        source_system,
        phone_pseudonym,
        is_phone_withheld,
        is_phone_malformed,
        call_start_text,
        call_started_at,
        wait_seconds_text,
        duration_seconds_text,
        outcome,
        request_id_text,
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
