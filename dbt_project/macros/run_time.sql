{#- When this dbt invocation started, as a city-local timestamp (dbt's run_started_at is UTC). -#}
{% macro run_started_at_city() -%}
    {{ utc_to_city("timestamp '" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ "'") }}
{%- endmacro %}
