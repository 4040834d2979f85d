-- Gate for raw.service_requests (see base_case_system__citizens). Besides missing and invalid
-- fields it quarantines requests submitted or closed in the future (later than "now" plus var
-- future_tolerance_minutes: a clock or time-zone fault), requests closed before they were
-- submitted, requests whose service code the services catalogue does not know (a null code is
-- allowed: the unknown member), and duplicate submissions: the same citizen, service and
-- description again within var duplicate_submission_minutes of the previous one (compared with the
-- previous submission of the chain, so a burst keeps only its first). The free-text description
-- never leaves this model (it may hold names and phone numbers).
with

source as (

    select * from {{ source('case_system', 'service_requests') }}

),

services as (

    select distinct nullif(trim(service_code), '') as service_code
    from {{ source('case_system', 'services') }}

),

typed as (

    select
        request_id,
        'case_system' as source_system,
        citizen_id,
        nullif(trim(service_code), '') as service_code,
        lower(trim(channel)) as channel,
        nullif(trim(district_id), '') as district_id,
        -- ~100 m: enough for district-level maps, less precise than a home address.
        {{ round_double('latitude', 3) }} as latitude,
        {{ round_double('longitude', 3) }} as longitude,
        lower(trim(request_type)) as request_type,
        lower(trim(regexp_replace(description, '\s+', ' ', 'g'))) as description_normalized,
        lower(trim(status)) as status,
        lower(trim(priority)) as priority,
        submitted_at as submitted_at_utc,
        closed_at as closed_at_utc,
        {{ utc_to_city('submitted_at') }} as submitted_at,
        {{ utc_to_city('closed_at') }} as closed_at,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at,
        nullif(trim(source.service_code), '') is null
            or exists (
                select 1 from services
                where services.service_code = nullif(trim(source.service_code), '')
            ) as is_service_code_known

    from source

),

field_rules as (

    select
        *,
        case
            when request_id is null then 'missing_key'
            when channel is null then 'missing_channel'
            when channel not in {{ accepted_values_sql('channel') }} then 'invalid_channel'
            when request_type is null then 'missing_request_type'
            when request_type not in {{ accepted_values_sql('request_type') }} then 'invalid_request_type'
            when status is null then 'missing_status'
            when status not in {{ accepted_values_sql('status') }} then 'invalid_status'
            when priority is null then 'missing_priority'
            when priority not in {{ accepted_values_sql('priority') }} then 'invalid_priority'
            when submitted_at is null then 'missing_submitted_at'
            when updated_at is null then 'missing_updated_at'
            when submitted_at_utc > {{ latest_possible_utc() }}
                or closed_at_utc > {{ latest_possible_utc() }}
                then 'future_timestamp'
            when closed_at_utc < submitted_at_utc then 'closed_before_submitted'
            when not is_service_code_known then 'unknown_service_code'
        end as field_rule

    from typed

),

previous_submission as (

    select
        *,
        -- Only rows passing the field rules count as an earlier submission.
        lag(submitted_at_utc) over (
            partition by citizen_id, service_code, description_normalized, field_rule is null
            order by submitted_at_utc, request_id
        ) as previous_submitted_at_utc

    from field_rules

),

checked as (

    select
        request_id,
        source_system,
        citizen_id,
        service_code,
        channel,
        district_id,
        latitude,
        longitude,
        request_type,
        status,
        priority,
        submitted_at,
        closed_at,
        updated_at,
        _load_id,
        _loaded_at,
        description_normalized is not null as has_description,
        coalesce(
            field_rule,
            case
                when citizen_id is not null
                    and previous_submitted_at_utc is not null
                    and submitted_at_utc
                        <= {{ dbt.dateadd('minute', var('duplicate_submission_minutes'), 'previous_submitted_at_utc') }}
                    then 'duplicate_submission'
            end
        ) as failed_rule

    from previous_submission

)

select * from checked
