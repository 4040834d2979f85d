"""Ingestion into the warehouse's `raw` schema (a plain library: no Dagster here)."""
