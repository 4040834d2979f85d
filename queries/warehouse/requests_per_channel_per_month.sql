-- Requests received per channel per month (month of submission, city-local).
select
    d.month_start_date as month,
    c.channel_name as channel,
    count(*) as requests
from marts.fct_service_requests as r
join marts.dim_date as d on r.submitted_date_key = d.date_key
join marts.dim_channel as c on r.channel_key = c.channel_key
group by all
order by month, requests desc, channel;
