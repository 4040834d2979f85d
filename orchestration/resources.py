"""Dagster resources: the settings every asset reads, resolved from the environment at run time."""

from __future__ import annotations

import dagster as dg

from cirm.settings import Settings, load_settings

# DuckDB allows one writer per file: every asset that writes the warehouse claims this pool.
WAREHOUSE_POOL = "duckdb_warehouse"


class CirmSettings(dg.ConfigurableResource):
    """The pipeline's settings (CIRM_* variables); fields left empty fall back to the environment."""

    data_dir: str | None = None
    source_url: str | None = None

    def load(self) -> Settings:
        env = dict(__import__("os").environ)
        if self.data_dir:
            env["CIRM_DATA_DIR"] = self.data_dir
        if self.source_url:
            env["CIRM_SOURCE_URL"] = self.source_url
        settings = load_settings(env)
        settings.pseudonym_secret  # noqa: B018 - a run from the UI is refused the public key too
        return settings
