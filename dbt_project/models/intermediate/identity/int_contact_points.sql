-- Phone and email pseudonyms of registered citizens, each pointing at one resolved citizen, for
-- matching channel contacts. A pseudonym shared by several people (a household phone) points at
-- the smallest resolved citizen_id, so the match is deterministic; citizens_sharing tells.
with

identity as (

    select * from {{ ref('int_citizen_identity') }}

),

points as (

    select
        'phone' as point_type,
        phone_pseudonym as pseudonym,
        resolved_citizen_id,
        identity_changed_at,
        identity_loaded_at
    from identity
    where phone_pseudonym is not null

    union all

    select
        'email' as point_type,
        email_pseudonym as pseudonym,
        resolved_citizen_id,
        identity_changed_at,
        identity_loaded_at
    from identity
    where email_pseudonym is not null

),

final as (

    select
        point_type,
        pseudonym,
        min(resolved_citizen_id) as resolved_citizen_id,
        count(distinct resolved_citizen_id) as citizens_sharing,
        max(identity_changed_at) as changed_at,
        max(identity_loaded_at) as loaded_at

    from points
    group by point_type, pseudonym

)

select * from final
