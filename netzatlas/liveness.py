"""Which long-running work is still alive: session advisory locks held by the process doing it.

A process that runs a coverage run or imports a delivery holds a session-level advisory lock keyed on the row
for as long as it works. PostgreSQL releases the lock when that session ends, however the process ended
(SIGKILL, OOM, power loss, a lost connection). Any other process can therefore tell a live row from an orphan
with `pg_try_advisory_lock`: if it gets the lock, nobody is working on the row any more. No heartbeat to tune,
no clock to trust, and it works across hosts. (A pooler in transaction mode, e.g. pgbouncer, would break this:
the worker's connection must be a real session.)

The lock must be taken before the row becomes visible in its "working" state (same transaction, or before the
commit that sets it), and a check must run on a session other than the holder's: advisory locks are re-entrant.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

# First key of the two-int advisory lock: one namespace per kind of work ("NZ" and a number).
COVERAGE_RUN = 0x4E5A0001
SUBMISSION = 0x4E5A0002
RUN_SLOT = 0x4E5A0003  # the second key is the slot number: at most N runs execute at once
ENQUEUE = 0x4E5A0004  # transaction lock serialising the queue caps' count-then-insert


def hold(conn: psycopg.Connection, namespace: int, key: object) -> bool:
    """Take the lock of `key` for this session; False if another session holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s::text)) AS ok", (namespace, str(key))).fetchone()
    return bool(_first(row))


def release(conn: psycopg.Connection, namespace: int, key: object) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s::text))", (namespace, str(key)))


def orphans(conn: psycopg.Connection, namespace: int, keys: Iterable[object]) -> list[str]:
    """The keys nobody holds a lock on (their worker is gone). Each lock is taken only to look and released
    at once: a row marked as orphaned is finished by a conditional UPDATE, which a late owner cannot undo."""
    gone = []
    for key in keys:
        if hold(conn, namespace, key):
            release(conn, namespace, key)
            gone.append(str(key))
    return gone


def take_slot(conn: psycopg.Connection, slots: int) -> int | None:
    """One of `slots` execution slots shared by every process on the database, or None if all are taken."""
    for slot in range(slots):
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS ok", (RUN_SLOT, slot)).fetchone()
        if _first(row):
            return slot
    return None


def release_slot(conn: psycopg.Connection, slot: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_SLOT, slot))


def _first(row: object) -> object:
    if row is None:
        return None
    return row["ok"] if isinstance(row, dict) else row[0]  # type: ignore[index]
