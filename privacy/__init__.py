"""Privacy operations on the warehouse and the source: erasure on request (right to be forgotten).

Plain library (no Dagster). Recording a request is `privacy.erasure.request_erasure` (what
`cirm erase` calls); the warehouse applies requests at the start of every dbt invocation (macro
`apply_erasures`, dbt_project/macros/erasure.sql).
"""
