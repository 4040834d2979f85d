-- Citizens with type-2 history of kind, district and analytics consent (from citizens_snapshot),
-- and type-1 attributes (birth year band, sector, company size: current values on every
-- version). No personal data. The first version is valid from 1900-01-01 so that contacts made
-- before registration (matched later by phone or email) still find a version.
with

snapshot as (

    select * from {{ ref('citizens_snapshot') }}

),

citizens as (

    select * from {{ ref('stg_case_system__citizens') }}

),

identity as (

    select * from {{ ref('int_citizen_identity') }}

),

versions as (

    select
        citizen_id,
        kind,
        district_id,
        consent_analytics,
        dbt_valid_from as recorded_at,
        dbt_valid_to,
        row_number() over (partition by citizen_id order by dbt_valid_from) as version_number

    from snapshot

),

known as (

    select
        {{ surrogate_key(['versions.citizen_id', 'versions.recorded_at']) }} as citizen_key,
        versions.citizen_id,
        coalesce(identity.resolved_citizen_id, versions.citizen_id) as resolved_citizen_id,
        coalesce(identity.is_survivor, true) as is_survivor,
        versions.version_number,
        case
            when versions.version_number = 1 then timestamp '1900-01-01'
            else versions.recorded_at
        end as valid_from,
        coalesce(versions.dbt_valid_to, timestamp '9999-12-31') as valid_to,
        versions.dbt_valid_to is null as is_current,
        versions.recorded_at,
        versions.kind,
        versions.district_id,
        versions.consent_analytics,
        case
            when citizens.birth_year is not null
                then cast({{ int_div('citizens.birth_year', 10) }} * 10 as varchar)
                    || '-' || cast({{ int_div('citizens.birth_year', 10) }} * 10 + 9 as varchar)
        end as birth_year_band,
        citizens.sector,
        citizens.company_size,
        cast(citizens.registered_at as date) as registered_on

    from versions
    left join citizens on versions.citizen_id = citizens.citizen_id
    left join identity on versions.citizen_id = identity.citizen_id

),

unknown as (

    select
        {{ unknown_key() }} as citizen_key,
        -1 as citizen_id,
        -1 as resolved_citizen_id,
        true as is_survivor,
        1 as version_number,
        timestamp '1900-01-01' as valid_from,
        timestamp '9999-12-31' as valid_to,
        true as is_current,
        cast(null as timestamp) as recorded_at,
        'unknown' as kind,
        cast(null as varchar) as district_id,
        false as consent_analytics,
        cast(null as varchar) as birth_year_band,
        cast(null as varchar) as sector,
        cast(null as varchar) as company_size,
        cast(null as date) as registered_on

)

select * from known
union all
select * from unknown
