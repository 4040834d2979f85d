-- Imported open-data requests, typed like the case system's: city-local time, ids namespaced by
-- city (an agency code means nothing outside its city), coordinates at ~100 m. The importer
-- already enforced the hard rules (quarantine in raw.open311_quarantine); addresses and ZIP codes
-- stop here: district is the finest place the marts need.
with

source as (

    select * from {{ relation_or_empty('open311', 'open311_requests', {
        'source_system': 'varchar', 'request_id': 'varchar', 'status': 'varchar', 'channel': 'varchar',
        'request_type': 'varchar', 'service_name': 'varchar', 'service_category': 'varchar',
        'agency': 'varchar', 'agency_name': 'varchar', 'district': 'varchar', 'latitude': 'double precision',
        'longitude': 'double precision', 'created_at': 'timestamp', 'closed_at': 'timestamp',
        'updated_at': 'timestamp', '_load_id': 'varchar', '_loaded_at': 'timestamp',
    }) }}

),

renamed as (

    select
        request_id as source_request_id,
        source_system,
        source_system || ':' || lower(trim(service_name)) as service_code,
        trim(service_name) as service_name,
        coalesce(nullif(trim(service_category), ''), 'uncategorized') as service_category,
        case when nullif(trim(agency), '') is not null then source_system || ':' || upper(trim(agency)) end
            as department_id,
        coalesce(nullif(trim(agency_name), ''), upper(trim(agency))) as department_name,
        case when nullif(trim(district), '') is not null then source_system || ':' || upper(trim(district)) end
            as district_id,
        upper(trim(district)) as district_name,
        channel,
        request_type,
        status,
        {{ round_double('latitude', 3) }} as latitude,
        {{ round_double('longitude', 3) }} as longitude,
        {{ utc_to_city('created_at') }} as submitted_at,
        {{ utc_to_city('closed_at') }} as closed_at,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

)

select * from renamed
