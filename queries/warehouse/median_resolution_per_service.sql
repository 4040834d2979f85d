-- Median and 90th-percentile resolution time per service, over resolved requests.
select
    s.service_name as service,
    s.commitment_hours,
    count(*) as requests_resolved,
    round(median(r.resolution_hours), 1) as median_resolution_hours,
    round(quantile_cont(r.resolution_hours, 0.9), 1) as p90_resolution_hours
from marts.fct_service_requests as r
join marts.dim_service as s on r.service_key = s.service_key
where r.resolution_hours is not null
group by all
order by median_resolution_hours desc, service;
