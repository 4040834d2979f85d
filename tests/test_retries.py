"""Transient source faults are retried with backoff; permanent ones fail at once with their message."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb
import pytest

from cirm.errors import CirmError
from ingest.case_system import SourceError, is_transient
from orchestration.ingestion import MAX_RETRIES, retry_transient

LOG = logging.getLogger("test")


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("connection refused", True),
        ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', True),
        ("database is locked", True),
        ("IO Error: Could not set lock on file warehouse.duckdb: Conflicting lock is held", True),
        ("source sqlite:///x has no table 'nope'", False),
        ("declares no primary key", False),
    ],
)
def test_transient_or_permanent(message: str, transient: bool) -> None:
    assert is_transient(SourceError(message)) is transient


def test_transient_fault_requests_a_retry_with_growing_wait() -> None:
    with pytest.raises(dg.RetryRequested) as retry, retry_transient(0, LOG):
        raise SourceError("reading source postgresql://app@db/cases failed: Connection refused")
    assert retry.value.max_retries == MAX_RETRIES and retry.value.seconds_to_wait == 2
    with pytest.raises(dg.RetryRequested) as retry, retry_transient(2, LOG):
        raise duckdb.IOException("Could not set lock on file /data/warehouse.duckdb")
    assert retry.value.seconds_to_wait == 8
    # Retries run out: the error itself surfaces.
    with pytest.raises(SourceError), retry_transient(MAX_RETRIES, LOG):
        raise SourceError("connection refused")


def test_permanent_fault_fails_at_once() -> None:
    with pytest.raises(CirmError, match="no table"), retry_transient(0, LOG):
        raise SourceError("source has no table 'nope'")
