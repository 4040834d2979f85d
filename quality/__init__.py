"""Data quality checks for the CiRM warehouse, on Great Expectations 1.x (a plain library: no Dagster).

    checks_for(asset)              -> [CheckSpec]     what to declare as Dagster asset checks (no GE import)
    run_checks(con, asset, ...)    -> [CheckOutcome]  run them; Data Docs updated under docs_dir
    record_results(con, run_id, asset, outcomes)     append to quality.check_results
    quarantine_accounting(con)     -> [AccountingRow] raw = staged + quarantined, per entity
    build_docs(docs_dir)           -> Path            Data Docs: every page and the index
    build_docs_index(docs_dir)     -> Path            Data Docs: the index alone (once per run)

Importing this package does not import GE (seconds); `run_checks` does, once per process.
"""

from pathlib import Path

from quality.accounting import ENTITIES, AccountingRow, Entity, quarantine_accounting
from quality.config import QualityConfig
from quality.history import record_results
from quality.runner import run_all, run_checks
from quality.specs import AssetKey, CheckOutcome, CheckSpec, ExpectationOutcome
from quality.suites import ASSETS, checks_for


def build_docs(docs_dir: Path | str, validation_limit: int = 100) -> Path:
    """Rebuild the Data Docs site under docs_dir from its stored results; returns index.html's path."""
    from quality.gx_session import build_docs as _build  # deferred: importing GE takes seconds

    return _build(Path(docs_dir), validation_limit)


def build_docs_index(docs_dir: Path | str, validation_limit: int | None = None) -> Path:
    """Rebuild the Data Docs index page alone (checks build their own pages); returns index.html's path."""
    from quality.gx_session import build_docs_index as _build  # deferred: importing GE takes seconds

    limit = QualityConfig().docs_validation_limit if validation_limit is None else validation_limit
    return _build(Path(docs_dir), limit)


__all__ = [
    "ASSETS",
    "ENTITIES",
    "AccountingRow",
    "AssetKey",
    "CheckOutcome",
    "CheckSpec",
    "Entity",
    "ExpectationOutcome",
    "QualityConfig",
    "build_docs",
    "build_docs_index",
    "checks_for",
    "quarantine_accounting",
    "record_results",
    "run_all",
    "run_checks",
]
