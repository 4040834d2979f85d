-- Maps every staged citizen_id to the resolved citizen: registrations that share an identity
-- pseudonym (same national id / business registration number) are one person or business, and
-- the survivor is the smallest citizen_id (the first registration, stable as new duplicates come).
with

citizens as (

    select * from {{ ref('stg_case_system__citizens') }}

),

resolved as (

    select
        citizen_id,
        case
            when identity_pseudonym is null then citizen_id
            else min(citizen_id) over (partition by identity_pseudonym)
        end as resolved_citizen_id,
        identity_pseudonym,
        phone_pseudonym,
        email_pseudonym,
        updated_at,
        _loaded_at

    from citizens

),

final as (

    select
        citizen_id,
        resolved_citizen_id,
        citizen_id = resolved_citizen_id as is_survivor,
        count(*) over (partition by resolved_citizen_id) as registrations,
        identity_pseudonym,
        phone_pseudonym,
        email_pseudonym,
        updated_at,
        _loaded_at,
        -- Any change to any registration of the person can change what resolves to them.
        max(updated_at) over (partition by resolved_citizen_id) as identity_changed_at,
        max(_loaded_at) over (partition by resolved_citizen_id) as identity_loaded_at

    from resolved

)

select * from final
