"""API errors as JSON bodies in the OGC exception shape: {"code", "description"}."""

from __future__ import annotations

import orjson
import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from netzatlas.db import ClusterError

# Seconds a client should wait before retrying while the database is unavailable.
RETRY_AFTER = 5


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        headers: dict[str, str] | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.headers = headers
        self.extra = extra  # more members of the JSON body, e.g. the problems of an invalid feature


def bad_request(description: str, code: str = "InvalidParameterValue") -> ApiError:
    return ApiError(400, code, description)


def not_found(description: str) -> ApiError:
    return ApiError(404, "NotFound", description)


def error_response(
    status: int, code: str, description: str, headers: dict[str, str] | None = None, extra: dict | None = None
) -> Response:
    body = orjson.dumps({"code": code, "description": description, **(extra or {})})
    return Response(body, media_type="application/json", status_code=status, headers=headers)


def unavailable(description: str = "the database is unavailable; retry later") -> Response:
    return error_response(503, "ServiceUnavailable", description, {"Retry-After": str(RETRY_AFTER)})


# Error codes of the JSON body for Starlette's own HTTP errors (unknown routes, methods, unreadable forms, ...).
HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.description, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error_response(400, "InvalidParameterValue", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "Error")
        description = str(exc.detail)
        if exc.status_code == 404 and description == "Not Found":  # no route: say which path
            description = f"no resource at {request.url.path!r}; the API starts at /"
        elif exc.status_code == 405 and description == "Method Not Allowed":
            description = f"{request.method} is not allowed on {request.url.path!r}"
        return error_response(exc.status_code, code, description, getattr(exc, "headers", None))

    async def _database_down(request: Request, exc: Exception) -> Response:
        # Lost or refused connections, a pool timeout (psycopg_pool.PoolTimeout is an OperationalError), a
        # server shutting down: the request may succeed later, so 503 rather than 500.
        import logging

        logging.getLogger("netzatlas.api").warning("database unavailable on %s: %s", request.url.path, exc)
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return unavailable("the query took too long and was cancelled; retry later or narrow the request")
        return unavailable()

    for exc_type in (psycopg.OperationalError, psycopg.InterfaceError, ClusterError):
        app.add_exception_handler(exc_type, _database_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("netzatlas.api").exception("unexpected error on %s", request.url.path)
        return error_response(500, "ServerError", "internal error; the server log has the details")
