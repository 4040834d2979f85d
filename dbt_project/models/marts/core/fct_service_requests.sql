-- One row per request, an accumulating snapshot: the row is rewritten as the request moves
-- through its lifecycle. Incremental (delete+insert on service_request_key): a run recomputes the
-- requests whose inputs (request, events, survey, service, citizen registrations) changed in the
-- change window (macro in_change_window), so a late event rewrites its request's row.
{{
    config(
        materialized='incremental',
        unique_key='service_request_key',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        tags=['partitioned'],
        post_hook="{{ record_change_watermark() }}",
    )
}}

with

requests as (

    select * from {{ ref('int_service_requests_enriched') }}
    {% if is_incremental() %}
    where {{ in_change_window('_changed_at', '_loaded_at') }}
    {% endif %}

),

dates as (

    select * from {{ ref('dim_date') }}

),

times_of_day as (

    select * from {{ ref('dim_time_of_day') }}

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

final as (

    select
        {{ surrogate_key(['requests.source_system', 'requests.source_request_id']) }} as service_request_key,
        requests.request_id,
        requests.source_request_id,
        requests.source_system,
        -- The citizen's version in force when the request was submitted.
        {{ key_or_unknown('citizens.citizen_key') }} as citizen_key,
        {{ key_or_unknown('services.service_key') }} as service_key,
        {{ key_or_unknown('departments.department_key') }} as department_key,
        {{ key_or_unknown('channels.channel_key') }} as channel_key,
        {{ key_or_unknown('districts.district_key') }} as district_key,
        coalesce(submitted_on.date_key, -1) as submitted_date_key,
        coalesce(submitted_hour.time_of_day_key, -1) as submitted_time_of_day_key,
        coalesce(first_response_on.date_key, -1) as first_response_date_key,
        coalesce(resolved_on.date_key, -1) as resolved_date_key,
        coalesce(closed_on.date_key, -1) as closed_date_key,
        requests.citizen_id,
        requests.resolved_citizen_id,
        requests.is_anonymous,
        requests.request_type,
        requests.status,
        requests.priority,
        requests.is_open,
        requests.submitted_at,
        requests.first_response_at,
        requests.resolved_at,
        requests.closed_at,
        requests.first_response_hours,
        requests.resolution_hours,
        requests.closure_hours,
        requests.commitment_hours,
        requests.commitment_met,
        requests.reopen_count,
        requests.survey_score,
        requests._changed_at,
        requests._loaded_at

    from requests
    left join citizens
        on requests.resolved_citizen_id = citizens.citizen_id
        and requests.submitted_at >= citizens.valid_from
        and requests.submitted_at < citizens.valid_to
    left join services on requests.service_code = services.service_code
    left join departments on requests.department_id = departments.department_id
    left join channels on requests.channel = channels.channel
    left join districts on requests.district_id = districts.district_id
    left join dates as submitted_on on cast(requests.submitted_at as date) = submitted_on.date_day
    left join times_of_day as submitted_hour on extract(hour from requests.submitted_at) = submitted_hour.hour
    left join dates as first_response_on on cast(requests.first_response_at as date) = first_response_on.date_day
    left join dates as resolved_on on cast(requests.resolved_at as date) = resolved_on.date_day
    left join dates as closed_on on cast(requests.closed_at as date) = closed_on.date_day

)

select * from final
