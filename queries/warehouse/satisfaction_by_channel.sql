-- Satisfaction by the channel the request came through.
select
    c.channel_name as channel,
    count(*) as surveys,
    round(avg(f.score), 2) as avg_score,
    round(avg(case when f.is_satisfied then 1.0 else 0.0 end), 3) as satisfied_share
from marts.fct_satisfaction as f
join marts.dim_channel as c on f.channel_key = c.channel_key
group by all
order by avg_score desc, channel;
