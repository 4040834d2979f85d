-- Every raw row of a quarantined entity is either staged or quarantined, never both, never
-- neither: the row counts add up exactly. Returns the entities where they do not.
{% set entities = [
    ('case_system', 'citizens', 'stg_case_system__citizens', 'quarantine_citizens'),
    ('case_system', 'service_requests', 'stg_case_system__service_requests', 'quarantine_service_requests'),
    ('case_system', 'request_events', 'stg_case_system__request_events', 'quarantine_request_events'),
    ('case_system', 'satisfaction_surveys', 'stg_case_system__satisfaction_surveys', 'quarantine_satisfaction_surveys'),
    ('channel_drops', 'hotline_calls', 'stg_channel_drops__hotline_calls', 'quarantine_hotline_calls'),
    ('channel_drops', 'web_events', 'stg_channel_drops__web_events', 'quarantine_web_events'),
    ('channel_drops', 'app_events', 'stg_channel_drops__app_events', 'quarantine_app_events'),
] %}

with

counts as (
    {% for source_name, table, staged, quarantined in entities %}
    select
        '{{ table }}' as entity,
        (select count(*) from {{ source(source_name, table) }}) as raw_rows,
        (select count(*) from {{ ref(staged) }}) as staged_rows,
        (select count(*) from {{ ref(quarantined) }}) as quarantined_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select *
from counts
where raw_rows <> staged_rows + quarantined_rows
