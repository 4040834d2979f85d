{#- Keyed pseudonym (hex HMAC-SHA256) of a text expression; null stays null.

    Equal to Python cirm.pseudonym.pseudonymize(secret, value). The key never appears in SQL: on
    DuckDB the dbt connection plugin (cirm.dbt_duckdb_plugin) sets the HMAC inner/outer padded keys
    as session variables; on PostgreSQL the session setting cirm.pseudonym_key holds it (PGOPTIONS
    of the dbt process). Normalize the value (trim, lower, digits only, ...) before calling this. -#}
{% macro pseudonymize(expr) -%}
    {{ return(adapter.dispatch('pseudonymize', 'cirm')(expr)) }}
{%- endmacro %}

{% macro default__pseudonymize(expr) -%}
    {{ exceptions.raise_compiler_error(
        "pseudonymize() has no implementation for adapter '" ~ adapter.type() ~ "'") }}
{%- endmacro %}

{#- A connection without the key would silently turn every pseudonym into null (getvariable of an
    unset variable is null), making everybody anonymous: fail the query instead. -#}
{% macro duckdb__pseudonymize(expr) -%}
    (case
        when getvariable('cirm_hmac_ikey') is null or getvariable('cirm_hmac_okey') is null
            then error('pseudonymize: HMAC key not set on this connection (cirm.dbt_duckdb_plugin)')
        else sha256(
            getvariable('cirm_hmac_okey')
            || unhex(sha256(getvariable('cirm_hmac_ikey') || encode(cast({{ expr }} as varchar))))
        )
    end)
{%- endmacro %}

{#- PostgreSQL: pgcrypto's HMAC with the key from the session setting cirm.pseudonym_key, through
    the helpers on-run-start creates (postgres_setup.sql), which fail the query when the key is
    missing, as the DuckDB variant does. -#}
{% macro postgres__pseudonymize(expr) -%}
    {{ adapter.quote(target.schema) }}.cirm_pseudonymize(cast({{ expr }} as text))
{%- endmacro %}
