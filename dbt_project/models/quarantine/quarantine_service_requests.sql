-- Rows of raw.service_requests that failed a hard rule of base_case_system__service_requests, with
-- the rule, so raw.service_requests = stg + quarantine, row for row. Rebuilt on every run: a row
-- fixed at the source leaves quarantine on the next run. Personal fields appear only as pseudonyms.
{{ config(alias='service_requests') }}

with

checked as (

    select * from {{ ref('base_case_system__service_requests') }}

),

failed as (

    select
        request_id,
        source_system,
        citizen_id,
        service_code,
        channel,
        district_id,
        request_type,
        has_description,
        status,
        priority,
        submitted_at,
        closed_at,
        updated_at,
        failed_rule,
        _load_id,
        _loaded_at,
        {{ run_started_at_city() }} as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
