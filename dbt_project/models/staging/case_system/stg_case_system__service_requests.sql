-- The rows of raw.service_requests that pass the hard rules (base_case_system__service_requests).
with

checked as (

    select * from {{ ref('base_case_system__service_requests') }}

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
