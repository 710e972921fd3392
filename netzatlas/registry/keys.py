"""API keys: random secrets shown once, stored as SHA-256 hashes, looked up by a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

from netzatlas.registry import operators

ROLES = ("planner", "partner", "admin")


@dataclass(frozen=True)
class Principal:
    role: str
    operator: str | None
    key_prefix: str

    @property
    def actor(self) -> str:
        return f"key:{self.key_prefix}"


def _hash(secret: str) -> str:
    # Keys are 256-bit random secrets, so a plain SHA-256 resists guessing; no slow KDF is needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(conn: psycopg.Connection, role: str, operator: str | None = None, label: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    if role == "partner" and not operator:
        raise ValueError("a partner key needs --operator")
    if operator:
        operators.require(conn, operator)  # an unknown id is an error listing the registered ones
    prefix = secrets.token_hex(4)
    key = f"nz_{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(
        "INSERT INTO api_keys (prefix, key_hash, role, operator, label) VALUES (%s, %s, %s, %s, %s)",
        (prefix, _hash(key), role, operator, label),
    )
    return key


KEY_LOOKUP = "SELECT prefix, key_hash, role, operator FROM api_keys WHERE prefix = %s AND revoked_at IS NULL"


def prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "nz" else None


def verify(row: dict[str, Any] | None, key: str) -> Principal | None:
    """The principal of a key, given the api_keys row found by its prefix (KEY_LOOKUP)."""
    if not row or not hmac.compare_digest(row["key_hash"], _hash(key)):
        return None
    return Principal(role=row["role"], operator=row["operator"], key_prefix=row["prefix"])


def resolve(conn: psycopg.Connection, key: str) -> Principal | None:
    prefix = prefix_of(key)
    if prefix is None:
        return None
    return verify(conn.execute(KEY_LOOKUP, (prefix,)).fetchone(), key)


def list_keys(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT prefix, role, operator, label, created_at, revoked_at FROM api_keys ORDER BY created_at"
    ).fetchall()


def revoke(conn: psycopg.Connection, prefix: str) -> bool:
    cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL", (prefix,))
    return cur.rowcount == 1
