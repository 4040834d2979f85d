-- Rows of raw.hotline_calls that failed a hard rule of base_channel_drops__hotline_calls, with the
-- rule, so raw.hotline_calls = stg + quarantine, row for row. A view of the incremental gate (a
-- verdict stays until a later delivery of the same call re-judges it). Personal fields appear only
-- as pseudonyms.
{{ config(alias='hotline_calls', materialized='view') }}

with

checked as (

    select * from {{ ref('base_channel_drops__hotline_calls') }}

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
        _gated_at as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
