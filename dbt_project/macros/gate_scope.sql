{#- The raw rows an incremental drop gate (staging/channel_drops/base) judges in this run.

    First build or --full-refresh: every row. Later runs: the rows loaded after the latest load the
    gate already holds (`_loaded_at_utc`, raw's own load time), plus every earlier row whose key one
    of them delivers again: a key is ranked against all its deliveries (the latest is staged, the
    others are duplicate_key), so its earlier rows are judged again and replace their old verdicts (the
    gate's delete+insert on the row's identity, _source_file and _row_number).

    Drop files are append-only (a file name is loaded once; ingest.drops refuses a changed
    re-send), so no earlier row changes except by erasure, which updates the gates itself
    (macros/erasure.sql). Load times only grow and dbt never runs inside an ingest, so a load is
    never older than one the gate holds. The time is raw's UTC value, not the city-local
    `_loaded_at`: local time repeats an hour when clocks go back. (Load ids cannot order loads:
    the pipeline's are Dagster run ids.) -#}
{% macro gate_scope(source_relation, key_column) -%}
    {%- if is_incremental() %}
    with

    watermark as (

        select coalesce(max(_loaded_at_utc), timestamp '1900-01-01') as loaded_at from {{ this }}

    ),

    new_rows as (

        select * from {{ source_relation }}
        where _loaded_at > (select loaded_at from watermark)

    )

    select * from new_rows
    union all
    select * from {{ source_relation }}
    where _loaded_at <= (select loaded_at from watermark)
        and {{ clean_text(key_column) }} in (select {{ clean_text(key_column) }} from new_rows)
    {%- else %}
    select * from {{ source_relation }}
    {%- endif %}
{%- endmacro %}
