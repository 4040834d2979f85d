-- How many contacts of each channel identity resolution links to a citizen: a data-quality
-- metric of the matching (a drop in a channel's rate points at a format change upstream).
with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

per_channel as (

    select
        channel,
        count(*) as contacts,
        count(*) filter (where is_matched) as matched,
        {{ ratio('count(*) filter (where is_matched)', 'count(*)') }} as match_rate,
        count(*) filter (where match_method = 'citizen_id') as matched_by_citizen_id,
        count(*) filter (where match_method = 'email') as matched_by_email,
        count(*) filter (where match_method = 'phone') as matched_by_phone,
        count(*) filter (where match_method = 'request') as matched_by_request

    from contacts
    group by channel

)

select * from per_channel
