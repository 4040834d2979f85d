{#- The case system's enumerations (simulator/schema.py). The checked models quarantine rows with
    other values; the YAML accepted_values tests repeat these lists on purpose (tests state the
    contract independently of the code they test). -#}
{% macro accepted_values_sql(name) -%}
    {%- set values = {
        'channel': ['hotline', 'web', 'app', 'service_hall', 'email', 'social_media'],
        'request_type': ['request', 'complaint', 'enquiry', 'suggestion', 'praise'],
        'status': ['received', 'assigned', 'in_progress', 'resolved', 'closed', 'reopened'],
        'priority': ['low', 'normal', 'high', 'urgent'],
        'citizen_kind': ['resident', 'business'],
        'hotline_outcome': ['answered', 'request_created', 'transferred', 'abandoned'],
        'session_event': ['login', 'view_service', 'submit_request', 'check_status', 'logout'],
    }[name] -%}
    ({% for value in values %}'{{ value }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
