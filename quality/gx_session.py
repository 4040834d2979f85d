"""Great Expectations plumbing: one context per docs folder and process, one Checkpoint per frame.

The context is ephemeral (no great_expectations.yml to write, nothing to `add_or_update` across
runs) but its expectation suites and validation results are stored as JSON under
`<docs_dir>/_gx/`. That matters because GE's site builder deletes every Data Docs page whose source
result it cannot find: with GE's default in-memory stores each process would wipe the pages of all
earlier runs and of the other Dagster step processes. On disk, pages accumulate and the index lists
the latest `docs_validation_limit` validations.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

# Imported here, not in quality/__init__: GE takes seconds to import and listing checks must not.
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
from great_expectations.exceptions import DataContextError
from great_expectations.execution_engine import pandas_execution_engine

from quality.docs_views import view_config

# GE fingerprints every batch under 1 GB by hashing all its values (11 s of a 4.4-million-row frame
# at scale M), for a batch marker nothing here reads. GE has no setting for it: its threshold is
# a module constant.
pandas_execution_engine.HASH_THRESHOLD = 0

SITE = "cirm_quality"
DATASOURCE = "warehouse"

_contexts: dict[tuple[Path, int], Any] = {}
# GE contexts are not thread-safe; Dagster's in-process executor may run checks on threads.
lock = threading.RLock()


def _filesystem(path: Path) -> dict:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)}


def _project_config(docs_dir: Path, validation_limit: int) -> DataContextConfig:
    memory = {"class_name": "InMemoryStoreBackend"}
    return DataContextConfig(
        progress_bars=ProgressBarsConfig(globally=False),  # no tqdm noise in Dagster logs
        analytics_enabled=False,
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        stores={
            "expectations_store": {
                "class_name": "ExpectationsStore",
                "store_backend": _filesystem(docs_dir / "_gx" / "expectations"),
            },
            "validation_results_store": {
                "class_name": "ValidationResultsStore",
                "store_backend": _filesystem(docs_dir / "_gx" / "validations"),
            },
            # Rebuilt from code on every run: nothing to keep.
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
        },
        # Only this site: the ephemeral default would also write a throwaway site to a temp folder.
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": _filesystem(docs_dir),
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": validation_limit,
                    "view": view_config(index=True),
                },
                # GE's page views with a shared template cache: halves the time of a run.
                "site_section_builders": {
                    section: {"view": view_config()} for section in ("expectations", "validations", "profiling")
                },
            }
        },
    )


def context_for(docs_dir: Path, validation_limit: int = 100) -> Any:
    """The process's GE context for this docs folder, created once (creation and GE import are slow)."""
    key = (docs_dir.resolve(), validation_limit)
    with lock:
        if key not in _contexts:
            key[0].mkdir(parents=True, exist_ok=True)
            ctx = gx.get_context(mode="ephemeral", project_config=_project_config(key[0], validation_limit))
            _contexts[key] = ctx
        return _contexts[key]


@dataclass
class FrameValidation:
    results: list[Any]  # ExpectationValidationResult, one per expectation
    docs_path: str | None


def _batch_definition(ctx: Any, name: str) -> Any:
    source = ctx.data_sources.add_pandas(DATASOURCE)
    return source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("frame")


def _forget(ctx: Any, suite_name: str) -> None:
    """Drop the frame's checkpoint, definition and datasource once its results are stored.

    GE's execution engine belongs to the datasource and keeps every batch it validated, and the
    metrics computed on it (frame-sized boolean series), for as long as the datasource lives: one
    datasource for the whole process held every frame of a run, 4.7 GB at scale M while dbt ran
    beside it. The checkpoint goes first: it cannot be loaded, even to delete it, once its
    definition is gone.
    """
    for factory, name in (
        (ctx.checkpoints, suite_name),
        (ctx.validation_definitions, suite_name),
        (ctx.data_sources, DATASOURCE),
    ):
        with contextlib.suppress(DataContextError, KeyError, ValueError):  # never made: setup failed
            factory.delete(name)


def validate_frame(
    docs_dir: Path,
    suite_name: str,
    df: pd.DataFrame,
    expectations: list[tuple[str, dict[str, Any], dict[str, Any]]],  # (GE class name, kwargs, meta)
    run_id: str,
    validation_limit: int = 100,
) -> FrameValidation:
    """Run one suite over one frame through a Checkpoint that updates the Data Docs."""
    with lock:
        ctx = context_for(docs_dir, validation_limit)
        suite = gx.ExpectationSuite(
            name=suite_name,
            expectations=[getattr(gx.expectations, kind)(**kwargs, meta=meta) for kind, kwargs, meta in expectations],
        )
        # Rebuilt from code each run (value sets and "now" change); add_or_update keeps the ids of
        # unchanged expectations stable across runs.
        suite = ctx.suites.add_or_update(suite)
        _forget(ctx, suite_name)  # left by a validation that failed part-way
        try:
            result = _run_checkpoint(ctx, suite, suite_name, df, run_id)
        finally:
            _forget(ctx, suite_name)
        (identifier, suite_result), *_ = result.run_results.items()
        ctx.build_data_docs(
            site_names=[SITE],
            resource_identifiers=[identifier, ExpectationSuiteIdentifier(name=suite_name)],
            build_index=False,
        )
        urls = ctx.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
        url = urls[0]["site_url"] if urls else None
        return FrameValidation(list(suite_result.results), unquote(urlparse(url).path) if url else None)


def _run_checkpoint(ctx: Any, suite: Any, suite_name: str, df: pd.DataFrame, run_id: str) -> Any:
    """A definition and a Checkpoint for one frame, both in memory, run once."""
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=_batch_definition(ctx, suite_name), suite=suite)
    )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[definition],
            # No UpdateDataDocsAction: it rebuilds the index too, reading the latest
            # `validation_limit` results of every suite, after every check step. This step's
            # pages are built below; the index once per run (build_docs_index).
            actions=[],
            # Failing rows come back as frame positions, which the caller turns into keys for
            # the ones it shows. No `unexpected_index_column_names`: GE would build the key of
            # every failing row one `DataFrame.at` at a time before keeping 20 (56 s of one
            # check step at scale M, where null-share checks legitimately fail millions of
            # rows), and a SUMMARY page does not show them anyway.
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": 20,
                "return_unexpected_index_query": False,
            },
        )
    )
    return checkpoint.run(
        batch_parameters={"dataframe": df},
        run_id=gx.RunIdentifier(run_name=run_id, run_time=datetime.now(UTC)),
    )


def build_docs(docs_dir: Path, validation_limit: int = 100) -> Path:
    """Rebuild the whole Data Docs site from the stored results; returns index.html."""
    with lock:
        ctx = context_for(docs_dir, validation_limit)
        ctx.build_data_docs(site_names=[SITE])
    return docs_index(docs_dir)


def build_docs_index(docs_dir: Path, validation_limit: int = 100) -> Path:
    """Rebuild only the index page (the latest `validation_limit` validations); returns index.html."""
    with lock:
        ctx = context_for(docs_dir, validation_limit)
        # A list naming no stored resource builds no page, only the index.
        ctx.build_data_docs(
            site_names=[SITE], resource_identifiers=[ExpectationSuiteIdentifier(name=_NO_PAGE)], build_index=True
        )
    return docs_index(docs_dir)


_NO_PAGE = "cirm.index-only"


def docs_index(docs_dir: Path) -> Path:
    return docs_dir.resolve() / "index.html"
