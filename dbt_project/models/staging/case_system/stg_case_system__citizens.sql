-- The rows of raw.citizens that pass the hard rules (base_case_system__citizens). No name column:
-- nothing downstream needs it, so it is dropped rather than pseudonymized.
with

checked as (

    select * from {{ ref('base_case_system__citizens') }}

),

passed as (

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
        _load_id,
        _loaded_at

    from checked
    where failed_rule is null

)

select * from passed
