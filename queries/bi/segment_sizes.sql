-- Citizen segments (consenting citizens only) per kind: size, share of the kind, and a few
-- defining traits. Written by the mining step; absent when it has not run.
select
    kind,
    segment_name,
    size,
    round(size / sum(size) over (partition by kind), 3) as share_of_kind,
    round(contacts_total, 1) as avg_contacts,
    round(digital_share, 2) as digital_share,
    round(complaint_share, 2) as complaint_share,
    round(avg_satisfaction, 2) as avg_satisfaction
from ml.segment_profiles
order by kind, size desc;
