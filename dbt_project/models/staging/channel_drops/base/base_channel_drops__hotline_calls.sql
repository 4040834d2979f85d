-- Gate for raw.hotline_calls, incremental (macro gate_scope). Drop files are all text: fields are
-- try_cast here and a value that does not parse is a failed rule, never a silent null; a call
-- starting in the future (later than "now" plus var future_tolerance_minutes) or before 1900 is
-- impossible, and so is a negative wait or duration. A call delivered more than once is staged
-- once (its latest delivery) and its other copies are quarantined as duplicate_key, so raw rows =
-- staged + quarantined still holds.
{%- set start = clean_text('call_start') %}
with

source as (

    {{ gate_scope(source('channel_drops', 'hotline_calls'), 'call_id') }}

),

typed as (

    select
        {{ clean_text('call_id') }} as call_id,
        'channel_drops' as source_system,
        {{ pseudonymize(normalize_phone('caller_phone')) }} as phone_pseudonym,
        {{ clean_text('caller_phone') }} is null as is_phone_withheld,
        coalesce({{ phone_is_malformed('caller_phone') }}, false) as is_phone_malformed,
        case
            -- Already city-local: the telephony system exports local wall-clock time ('T' and
            -- fractional seconds are the same reading). A date alone is no call start.
            when {{ matches_fully(start, iso_wall_clock_regex()) }}
                then {{ safe_cast_text(start, 'timestamp') }}
            -- An export that states its offset is unambiguous: converted, not read as local time.
            else {{ iso_with_offset_to_city(start) }}
        end as call_started_at,
        {{ drop_integer(clean_text('wait_seconds')) }} as wait_seconds,
        {{ drop_integer(clean_text('duration_seconds')) }} as duration_seconds,
        lower({{ clean_text('outcome') }}) as outcome,
        {{ drop_integer(clean_text('request_id'), 'bigint') }} as request_id,
        -- The delivered text of the non-personal fields, so quarantine shows what failed.
        {{ clean_text('call_start') }} as call_start_text,
        {{ clean_text('wait_seconds') }} as wait_seconds_text,
        {{ clean_text('duration_seconds') }} as duration_seconds_text,
        {{ clean_text('request_id') }} as request_id_text,
        _source_file,
        _row_number,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at,
        -- The gate's watermark (macro gate_scope).
        _loaded_at as _loaded_at_utc

    from source

),

field_rules as (

    select
        *,
        case
            when call_id is null then 'missing_key'
            when call_start_text is null then 'missing_call_start'
            when call_started_at is null then 'unparseable_timestamp'
            when call_started_at < {{ earliest_possible_timestamp() }} then 'timestamp_before_1900'
            when call_started_at > {{ latest_possible_city() }} then 'future_timestamp'
            when (wait_seconds_text is not null and wait_seconds is null)
                or (duration_seconds_text is not null and duration_seconds is null)
                or (request_id_text is not null and request_id is null)
                then 'unparseable_number'
            when wait_seconds < 0 or duration_seconds < 0 then 'negative_duration'
            when outcome is null then 'missing_outcome'
            when outcome not in {{ accepted_values_sql('hotline_outcome') }} then 'invalid_outcome'
        end as field_rule

    from typed

),

ranked as (

    select
        *,
        -- Nulls last spelled out: PostgreSQL sorts them first in descending order, DuckDB last.
        row_number() over (
            partition by call_id, field_rule is null
            order by _loaded_at desc nulls last, _source_file desc nulls last, _row_number desc nulls last
        ) as delivery_rank

    from field_rules

),

checked as (

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
        call_start_text,
        wait_seconds_text,
        duration_seconds_text,
        request_id_text,
        _source_file,
        _row_number,
        _load_id,
        _loaded_at,
        _loaded_at_utc,
        coalesce(field_rule, case when delivery_rank > 1 then 'duplicate_key' end) as failed_rule,
        -- When this verdict was reached: the quarantine's quarantined_at.
        {{ run_started_at_city() }} as _gated_at

    from ranked

)

select * from checked
