"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, ORJSONResponse
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from netzatlas import __version__
from netzatlas.db import database_url
from netzatlas.registry.kinds import KINDS


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = AsyncConnectionPool(
        app.state.database_url, min_size=1, max_size=8, open=False, kwargs={"row_factory": dict_row}
    )
    await pool.open()
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


def create_app(url: str | None = None) -> FastAPI:
    app = FastAPI(title="Netzatlas", version=__version__, lifespan=lifespan, default_response_class=ORJSONResponse)
    app.state.database_url = url or database_url()

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> JSONResponse:
        try:
            async with request.app.state.pool.connection(timeout=5) as conn:
                cur = await conn.execute(
                    "SELECT postgis_lib_version() AS postgis, (SELECT version_num FROM alembic_version) AS schema"
                )
                row = await cur.fetchone()
        except Exception as e:  # the health check reports any database failure instead of raising
            return JSONResponse({"status": "error", "database": str(e).splitlines()[0]}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "postgis": row["postgis"], "schema": row["schema"]})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def landing() -> HTMLResponse:
        items = "".join(
            f"<li>{escape(k.title)} <code>{escape(k.id)}</code>: {escape(k.description)}</li>" for k in KINDS
        )
        return HTMLResponse(
            f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Netzatlas</title></head>
<body><h1>Netzatlas</h1><p>City infrastructure asset and network coverage registry.</p>
<h2>Asset kinds</h2><ul>{items}</ul><p><a href="/health">health</a></p></body></html>"""
        )

    return app
