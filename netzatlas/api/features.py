"""OGC API Features: items and single features (Parts 1, 2 and 3)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from psycopg_pool import AsyncConnectionPool

from netzatlas.api import cql, crs, params
from netzatlas.api.auth import principal, visibility_key
from netzatlas.api.collections import COLLECTIONS, Collection
from netzatlas.api.errors import ApiError, bad_request, not_found
from netzatlas.api.html import render
from netzatlas.api.negotiation import GEOJSON, HTML, json_response, link, url, wants_html
from netzatlas.api.negotiation import JSON as JSON_TYPE
from netzatlas.api.paging import fetch_page
from netzatlas.api.query import (
    COUNT_CAP,
    PROBE_MAX,
    Source,
    Where,
    add_bbox,
    add_datetime,
    add_filter,
    count_sql,
    feature_sql,
    order_by,
    page_sql,
    probe_sql,
    source,
)
from netzatlas.registry.keys import Principal

router = APIRouter()

ITEM_PARAMS = frozenset(params.ITEM_PARAMETERS)


def collection_or_404(collection_id: str) -> Collection:
    coll = COLLECTIONS.get(collection_id)
    if coll is None:
        raise not_found(f"no collection {collection_id!r}; see /collections")
    return coll


def _properties(coll: Collection, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = params.csv_list(value)
    known = {n for n, _ in coll.properties}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise bad_request(f"properties: unknown {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    return names


# Exact counts per collection, caller's visibility (row-level security decides what a caller sees) and filter:
# (layer change stamp, count or None above COUNT_CAP), valid while the layer's stamp is unchanged. The least
# recently used entries go first.
_counts: OrderedDict[tuple[str, ...], tuple[int, int | None]] = OrderedDict()
COUNT_CACHE_SIZE = 10_000


def _count_key(coll: Collection, who: Principal, where: Where) -> tuple[str, ...] | None:
    """What a count depends on: the collection, the caller's visibility, the conditions and their values."""
    if coll.layer is None:
        return None
    values = ",".join(f"{k}={v!r}" for k, v in sorted(where.params.items()))
    return (coll.id, visibility_key(who), where.sql, values)


def _remember(key: tuple[str, ...] | None, stamp: int | None, n: int | None) -> None:
    if key is None or stamp is None:
        return
    _counts[key] = (stamp, n)
    _counts.move_to_end(key)
    while len(_counts) > COUNT_CACHE_SIZE:
        _counts.popitem(last=False)


async def _count(pool: AsyncConnectionPool, key: tuple[str, ...] | None, src: Source, where: Where) -> int | None:
    """The exact count of the matches (None above COUNT_CAP), cached under the stamp of its own snapshot."""
    async with pool.connection() as conn:
        cur = await conn.execute(count_sql(src, where), where.params)
        row = await cur.fetchone()
    n = row["n"] if row["n"] <= COUNT_CAP else None
    _remember(key, row["stamp"], n)
    return n


def _items_where(coll: Collection, request: Request, who: Principal) -> tuple[Source, Where]:
    q = request.query_params
    unknown = sorted(set(q.keys()) - ITEM_PARAMS - set(coll.queryables))
    if unknown:
        raise bad_request(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"use {', '.join(sorted(ITEM_PARAMS))} or a queryable of {coll.id!r}"
        )
    where = Where()
    as_of = params.timestamp(q["asOf"], "asOf") if "asOf" in q else None
    src = source(coll, where, as_of)  # which rows this caller may see is row-level security's business
    if "bbox" in q:
        add_bbox(coll, params.bbox(q["bbox"]), crs.resolve(q.get("bbox-crs"), "bbox-crs"), where)
    elif "bbox-crs" in q:
        crs.resolve(q["bbox-crs"], "bbox-crs")
    if "datetime" in q:
        start, end = params.interval(q["datetime"])
        add_datetime(coll, start, end, where)
    for i, (name, value) in enumerate((k, v) for k, v in q.multi_items() if k in coll.queryables):
        qb = coll.queryables[name]
        if qb.type == "geometry":
            raise bad_request(f"{name}: use bbox or filter for spatial conditions")
        value = params.typed(value, qb.type, name)  # the checks every value of its type gets (NUL bytes)
        if qb.uuid_column:
            try:
                where.add(f"{qb.uuid_column} = %(eq{i})s", narrows=True, **{f"eq{i}": uuid.UUID(value)})
            except ValueError:
                where.add("FALSE", narrows=True)
            continue
        where.add(f"{qb.sql} = %(eq{i})s", narrows=True, **{f"eq{i}": value})
    if "filter" in q:
        try:
            tree = cql.parse(q["filter"], q.get("filter-lang", "cql2-text"))
        except cql.FilterError as e:
            raise bad_request(f"filter: {e}") from None
        add_filter(coll, tree, crs.resolve(q.get("filter-crs"), "filter-crs"), where)
    elif "filter-lang" in q or "filter-crs" in q:
        raise bad_request("filter-lang and filter-crs need a filter")
    return src, where


async def items_route(request: Request) -> Response:
    """The items endpoint as a plain Starlette route: the busiest path skips FastAPI's dependency
    machinery (it has no body or typed parameters to resolve; the query is parsed in params.py)."""
    return await items(request, request.path_params["collection_id"])


async def items(request: Request, collection_id: str) -> Response:
    coll = collection_or_404(collection_id)
    html = wants_html(request, ("json", "html", "geojson"))
    who = await principal(request)
    q = request.query_params
    limit = params.limit(q.get("limit"))
    offset = params.offset(q.get("offset"))
    out_crs = crs.resolve(q.get("crs"))
    skip_geometry = params.boolean(q.get("skipGeometry"), "skipGeometry")
    props = _properties(coll, q.get("properties"))
    src, where = _items_where(coll, request, who)
    order = order_by(coll, params.csv_list(q.get("sortby")))
    # the count is of the selection (the filter without the cursor): the same on every page
    counted = Where(list(where.parts), dict(where.params), where.narrowed)
    key = _count_key(coll, who, counted)
    cursor = q.get("cursor")
    if cursor is not None:
        if order.custom:
            raise bad_request("cursor paging follows the id order; with sortby, page with offset")
        try:
            value = params.typed(cursor, coll.id_type, "cursor")
        except ApiError:
            raise bad_request(f"cursor {cursor!r} is not a valid position in {coll.id!r}") from None
        where.add(f"{coll.id_sql} > %(cursor)s", narrows=True, cursor=value)
    first_page = offset == 0 and cursor is None
    feature = feature_sql(coll, out_crs, props, skip_geometry)
    args = {**where.params, "lim": limit, "lim1": limit + 1, "off": offset}
    pool = request.app.state.pool
    page = None
    matched: int | None = None
    known = False  # whether matched is the count (None: more than COUNT_CAP)
    if first_page and (key is None or key not in _counts):
        # count unknown: the matches are found, counted and paged in one narrow pass
        async with pool.connection() as conn:
            cur = await conn.execute(probe_sql(feature, src, where, order), args)
            probed = await cur.fetchone()
        known = True
        if probed["probed"] <= PROBE_MAX:
            page, matched = probed, probed["probed"]
        _remember(key, probed["stamp"], matched)  # None: more than COUNT_CAP, numberMatched is left out
    if page is None:
        page = await fetch_page(pool, page_sql(feature, src, where, order), args, limit)
        hit = _counts.get(key) if key is not None else None
        if hit is not None and hit[0] == page["stamp"]:
            matched, known = hit[1], True
            _counts.move_to_end(key)
        elif not known and (key is not None or first_page):
            # counted once per selection, visibility and change of the layer; cursor pages then find it cached
            matched, known = await _count(pool, key, src, counted), True
    returned = min(page["fetched"], limit)

    path = f"/collections/{coll.id}/items"
    keep = {k: v for k, v in q.items() if k not in ("f", "offset", "cursor")}
    fmt = "html" if html else "json"
    links = [
        link(url(request, path, **{**q, "f": fmt}), "self", HTML if html else GEOJSON, "this page"),
        link(
            url(request, path, **{**q, "f": "html" if not html else "json"}),
            "alternate",
            GEOJSON if html else HTML,
            "this page as " + ("GeoJSON" if html else "HTML"),
        ),
        link(url(request, f"/collections/{coll.id}"), "collection", "application/json", coll.title),
    ]
    if page["fetched"] > limit:
        nxt = {"offset": offset + limit} if order.custom or offset else {"cursor": page["last_id"]}
        links.append(
            link(url(request, path, **{**keep, **nxt, "f": fmt}), "next", HTML if html else GEOJSON, "next page")
        )
    if offset > 0:
        links.append(
            link(
                url(request, path, **{**keep, "offset": max(0, offset - limit), "f": fmt}),
                "prev",
                HTML if html else GEOJSON,
                "previous page",
            )
        )
    head: dict[str, Any] = {
        "type": "FeatureCollection",
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "numberReturned": returned,
    }
    if matched is not None:
        head["numberMatched"] = matched
    head["links"] = links
    body = orjson.dumps(head)[:-1] + b',"features":[' + page["body"].encode() + b"]}"
    headers = {"Content-Crs": out_crs.header}
    if known and matched is None:  # numberMatched is left out, not lost: the count stopped at its cap
        headers["X-Number-Matched"] = f">{COUNT_CAP}"
    if html:
        return render(request, "items.html", collection=coll, doc=orjson.loads(body), crs=out_crs, headers=headers)
    return Response(body, media_type=GEOJSON, headers=headers)


@router.get("/collections/{collection_id}/items/{feature_id}", tags=["features"])
async def item(request: Request, collection_id: str, feature_id: str) -> Response:
    coll = collection_or_404(collection_id)
    html = wants_html(request, ("json", "html", "geojson"))
    await principal(request)  # states the caller for row-level security
    q = request.query_params
    unknown = sorted(set(q.keys()) - {"f", "crs", "asOf", "properties", "skipGeometry"})
    if unknown:
        raise bad_request(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
    out_crs = crs.resolve(q.get("crs"))
    where = Where()
    src = source(coll, where, params.timestamp(q["asOf"], "asOf") if "asOf" in q else None).sql
    try:
        fid = params.typed(feature_id, coll.id_type, "featureId")
    except Exception:
        raise not_found(f"no feature {feature_id!r} in {coll.id!r}") from None
    where.add(f"{coll.id_sql} = %(fid)s", fid=fid)
    feature = feature_sql(
        coll, out_crs, _properties(coll, q.get("properties")), params.boolean(q.get("skipGeometry"), "skipGeometry")
    )
    version = coll.version_sql or "NULL"
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {feature.expr} AS f, {version} AS version FROM {src} {feature.lateral} WHERE {where.sql}",
            where.params,
        )
        row = await cur.fetchone()
    if row is None:
        # invisible features are reported like missing ones, so that their existence does not leak
        raise not_found(f"no feature {feature_id!r} in {coll.id!r}")
    path = f"/collections/{coll.id}/items/{feature_id}"
    links = [
        link(url(request, path, f="json"), "self" if not html else "alternate", GEOJSON, "this feature"),
        link(url(request, path, f="html"), "alternate" if not html else "self", HTML, "this feature as HTML"),
        link(url(request, f"/collections/{coll.id}"), "collection", "application/json", coll.title),
    ]
    headers = {"Content-Crs": out_crs.header}
    if row["version"] is not None:
        headers["ETag"] = f'"{row["version"]}"'
    feature_doc = orjson.loads(row["f"])
    feature_doc["links"] = links
    if html:
        return render(request, "item.html", collection=coll, feature=feature_doc, crs=out_crs, headers=headers)
    return Response(orjson.dumps(feature_doc), media_type=GEOJSON, headers=headers)


@router.get("/collections/{collection_id}/items/{feature_id}/history", tags=["features"])
async def item_history(request: Request, collection_id: str, feature_id: str) -> Response:
    """Every version of an asset, oldest first, with actor, operation and validity interval."""
    coll = collection_or_404(collection_id)
    html = wants_html(request)
    await principal(request)  # states the caller for row-level security
    if coll.history_table is None:
        raise not_found(f"collection {coll.id!r} keeps no history")
    try:
        fid = params.typed(feature_id, coll.id_type, "featureId")
    except ApiError:
        raise not_found(f"no feature {feature_id!r} in {coll.id!r}") from None
    # row-level security shows a version when it was visible then and the asset is visible now
    props = ", ".join(f"'{n}', {s}" for n, s in coll.properties)
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            f"""SELECT t.version, t.operation, t.actor, t.valid_from, t.valid_to, json_build_object({props}) AS p
                FROM {coll.history_table} t
                WHERE t.id = %(fid)s AND t.kind = %(kind)s
                ORDER BY t.version""",
            {"fid": fid, "kind": coll.kind.id if coll.kind else None},
        )
        rows = await cur.fetchall()
    if not rows:
        raise not_found(f"no feature {feature_id!r} in {coll.id!r}")
    versions = [
        {
            "version": r["version"],
            "operation": r["operation"],
            "actor": r["actor"],
            "validFrom": r["valid_from"].isoformat(),
            "validTo": r["valid_to"].isoformat() if r["valid_to"] else None,
            "properties": r["p"],
        }
        for r in rows
    ]
    path = f"/collections/{coll.id}/items/{feature_id}"
    doc = {
        "id": feature_id,
        "collection": coll.id,
        "versions": versions,
        "links": [
            link(
                url(request, f"{path}/history", f="html" if html else "json"),
                "self",
                HTML if html else JSON_TYPE,
                "this history",
            ),
            link(url(request, path), "item", GEOJSON, "the feature now"),
        ],
    }
    if html:
        return render(request, "history.html", doc=doc, collection=coll)
    return json_response(doc)
