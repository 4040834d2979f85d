{#- The gate model of a web or app event drop (base_channel_drops__web_events and
    base_channel_drops__app_events): both channels deliver the same columns. Types the text fields,
    pseudonymizes the login email, converts the ISO 8601 timestamps (with offset) to city-local time
    and evaluates the hard rules; an event delivered more than once is staged once (its latest
    delivery), its other copies fail as duplicate_key. Incremental: a run judges the rows
    gate_scope picks. -#}
{% macro session_events_checked(source_relation, channel) %}
with

source as (

    {{ gate_scope(source_relation, 'event_id') }}

),

typed as (

    select
        {{ clean_text('event_id') }} as event_id,
        'channel_drops' as source_system,
        '{{ channel }}' as channel,
        {{ clean_text('session_id') }} as session_id,
        {{ pseudonymize(normalize_email(clean_text('login_email'))) }} as email_pseudonym,
        coalesce({{ email_is_malformed(clean_text('login_email')) }}, false) as is_email_malformed,
        {{ drop_integer(clean_text('citizen_id'), 'bigint') }} as citizen_id,
        lower({{ clean_text('event') }}) as event_name,
        {{ clean_text('service_code') }} as service_code,
        {{ drop_integer(clean_text('request_id'), 'bigint') }} as request_id,
        {{ iso_with_offset_to_city(clean_text('ts')) }} as event_at,
        -- A time that parses but carries no offset: its instant depends on a zone nobody stated.
        {{ safe_cast_text(clean_text('ts'), 'timestamp') }} is not null as is_ts_naive,
        -- The delivered text of the non-personal fields, so quarantine shows what failed.
        {{ clean_text('ts') }} as ts_text,
        {{ clean_text('citizen_id') }} as citizen_id_text,
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
            when event_id is null then 'missing_key'
            when session_id is null then 'missing_session_id'
            when ts_text is null then 'missing_ts'
            when event_at is null and is_ts_naive then 'timestamp_without_time_zone'
            when event_at is null then 'unparseable_timestamp'
            when event_at < {{ earliest_possible_timestamp() }} then 'timestamp_before_1900'
            when event_at > {{ latest_possible_city() }} then 'future_timestamp'
            when (citizen_id_text is not null and citizen_id is null)
                or (request_id_text is not null and request_id is null)
                then 'unparseable_number'
            when event_name is null then 'missing_event'
            when event_name not in {{ accepted_values_sql('session_event') }} then 'invalid_event'
        end as field_rule

    from typed

),

ranked as (

    select
        *,
        -- Nulls last spelled out: PostgreSQL sorts them first in descending order, DuckDB last.
        row_number() over (
            partition by event_id, field_rule is null
            order by _loaded_at desc nulls last, _source_file desc nulls last, _row_number desc nulls last
        ) as delivery_rank

    from field_rules

),

checked as (

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
        ts_text,
        citizen_id_text,
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
{% endmacro %}

{#- The staging model of a web or app event drop: the events that passed the hard rules of their
    gate (session_events_checked), once each. -#}
{% macro session_events_staged(checked_relation) %}
with

checked as (

    select * from {{ checked_relation }}

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
        _loaded_at,
        -- The load watermark of the incremental models over the events (int_digital_sessions).
        _loaded_at_utc

    from checked
    where failed_rule is null

)

select * from passed
{% endmacro %}

{#- The quarantine model of a web or app event drop: the rows that failed a hard rule of their gate,
    with the rule, so raw = staging + quarantine, row for row. Personal fields appear only as
    pseudonyms. -#}
{% macro session_events_quarantined(checked_relation) %}
with

checked as (

    select * from {{ checked_relation }}

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
        _gated_at as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
{% endmacro %}

{#- An integer field of a drop file (text): digits with an optional sign, and a '.0' tail as
    spreadsheets write whole numbers. A plain try_cast would round '30.5' and read '0x10' and '1e3',
    silently changing what was delivered; anything else is null here, so the gate's
    unparseable_number rule sees it. Shared by the drop-channel gates. -#}
{% macro drop_integer(expr, type='integer') -%}
    (case
        when {{ matches_fully(expr, '[+-]?[0-9]+(\\.0*)?') }}
            then {{ safe_cast_text("regexp_replace(" ~ expr ~ ", '\\.0*$', '')", type) }}
    end)
{%- endmacro %}

{#- The earliest business timestamp a drop row may carry: earlier is a placeholder or a
    mis-parsed year (0001-01-01, 1899-12-30 from spreadsheets), never a real contact. -#}
{% macro earliest_possible_timestamp() -%}
    timestamp '1900-01-01 00:00:00'
{%- endmacro %}

{#- An ISO 8601 date and wall-clock time ('T' or a space; seconds and fractions optional), as a
    regular expression. A date alone is no time of a contact. -#}
{% macro iso_wall_clock_regex() -%}
    [0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?
{%- endmacro %}

{#- ISO 8601 text with an offset ('Z', '+02:00', '+0200', '+02') as city-local time, else null. The
    whole text must match: a bare date's '-24' is a day, not an offset. -#}
{% macro iso_with_offset_to_city(expr) -%}
    (case
        when {{ matches_fully(expr, iso_wall_clock_regex() ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)') }}
            then {{ tz_to_city(safe_cast_text(expr, 'timestamptz')) }}
    end)
{%- endmacro %}
