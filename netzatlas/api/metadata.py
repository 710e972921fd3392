"""Landing page, conformance, collections and queryables."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from netzatlas import __version__
from netzatlas.api import cql, records
from netzatlas.api.auth import principal, visibility_key
from netzatlas.api.collections import COLLECTIONS, Collection
from netzatlas.api.conformance import CONFORMANCE
from netzatlas.api.crs import CRS84, OFFERED, STORAGE
from netzatlas.api.features import collection_or_404
from netzatlas.api.html import render
from netzatlas.api.negotiation import (
    GEOJSON,
    HTML,
    JSON,
    OPENAPI,
    SCHEMA,
    json_response,
    link,
    self_links,
    url,
    wants_html,
)

router = APIRouter()
EXTENT_TTL = 60.0
_extents: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_computing: dict[tuple[str, str], asyncio.Task[dict[str, Any]]] = {}


@router.get("/", tags=["capabilities"])
async def landing(request: Request) -> Response:
    html = wants_html(request)
    doc = {
        "title": "Netzatlas",
        "description": "City infrastructure asset and network coverage registry: fiber routes, network nodes, "
        "mobile sites with their antennas and cells, sensors, actuators and IoT gateways, with reference layers.",
        "version": __version__,
        "links": [
            *self_links(request, "/"),
            link(url(request, "/api"), "service-desc", OPENAPI, "the API definition (OpenAPI 3.0)"),
            link(url(request, "/api", f="html"), "service-doc", HTML, "the API documentation"),
            link(url(request, "/conformance"), "conformance", JSON, "conformance classes"),
            link(url(request, "/collections"), "data", JSON, "the feature collections"),
            link(
                url(request, "/processes"),
                "http://www.opengis.net/def/rel/ogc/1.0/processes",
                JSON,
                "coverage processes",
            ),
            link(url(request, "/jobs"), "http://www.opengis.net/def/rel/ogc/1.0/job-list", JSON, "coverage jobs"),
            link(
                url(request, "/tiles"),
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                JSON,
                "vector tiles of all layers",
            ),
            link(
                url(request, "/tileMatrixSets"),
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                JSON,
                "tile matrix sets",
            ),
            link(url(request, "/map"), "related", HTML, "web map"),
            link(url(request, "/dashboard"), "related", HTML, "coverage dashboard"),
            link(url(request, "/health"), "status", JSON, "health of the service"),
        ],
    }
    if html:
        return render(request, "landing.html", doc=doc)
    return json_response(doc)


@router.get("/conformance", tags=["capabilities"])
async def conformance(request: Request) -> Response:
    doc = {"conformsTo": list(CONFORMANCE)}
    if wants_html(request):
        return render(request, "conformance.html", doc=doc)
    return json_response(doc)


async def _extent(request: Request, coll: Collection) -> dict[str, Any]:
    """Spatial extent (CRS84) and temporal extent of the rows this caller sees (row-level security), cached per
    visibility: computing it scans the table, and hidden assets must not widen a public extent. Once EXTENT_TTL
    has passed, one refresh runs while callers get the last extent; only the first caller of a visibility waits,
    and callers that come meanwhile wait for the same computation instead of starting their own."""
    cache_key = (coll.id, visibility_key(await principal(request)))
    hit = _extents.get(cache_key)
    if hit and time.monotonic() - hit[0] < EXTENT_TTL:
        return hit[1]
    task = _computing.get(cache_key)
    if task is None:
        # the task copies this request's context: its connection states the same caller
        task = asyncio.create_task(_compute_extent(request.app.state.pool, coll, cache_key))
        _computing[cache_key] = task
        task.add_done_callback(lambda t: (_computing.pop(cache_key, None), t.cancelled() or t.exception()))
    if hit:
        return hit[1]
    return await asyncio.shield(task)


async def _compute_extent(pool: Any, coll: Collection, cache_key: tuple[str, str]) -> dict[str, Any]:
    temporal = f"min({coll.temporal[0]})::text" if coll.temporal and not coll.extent_table else "NULL::text"
    table, where = (coll.extent_table, "TRUE") if coll.extent_table else (coll.table, coll.base_where)
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"""SELECT ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2, first FROM (
                    SELECT ST_Transform(ST_SetSRID(ST_Extent(t.geom)::geometry, {STORAGE.srid}), 4326) AS e,
                           {temporal} AS first
                    FROM {table} t WHERE {where}) s"""
        )
        row = await cur.fetchone()
    bbox = [-180.0, -90.0, 180.0, 90.0]
    if row and row["x1"] is not None:
        bbox = [round(row["x1"], 6), round(row["y1"], 6), round(row["x2"], 6), round(row["y2"], 6)]
    extent: dict[str, Any] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if coll.temporal:
        extent["temporal"] = {
            "interval": [[row["first"] + "T00:00:00Z" if row and row["first"] else None, None]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    _extents[cache_key] = (time.monotonic(), extent)
    return extent


async def _collection_doc(request: Request, coll: Collection) -> dict[str, Any]:
    base = f"/collections/{coll.id}"
    return {
        "id": coll.id,
        "title": coll.title,
        "description": coll.description,
        "keywords": list(coll.keywords),
        "itemType": "feature",
        "extent": await _extent(request, coll),
        "crs": list(OFFERED),
        "storageCrs": STORAGE.uri,
        "links": [
            link(url(request, base), "self", JSON, "this collection"),
            link(url(request, base, f="html"), "alternate", HTML, "this collection as HTML"),
            link(url(request, f"{base}/items"), "items", GEOJSON, f"{coll.title} as GeoJSON"),
            link(url(request, f"{base}/items", f="html"), "items", HTML, f"{coll.title} as HTML"),
            link(
                url(request, f"{base}/queryables"),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                SCHEMA,
                "queryables",
            ),
            link(
                url(request, f"{base}/tiles"),
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                JSON,
                "vector tiles",
            ),
        ],
    }


@router.get("/collections", tags=["capabilities"])
async def collections(request: Request) -> Response:
    doc = {
        "links": self_links(request, "/collections"),
        "crs": list(OFFERED),
        "collections": [await _collection_doc(request, c) for c in COLLECTIONS.values()],
    }
    # the open-data catalogue as OGC API Records (itemType record), last
    doc["collections"].append(await records.summary(request))
    if wants_html(request):
        return render(request, "collections.html", doc=doc)
    return json_response(doc)


@router.get("/collections/{collection_id}", tags=["capabilities"])
async def collection(request: Request, collection_id: str) -> Response:
    coll = collection_or_404(collection_id)
    doc = await _collection_doc(request, coll)
    if wants_html(request):
        return render(request, "collection.html", doc=doc, collection=coll)
    return json_response(doc)


@router.get("/collections/{collection_id}/queryables", tags=["capabilities"])
async def queryables(request: Request, collection_id: str) -> Response:
    coll = collection_or_404(collection_id)
    path = f"/collections/{coll.id}/queryables"
    doc = cql.queryables_schema(coll.queryables, url(request, path), coll.title)
    if wants_html(request):
        return render(request, "queryables.html", doc=doc, collection=coll)
    return json_response(doc, media_type=SCHEMA)
