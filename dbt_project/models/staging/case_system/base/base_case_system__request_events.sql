-- Gate for raw.request_events (see base_case_system__citizens). An event for an unknown request is
-- kept: referential gaps are a soft data-quality finding, not a row-level failure. An event in the
-- future (later than "now" plus var future_tolerance_minutes) is impossible.
with

source as (

    select * from {{ source('case_system', 'request_events') }}

),

typed as (

    select
        event_id,
        'case_system' as source_system,
        request_id,
        lower(trim(event_type)) as event_type,
        nullif(trim(department_id), '') as department_id,
        {{ utc_to_city('event_at') }} as event_at,
        {{ utc_to_city('updated_at') }} as recorded_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

),

checked as (

    select
        *,
        case
            when event_id is null then 'missing_key'
            when request_id is null then 'missing_request_id'
            when event_type is null then 'missing_event_type'
            when event_type not in {{ accepted_values_sql('status') }} then 'invalid_event_type'
            when event_at is null then 'missing_event_at'
            when recorded_at is null then 'missing_updated_at'
            when event_at > {{ latest_possible_city() }} then 'future_timestamp'
        end as failed_rule

    from typed

)

select * from checked
