{#- SQL that DuckDB and PostgreSQL spell differently, where dbt has no cross-database macro of its
    own (dbt.datediff, dbt.dateadd, dbt.date_trunc, ... are used directly in the models). Each
    macro dispatches on the adapter: the duckdb__ variant is the SQL the warehouse always ran, so
    the DuckDB build is unchanged; the postgres__ variant returns the same values on PostgreSQL
    (the tests compare the marts of both). PostgreSQL helper functions come from
    postgres_setup.sql (on-run-start).

    Plain SQL both accept is written directly in the models instead: extract(... from ...), explicit
    column lists and group by columns (no `* exclude`, `group by all`, `union all by name`), `nulls
    last` spelled out on descending orders, double precision rather than double. -#}

{#- The whole text matches the regular expression (pattern: raw regex text, no quotes). -#}
{% macro matches_fully(expr, pattern) -%}
    {{ return(adapter.dispatch('matches_fully', 'cirm')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__matches_fully(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__matches_fully(expr, pattern) -%}
    ({{ expr }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}

{#- A cast that yields null instead of failing on text that does not parse. -#}
{% macro safe_cast_text(expr, type) -%}
    {{ return(adapter.dispatch('safe_cast_text', 'cirm')(expr, type)) }}
{%- endmacro %}

{% macro duckdb__safe_cast_text(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- PostgreSQL reads far more as a timestamp than DuckDB does ('now', 'epoch', 'Jan 5 2024'): only
    the ISO 8601 shapes DuckDB accepts reach the cast, so both warehouses parse the same texts. -#}
{% macro postgres__safe_cast_text(expr, type) -%}
    {%- set call = target.schema ~ '.cirm_try_cast(cast(' ~ expr ~ ' as text), cast(null as ' ~ type ~ '))' -%}
    {%- if type | lower in ('timestamp', 'timestamptz', 'date') -%}
        (case
            when {{ expr }} ~ '^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?|UTC)?\s*$'
                then {{ call }}
        end)
    {%- else -%}
        {{ call }}
    {%- endif -%}
{%- endmacro %}

{#- first(expr order by ...) [filter (where ...)]: the value of the first row in that order. -#}
{% macro first_value_of(expr, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_value_of', 'cirm')(expr, order_by, where)) }}
{%- endmacro %}

{% macro duckdb__first_value_of(expr, order_by, where) -%}
    first({{ expr }} order by {{ order_by }}){% if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro postgres__first_value_of(expr, order_by, where) -%}
    (array_agg({{ expr }} order by {{ order_by }}){% if where %} filter (where {{ where }}){% endif %})[1]
{%- endmacro %}

{#- The value of `expr` on the row with the largest `by`; rows where either is null do not count. -#}
{% macro arg_max(expr, by) -%}
    {{ return(adapter.dispatch('arg_max', 'cirm')(expr, by)) }}
{%- endmacro %}

{% macro duckdb__arg_max(expr, by) -%}
    arg_max({{ expr }}, {{ by }})
{%- endmacro %}

{% macro postgres__arg_max(expr, by) -%}
    (array_agg({{ expr }} order by {{ by }} desc) filter (where {{ expr }} is not null and {{ by }} is not null))[1]
{%- endmacro %}

{#- Continuous (interpolated) percentile of a numeric column, fraction in [0, 1]; median = 0.5. -#}
{% macro percentile(expr, fraction) -%}
    {{ return(adapter.dispatch('percentile', 'cirm')(expr, fraction)) }}
{%- endmacro %}

{% macro duckdb__percentile(expr, fraction) -%}
    {%- if fraction == 0.5 -%}
        median({{ expr }})
    {%- else -%}
        quantile_cont({{ expr }}, {{ fraction }})
    {%- endif -%}
{%- endmacro %}

{% macro postgres__percentile(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}

{#- Mean as a double: PostgreSQL's avg of integers and decimals is an arbitrary-precision numeric. -#}
{% macro mean(expr) -%}
    {{ return(adapter.dispatch('mean', 'cirm')(expr)) }}
{%- endmacro %}

{% macro duckdb__mean(expr) -%}
    avg({{ expr }})
{%- endmacro %}

{% macro postgres__mean(expr) -%}
    avg(cast({{ expr }} as double precision))
{%- endmacro %}

{#- A ratio as a double, whatever the operand types (PostgreSQL divides integers to an integer). -#}
{% macro ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double precision) / {{ denominator }})
{%- endmacro %}

{#- Integer division (truncating). -#}
{% macro int_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('int_div', 'cirm')(numerator, denominator)) }}
{%- endmacro %}

{% macro duckdb__int_div(numerator, denominator) -%}
    {{ numerator }} // {{ denominator }}
{%- endmacro %}

{% macro postgres__int_div(numerator, denominator) -%}
    ({{ numerator }} / {{ denominator }})
{%- endmacro %}

{#- A double rounded to `digits` decimals, still a double (PostgreSQL rounds only numerics). -#}
{% macro round_double(expr, digits) -%}
    {{ return(adapter.dispatch('round_double', 'cirm')(expr, digits)) }}
{%- endmacro %}

{% macro duckdb__round_double(expr, digits) -%}
    round({{ expr }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_double(expr, digits) -%}
    cast(round(cast({{ expr }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}

{#- A double as text the way DuckDB writes it (shortest round trip, '1.0' for whole numbers), so
    text built from numbers (mart_citizen_360.category_mix) reads the same in both warehouses. -#}
{% macro double_to_text(expr) -%}
    {{ return(adapter.dispatch('double_to_text', 'cirm')(expr)) }}
{%- endmacro %}

{% macro duckdb__double_to_text(expr) -%}
    cast({{ expr }} as varchar)
{%- endmacro %}

{#- PostgreSQL writes the shortest round trip too (extra_float_digits >= 1, the default), but
    whole numbers without '.0'. -#}
{% macro postgres__double_to_text(expr) -%}
    (case
        when cast({{ expr }} as text) ~ '^-?[0-9]+$' then cast({{ expr }} as text) || '.0'
        else cast({{ expr }} as text)
    end)
{%- endmacro %}

{#- English day and month names ('Monday', 'January'). -#}
{% macro day_name(expr) -%}
    {{ return(adapter.dispatch('day_name', 'cirm')(expr)) }}
{%- endmacro %}

{% macro duckdb__day_name(expr) -%}
    dayname({{ expr }})
{%- endmacro %}

{% macro postgres__day_name(expr) -%}
    to_char({{ expr }}, 'FMDay')
{%- endmacro %}

{% macro month_name(expr) -%}
    {{ return(adapter.dispatch('month_name', 'cirm')(expr)) }}
{%- endmacro %}

{% macro duckdb__month_name(expr) -%}
    monthname({{ expr }})
{%- endmacro %}

{% macro postgres__month_name(expr) -%}
    to_char({{ expr }}, 'FMMonth')
{%- endmacro %}

{#- One row per day from first_day to last_day (dates, inclusive): a set-returning select expression. -#}
{% macro days_from_to(first_day, last_day) -%}
    {{ return(adapter.dispatch('days_from_to', 'cirm')(first_day, last_day)) }}
{%- endmacro %}

{% macro duckdb__days_from_to(first_day, last_day) -%}
    cast(unnest(generate_series({{ first_day }}, {{ last_day }}, interval 1 day)) as date)
{%- endmacro %}

{#- Timestamps, not dates: generate_series over dates would pick the time-zone-aware variant. -#}
{% macro postgres__days_from_to(first_day, last_day) -%}
    cast(generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval '1 day') as date)
{%- endmacro %}
