{#- "Now" for this dbt invocation, as a naive UTC timestamp literal: var `run_now_utc`
    ('YYYY-MM-DD HH:MM:SS', UTC) when given, so tests can pin it, else when the invocation started
    (dbt's run_started_at). Every rule and column that means "now" goes through these macros. -#}
{% macro run_started_at_utc() -%}
    {%- set pinned = var('run_now_utc', none) -%}
    {%- if pinned -%}
        timestamp '{{ pinned }}'
    {%- else -%}
        timestamp '{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}'
    {%- endif -%}
{%- endmacro %}

{#- When this dbt invocation started, as a city-local timestamp (dbt's run_started_at is UTC). -#}
{% macro run_started_at_city() -%}
    {{ utc_to_city(run_started_at_utc()) }}
{%- endmacro %}

{#- The latest business timestamp a row may carry: "now" plus the clock-skew tolerance (var
    future_tolerance_minutes), in UTC or city-local time. Later is an impossible, future timestamp. -#}
{% macro latest_possible_utc() -%}
    ({{ dbt.dateadd('minute', var('future_tolerance_minutes'), run_started_at_utc()) }})
{%- endmacro %}

{% macro latest_possible_city() -%}
    ({{ dbt.dateadd('minute', var('future_tolerance_minutes'), run_started_at_city()) }})
{%- endmacro %}
