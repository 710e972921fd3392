"""The open-data catalogue at /catalog: DCAT-AP.de 2.0 for the state's metadata portal to harvest.

Whoever calls, the catalogue is what an anonymous caller sees: its queries run as the anonymous caller, so that
row-level security (not a filter of ours) keeps internal and critical assets and unpublished runs out of it, and
a planner's key does not turn the public catalogue into an internal one.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import APIRouter, Request, Response

from netzatlas.api.errors import bad_request
from netzatlas.api.negotiation import base_url
from netzatlas.catalog import dcat, opendata
from netzatlas.catalog.datasets import QUERIES, Dataset, Distribution, build
from netzatlas.config import get_settings
from netzatlas.registry import access

router = APIRouter()
PARAMETERS = ("f", "page", "modified_since")


async def public_datasets(request: Request) -> list[Dataset]:
    """Every dataset of the catalogue, read as the anonymous caller."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with access.acting_as(access.ANONYMOUS):
        async with request.app.state.pool.connection() as conn:
            for name, sql in QUERIES.items():
                cur = await conn.execute(sql)
                rows[name] = await cur.fetchall()
    settings = get_settings()
    datasets, _ = build(rows, settings)
    # the download snapshots of `netzatlas opendata build` (public datasets only: their manifests)
    files = opendata.downloads(settings, datasets)
    for d in datasets:
        for f in files.get(d.id, []):
            d.distributions.append(
                Distribution(
                    f"{d.title} ({f['file_type']} download)",
                    f["url"],
                    "",
                    f["media_type"],
                    f["file_type"],
                    download=True,
                    byte_size=f["bytes"],
                )
            )
    return datasets


def _format(request: Request) -> str:
    f = request.query_params.get("f")
    if f is not None:
        if f.lower() not in dcat.FORMATS:
            raise bad_request(f"f must be one of {', '.join(dcat.FORMATS)}, got {f!r}")
        return f.lower()
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in dcat.MEDIA_TYPES:
            return dcat.MEDIA_TYPES[media]
        if media == "application/json":
            return "jsonld"
    return "rdf"  # RDF/XML: what the state portals' DCAT harvesters read


def _modified_since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"modified_since must be an ISO 8601 date or date-time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@router.get("/catalog", tags=["open data"])
async def catalog(request: Request) -> Response:
    """The DCAT-AP.de 2.0 catalogue (RDF/XML; Turtle and JSON-LD by f= or Accept), paged with Hydra."""
    unknown = sorted(set(request.query_params) - set(PARAMETERS))
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r}; allowed: {', '.join(PARAMETERS)}")
    fmt = _format(request)
    since = _modified_since(request.query_params.get("modified_since"))
    raw_page = request.query_params.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= 1_000_000:
        raise bad_request(f"page must be an integer of at least 1, got {raw_page!r}")
    page = int(raw_page)
    settings = get_settings()
    datasets = await public_datasets(request)
    modified = max((d.modified for d in datasets), default=None)
    if since is not None:
        datasets = [d for d in datasets if d.modified >= since]
    size = settings.catalog_page_size
    pages = max(1, math.ceil(len(datasets) / size))
    if page > pages:
        raise bad_request(f"page must be at most {pages}, got {page}")
    shown = datasets[(page - 1) * size : page * size]
    query = {k: v for k, v in request.query_params.items() if k in ("f", "modified_since")}
    g = dcat.graph(shown, len(datasets), page, pages, base_url(request), settings, query, modified)
    _, media = dcat.FORMATS[fmt]
    return Response(dcat.serialize(g, fmt), media_type=media, headers={"Vary": "Accept"})
