-- Links every contact to a resolved citizen. Evidence in order of strength: the citizen_id the
-- app or case system logged, the login email (web), the caller's phone (hotline), and last the
-- citizen of the request the contact created or discussed. Unmatched contacts get an anonymous
-- party key that still groups a repeat caller or e-mailer: 'anon-' || pseudonym, else the contact.
with

contacts as (

    select * from {{ ref('int_contacts') }}

),

identity as (

    select * from {{ ref('int_citizen_identity') }}

),

contact_points as (

    select * from {{ ref('int_contact_points') }}

),

requests as (

    select * from {{ ref('stg_case_system__service_requests') }}

),

candidates as (

    select
        contacts.*,
        by_citizen.resolved_citizen_id as citizen_match,
        by_email.resolved_citizen_id as email_match,
        by_phone.resolved_citizen_id as phone_match,
        by_request.resolved_citizen_id as request_match,
        linked_request.service_code as linked_service_code,
        -- Inputs besides the contact itself: a change to any of them can change the match.
        greatest(
            by_citizen.identity_changed_at,
            by_email.changed_at,
            by_phone.changed_at,
            linked_request.updated_at,
            by_request.identity_changed_at
        ) as links_changed_at,
        greatest(
            by_citizen.identity_loaded_at,
            by_email.loaded_at,
            by_phone.loaded_at,
            linked_request._loaded_at,
            by_request.identity_loaded_at
        ) as links_loaded_at

    from contacts
    left join identity as by_citizen
        on contacts.citizen_id = by_citizen.citizen_id
    left join contact_points as by_email
        on by_email.point_type = 'email' and contacts.email_pseudonym = by_email.pseudonym
    left join contact_points as by_phone
        on by_phone.point_type = 'phone' and contacts.phone_pseudonym = by_phone.pseudonym
    left join requests as linked_request
        on contacts.request_id = linked_request.request_id
    left join identity as by_request
        on linked_request.citizen_id = by_request.citizen_id

),

resolved as (

    select
        contact_id,
        channel,
        contact_source,
        source_system,
        contacted_at,
        duration_seconds,
        wait_seconds,
        outcome,
        event_count,
        request_id,
        -- A call has no service of its own: it gets the service of the request it concerns.
        coalesce(service_code, linked_service_code) as service_code,
        coalesce(citizen_match, email_match, phone_match, request_match) as resolved_citizen_id,
        case
            when citizen_match is not null then 'citizen_id'
            when email_match is not null then 'email'
            when phone_match is not null then 'phone'
            when request_match is not null then 'request'
        end as match_method,
        'anon-' || coalesce(phone_pseudonym, email_pseudonym, 'citizen-' || citizen_id, contact_id)
            as anonymous_party_id,
        greatest(changed_at, links_changed_at) as _changed_at,
        greatest(loaded_at, links_loaded_at) as _loaded_at

    from candidates

),

final as (

    select
        contact_id,
        channel,
        contact_source,
        source_system,
        contacted_at,
        duration_seconds,
        wait_seconds,
        outcome,
        event_count,
        request_id,
        service_code,
        resolved_citizen_id,
        match_method,
        _changed_at,
        _loaded_at,
        resolved_citizen_id is not null as is_matched,
        coalesce(cast(resolved_citizen_id as varchar), anonymous_party_id) as party_id

    from resolved

)

select * from final
