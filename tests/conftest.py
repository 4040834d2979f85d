"""Shared fixtures: throwaway PostgreSQL databases and data folders.

PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, trust auth) and create and drop
their own database. With CI=true an unreachable server fails the test; elsewhere it skips.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Column lineage costs a query per dbt model after each dbt step; one test turns it on and checks it.
os.environ.setdefault("CIRM_DBT_COLUMN_LINEAGE", "false")
# Test cities are simulated: the public development pseudonymization key is allowed on them.
# tests/test_privacy.py checks that it is refused everywhere else.
os.environ.setdefault("CIRM_DEMO_MODE", "true")

PG_ADMIN_DSN = os.environ.get("CIRM_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its URL and drops it afterwards (fails in CI, else
    skips, when the server is unreachable)."""
    try:
        admin = _pg_connect(PG_ADMIN_DSN)
    except Exception as exc:  # the driver raises several types for "no server"
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_DSN} is unreachable: {exc}")
    name = f"cirm_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_connect(PG_ADMIN_DSN) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; yields its SQLAlchemy URL."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder that CIRM_DATA_DIR points at for the test."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CIRM_DATA_DIR", str(path))
    monkeypatch.delenv("CIRM_SOURCE_URL", raising=False)
    return path
