-- The rows of raw.service_requests that pass the hard rules (int_service_requests_checked).
with

checked as (

    select * from {{ ref('int_service_requests_checked') }}

),

passed as (

    select
        request_id,
        source_system,
        citizen_id,
        citizen_id is null as is_anonymous,
        service_code,
        channel,
        district_id,
        latitude,
        longitude,
        request_type,
        has_description,
        status,
        priority,
        submitted_at,
        closed_at,
        updated_at,
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
