{#- The input rows an incremental fact recomputes. Each fact row carries two watermarks:
    `_changed_at`, the latest source record time of its inputs (case-system updated_at, the event
    time of a drop row; business time, city-local), and `_loaded_at`, the latest time ingestion
    landed one of its inputs (warehouse time, city-local).

    - vars min_date / max_date (ISO dates, [min, max) in var partition_timezone, as Dagster's daily
      partitions pass them): rows whose inputs were recorded inside that window, so re-running a
      partition recomputes that day's changes;
    - no vars (catch-up): rows with an input landed at or after the latest `_loaded_at` already in
      the table. Load time only grows, whatever business time the data describes, so a late file
      or a backfilled history is never skipped.
    Recomputing a row is idempotent (delete+insert on the fact's key), so overlap is harmless. -#}
{% macro in_change_window(changed_at, loaded_at) -%}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
    {%- if min_date or max_date -%}
        ({{ changed_at }} >= {{ partition_day_start(min_date) if min_date else "timestamp '1900-01-01'" }}
         and {{ changed_at }} < {{ partition_day_start(max_date) if max_date else "timestamp '9999-12-31'" }})
    {%- else -%}
        ({{ loaded_at }} >= (select coalesce(max(_loaded_at), timestamp '1900-01-01') from {{ this }}))
    {%- endif -%}
{%- endmacro %}
