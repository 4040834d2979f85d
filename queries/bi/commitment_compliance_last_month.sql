-- Commitment compliance per department in the last complete month of data: resolved requests,
-- how many met the published processing-time commitment, and the rate, worst department first.
-- "Complete" means the month ends on or before the data's as-of date (the last day with data).
with last_month as (
    select max(month_start) as month_start
    from marts.mart_public_commitments
    where month_start < date_trunc('month', (select max(date_day) from marts.mart_service_performance_daily) + 1)
)
select
    c.month_start,
    c.department_name as department,
    sum(c.requests_resolved) as requests_resolved,
    sum(c.resolved_within_commitment) as within_commitment,
    round(sum(c.resolved_within_commitment) / nullif(sum(c.requests_resolved), 0), 3) as compliance_rate
from marts.mart_public_commitments c
join last_month using (month_start)
group by all
order by compliance_rate, department;
