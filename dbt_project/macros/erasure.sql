{#- Erasure on request (right to be forgotten): on-run-start of every dbt invocation.

    `cirm erase --citizen ID` records ids in meta.erasure_requests (privacy/erasure.py). Each dbt
    invocation of the pipeline starts by removing those citizens from every layer that outlives a
    run: raw (ingested again only when the source changes), the incremental gates of the drop
    channels (staging/channel_drops/base, whose staging and quarantine views follow) and the
    digital sessions rolled up from them (intermediate.int_digital_sessions), snapshots
    (type-2 history), the incremental facts, the per-citizen marts and the ML outputs. The other
    staging, intermediate and quarantine models are rebuilt from the purged raw tables, and the
    serving copy from the marts, so they follow. Running on every invocation (not once) is what
    keeps a later ingest from bringing a citizen back: ingestion runs before the staging build,
    whose own on-run-start purges raw again.

    Order, in one transaction: learn the citizen's pseudonyms from raw.citizens (the clear values
    are about to go, and later drop files must still be matched), anonymize their surveys and
    requests, delete the citizen, null their phone / email / id in the channel drops, delete their
    snapshot history and per-citizen rows, anonymize the facts, stamp the requests as applied.

    A no-op (one catalog lookup) without requests. Tables that do not exist yet are skipped. Uses
    the staging macros (normalize_*, pseudonymize, clean_text, drop_integer), so the pseudonyms
    match staging's exactly.

    On PostgreSQL (the published copy, pg_warehouse/) there is nothing to purge: its raw tables and
    snapshot history are mirrored from the DuckDB warehouse, whose own on-run-start has already
    purged them; every model is rebuilt from them (pg_warehouse.build runs a full refresh) and the
    ML outputs are copied again, so an erased citizen leaves the copy with the next publish. -#}
{% macro apply_erasures() %}
    {{ return(adapter.dispatch('apply_erasures', 'cirm')()) }}
{% endmacro %}

{% macro postgres__apply_erasures() %}
    {{ return('') }}
{% endmacro %}

{% macro duckdb__apply_erasures() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set requests_relation = adapter.get_relation(
        database=target.database, schema='meta', identifier='erasure_requests') -%}
    {%- set pseudonyms_relation = adapter.get_relation(
        database=target.database, schema='meta', identifier='erasure_pseudonyms') -%}
    {%- if requests_relation is none or pseudonyms_relation is none -%}
        {%- do adapter.commit() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tables = _erasure_tables() -%}
    {%- set state = run_query(_erasure_state_sql(requests_relation, tables)).rows[0] -%}
    {#- The catalog lookups leave dbt's read transaction open on this connection; the purge below
        runs as a transaction of its own. -#}
    {%- do adapter.commit() -%}
    {%- if state[0] == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {#- Drop rows loaded before the last pass were checked against every pseudonym known then; only
        a new request or a citizen (re)appearing in raw.citizens (new pseudonyms) needs a full scan. -#}
    {%- set checked_through = none if state[1] else state[2] -%}
    {{ return(_erasure_sql(requests_relation, pseudonyms_relation, tables, checked_through)) }}
{% endmacro %}

{#- The existing tables the erasure touches: {'schema.table': [column, ...]}, from one catalog query. -#}
{% macro _erasure_tables() %}
    {%- set result = run_query(
        "select c.table_schema || '.' || c.table_name, string_agg(c.column_name, ',' order by c.ordinal_position)
         from information_schema.columns as c
         inner join information_schema.tables as t
             on t.table_catalog = c.table_catalog
             and t.table_schema = c.table_schema
             and t.table_name = c.table_name
         where c.table_catalog = current_database()
           and c.table_schema in ('raw', 'staging', 'intermediate', 'snapshots', 'marts', 'ml')
           and t.table_type = 'BASE TABLE'
         group by c.table_schema, c.table_name") -%}
    {%- set tables = {} -%}
    {%- for row in result.rows -%}
        {%- do tables.update({row[0]: row[1].split(',')}) -%}
    {%- endfor -%}
    {{ return(tables) }}
{% endmacro %}

{#- One row: how many requests; whether a full scan of the drops is needed; the last pass. -#}
{% macro _erasure_state_sql(requests_relation, tables) %}
    select
        count(*),
        count(*) > count(last_applied_at)
        {%- if 'raw.citizens' in tables %}
            or exists (
                select 1 from raw.citizens
                where citizen_id in (select citizen_id from {{ requests_relation }})
            )
        {%- endif %},
        min(last_applied_at)
    from {{ requests_relation }}
{% endmacro %}

{% macro _erasure_pseudonyms(pseudonyms_relation, kind) -%}
    (select pseudonym from {{ pseudonyms_relation }} where kind = '{{ kind }}')
{%- endmacro %}

{#- Free text that may name the citizen becomes a placeholder (privacy.erasure.ERASED_TEXT), not
    null, so "had a description / comment" stays true; missing or blank text stays as it was. -#}
{% macro _erased_text(column) -%}
    case when nullif(trim({{ column }}), '') is null then {{ column }} else '[erased]' end
{%- endmacro %}

{% macro _erasure_sql(requests_relation, pseudonyms_relation, tables, checked_through) %}
    {%- set ids = '(select citizen_id from ' ~ requests_relation ~ ')' -%}
    {%- set now = "cast(timezone('UTC', now()) as timestamp)" -%}
    {%- set new_rows -%}
        {%- if checked_through is not none %} and _loaded_at > timestamp '{{ checked_through }}'{% endif -%}
    {%- endset -%}

begin transaction;

{#- found_at: the warehouse (again) held clear data of the citizen, so its file needs a rewrite
    (`cirm erase --compact`) for the removed bytes to go too. -#}
{%- set holders = [] -%}
{%- for table in ['raw.citizens', 'raw.service_requests', 'raw.satisfaction_surveys'] if table in tables -%}
    {%- do holders.append('citizen_id in (select citizen_id from ' ~ table ~ ')') -%}
{%- endfor %}
{%- if holders %}
update {{ requests_relation }} set found_at = {{ now }}
where {{ holders | join(' or ') }};
{%- endif %}

{%- if 'raw.citizens' in tables %}
insert into {{ pseudonyms_relation }} (citizen_id, kind, pseudonym, recorded_at)
select distinct citizen_id, kind, pseudonym, {{ now }}
from (
    select citizen_id, 'identity' as kind,
        {{ pseudonymize(normalize_identity_number('identity_number')) }} as pseudonym
    from raw.citizens where citizen_id in {{ ids }}
    union all
    select citizen_id, 'phone', {{ pseudonymize(normalize_phone('phone')) }}
    from raw.citizens where citizen_id in {{ ids }}
    union all
    select citizen_id, 'email', {{ pseudonymize(normalize_email('email')) }}
    from raw.citizens where citizen_id in {{ ids }}
) as seen
where pseudonym is not null
on conflict do nothing;
{%- endif %}

{#- Surveys before requests: a survey of one of the citizen's requests may itself lack the id. -#}
{%- if 'raw.satisfaction_surveys' in tables %}
update raw.satisfaction_surveys
set citizen_id = null, comment = {{ _erased_text('comment') }}
where citizen_id in {{ ids }}
    {%- if 'raw.service_requests' in tables %}
    or request_id in (select request_id from raw.service_requests where citizen_id in {{ ids }})
    {%- endif %};
{%- endif %}

{%- if 'raw.service_requests' in tables %}
update raw.service_requests
set citizen_id = null, description = {{ _erased_text('description') }}
where citizen_id in {{ ids }};
{%- endif %}

{%- if 'raw.citizens' in tables %}
delete from raw.citizens where citizen_id in {{ ids }};
{%- endif %}

{%- if 'raw.hotline_calls' in tables %}
update raw.hotline_calls set caller_phone = null
where caller_phone is not null {{ new_rows }}
    and {{ pseudonymize(normalize_phone('caller_phone')) }} in {{ _erasure_pseudonyms(pseudonyms_relation, 'phone') }};
{%- endif %}

{%- for table in ['raw.web_events', 'raw.app_events'] if table in tables %}
    {%- set id_matches = drop_integer(clean_text('citizen_id'), 'bigint') ~ ' in ' ~ ids -%}
    {%- set email_matches = pseudonymize(normalize_email(clean_text('login_email'))) ~ ' in ' ~ _erasure_pseudonyms(pseudonyms_relation, 'email') %}
update {{ table }}
set citizen_id = case when {{ id_matches }} then null else citizen_id end,
    login_email = case when {{ email_matches }} then null else login_email end
where (citizen_id is not null or login_email is not null) {{ new_rows }}
    and ({{ id_matches }} or {{ email_matches }});
{%- endfor %}

{#- The drop gates (staging/channel_drops/base) are incremental: they judged the raw rows before
    this purge, so they lose the same fields here, as a gate run over the purged rows would. Their
    verdicts stay: a nulled phone, email or citizen id breaks no rule and ranks no delivery. -#}
{%- if 'staging.base_channel_drops__hotline_calls' in tables %}
    {%- set phone_matches = 'phone_pseudonym in ' ~ _erasure_pseudonyms(pseudonyms_relation, 'phone') %}
update staging.base_channel_drops__hotline_calls
set phone_pseudonym = null, is_phone_withheld = true, is_phone_malformed = false
where {{ phone_matches }};
{%- endif %}

{%- for table in ['staging.base_channel_drops__web_events', 'staging.base_channel_drops__app_events'] if table in tables %}
    {%- set id_matches = 'citizen_id in ' ~ ids -%}
    {%- set email_matches = 'email_pseudonym in ' ~ _erasure_pseudonyms(pseudonyms_relation, 'email') %}
update {{ table }}
set citizen_id = case when {{ id_matches }} then null else citizen_id end,
    citizen_id_text = case when {{ id_matches }} then null else citizen_id_text end,
    email_pseudonym = case when {{ email_matches }} then null else email_pseudonym end,
    is_email_malformed = case when {{ email_matches }} then false else is_email_malformed end
where {{ id_matches }} or {{ email_matches }};
{%- endfor %}

{#- The digital sessions are incremental too (rolled up from the gates above): they lose the same
    fields in place. -#}
{%- if 'intermediate.int_digital_sessions' in tables %}
    {%- set id_matches = 'citizen_id in ' ~ ids -%}
    {%- set email_matches = 'email_pseudonym in ' ~ _erasure_pseudonyms(pseudonyms_relation, 'email') %}
update intermediate.int_digital_sessions
set citizen_id = case when {{ id_matches }} then null else citizen_id end,
    email_pseudonym = case when {{ email_matches }} then null else email_pseudonym end
where {{ id_matches }} or {{ email_matches }};
{%- endif %}

{#- One row per citizen (or citizen version) outside the facts: the rows go. -#}
{%- for table, columns in tables.items()
        if table.split('.')[0] in ('snapshots', 'marts', 'ml')
        and 'citizen_id' in columns and not table.startswith('marts.fct_') %}
delete from {{ table }} where citizen_id in {{ ids }};
{%- endfor %}

{#- Facts keep the rows (city statistics stay whole) but lose the citizen: the unknown member. -#}
{%- for table, columns in tables.items() if table.startswith('marts.fct_') %}
    {%- set conditions = [] -%}
    {%- set assignments = [] -%}
    {%- if 'citizen_id' in columns -%}
        {%- do conditions.append('citizen_id in ' ~ ids) -%}
        {%- do assignments.append('citizen_id = case when citizen_id in ' ~ ids ~ ' then null else citizen_id end') -%}
        {%- if 'is_anonymous' in columns -%}
            {%- do assignments.append('is_anonymous = coalesce(citizen_id in ' ~ ids ~ ', false) or is_anonymous') -%}
        {%- endif -%}
    {%- endif -%}
    {%- if 'resolved_citizen_id' in columns -%}
        {%- do conditions.append('resolved_citizen_id in ' ~ ids) -%}
        {%- do assignments.append(
            'resolved_citizen_id = case when resolved_citizen_id in ' ~ ids ~ ' then null else resolved_citizen_id end') -%}
    {%- endif -%}
    {%- if 'party_id' in columns -%}
        {#- An unmatched contact's party is 'anon-' || a phone or email pseudonym, or 'anon-citizen-' || id. -#}
        {%- do conditions.append(
            "party_id in (select 'anon-' || pseudonym from " ~ pseudonyms_relation ~ ")"
            ~ " or party_id in (select 'anon-citizen-' || citizen_id from " ~ requests_relation ~ ")") -%}
        {%- do assignments.append("party_id = 'anon-' || " ~ ('contact_id' if 'contact_id' in columns else "'erased'")) -%}
        {%- if 'is_matched' in columns -%}{%- do assignments.append('is_matched = false') -%}{%- endif -%}
        {%- if 'match_method' in columns -%}{%- do assignments.append('match_method = null') -%}{%- endif -%}
    {%- endif -%}
    {%- for column in columns if column == 'citizen_key' or column.endswith('_citizen_key') -%}
        {%- do assignments.append(column ~ ' = ' ~ unknown_key()) -%}
    {%- endfor -%}
    {%- if conditions and assignments %}
update {{ table }}
set {{ assignments | join(',\n    ') }}
where {{ conditions | join('\n    or ') }};
    {%- endif %}
{%- endfor %}

update {{ requests_relation }}
set applied_at = coalesce(applied_at, {{ now }}), last_applied_at = {{ now }};

commit;
{% endmacro %}
