{#- A source table, or an empty relation of the declared columns while it does not exist yet.
    Open-data imports create raw.open311_requests on their first import; until a city is imported
    the models over it must build empty rather than fail. source() is still called, so the
    lineage from the source is kept. -#}
{% macro relation_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        (select
            {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ name }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        where false)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
