-- Contacts per month and channel (hotline, web, app, service hall, email, social media), with each
-- channel's share of the month's contacts.
with monthly as (
    select date_trunc('month', f.contacted_at)::date as month_start, d.channel_name as channel, count(*) as contacts
    from marts.fct_contacts f
    join marts.dim_channel d using (channel_key)
    group by all
)
select
    month_start,
    channel,
    contacts,
    round(contacts / sum(contacts) over (partition by month_start), 3) as share_of_month
from monthly
order by month_start, contacts desc;
