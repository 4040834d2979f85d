-- Gate for raw.citizens: types, pseudonymizes and evaluates the hard rules once, so that
-- stg_case_system__citizens (failed_rule is null) and quarantine.citizens (not null) split the raw
-- rows exactly. Clear-text personal data stops here: only pseudonyms leave this model.
with

source as (

    select * from {{ source('case_system', 'citizens') }}

),

typed as (

    select
        citizen_id,
        lower(trim(kind)) as kind,
        {{ pseudonymize(normalize_identity_number('identity_number')) }} as identity_pseudonym,
        {{ pseudonymize(normalize_phone('phone')) }} as phone_pseudonym,
        {{ phone_is_malformed('phone') }} as is_phone_malformed,
        {{ pseudonymize(normalize_email('email')) }} as email_pseudonym,
        {{ email_is_malformed('email') }} as is_email_malformed,
        nullif(trim(district_id), '') as district_id,
        cast(birth_year as integer) as birth_year,
        nullif(trim(sector), '') as sector,
        lower(nullif(trim(company_size), '')) as company_size,
        consent_analytics,
        {{ utc_to_city('created_at') }} as registered_at,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

),

checked as (

    select
        *,
        case
            when citizen_id is null then 'missing_key'
            when kind is null then 'missing_kind'
            when kind not in {{ accepted_values_sql('citizen_kind') }} then 'invalid_kind'
            when consent_analytics is null then 'missing_consent_analytics'
            when registered_at is null then 'missing_created_at'
            when updated_at is null then 'missing_updated_at'
        end as failed_rule

    from typed

)

select * from checked
