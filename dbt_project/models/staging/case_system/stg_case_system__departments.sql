with

source as (

    select * from {{ source('case_system', 'departments') }}

),

renamed as (

    select
        nullif(trim(department_id), '') as department_id,
        name as department_name,
        {{ utc_to_city('updated_at') }} as updated_at,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as _loaded_at

    from source

)

select * from renamed
