"""The dbt integration: project, translator, argument builder and the dbt asset definitions."""
