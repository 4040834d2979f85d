-- What the status events say about each request: first response, resolution (unless work started
-- again since), reopens. Events are taken in event_at order (when it happened), not by when they
-- were recorded, so a late-recorded event lands in its true place.
with

events as (

    select * from {{ ref('stg_case_system__request_events') }}

),

ordered as (

    select
        *,
        lag(event_type) over (partition by request_id order by event_at, event_id) as previous_event_type

    from events

),

per_request as (

    select
        request_id,
        -- The first thing that happened after the request was received.
        min(event_at) filter (where event_type <> 'received') as first_response_at,
        max(event_at) filter (where event_type = 'resolved') as last_resolved_at,
        -- Work (re)started: a resolution before it no longer stands. A reopen shows as 'reopened',
        -- but that event can be recorded late, after the 'in_progress' that follows it.
        max(event_at) filter (where event_type in ('assigned', 'in_progress', 'reopened')) as last_work_at,
        max(event_at) filter (where event_type = 'closed') as last_closed_event_at,
        -- A reopen is leaving a resolved or closed state, so a late 'reopened' event does not count
        -- the same reopen twice.
        count(*) filter (
            where previous_event_type in ('resolved', 'closed')
                and event_type in ('reopened', 'assigned', 'in_progress')
        ) as reopen_count,
        count(*) as event_count,
        {{ first_value_of(
            'department_id', 'event_at desc nulls last, event_id desc nulls last', 'department_id is not null'
        ) }} as last_department_id,
        max(recorded_at) as events_changed_at,
        max(_loaded_at) as events_loaded_at

    from ordered
    group by request_id

),

final as (

    select
        *,
        case
            when last_work_at is null or last_resolved_at > last_work_at then last_resolved_at
        end as resolved_at

    from per_request

)

select * from final
