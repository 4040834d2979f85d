{#- Models land in exactly the schema their folder names (staging, intermediate, marts, snapshots,
    quarantine), not dbt's default "<target schema>_<custom schema>", so the schema names are a
    stable contract for BI tools, the ML code and the example queries. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
