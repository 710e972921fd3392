"""Each request's caller, stated on every database connection it uses (row-level security, migration 0006).

A request starts anonymous (`CallerMiddleware`); `auth.principal` replaces that with the key's caller.
Connections from the pool state it when they are handed out (`CallerPool`) and are reset to anonymous
when they go back, so that a connection never carries one request's rights into the next, and an
anonymous request costs no extra round trip. Sync connections opened during a request (`db.connect`)
state the same caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from netzatlas.api.auth import principal
from netzatlas.registry import access


async def reset(conn: AsyncConnection) -> None:
    """Pool `reset` callback: back to anonymous before anyone else gets the connection."""
    if getattr(conn, "_netzatlas_caller", None):
        await conn.execute(access.RESET_SQL)
        conn._netzatlas_caller = None  # type: ignore[attr-defined]


class CallerPool:
    """The application's pool; `connection()` hands out connections that state the request's caller."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[AsyncConnection]:
        async with self.pool.connection(timeout=timeout) as conn:
            caller = access.current()
            if caller != access.ANONYMOUS:
                await conn.execute(access.STATE_SQL, access.params(caller))
                conn._netzatlas_caller = caller  # type: ignore[attr-defined]
            yield conn

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
            access.set_current(access.ANONYMOUS)
            headers = dict(scope.get("headers") or ())
            if b"authorization" in headers or b"x-api-key" in headers:
                # a bad key or an unreachable database: the handler that needs the key answers it
                with contextlib.suppress(Exception):
                    await principal(Request(scope, receive))
        await self.app(scope, receive, send)
