"""dbt-duckdb plugin: prepares every dbt connection with the pseudonymization key.

Referenced from dbt_project/profiles.yml. The secret comes from CIRM_PSEUDONYM_SECRET through the
same settings loader as the rest of the pipeline.
"""

from __future__ import annotations

from duckdb import DuckDBPyConnection

try:
    from dbt.adapters.duckdb.plugins import BasePlugin
except ImportError:  # dbt-duckdb absent: the module is still importable for docs and linting
    BasePlugin = object  # type: ignore[assignment,misc]

from cirm.pseudonym import install_pseudonym_key
from cirm.settings import load_settings


class Plugin(BasePlugin):  # type: ignore[misc,valid-type]
    # DuckDB variables live in one client context, and dbt-duckdb runs models on cursors (each its
    # own context), so both the connection and every cursor get the key.
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_pseudonym_key(conn, load_settings().pseudonym_secret)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> DuckDBPyConnection:
        install_pseudonym_key(cursor, load_settings().pseudonym_secret)
        return cursor
