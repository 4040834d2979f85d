-- One row per staged request with everything its fact row needs, in natural keys: lifecycle
-- timestamps and durations, the commitment of its service, reopens, its survey score, the
-- resolved citizen, and the watermarks the incremental fact uses to pick the rows to recompute:
-- `_changed_at` (latest record time of any input) and `_loaded_at` (latest load of any input).
-- Imported open-data requests join as they are: they carry no lifecycle events, surveys,
-- commitments or citizens, so those stay null and closure stands in for resolution.
with

requests as (

    select * from {{ ref('stg_case_system__service_requests') }}

),

lifecycle as (

    select * from {{ ref('int_request_lifecycle') }}

),

surveys as (

    select * from {{ ref('stg_case_system__satisfaction_surveys') }}

),

services as (

    select * from {{ ref('stg_case_system__services') }}

),

identity as (

    select * from {{ ref('int_citizen_identity') }}

),

open_data as (

    select * from {{ ref('stg_open311__service_requests') }}

),

latest_survey as (

    select
        request_id,
        {{ first_value_of('score', 'submitted_at desc nulls last, survey_id desc nulls last') }} as survey_score,
        max(updated_at) as surveys_changed_at,
        max(_loaded_at) as surveys_loaded_at

    from surveys
    group by request_id

),

joined as (

    select
        requests.request_id,
        cast(requests.request_id as varchar) as source_request_id,
        requests.source_system,
        requests.citizen_id,
        identity.resolved_citizen_id,
        requests.is_anonymous,
        requests.service_code,
        -- The department owning the service; for an unknown service, the last one that acted.
        coalesce(services.department_id, lifecycle.last_department_id) as department_id,
        requests.channel,
        requests.district_id,
        requests.request_type,
        requests.status,
        requests.priority,
        requests.status in ('received', 'assigned', 'in_progress', 'reopened') as is_open,
        requests.submitted_at,
        lifecycle.first_response_at,
        lifecycle.resolved_at,
        -- The system keeps closed_at through a reopen: only a closed request has a closure.
        case
            when requests.status = 'closed'
                then coalesce(requests.closed_at, lifecycle.last_closed_event_at)
        end as closed_at,
        services.commitment_hours,
        coalesce(lifecycle.reopen_count, 0) as reopen_count,
        latest_survey.survey_score,
        greatest(
            requests.updated_at,
            lifecycle.events_changed_at,
            latest_survey.surveys_changed_at,
            services.updated_at,
            identity.identity_changed_at
        ) as _changed_at,
        greatest(
            requests._loaded_at,
            lifecycle.events_loaded_at,
            latest_survey.surveys_loaded_at,
            services._loaded_at,
            identity.identity_loaded_at
        ) as _loaded_at

    from requests
    left join lifecycle on requests.request_id = lifecycle.request_id
    left join latest_survey on requests.request_id = latest_survey.request_id
    left join services on requests.service_code = services.service_code
    left join identity on requests.citizen_id = identity.citizen_id

),

open_data_requests as (

    select
        cast(null as bigint) as request_id,
        source_request_id,
        source_system,
        cast(null as bigint) as citizen_id,
        cast(null as bigint) as resolved_citizen_id,
        true as is_anonymous,
        service_code,
        department_id,
        channel,
        district_id,
        request_type,
        status,
        cast(null as varchar) as priority,
        status in ('received', 'assigned', 'in_progress', 'reopened') as is_open,
        submitted_at,
        cast(null as timestamp) as first_response_at,
        cast(null as timestamp) as resolved_at,
        closed_at,
        cast(null as integer) as commitment_hours,
        0 as reopen_count,
        cast(null as integer) as survey_score,
        updated_at as _changed_at,
        _loaded_at

    from open_data

),

all_requests as (

    -- Both list the same columns in the same order.
    select * from joined
    union all
    select * from open_data_requests

),

durations as (

    select
        *,
        {{ hours_between('submitted_at', 'first_response_at') }} as first_response_hours,
        -- Resolved, or closed without a resolved event.
        {{ hours_between('submitted_at', 'coalesce(resolved_at, closed_at)') }} as resolution_hours,
        {{ hours_between('submitted_at', 'closed_at') }} as closure_hours

    from all_requests

),

final as (

    select
        *,
        case
            when resolution_hours is not null and commitment_hours is not null
                then resolution_hours <= commitment_hours
        end as commitment_met

    from durations

)

select * from final
