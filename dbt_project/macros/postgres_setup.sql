{#- on-run-start: what the models need from the database besides plain SQL. Nothing on DuckDB (its
    key arrives through cirm.dbt_duckdb_plugin). On PostgreSQL, in the target schema:
    - pgcrypto, for HMAC-SHA256 (pseudonymize);
    - cirm_pseudonym_key(): the key from the session setting cirm.pseudonym_key, which the dbt
      process's libpq sets from PGOPTIONS (pg_warehouse/connection.py), so the key is in no SQL
      text, log or file; it fails the query when the setting is missing or empty, since a null
      key would make every pseudonym null (everybody anonymous) without an error;
    - cirm_pseudonymize(text): hex HMAC-SHA256 with that key, equal to cirm.pseudonym.pseudonymize;
    - cirm_try_cast(text, type): DuckDB's try_cast (macro safe_cast_text). -#}
{% macro create_sql_helpers() -%}
    {{ return(adapter.dispatch('create_sql_helpers', 'cirm')()) }}
{%- endmacro %}

{% macro default__create_sql_helpers() -%}
{%- endmacro %}

{% macro postgres__create_sql_helpers() -%}
    {%- set schema = adapter.quote(target.schema) -%}
create schema if not exists {{ schema }};
create extension if not exists pgcrypto;

create or replace function {{ schema }}.cirm_pseudonym_key() returns text
language plpgsql stable parallel safe as $body$
declare
    key text := current_setting('cirm.pseudonym_key', true);
begin
    if key is null or key = '' then
        raise exception 'pseudonymize: the pseudonymization key is not set on this connection'
            using hint = 'pass it in the environment of the dbt process as PGOPTIONS=''-c cirm.pseudonym_key=...'' (pg_warehouse.connection.dbt_environment does)';
    end if;
    return key;
end
$body$;

{#- Wherever pgcrypto lives (an existing installation may be in another schema): the function is
    created with its schema spelled out, so no search_path is needed. -#}
do $body$
declare
    crypto_schema text := (
        select n.nspname from pg_extension as e inner join pg_namespace as n on n.oid = e.extnamespace
        where e.extname = 'pgcrypto'
    );
begin
    execute format(
        'create or replace function {{ schema }}.cirm_pseudonymize(value text) returns text
         language sql stable parallel safe as %L',
        format(
            'select encode(%I.hmac(convert_to(value, ''UTF8''), convert_to({{ schema }}.cirm_pseudonym_key(), ''UTF8''), ''sha256''), ''hex'')',
            crypto_schema
        )
    );
end
$body$;

{#- The target type comes from the second argument (a typed null); assigning the text to it runs the
    type's input function, and any error it raises makes the result null. -#}
create or replace function {{ schema }}.cirm_try_cast(value text, inout result anyelement)
language plpgsql stable parallel safe as $body$
begin
    result := value;
exception when others then
    result := null;
end
$body$;
{%- endmacro %}
