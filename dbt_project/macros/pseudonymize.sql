{#- Keyed pseudonym (hex HMAC-SHA256) of a text expression; null stays null.

    Equal to Python cirm.pseudonym.pseudonymize(secret, value). The key never appears in SQL: the
    dbt connection plugin (cirm.dbt_duckdb_plugin) sets the HMAC inner/outer padded keys as session
    variables. Normalize the value (trim, lower, digits only, ...) before calling this. -#}
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

{#- A PostgreSQL version would be encode(hmac(expr, key, 'sha256'), 'hex') with pgcrypto and the
    key from a session setting; add postgres__pseudonymize when the warehouse gets that target. -#}
