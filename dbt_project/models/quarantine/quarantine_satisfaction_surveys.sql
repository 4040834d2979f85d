-- Rows of raw.satisfaction_surveys that failed a hard rule of
-- base_case_system__satisfaction_surveys, with the rule, so raw.satisfaction_surveys = stg +
-- quarantine, row for row. Rebuilt on every run: a row fixed at the source leaves quarantine on the
-- next run. Personal fields appear only as pseudonyms.
{{ config(alias='satisfaction_surveys') }}

with

checked as (

    select * from {{ ref('base_case_system__satisfaction_surveys') }}

),

failed as (

    select
        survey_id,
        source_system,
        request_id,
        citizen_id,
        score,
        has_comment,
        submitted_at,
        updated_at,
        failed_rule,
        _load_id,
        _loaded_at,
        {{ run_started_at_city() }} as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
