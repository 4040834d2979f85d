-- The rows of raw.satisfaction_surveys that pass the hard rules
-- (base_case_system__satisfaction_surveys).
with

checked as (

    select * from {{ ref('base_case_system__satisfaction_surveys') }}

),

passed as (

    select
        survey_id,
        source_system,
        request_id,
        citizen_id,
        score,
        has_comment,
        submitted_at,
        updated_at,
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
