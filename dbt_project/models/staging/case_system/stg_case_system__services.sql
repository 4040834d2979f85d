with

source as (

    select * from {{ source('case_system', 'services') }}

),

renamed as (

    select
        nullif(trim(service_code), '') as service_code,
        name as service_name,
        lower(trim(category)) as category,
        nullif(trim(department_id), '') as department_id,
        commitment_hours,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

)

select * from renamed
