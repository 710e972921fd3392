"""Operators: who owns and delivers assets (a telecom, the city, a utility). Used by the CLI and the admin API.

Every "unknown operator" error says which operators are registered (`unknown_operator`), so that a typo is
fixed at once instead of guessed at.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

KINDS = ("telecom", "city", "utility", "other")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # the CHECK of operators.id (migration 0001)
MAX_ID = 200
MAX_NAME = 500


class OperatorError(ValueError):
    """Bad input or a state that refuses the change; `status` is the HTTP status the API answers with."""

    status = 400


class UnknownOperator(OperatorError):
    status = 404


class OperatorExists(OperatorError):
    status = 409


def ids(conn: psycopg.Connection) -> list[str]:
    return [r["id"] for r in conn.execute("SELECT id FROM operators ORDER BY id").fetchall()]


def unknown_operator(conn: psycopg.Connection, op_id: str) -> UnknownOperator:
    """The error for an operator id that is not registered, listing the registered ones."""
    known = ids(conn)
    listed = ", ".join(known) if known else "none (add one with `netzatlas operators add`)"
    return UnknownOperator(f"unknown operator {op_id!r}; registered: {listed}")


def require(conn: psycopg.Connection, op_id: str) -> None:
    """Raise UnknownOperator (listing the registered ids) unless `op_id` is registered."""
    if not conn.execute("SELECT 1 FROM operators WHERE id = %s", (op_id,)).fetchone():
        raise unknown_operator(conn, op_id)


def _check(op_id: Any, name: Any, kind: Any) -> None:
    if not isinstance(op_id, str) or not ID_PATTERN.match(op_id) or len(op_id) > MAX_ID:
        raise OperatorError(
            f"operator id {op_id!r}: lower-case letters, digits and '-', starting with a letter or digit "
            f"(at most {MAX_ID} characters), e.g. 'stadtwerke-musterstadt'"
        )
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or "\x00" in name:
        raise OperatorError(f"operator name: required text of at most {MAX_NAME} characters")
    if kind not in KINDS:
        raise OperatorError(f"operator kind {kind!r}: one of {', '.join(KINDS)}")


def add(conn: psycopg.Connection, op_id: str, name: str, kind: str) -> dict[str, Any]:
    _check(op_id, name, kind)
    row = conn.execute(
        "INSERT INTO operators (id, name, kind) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING "
        "RETURNING id, name, kind, created_at",
        (op_id, name.strip(), kind),
    ).fetchone()
    if row is None:
        raise OperatorExists(f"operator {op_id!r} is already registered")
    return row


def list_all(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute(
        """SELECT o.id, o.name, o.kind, o.created_at,
                  (SELECT count(*) FROM assets a WHERE a.operator = o.id AND a.retired_at IS NULL) AS assets
           FROM operators o ORDER BY o.id"""
    ).fetchall()


def show(conn: psycopg.Connection, op_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT id, name, kind, created_at FROM operators WHERE id = %s", (op_id,)).fetchone()
    if row is None:
        raise unknown_operator(conn, op_id)
    per_kind = conn.execute(
        """SELECT municipality, kind, count(*) AS n FROM assets
           WHERE operator = %s AND retired_at IS NULL GROUP BY municipality, kind ORDER BY municipality, kind""",
        (op_id,),
    ).fetchall()
    row["assets"] = [{"municipality": r["municipality"], "kind": r["kind"], "count": r["n"]} for r in per_kind]
    row["keys"] = conn.execute(
        "SELECT count(*) AS n FROM api_keys WHERE operator = %s AND revoked_at IS NULL", (op_id,)
    ).fetchone()["n"]
    row["submissions"] = conn.execute("SELECT count(*) AS n FROM submissions WHERE operator = %s", (op_id,)).fetchone()[
        "n"
    ]
    return row
