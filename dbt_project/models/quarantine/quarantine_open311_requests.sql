-- Open-data rows the importer held back (raw.open311_quarantine), with the reason as failed_rule,
-- so imported = loaded + quarantined + duplicates dropped stays visible past raw. The source row
-- itself (addresses among its fields) stays in raw.
{{ config(alias='open311_requests') }}

with

source as (

    select * from {{ relation_or_empty('open311', 'open311_quarantine', {
        'source_system': 'varchar', '_source_file': 'varchar', '_row_number': 'bigint', 'reason': 'varchar',
        'field': 'varchar', 'value': 'varchar', '_load_id': 'varchar', '_loaded_at': 'timestamp',
    }) }}

),

failed as (

    select
        source_system,
        _source_file,
        _row_number,
        reason as failed_rule,
        field,
        left(value, 200) as value,
        _load_id,
        {{ utc_to_city('_loaded_at') }} as quarantined_at

    from source

)

select * from failed
