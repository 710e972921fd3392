"""OGC API Records (Part 1) view of the open-data catalogue: /collections/catalog and its record items.

The records are the datasets of the DCAT-AP.de catalogue (netzatlas.catalog.datasets, read as the anonymous
caller by netzatlas.api.catalog.public_datasets), so /catalog and /collections/catalog/items list the same
datasets whoever calls. These routes are registered before the generic /collections/{collection_id} routes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from netzatlas.api import params
from netzatlas.api.catalog import public_datasets
from netzatlas.api.errors import bad_request, not_found
from netzatlas.api.html import render
from netzatlas.api.negotiation import GEOJSON, HTML, JSON, base_url, json_response, link, url, wants_html
from netzatlas.catalog import records as rec
from netzatlas.catalog.datasets import Dataset
from netzatlas.config import get_settings

router = APIRouter()
HOME = f"/collections/{rec.CATALOG_ID}"
ITEM_PARAMETERS = ("limit", "offset", "bbox", "datetime", "q", "type", "ids", "externalIds", "f")
# /collections lists the catalogue too; its extent there is at most this old (computing it reads every layer)
SUMMARY_TTL = 60.0
_summary: dict[str, tuple[float, list[Dataset]]] = {}
_refreshing: dict[str, asyncio.Task[list[Dataset]]] = {}


def _only(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    wants_html(request)  # f=json (or geojson) or html: a 400 for anything else


def collection_doc(request: Request, datasets: list[Dataset]) -> dict[str, Any]:
    """The catalogue as an OGC API Records catalog (a collection of itemType record)."""
    settings = get_settings()
    modified = max((d.modified for d in datasets), default=None)
    doc: dict[str, Any] = {
        "id": rec.CATALOG_ID,
        "type": "Collection",
        "itemType": "record",
        "title": settings.catalog_title,
        "description": "The open-data catalogue as OGC API Records: one record per public dataset, the same "
        "datasets as the DCAT-AP.de catalogue at /catalog. Internal and critical infrastructure is not listed.",
        "keywords": ["open data", "catalogue", "infrastructure"],
        "conformsTo": [f"{rec.RECORDS}conf/record-collection"],
        "extent": rec.extent(datasets),
        "crs": [rec.CRS84],
        "links": [
            link(url(request, HOME), "self", JSON, "this catalogue"),
            link(url(request, HOME, f="html"), "alternate", HTML, "this catalogue as HTML"),
            link(url(request, f"{HOME}/items"), "items", GEOJSON, "the records of this catalogue"),
            {"href": rec.CATALOG_PROFILE, "rel": "profile", "title": "an OGC API Records catalog"},
            *(
                link(url(request, "/catalog", f=f), "alternate", media, f"this catalogue as DCAT-AP.de ({f})")
                for f, media in (
                    ("rdf", "application/rdf+xml"),
                    ("ttl", "text/turtle"),
                    ("jsonld", "application/ld+json"),
                )
            ),
        ],
    }
    if modified is not None:
        doc["updated"] = rec.stamp(modified)
    found = rec.contacts(settings)
    if found:
        doc["contacts"] = found
    return doc


async def summary(request: Request) -> dict[str, Any]:
    """The catalogue's collection document for /collections. Its datasets are read again once SUMMARY_TTL has
    passed, in one task while callers get the last ones; only the first caller waits."""
    hit = _summary.get("datasets")
    if hit is None or time.monotonic() - hit[0] >= SUMMARY_TTL:
        task = _refreshing.get("datasets")
        if task is None:
            task = asyncio.create_task(_read(request))
            _refreshing["datasets"] = task
            task.add_done_callback(lambda t: (_refreshing.pop("datasets", None), t.cancelled() or t.exception()))
        if hit is None:
            return collection_doc(request, await asyncio.shield(task))
    return collection_doc(request, hit[1])


async def _read(request: Request) -> list[Dataset]:
    datasets = await public_datasets(request)
    _summary["datasets"] = (time.monotonic(), datasets)
    return datasets


@router.get(HOME, tags=["open data"])
async def catalog_collection(request: Request) -> Response:
    """The catalogue as an OGC API Records catalog."""
    _only(request, ("f",))
    datasets = await public_datasets(request)
    _summary["datasets"] = (time.monotonic(), datasets)
    doc = collection_doc(request, datasets)
    if wants_html(request):
        settings, base = get_settings(), base_url(request)
        return render(
            request, "records.html", doc=doc, records=[rec.record(d, base, settings) for d in datasets], matched=None
        )
    return json_response(doc)


def _select(request: Request, datasets: list[Dataset]) -> list[Dataset]:
    """The datasets that meet every query parameter (logical AND)."""
    q = request.query_params
    out = datasets
    if q.get("bbox") is not None:
        box = params.bbox(q["bbox"])
        out = [d for d in out if rec.intersects_bbox(d, box)]
    if q.get("datetime") is not None:
        start, end = params.interval(q["datetime"])
        out = [d for d in out if rec.meets_interval(d, start, end)]
    if q.get("q") is not None:
        patterns = rec.q_patterns(q["q"])
        out = [d for d in out if rec.matches_q(d, patterns)]
    if q.get("type") is not None:
        types = set(params.csv_list(q["type"]))
        out = [d for d in out if rec.RECORD_TYPE in types]
    if q.get("ids") is not None:
        wanted = set(params.csv_list(q["ids"]))
        out = [d for d in out if d.id in wanted]
    if q.get("externalIds") is not None:
        out = []  # no record carries an external identifier, so none matches one
    return out


@router.get(f"{HOME}/items", tags=["open data"])
async def catalog_items(request: Request) -> Response:
    """The records (GeoJSON features), filtered by q, bbox, datetime, type, ids and externalIds, paged."""
    _only(request, ITEM_PARAMETERS)
    q = request.query_params
    limit = params.limit(q.get("limit"))
    offset = params.offset(q.get("offset"))
    datasets = _select(request, await public_datasets(request))
    shown = datasets[offset : offset + limit]
    base = base_url(request)
    settings = get_settings()
    html = wants_html(request)
    keep = {k: v for k, v in q.items() if k not in ("limit", "offset", "f")}
    if html:
        keep["f"] = "html"

    def page(at: int) -> str:
        return url(request, f"{HOME}/items", **keep, limit=limit, offset=at or None)

    this = {k: v for k, v in keep.items() if k != "f"}
    links = [
        link(url(request, f"{HOME}/items", **this, limit=limit, offset=offset or None), "alternate", GEOJSON),
        link(url(request, f"{HOME}/items", **this, f="html", limit=limit, offset=offset or None), "alternate", HTML),
        link(url(request, HOME), "collection", JSON, "the catalogue"),
    ]
    links[1 if html else 0].update(rel="self", title="this page")
    kind = HTML if html else GEOJSON
    if offset + limit < len(datasets):
        links.append(link(page(offset + limit), "next", kind, "the next page"))
    if offset > 0:
        links.append(link(page(max(0, offset - limit)), "prev", kind, "the previous page"))
    doc = {
        "type": "FeatureCollection",
        "features": [rec.record(d, base, settings) for d in shown],
        "numberMatched": len(datasets),
        "numberReturned": len(shown),
        "timeStamp": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    if html:
        head = {"title": f"{settings.catalog_title}: records", "description": "", "links": links}
        return render(request, "records.html", doc=head, records=doc["features"], matched=len(datasets))
    return json_response(doc, media_type=GEOJSON)


@router.get(f"{HOME}/items/{{record_id}}", tags=["open data"])
async def catalog_record(request: Request, record_id: str) -> Response:
    """One record."""
    _only(request, ("f",))
    for d in await public_datasets(request):
        if d.id == record_id:
            one = rec.record(d, base_url(request), get_settings())
            if wants_html(request):
                page = {"title": one["properties"]["title"], "description": "", "links": one["links"]}
                return render(request, "records.html", doc=page, records=[one], matched=None)
            return json_response(one, media_type=GEOJSON)
    raise not_found(f"no record {record_id!r} in the catalogue; see {HOME}/items")
