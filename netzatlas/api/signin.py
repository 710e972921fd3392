"""Signing in from a browser: /signin asks for HTTP Basic credentials (any user name, the API key as
password) and sends the browser back to the page it came from. The browser then sends the key with
every request to this server, so the map, the dashboard and their layers, rasters and downloads show
what the key may see (row-level security does the rest)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from netzatlas.api.auth import REALM, principal
from netzatlas.api.errors import ApiError

router = APIRouter()


def _local(target: str | None) -> str:
    """Only paths of this server: an open redirect would send a signed-in browser anywhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


@router.get("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    unknown = sorted(set(request.query_params) - {"next"})
    if unknown:
        raise ApiError(400, "InvalidParameterValue", f"unknown parameter(s) {', '.join(map(repr, unknown))}")
    who = await principal(request)  # a wrong or revoked key is a 401 with the Basic challenge
    if who.role == "anonymous":
        raise ApiError(
            401,
            "Unauthorized",
            "sign in with any user name and your API key as the password",
            {"WWW-Authenticate": f"Basic {REALM}"},
        )
    return RedirectResponse(_local(request.query_params.get("next")), status_code=303)
