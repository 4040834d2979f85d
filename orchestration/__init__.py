"""The Dagster code location: wires the plain libraries into assets, checks, jobs and schedules."""
