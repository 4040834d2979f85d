{#- One time zone past raw: naive city-local time (var city_timezone). These macros are the only
    places that know how each source stamps its times. -#}

{#- The case system and the ingestion stamp naive UTC. -#}
{% macro utc_to_city(expr) -%}
    (cast({{ expr }} as timestamp) at time zone 'UTC') at time zone '{{ var("city_timezone") }}'
{%- endmacro %}

{#- A timestamp with time zone (an ISO 8601 string with an offset, cast to timestamptz). -#}
{% macro tz_to_city(expr) -%}
    ({{ expr }}) at time zone '{{ var("city_timezone") }}'
{%- endmacro %}

{#- The start of a day of the partition time zone, as a city-local timestamp. -#}
{% macro partition_day_start(iso_date) -%}
    {%- set day = modules.datetime.date.fromisoformat(iso_date | string) -%}
    ((timestamp '{{ day.isoformat() }} 00:00:00' at time zone '{{ var("partition_timezone") }}')
        at time zone '{{ var("city_timezone") }}')
{%- endmacro %}
