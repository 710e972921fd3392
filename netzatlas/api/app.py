"""FastAPI application factory: routers, middleware, error handlers, the database pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from netzatlas import __version__, migrate, schema
from netzatlas.api import (
    admin,
    catalog,
    dashboard,
    errors,
    features,
    inventory,
    metadata,
    openapi,
    opendata,
    pages,
    previews,
    processes,
    publication,
    records,
    security,
    signin,
    submissions,
    tiles,
    transactions,
)
from netzatlas.api.caller import BUSY_WAIT, CallerMiddleware, CallerPool
from netzatlas.api.caller import reset as reset_caller
from netzatlas.api.html import render
from netzatlas.api.negotiation import OPENAPI, base_url, json_response, wants_html
from netzatlas.config import get_settings
from netzatlas.db import app_url

# Seconds a pooled connection may take to come; requests wait in slices (api/caller.py: 503 after one slice
# while the database is down, longer while it is only busy).
POOL_TIMEOUT = BUSY_WAIT


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async def check(conn: AsyncConnection) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            # One broken connection means the server restarted or went away: the idle ones are as stale, and
            # checking them one by one (with the pool's backoff between checks) would outlast the timeout.
            await pool.drain()
            check_failed()
            raise

    def check_failed() -> None:
        """The database looks down: requests get their 503 after one short wait (api/caller.py)."""
        if isinstance(getattr(app.state, "pool", None), CallerPool):
            app.state.pool.mark_down()

    pool = AsyncConnectionPool(
        app.state.database_url,
        min_size=2,
        max_size=10,
        open=False,
        check=check,
        reset=reset_caller,
        # During an outage a request waits at most this long for a connection, then gets a 503 (errors.py).
        timeout=POOL_TIMEOUT,
        # A failed reconnection is given up quickly rather than retried on a backoff that grows to minutes: the
        # next request then starts a fresh attempt at once, so the first request after an outage succeeds.
        reconnect_timeout=1.0,
        reconnect_failed=lambda _pool: check_failed(),
        kwargs={
            "row_factory": dict_row,
            "connect_timeout": 2,  # libpq's minimum
            # no BEGIN/ROLLBACK round trips around read-only requests
            "autocommit": True,
            # Prepared statements save parsing and, once generic, planning. Query envelopes are InitPlans
            # (cql.once), so a generic plan computes them once per execution, not once per row.
            "prepare_threshold": 2,
        },
    )
    await pool.open()
    app.state.pool = CallerPool(pool)  # connections state the request's caller (row-level security)
    await processes.start_jobs(app)
    try:
        yield
    finally:
        await processes.stop_jobs(app)
        await pool.close()


def create_app(url: str | None = None) -> FastAPI:
    # FastAPI's own OpenAPI (3.1) is switched off: /api serves the OGC-shaped 3.0 document QGIS expects.
    app = FastAPI(
        title="Netzatlas",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    # the application role, never the superuser: row-level security applies to everything the API reads
    app.state.database_url = app_url(url)
    app.state.schema_head = migrate.head_revision()
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    # CORS for configured origins only, security headers, Vary/Cache-Control by caller, rate limit
    # every request starts anonymous, then the key's caller (inside the rate limit, so guessed keys are limited)
    app.add_middleware(CallerMiddleware)
    security.install(app, get_settings())
    errors.install(app)
    # /collections/catalog (OGC API Records) before the feature collections' /collections/{collection_id}
    app.include_router(records.router)
    app.include_router(metadata.router)
    app.add_route("/collections/{collection_id}/items", features.items_route, methods=["GET"])
    app.include_router(features.router)
    app.include_router(transactions.router)
    app.include_router(submissions.router)
    app.include_router(tiles.router)
    app.include_router(pages.router)
    app.include_router(dashboard.router)
    app.include_router(previews.router)
    app.include_router(publication.router)
    app.include_router(signin.router)
    app.include_router(admin.router)
    app.include_router(catalog.router)
    app.include_router(inventory.router)
    app.include_router(opendata.router)
    processes.install(app)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get("/api", tags=["capabilities"])
    async def api_document(request: Request) -> Response:
        doc = openapi.document(base_url(request))
        if wants_html(request):
            return render(request, "api.html", doc=doc)
        return json_response(doc, media_type=OPENAPI)

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> Response:
        """The database answers and its schema is whole: head revision, extensions, tables, functions."""
        try:
            async with request.app.state.pool.connection() as conn:
                cur = await conn.execute(schema.MISSING_SQL, schema.MISSING_PARAMS)
                missing = await cur.fetchone()
                revision = postgis = None
                if "alembic_version" not in missing["tables"]:
                    cur = await conn.execute(schema.REVISION_SQL)
                    revision = ((await cur.fetchone()) or {}).get("version_num")
                if "postgis" not in missing["extensions"]:
                    cur = await conn.execute("SELECT postgis_lib_version() AS v")
                    postgis = (await cur.fetchone())["v"]
        except Exception as e:  # the health check reports any database failure instead of raising
            return json_response(
                {
                    "code": "ServiceUnavailable",
                    "description": "the database is unavailable; retry later",
                    "status": "error",
                    "database": (str(e).strip().splitlines() or [type(e).__name__])[0],
                },
                status=503,
                headers={"Retry-After": str(errors.RETRY_AFTER)},
            )
        head = request.app.state.schema_head
        problems = schema.problems(missing, revision, head)
        body = {"database": "ok", "postgis": postgis, "schema": revision, "head": head}
        if problems:
            # the project's error shape, plus what is missing for monitoring to show
            return json_response(
                {
                    "code": "SchemaIncomplete",
                    "description": "the database schema is not whole: " + "; ".join(problems),
                    "status": "error",
                    **body,
                    "missing": missing,
                },
                status=503,
            )
        return json_response({"status": "ok", **body})

    return app
