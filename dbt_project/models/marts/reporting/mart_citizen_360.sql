-- One row per resolved citizen (duplicate registrations merged into their survivor): current
-- profile, contact behaviour across channels, requests, satisfaction. Feeds segmentation and the
-- ML features. Recency and tenure are measured at the data's as-of date (int_data_as_of), not the
-- wall clock, so a rebuild of the same data gives the same row.
with

citizens as (

    select * from {{ ref('dim_citizen') }}
    where is_current and is_survivor and citizen_id <> -1

),

channels as (

    select * from {{ ref('dim_channel') }}

),

services as (

    select * from {{ ref('dim_service') }}

),

contacts as (

    select fct_contacts.*, channels.is_digital
    from {{ ref('fct_contacts') }} as fct_contacts
    inner join channels on fct_contacts.channel_key = channels.channel_key
    where fct_contacts.resolved_citizen_id is not null

),

requests as (

    select fct_service_requests.*, services.category
    from {{ ref('fct_service_requests') }} as fct_service_requests
    inner join services on fct_service_requests.service_key = services.service_key
    where fct_service_requests.resolved_citizen_id is not null

),

surveys as (

    select * from {{ ref('fct_satisfaction') }}
    where resolved_citizen_id is not null

),

as_of as (

    select * from {{ ref('int_data_as_of') }}

),

contact_stats as (

    select
        resolved_citizen_id,
        min(contacted_at) as first_contact_at,
        max(contacted_at) as last_contact_at,
        count(*) as contacts_total,
        count(*) filter (where channel = 'hotline') as contacts_hotline,
        count(*) filter (where channel = 'web') as contacts_web,
        count(*) filter (where channel = 'app') as contacts_app,
        count(*) filter (where channel = 'service_hall') as contacts_service_hall,
        count(*) filter (where channel = 'email') as contacts_email,
        count(*) filter (where channel = 'social_media') as contacts_social_media,
        count(distinct channel) as channels_used,
        {{ mean('case when is_digital then 1.0 else 0.0 end') }} as digital_share

    from contacts
    group by resolved_citizen_id

),

request_stats as (

    select
        resolved_citizen_id,
        count(*) as requests_total,
        count(*) filter (where request_type = 'complaint') as complaints_total,
        count(*) filter (where reopen_count > 0) as reopened_requests,
        count(*) filter (where is_open) as open_requests

    from requests
    group by resolved_citizen_id

),

category_counts as (

    select
        resolved_citizen_id,
        category,
        count(*) as requests,
        {{ ratio('count(*)', 'sum(count(*)) over (partition by resolved_citizen_id)') }} as share

    from requests
    group by resolved_citizen_id, category

),

category_stats as (

    select
        resolved_citizen_id,
        -- Ties go to the alphabetically first category, so the value is deterministic.
        {{ first_value_of('category', 'requests desc nulls last, category') }} as top_category,
        '{' || string_agg(
            cast(to_json(category) as varchar) || ':' || {{ double_to_text(round_double('share', 4)) }}, ','
            order by category
        ) || '}' as category_mix

    from category_counts
    group by resolved_citizen_id

),

survey_stats as (

    select resolved_citizen_id, {{ mean('score') }} as avg_satisfaction
    from surveys
    group by resolved_citizen_id

),

final as (

    select
        citizens.citizen_id,
        citizens.citizen_key as current_citizen_key,
        citizens.kind,
        citizens.district_id,
        citizens.consent_analytics,
        citizens.registered_on,
        contact_stats.first_contact_at,
        contact_stats.last_contact_at,
        -- bigint on every adapter (PostgreSQL's date difference is an integer).
        cast({{ dbt.datediff(
            'least(citizens.registered_on, cast(contact_stats.first_contact_at as date))',
            'as_of.as_of_date',
            'day'
        ) }} as bigint) as tenure_days,
        cast({{ dbt.datediff('cast(contact_stats.last_contact_at as date)', 'as_of.as_of_date', 'day') }} as bigint)
            as recency_days,
        coalesce(contact_stats.contacts_total, 0) as contacts_total,
        coalesce(request_stats.requests_total, 0) as requests_total,
        coalesce(request_stats.complaints_total, 0) as complaints_total,
        {{ ratio('request_stats.complaints_total', 'request_stats.requests_total') }} as complaint_share,
        coalesce(contact_stats.contacts_hotline, 0) as contacts_hotline,
        coalesce(contact_stats.contacts_web, 0) as contacts_web,
        coalesce(contact_stats.contacts_app, 0) as contacts_app,
        coalesce(contact_stats.contacts_service_hall, 0) as contacts_service_hall,
        coalesce(contact_stats.contacts_email, 0) as contacts_email,
        coalesce(contact_stats.contacts_social_media, 0) as contacts_social_media,
        coalesce(contact_stats.channels_used, 0) as channels_used,
        contact_stats.digital_share,
        survey_stats.avg_satisfaction,
        coalesce(request_stats.reopened_requests, 0) as reopened_requests,
        {{ ratio('request_stats.reopened_requests', 'request_stats.requests_total') }} as reopen_share,
        coalesce(request_stats.open_requests, 0) as open_requests,
        category_stats.top_category,
        category_stats.category_mix,
        as_of.as_of_date

    from citizens
    cross join as_of
    left join contact_stats on citizens.citizen_id = contact_stats.resolved_citizen_id
    left join request_stats on citizens.citizen_id = request_stats.resolved_citizen_id
    left join category_stats on citizens.citizen_id = category_stats.resolved_citizen_id
    left join survey_stats on citizens.citizen_id = survey_stats.resolved_citizen_id

)

select * from final
