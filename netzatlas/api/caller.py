"""Each request's caller, stated on every database connection it uses (row-level security, migration 0006).

A request starts anonymous (`CallerMiddleware`); `auth.principal` replaces that with the key's caller.
Connections from the pool state it when they are handed out (`CallerPool`) and are reset to anonymous
when they go back, so that a connection never carries one request's rights into the next, and an
anonymous request costs no extra round trip. Sync connections opened during a request (`db.connect`)
state the same caller.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from netzatlas.api.auth import principal
from netzatlas.api.errors import unavailable
from netzatlas.registry import access


async def reset(conn: AsyncConnection) -> None:
    """Pool `reset` callback: back to anonymous before anyone else gets the connection."""
    if getattr(conn, "_netzatlas_caller", None):
        await conn.execute(access.RESET_SQL)
        conn._netzatlas_caller = None  # type: ignore[attr-defined]


# A request waits for a pooled connection in slices of OUTAGE_WAIT seconds: while the database looks down
# (a failed check, reconnection or connection) it gets its 503 after one slice; while the database is
# healthy but every connection is busy, it keeps waiting, up to BUSY_WAIT, instead of being shed as a 503.
# One second: a 503 comes within the two seconds promised in the README even for a request that was already
# waiting when the database went away, and the pool's reconnection (milliseconds once the server is back)
# still fits into the first slice after an outage.
OUTAGE_WAIT = 1.0
BUSY_WAIT = 30.0
_started: ContextVar[float] = ContextVar("request_started")  # when the request came (CallerMiddleware)


class CallerPool:
    """The application's pool; `connection()` hands out connections that state the request's caller."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.down = False

    def mark_down(self, *_: Any) -> None:
        """Pool callbacks (check failed, reconnection failed): the database looks unreachable."""
        self.down = True

    async def _get(self, timeout: float | None) -> AsyncConnection:
        now = time.monotonic()
        deadline = now + (timeout if timeout is not None else BUSY_WAIT)
        # while the database looks down, a request's waits together (the key's lookup, then its handler) take
        # one slice from when the request came, not a slice each
        outage_deadline = _started.get(now) + OUTAGE_WAIT
        while True:
            now = time.monotonic()
            wait = max(min(OUTAGE_WAIT, deadline - now, outage_deadline - now if self.down else OUTAGE_WAIT), 0.05)
            try:
                conn = await self.pool.getconn(timeout=wait)
            except PoolTimeout:
                if self.down or time.monotonic() >= deadline:
                    raise
                continue
            except psycopg.OperationalError:
                self.down = True
                raise
            self.down = False
            return conn

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[AsyncConnection]:
        conn = await self._get(timeout)
        try:
            caller = access.current()
            if caller != access.ANONYMOUS:
                await conn.execute(access.STATE_SQL, access.params(caller))
                conn._netzatlas_caller = caller  # type: ignore[attr-defined]
            yield conn
        finally:
            await self.pool.putconn(conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


class CallerMiddleware:
    """States every HTTP request's caller before any handler runs: anonymous (whatever the process's
    default, SYSTEM, would be), or the key's principal when the request carries a key. So a handler that
    never asks who calls still reads only what the caller may see. A bad key stays anonymous here; the
    handlers that need a key answer it with 401 (auth.principal)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _started.set(time.monotonic())
            access.set_current(access.ANONYMOUS)
            headers = dict(scope.get("headers") or ())
            if b"authorization" in headers or b"x-api-key" in headers:
                try:
                    await principal(Request(scope, receive))
                except (psycopg.OperationalError, PoolTimeout):
                    # the database is unreachable: answer now rather than wait for it again in the handler
                    await unavailable()(scope, receive, send)
                    return
                except Exception:
                    pass
        await self.app(scope, receive, send)
