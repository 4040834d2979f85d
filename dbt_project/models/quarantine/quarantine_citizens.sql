-- Rows of raw.citizens that failed a hard rule of base_case_system__citizens, with the rule, so
-- raw.citizens = stg + quarantine, row for row. Rebuilt on every run: a row fixed at the source
-- leaves quarantine on the next run. Personal fields appear only as pseudonyms.
{{ config(alias='citizens') }}

with

checked as (

    select * from {{ ref('base_case_system__citizens') }}

),

failed as (

    select
        citizen_id,
        kind,
        identity_pseudonym,
        phone_pseudonym,
        is_phone_malformed,
        email_pseudonym,
        is_email_malformed,
        district_id,
        birth_year,
        sector,
        company_size,
        consent_analytics,
        registered_at,
        updated_at,
        failed_rule,
        _load_id,
        _loaded_at,
        {{ run_started_at_city() }} as quarantined_at

    from checked
    where failed_rule is not null

)

select * from failed
