"""Keyed pseudonyms (HMAC-SHA256) for personal data.

The warehouse computes them in SQL so they stay columnar: the HMAC inner and outer keys are set as
DuckDB session variables (`cirm_hmac_ikey`, `cirm_hmac_okey`) and the dbt macro `pseudonymize`
evaluates sha256(okey || sha256(ikey || value)). The key itself never appears in compiled SQL.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

_BLOCK = 64  # SHA-256 block size in bytes


def hmac_pads(secret: str) -> tuple[bytes, bytes]:
    """The (inner, outer) padded keys of HMAC-SHA256 for `secret`."""
    key = secret.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pseudonymize(secret: str, value: str) -> str:
    """The pseudonym of one value, as the warehouse computes it (hex HMAC-SHA256)."""
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def install_pseudonym_key(conn: duckdb.DuckDBPyConnection, secret: str) -> None:
    """Make the `pseudonymize` SQL macro usable on this connection."""
    inner, outer = hmac_pads(secret)
    conn.execute("SET VARIABLE cirm_hmac_ikey = ?::BLOB", [inner])
    conn.execute("SET VARIABLE cirm_hmac_okey = ?::BLOB", [outer])
