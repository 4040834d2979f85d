{#- The sessions (channel, session_id) an incremental run of int_digital_sessions recomputes: those
    with a gate row loaded after the newest load the model holds (`_loaded_at_utc`, raw's UTC load
    time, as the gates' own watermark, macro gate_scope), plus the sessions of every earlier
    delivery of an event those rows deliver again. The gates judge such earlier deliveries again
    (one becomes duplicate_key), and a corrected resend may name another session, which then loses
    the event. Read from the gates, not the staging views, because those hold the staged rows only:
    a rejected row still changes its session.

    A table built before the model kept `_loaded_at_utc` has no watermark: every session is
    recomputed once, and the column added (on_schema_change append_new_columns). -#}
{% macro digital_sessions_touched() -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if '_loaded_at_utc' in columns -%}
        {%- set watermark = "(select coalesce(max(_loaded_at_utc), timestamp '1900-01-01') from " ~ this ~ ")" -%}
    {%- else -%}
        {%- set watermark = "timestamp '1900-01-01'" -%}
    {%- endif %}
    with

    gated as (

        select channel, session_id, event_id, _loaded_at_utc from {{ ref('base_channel_drops__web_events') }}
        union all
        select channel, session_id, event_id, _loaded_at_utc from {{ ref('base_channel_drops__app_events') }}

    ),

    new_rows as (

        select * from gated where _loaded_at_utc > {{ watermark }}

    ),

    sessions as (

        select channel, session_id from new_rows
        union
        select channel, session_id from gated
        where event_id in (select event_id from new_rows where event_id is not null)

    )

    select channel, session_id from sessions where session_id is not null
{%- endmacro %}

{#- Pre-hook of int_digital_sessions: remove the sessions this run recomputes. delete+insert alone
    would keep a session none of whose events is staged any more (it is in no new row). -#}
{% macro delete_touched_digital_sessions() -%}
    {%- if is_incremental() %}
    delete from {{ this }}
    where exists (
        select 1
        from ({{ digital_sessions_touched() }}) as touched
        where touched.channel = {{ this }}.channel and touched.session_id = {{ this }}.session_id
    )
    {%- endif %}
{%- endmacro %}
