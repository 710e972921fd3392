"""The catalogue as OGC API Records (Part 1): one record GeoJSON feature per dataset of datasets.py.

The records are made from the same datasets as the DCAT-AP.de catalogue at /catalog (read as the anonymous
caller), so both list exactly the same datasets. A record's geometry is the dataset's bounding box (CRS84), its
`time` the dataset's temporal coverage (dcterms:temporal), `updated` its change stamp (dcterms:modified).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote

from netzatlas.catalog.datasets import LICENSES, Dataset
from netzatlas.config import Settings

RECORDS = "http://www.opengis.net/spec/ogcapi-records-1/1.0/"
# the Records Part 1 conformance classes the API declares at /conformance
CONFORMANCE: tuple[str, ...] = tuple(
    f"{RECORDS}conf/{name}"
    for name in (
        "record-core",
        "record-collection",
        "record-core-query-parameters",
        "records-api",
        "searchable-catalog",
        "json",
    )
)
RECORD_PROFILE = "http://www.opengis.net/def/profile/OGC/0/ogc-record"
CATALOG_PROFILE = "http://www.opengis.net/def/profile/OGC/0/ogc-catalog"
CATALOG_ID = "catalog"
RECORD_TYPE = "dataset"
THEME_SCHEME = "http://publications.europa.eu/resource/authority/data-theme"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
JSON = "application/json"
# DCAT-AP.de licence ids with an SPDX licence id (Records: `license` is an SPDX id, else "other" plus a link)
SPDX = {
    "dl-by-de/2.0": "DL-DE-BY-2.0",
    "dl-zero-de/2.0": "DL-DE-ZERO-2.0",
    "cc-by/4.0": "CC-BY-4.0",
    "cc-by-sa/4.0": "CC-BY-SA-4.0",
    "cc-zero": "CC0-1.0",
    "odbl": "ODbL-1.0",
    "odby": "ODC-By-1.0",
    "odcpddl": "PDDL-1.0",
}
_SAFE = "/?&=:-._~"


def stamp(value: dt.datetime | dt.date) -> str:
    """RFC 3339 date-time in UTC ("Z"), whole seconds."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _day(value: dt.datetime | dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    x1, y1, x2, y2 = bbox
    return {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}


def time_of(d: Dataset) -> dict[str, Any] | None:
    """The record's `time`: the temporal coverage as an interval of dates ('..' for an open end), or null."""
    if not d.temporal or not (d.temporal[0] or d.temporal[1]):
        return None
    start, end = d.temporal
    return {"interval": [_day(start).isoformat() if start else "..", _day(end).isoformat() if end else ".."]}


def contacts(settings: Settings) -> list[dict[str, Any]]:
    if not settings.catalog_publisher and not settings.catalog_contact_email:
        return []
    contact: dict[str, Any] = {
        "organization": settings.catalog_publisher or settings.catalog_title,
        "roles": ["publisher", "pointOfContact"],
    }
    if settings.catalog_contact_email:
        contact["emails"] = [{"value": settings.catalog_contact_email}]
    if settings.catalog_publisher_url:
        contact["links"] = [{"href": settings.catalog_publisher_url, "rel": "about", "type": "text/html"}]
    return [contact]


def record(d: Dataset, base: str, settings: Settings) -> dict[str, Any]:
    """The record GeoJSON feature of a dataset; `base` is the API's absolute base URL."""
    home = f"{base}/collections/{CATALOG_ID}"
    links: list[dict[str, Any]] = [
        {"href": f"{home}/items/{quote(d.id, safe='')}", "rel": "self", "type": GEOJSON, "title": "this record"},
        {
            "href": f"{home}/items/{quote(d.id, safe='')}?f=html",
            "rel": "alternate",
            "type": "text/html",
            "title": "this record as HTML",
        },
        {"href": home, "rel": "collection", "type": JSON, "title": "the catalogue of this record"},
        {"href": RECORD_PROFILE, "rel": "profile", "title": "an OGC API Records record"},
        {
            "href": LICENSES + d.license,
            "rel": "license",
            "type": "text/html",
            "title": f"licence {d.license} (DCAT-AP.de licence list)",
        },
    ]
    seen: set[str] = set()
    for dist in d.distributions:
        href = base + quote(dist.access_url, safe=_SAFE)
        if dist.download:
            link: dict[str, Any] = {"href": href, "rel": "enclosure", "type": dist.media_type, "title": dist.title}
            if dist.byte_size is not None:
                link["length"] = dist.byte_size
            links.append(link)
            continue
        links.append({"href": href, "rel": "items", "type": dist.media_type, "title": dist.title})
        if dist.collection and dist.collection not in seen:
            seen.add(dist.collection)
            links.append(
                {
                    "href": f"{base}/collections/{dist.collection}",
                    "rel": "related",
                    "type": JSON,
                    "title": f"OGC API Features collection {dist.collection}",
                }
            )
    formats: list[dict[str, str]] = []
    for dist in d.distributions:
        fmt = {"name": dist.file_type, "mediaType": dist.media_type}
        if fmt not in formats:
            formats.append(fmt)
    properties: dict[str, Any] = {
        "type": RECORD_TYPE,
        "title": d.title,
        "description": d.description,
        "keywords": list(d.keywords),
        "themes": [{"scheme": THEME_SCHEME, "concepts": [{"id": t, "url": f"{THEME_SCHEME}/{t}"} for t in d.themes]}]
        if d.themes
        else [],
        "formats": formats,
        "license": SPDX.get(d.license, "other"),
        "updated": stamp(d.modified),
    }
    if not properties["themes"]:
        del properties["themes"]  # themes, when present, has at least one item
    if d.issued:
        properties["created"] = stamp(d.issued)
    if d.attribution:
        properties["rights"] = d.attribution
    found = contacts(settings)
    if found:
        properties["contacts"] = found
    return {
        "id": d.id,
        "type": "Feature",
        "conformsTo": [f"{RECORDS}conf/record-core"],
        "time": time_of(d),
        "geometry": polygon(d.bbox) if d.bbox else None,
        "properties": properties,
        "links": links,
    }


# ---------------------------------------------------------------- the query parameters of Records Part 1


def q_patterns(value: str) -> list[re.Pattern[str]]:
    """`q`: comma-separated terms, any of which may match (OR); the words of one term must appear in that order,
    separated by white space; case-insensitive."""
    out = []
    for term in value.split(","):
        words = term.split()
        if words:
            out.append(re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE))
    return out


def matches_q(d: Dataset, patterns: list[re.Pattern[str]]) -> bool:
    """q over title, description and keywords (and the EU data theme codes)."""
    fields = [d.title, d.description, *d.keywords, *d.themes]
    return any(p.search(f) for p in patterns for f in fields)


def intersects_bbox(d: Dataset, box: tuple[float, float, float, float]) -> bool:
    if not d.bbox:
        return False
    x1, y1, x2, y2 = d.bbox
    return x1 <= box[2] and box[0] <= x2 and y1 <= box[3] and box[1] <= y2


def meets_interval(d: Dataset, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    """`datetime` against the record's time: the temporal coverage, whole days, open ends unbounded. A record
    without a temporal coverage matches no datetime."""
    if not d.temporal or not (d.temporal[0] or d.temporal[1]):
        return False
    first, last = d.temporal
    if first is not None and end is not None:
        day = _day(first)
        if dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) > end:
            return False
    if last is not None and start is not None:
        day = _day(last) + dt.timedelta(days=1)
        if dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) <= start:
            return False
    return True


def extent(datasets: list[Dataset]) -> dict[str, Any]:
    """Spatial (CRS84) and temporal extent of the catalogue's records."""
    boxes = [d.bbox for d in datasets if d.bbox]
    bbox = (
        [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if boxes
        else [-180.0, -90.0, 180.0, 90.0]
    )
    starts = [_day(d.temporal[0]) for d in datasets if d.temporal and d.temporal[0]]
    first = f"{min(starts).isoformat()}T00:00:00Z" if starts else None
    return {
        "spatial": {"bbox": [bbox], "crs": CRS84},
        "temporal": {"interval": [[first, None]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"},
    }
