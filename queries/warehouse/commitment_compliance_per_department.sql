-- Share of resolved requests that met the service's published processing-time commitment,
-- per department (all months).
select
    department_name as department,
    sum(requests_resolved) as requests_resolved,
    sum(resolved_within_commitment) as within_commitment,
    round(sum(resolved_within_commitment) / sum(requests_resolved), 3) as compliance_rate
from marts.mart_public_commitments
group by all
order by compliance_rate, department;
