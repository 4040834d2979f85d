-- Gate for raw.satisfaction_surveys (see base_case_system__citizens). The free-text comment never
-- leaves this model (it may hold personal data); only whether there was one. A survey submitted in
-- the future (later than "now" plus var future_tolerance_minutes) is impossible.
with

source as (

    select * from {{ source('case_system', 'satisfaction_surveys') }}

),

typed as (

    select
        survey_id,
        'case_system' as source_system,
        request_id,
        citizen_id,
        cast(score as integer) as score,
        nullif(trim(comment), '') is not null as has_comment,
        {{ utc_to_city('submitted_at') }} as submitted_at,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

),

checked as (

    select
        *,
        case
            when survey_id is null then 'missing_key'
            when request_id is null then 'missing_request_id'
            when score is null then 'missing_score'
            when score not between 1 and 5 then 'score_out_of_range'
            when submitted_at is null then 'missing_submitted_at'
            when updated_at is null then 'missing_updated_at'
            when submitted_at > {{ latest_possible_city() }} then 'future_timestamp'
        end as failed_rule

    from typed

)

select * from checked
