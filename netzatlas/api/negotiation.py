"""Output format negotiation (f=json|html, Accept) and absolute links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response

from netzatlas.api.errors import bad_request
from netzatlas.config import get_settings

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"


def wants_html(request: Request, allowed: tuple[str, ...] = ("json", "html")) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        f = f.lower()
        if f not in allowed and not (f == "geojson" and "json" in allowed):
            raise bad_request(f"f must be one of {', '.join(allowed)}, got {f!r}")
        return f == "html"
    accept = request.headers.get("accept", "")
    # Browsers ask for text/html first; GDAL, QGIS and OWSLib ask for JSON.
    return accept.startswith("text/html") or ("text/html" in accept and "json" not in accept)


def base_url(request: Request) -> str:
    """Absolute base of links: the configured one, or the request's (computed once per request)."""
    cached = request.scope.get("netzatlas.base_url")
    if cached is None:
        cached = (get_settings().base_url or str(request.base_url)).rstrip("/")
        request.scope["netzatlas.base_url"] = cached
    return cached


def url(request: Request, path: str, **query: str | int | None) -> str:
    q = {k: v for k, v in query.items() if v is not None}
    return f"{base_url(request)}{path}" + (f"?{urlencode(q)}" if q else "")


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def self_links(request: Request, path: str, json_type: str = JSON, **query: str | None) -> list[dict[str, str]]:
    """self + alternate for the JSON and HTML representations of the same resource."""
    is_html = wants_html(request)
    j = link(
        url(request, path, f="json", **query),
        "self" if not is_html else "alternate",
        json_type,
        "this document as JSON" if is_html else "this document",
    )
    h = link(
        url(request, path, f="html", **query),
        "self" if is_html else "alternate",
        HTML,
        "this document as HTML" if not is_html else "this document",
    )
    return [j, h] if not is_html else [h, j]


def json_response(
    doc: Any, media_type: str = JSON, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(doc), media_type=media_type, status_code=status, headers=headers)
