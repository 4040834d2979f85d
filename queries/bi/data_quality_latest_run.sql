-- The latest quality run: per asset, checks evaluated, passed and failed, and the names of the
-- failed checks. A check fails when any of its expectations failed.
with latest as (
    select arg_max(run_id, evaluated_at) as run_id from quality.check_results
),
checks as (
    select asset_key, check_name, bool_and(success) as passed
    from quality.check_results
    where run_id = (select run_id from latest)
    group by all
)
select
    (select run_id from latest) as run_id,
    asset_key,
    count(*) as checks,
    count(*) filter (where passed) as passed,
    count(*) filter (where not passed) as failed,
    string_agg(check_name, ', ' order by check_name) filter (where not passed) as failed_checks
from checks
group by asset_key
order by failed desc, asset_key;
