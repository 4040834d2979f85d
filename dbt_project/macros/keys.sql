{#- Surrogate key conventions (documented in models/docs.md, "key conventions"):
    - hashed keys: md5 of the natural key parts joined with '-', nulls as '_null_' (the
      dbt_utils.generate_surrogate_key recipe), so a key never depends on load order or run;
    - date_key: integer yyyymmdd; time_of_day_key: the hour 0-23;
    - the unknown member of every dimension is -1: the text '-1' for hashed keys (an md5 is 32 hex
      characters, so it can never collide) and the integer -1 for date and time-of-day keys. -#}
{% macro surrogate_key(fields) -%}
    md5(
        {%- for field in fields %}
        coalesce(cast({{ field }} as varchar), '_null_'){% if not loop.last %} || '-' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{% macro unknown_key() -%}
    '-1'
{%- endmacro %}

{#- A hashed key looked up in a dimension (the joined dimension column): unknown when absent. -#}
{% macro key_or_unknown(dimension_key) -%}
    coalesce({{ dimension_key }}, {{ unknown_key() }})
{%- endmacro %}

{#- Arithmetic on the date parts rather than formatting: the same expression on every adapter. -#}
{% macro date_key(expr) -%}
    {%- set day = 'cast(' ~ expr ~ ' as date)' -%}
    coalesce(
        cast(
            extract(year from {{ day }}) * 10000 + extract(month from {{ day }}) * 100 + extract(day from {{ day }})
            as integer
        ),
        -1
    )
{%- endmacro %}

{#- Whole seconds between the two, in hours (a double on every adapter). -#}
{% macro hours_between(start_expr, end_expr) -%}
    cast({{ dbt.datediff(start_expr, end_expr, 'second') }} / 3600.0 as double precision)
{%- endmacro %}
