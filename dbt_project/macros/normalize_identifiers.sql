{#- Normalizations applied before pseudonymizing, so the same person gets the same pseudonym
    whatever way a system typed the value. Each returns null for a missing or malformed value;
    the *_is_malformed macros tell the two apart. -#}

{#- Phones: digits only, last 10 digits ('(212) 555-0134' = '+1 212 555 0134' = '2125550134').
    Malformed: characters other than digits, spaces, + ( ) . - /, or fewer than 10 / more than 15
    digits (E.164 maximum). -#}
{% macro normalize_phone(expr) -%}
    (case
        when {{ phone_is_well_formed(expr) }}
            then right(regexp_replace({{ expr }}, '[^0-9]', '', 'g'), 10)
    end)
{%- endmacro %}

{% macro phone_is_well_formed(expr) -%}
    ({{ matches_fully('trim(' ~ expr ~ ')', '\\+?[0-9 ().\\-/]+') }}
        and length(regexp_replace({{ expr }}, '[^0-9]', '', 'g')) between 10 and 15)
{%- endmacro %}

{% macro phone_is_malformed(expr) -%}
    (nullif(trim({{ expr }}), '') is not null and not {{ phone_is_well_formed(expr) }})
{%- endmacro %}

{#- Emails: trimmed and lower-cased; malformed unless it looks like local@domain.tld. -#}
{% macro normalize_email(expr) -%}
    (case
        when {{ matches_fully('lower(trim(' ~ expr ~ '))', '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') }}
            then lower(trim({{ expr }}))
    end)
{%- endmacro %}

{% macro email_is_malformed(expr) -%}
    (nullif(trim({{ expr }}), '') is not null and {{ normalize_email(expr) }} is null)
{%- endmacro %}

{#- National ids / business registration numbers: upper-case letters and digits only, so
    'ab-123 456' and 'AB123456' are one identity. -#}
{% macro normalize_identity_number(expr) -%}
    nullif(upper(regexp_replace({{ expr }}, '[^0-9A-Za-z]', '', 'g')), '')
{%- endmacro %}

{#- Drop files land every field as text: empty strings and a literal 'null' mean missing. -#}
{% macro clean_text(expr) -%}
    nullif(nullif(trim({{ expr }}), ''), 'null')
{%- endmacro %}
