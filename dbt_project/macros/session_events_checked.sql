{#- The gate model of a web or app event drop (int_web_events_checked, int_app_events_checked):
    both channels deliver the same columns. Types the text fields, pseudonymizes the login email,
    converts the ISO 8601 timestamps (with offset) to city-local time and evaluates the hard rules;
    an event delivered more than once is staged once (its latest delivery), its other copies fail
    as duplicate_key. -#}
{% macro session_events_checked(source_relation, channel) %}
with

source as (

    select * from {{ source_relation }}

),

typed as (

    select
        {{ clean_text('event_id') }} as event_id,
        'channel_drops' as source_system,
        '{{ channel }}' as channel,
        {{ clean_text('session_id') }} as session_id,
        {{ pseudonymize(normalize_email(clean_text('login_email'))) }} as email_pseudonym,
        coalesce({{ email_is_malformed(clean_text('login_email')) }}, false) as is_email_malformed,
        try_cast({{ clean_text('citizen_id') }} as bigint) as citizen_id,
        lower({{ clean_text('event') }}) as event_name,
        {{ clean_text('service_code') }} as service_code,
        try_cast({{ clean_text('request_id') }} as bigint) as request_id,
        {{ tz_to_city(parse_iso_with_offset(clean_text('ts'))) }} as event_at,
        -- The delivered text of the non-personal fields, so quarantine shows what failed.
        {{ clean_text('ts') }} as ts_text,
        {{ clean_text('citizen_id') }} as citizen_id_text,
        {{ clean_text('request_id') }} as request_id_text,
        _source_file,
        _row_number,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

),

field_rules as (

    select
        *,
        case
            when event_id is null then 'missing_key'
            when session_id is null then 'missing_session_id'
            when ts_text is null then 'missing_ts'
            when event_at is null then 'unparseable_timestamp'
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
        row_number() over (
            partition by event_id, field_rule is null
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as delivery_rank

    from field_rules

),

checked as (

    select
        * exclude (field_rule, delivery_rank),
        coalesce(field_rule, case when delivery_rank > 1 then 'duplicate_key' end) as failed_rule

    from ranked

)

select * from checked
{% endmacro %}
