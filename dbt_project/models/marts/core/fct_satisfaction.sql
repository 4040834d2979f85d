-- One row per satisfaction survey, with the request's service, department, channel and district
-- and the citizen who answered. Incremental like fct_service_requests: a survey is recomputed
-- when it or any input of its request changed in the change window.
{{
    config(
        materialized='incremental',
        unique_key='survey_key',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        tags=['partitioned'],
        post_hook="{{ record_change_watermark() }}",
    )
}}

with

surveys as (

    select * from {{ ref('stg_case_system__satisfaction_surveys') }}

),

requests as (

    select * from {{ ref('int_service_requests_enriched') }}

),

identity as (

    select * from {{ ref('int_citizen_identity') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

citizens as (

    select * from {{ ref('dim_citizen') }}

),

services as (

    select * from {{ ref('dim_service') }}

),

departments as (

    select * from {{ ref('dim_department') }}

),

channels as (

    select * from {{ ref('dim_channel') }}

),

districts as (

    select * from {{ ref('dim_district') }}

),

joined as (

    select
        surveys.survey_id,
        surveys.source_system,
        surveys.request_id,
        surveys.citizen_id,
        surveys.score,
        surveys.has_comment,
        surveys.submitted_at,
        surveys.updated_at,
        surveys._load_id,
        -- The respondent; the survey's own citizen_id wins over the request's.
        coalesce(identity.resolved_citizen_id, requests.resolved_citizen_id) as resolved_citizen_id,
        requests.service_code,
        requests.department_id,
        requests.channel,
        requests.district_id,
        greatest(surveys.updated_at, requests._changed_at, identity.identity_changed_at) as _changed_at,
        greatest(surveys._loaded_at, requests._loaded_at, identity.identity_loaded_at) as _loaded_at

    from surveys
    left join requests on surveys.request_id = requests.request_id
    left join identity on surveys.citizen_id = identity.citizen_id

),

changed as (

    select * from joined
    {% if is_incremental() %}
    where {{ in_change_window('_changed_at', '_loaded_at') }}
    {% endif %}

),

final as (

    select
        {{ surrogate_key(['changed.source_system', 'changed.survey_id']) }} as survey_key,
        changed.survey_id,
        changed.request_id,
        changed.source_system,
        {{ key_or_unknown('citizens.citizen_key') }} as citizen_key,
        {{ key_or_unknown('services.service_key') }} as service_key,
        {{ key_or_unknown('departments.department_key') }} as department_key,
        {{ key_or_unknown('channels.channel_key') }} as channel_key,
        {{ key_or_unknown('districts.district_key') }} as district_key,
        coalesce(submitted_on.date_key, -1) as submitted_date_key,
        changed.resolved_citizen_id,
        changed.submitted_at,
        changed.score,
        changed.score >= 4 as is_satisfied,
        changed.score <= 2 as is_dissatisfied,
        changed.has_comment,
        changed._changed_at,
        changed._loaded_at

    from changed
    left join citizens
        on changed.resolved_citizen_id = citizens.citizen_id
        and changed.submitted_at >= citizens.valid_from
        and changed.submitted_at < citizens.valid_to
    left join services on changed.service_code = services.service_code
    left join departments on changed.department_id = departments.department_id
    left join channels on changed.channel = channels.channel
    left join districts on changed.district_id = districts.district_id
    left join dates as submitted_on on cast(changed.submitted_at as date) = submitted_on.date_day

)

select * from final
