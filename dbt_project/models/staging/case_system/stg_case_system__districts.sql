with

source as (

    select * from {{ source('case_system', 'districts') }}

),

renamed as (

    select
        nullif(trim(district_id), '') as district_id,
        name as district_name,
        population,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

)

select * from renamed
