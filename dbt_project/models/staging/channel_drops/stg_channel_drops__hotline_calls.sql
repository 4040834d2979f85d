-- The calls of raw.hotline_calls that pass the hard rules, once each
-- (base_channel_drops__hotline_calls).
with

checked as (

    select * from {{ ref('base_channel_drops__hotline_calls') }}

),

passed as (

    select
        call_id,
        source_system,
        phone_pseudonym,
        is_phone_withheld,
        is_phone_malformed,
        call_started_at,
        wait_seconds,
        duration_seconds,
        outcome,
        request_id,
        _source_file,
        _row_number,
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
