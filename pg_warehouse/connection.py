"""Where the PostgreSQL warehouse is, and how dbt and this package reach it.

A `postgresql://user[:password]@host[:port]/dbname[?sslmode=...]` URL becomes the CIRM_PG_*
variables that dbt_project/profiles.yml reads. The pseudonymization key goes to PostgreSQL as the
session setting `cirm.pseudonym_key`, in PGOPTIONS: libpq sends it in the connection's startup
packet, so the key is in no SQL text, dbt log or file; only the dbt process's environment holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import sql

from cirm.errors import CirmError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5432
DEFAULT_USER = "postgres"
DEFAULT_DBNAME = "cirm"
KEY_SETTING = "cirm.pseudonym_key"
# Fixed for dbt's sessions, whatever the server's defaults: surrogate keys hash timestamps cast to
# text (ISO, as DuckDB writes them), number text must round-trip, and "now" must not depend on the
# server's zone. The models convert every zone explicitly.
SESSION_SETTINGS = {"DateStyle": "ISO,MDY", "IntervalStyle": "postgres", "TimeZone": "UTC", "extra_float_digits": "1"}
# Collations that order text by code point, as DuckDB does (string_agg order, first-of ties).
BYTE_ORDER_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")


class PgWarehouseError(CirmError):
    """The PostgreSQL warehouse cannot be reached, created or written."""


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str = "prefer"

    @property
    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        auth = f"{self.user}:***" if self.password else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"

    def connect_kwargs(self, dbname: str | None = None) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password or None,
            "dbname": dbname or self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": 10,
        }


def parse_pg_url(url: str) -> PgTarget:
    """A PgTarget from a postgresql:// URL; a clear error for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES:
        raise PgWarehouseError(
            f"{_redact(url)!r} is not a PostgreSQL URL: use postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise PgWarehouseError(f"{_redact(url)!r}: the port is not a number") from exc
    dbname = unquote(parts.path.lstrip("/")) or DEFAULT_DBNAME
    if "/" in dbname:
        raise PgWarehouseError(f"{_redact(url)!r}: the path must be just the database name")
    query = parse_qs(parts.query)
    unknown = set(query) - {"sslmode"}
    if unknown:
        raise PgWarehouseError(f"{_redact(url)!r}: only the sslmode parameter is supported, not {sorted(unknown)}")
    return PgTarget(
        host=parts.hostname or DEFAULT_HOST,
        port=port,
        user=unquote(parts.username) if parts.username else DEFAULT_USER,
        password=unquote(parts.password) if parts.password else "",
        dbname=dbname,
        sslmode=query.get("sslmode", ["prefer"])[-1],
    )


def dbt_environment(target: PgTarget, pseudonym_secret: str, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (the caller's environment) plus what `dbt --target postgres` needs for this target."""
    if not pseudonym_secret:
        raise PgWarehouseError("no pseudonymization key: the PostgreSQL build would have no pseudonyms")
    options = {**SESSION_SETTINGS, KEY_SETTING: pseudonym_secret}
    pgoptions = " ".join(f"-c {name}={_escape_option(value)}" for name, value in options.items())
    return {
        **base,
        "CIRM_PG_HOST": target.host,
        "CIRM_PG_PORT": str(target.port),
        "CIRM_PG_USER": target.user,
        "CIRM_PG_PASSWORD": target.password,
        "CIRM_PG_DBNAME": target.dbname,
        "CIRM_PG_SSLMODE": target.sslmode,
        # Ours last: libpq applies the settings in order, so a later one wins.
        "PGOPTIONS": f"{base.get('PGOPTIONS', '')} {pgoptions}".strip(),
    }


@contextmanager
def connect(target: PgTarget, *, dbname: str | None = None, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg connection, closed afterwards; an unreachable server is a PgWarehouseError."""
    try:
        conn = psycopg.connect(**target.connect_kwargs(dbname), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        raise PgWarehouseError(f"cannot connect to PostgreSQL at {target.display}: {reason}") from exc
    with conn:
        yield conn


def ensure_database(target: PgTarget) -> bool:
    """Create the warehouse database if it does not exist; True if it was created.

    A new database orders text by code point (collation C), as DuckDB does, so ordered aggregates
    give the same results in both warehouses; its character classes follow template1's.
    """
    with connect(target, dbname="postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [target.dbname]).fetchone()
        if exists:
            return False
        (ctype,) = admin.execute("SELECT datctype FROM pg_database WHERE datname = 'template1'").fetchone()
        try:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE {}").format(
                    sql.Identifier(target.dbname), sql.Literal(ctype)
                )
            )
        except psycopg.errors.DuplicateDatabase:
            return False  # created by someone else meanwhile
        except psycopg.Error as exc:
            raise PgWarehouseError(f"cannot create database {target.dbname!r} at {target.display}: {exc}") from exc
    return True


def collation(conn: psycopg.Connection) -> str:
    (name,) = conn.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()").fetchone()
    return name


def _escape_option(value: str) -> str:
    # libpq splits PGOPTIONS on whitespace; a backslash makes the next character literal.
    return re.sub(r"([\\\s])", r"\\\1", value)


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
