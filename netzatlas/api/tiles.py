"""OGC API Tiles: Mapbox Vector Tiles of every collection and of all of them together, built by ST_AsMVT.

Tiles respect access like items do (anonymous callers get public assets only, so critical assets are in
no public tile). A tile's ETag combines the caller's visibility with the change stamps of its layers
(migration 0002): any write to a layer changes the ETag of its tiles, and an unchanged tile is a 304.
"""

from __future__ import annotations

import hashlib
from typing import Any

import morecantile
from fastapi import APIRouter, Request, Response

from netzatlas.api.auth import principal, visibility_key
from netzatlas.api.collections import COLLECTIONS, Collection
from netzatlas.api.crs import STORAGE, clamp
from netzatlas.api.errors import not_found
from netzatlas.api.features import collection_or_404
from netzatlas.api.negotiation import JSON, json_response, link, url
from netzatlas.config import get_settings
from netzatlas.coverage import runs
from netzatlas.registry.keys import Principal

router = APIRouter()

MVT = "application/vnd.mapbox-vector-tile"
TILE_MATRIX_SETS = ("WebMercatorQuad",)
EXTENT = 4096  # MVT tile coordinate space
BUFFER = 64  # pixels of geometry kept around a tile, so that lines and labels join across tiles
# Tiles carry what a map draws, filters and labels; the whole record is one request away (items API).
ASSET_TILE_PROPERTIES = frozenset({"external_id", "name", "operator", "status", "sensitivity", "commissioned_on"})
TILE_PROPERTIES = {
    "municipalities": frozenset({"name"}),
    "districts": frozenset({"name", "municipality"}),
    "buildings": frozenset({"district", "households"}),
    "population-cells": frozenset({"population", "resolution_m", "year"}),
    "coverage-cells": frozenset({"run_id", "analysis", "buildings", "population", "share_covered"}),
    "coverage-districts": frozenset({"run_id", "analysis", "name", "share_covered"}),
    "coverage-gaps": frozenset({"run_id", "analysis", "gap", "area_m2"}),
}
# Coverage layers are in tiles with the rows of the latest runs only (the map's runs): the cells of every run ever
# made, drawn over each other, would say nothing and fill every tile to its cap. Items filter by run_id.
LATEST_RUN_LAYERS = frozenset({"coverage-cells", "coverage-districts", "coverage-gaps"})
# Properties whose values are lists or objects stay out of tiles (MVT values are scalars).
NOT_IN_TILES = frozenset({"operators", "antennas"})
MAX_AGE = 60
# The lowest tile matrix (zoom) at which a layer is in tiles: below it a tile would hold more of the layer than a
# map can draw (a z0 tile is the whole world). Tiles leave such layers out and say so in X-Tile-Omitted.
MIN_ZOOM = {
    "fiber-routes": 8,
    "network-nodes": 10,
    "mobile-sites": 6,
    "sensors": 10,
    "actuators": 10,
    "iot-gateways": 8,
    "buildings": 13,
    "population-cells": 10,
    "coverage-cells": 10,
    "coverage-gaps": 6,
}
TEXT_TYPES = frozenset({"date", "timestamp"})


def _tms(tms_id: str) -> morecantile.TileMatrixSet:
    if tms_id not in TILE_MATRIX_SETS:
        raise not_found(f"no tile matrix set {tms_id!r}; available: {', '.join(TILE_MATRIX_SETS)}")
    return morecantile.tms.get(tms_id)


def _tile(tms: morecantile.TileMatrixSet, z: int, y: int, x: int) -> morecantile.Tile:
    if not 0 <= z <= tms.maxzoom:
        raise not_found(f"tile matrix {z} is not in {tms.id} (0 to {tms.maxzoom})")
    matrix = tms.matrix(z)
    if not (0 <= y < matrix.matrixHeight and 0 <= x < matrix.matrixWidth):
        raise not_found(f"tile {z}/{y}/{x} is outside {tms.id}")
    return morecantile.Tile(x, y, z)


def min_zoom(coll: Collection) -> int:
    return MIN_ZOOM.get(coll.id, 0)


def tile_layer_sql(coll: Collection, who: Principal, params: dict[str, Any], srid: int) -> str:
    """The rows of one MVT layer of a collection within the tile envelope %(x1)s..%(y2)s in `srid`, at most
    %(cap1)s of them (one more than the cap, so that a truncated layer shows).

    OFFSET 0 keeps `m.geom IS NOT NULL` from being pushed into the scan, where ST_AsMVTGeom would run twice."""
    if coll.kind:  # the common properties and the categorical attributes (those with a code list)
        wanted = ASSET_TILE_PROPERTIES | {a.name for a in coll.kind.attributes if a.codes}
    else:
        wanted = TILE_PROPERTIES.get(coll.id, frozenset(n for n, _ in coll.properties))
    cols = []
    for name, sql in coll.properties:
        if name in NOT_IN_TILES or name not in wanted:
            continue
        q = coll.queryables.get(name)
        cast = "::text" if q is None or q.type in TEXT_TYPES else ""
        cols.append(f'({sql}){cast} AS "{name}"')
    conditions = [coll.base_where]  # and row-level security: the caller's rows only
    if coll.id in LATEST_RUN_LAYERS:
        conditions.append(f"t.run_id IN ({runs.LATEST_RUNS_SQL})")
    env = f"ST_MakeEnvelope(%(x1)s, %(y1)s, %(x2)s, %(y2)s, {srid})"
    # the envelope with its buffer, cut to the storage CRS's area (_render), densified and transformed once per
    # query (an InitPlan) to the storage CRS
    search_env = f"ST_MakeEnvelope(%(sx1)s, %(sy1)s, %(sx2)s, %(sy2)s, {srid})"
    search = f"(SELECT ST_Transform(ST_Segmentize({search_env}, %(step)s), {STORAGE.srid}))"
    return f"""SELECT * FROM (
                SELECT ST_AsMVTGeom(ST_Transform(t.geom, {srid}), {env}, {EXTENT}, {BUFFER}, true) AS geom,
                       {coll.id_sql}::text AS id{"".join(", " + c for c in cols)}
                FROM {coll.table} t
                WHERE {" AND ".join(f"({c})" for c in conditions)} AND t.geom && {search}
                OFFSET 0) m
               WHERE m.geom IS NOT NULL
               LIMIT %(cap1)s"""


def _tile_sql(colls: list[Collection], who: Principal, params: dict[str, Any], srid: int) -> str:
    """The tile (bytea, a layer per collection, each capped at %(cap)s features) and each layer's row count."""
    ctes = ", ".join(f"l{i} AS MATERIALIZED ({tile_layer_sql(c, who, params, srid)})" for i, c in enumerate(colls))
    mvts = " || ".join(
        f"(SELECT coalesce(ST_AsMVT(m, '{c.id}', {EXTENT}, 'geom'), ''::bytea) "
        f"FROM (SELECT * FROM l{i} LIMIT %(cap)s) m)"
        for i, c in enumerate(colls)
    )
    counts = ", ".join(f"(SELECT count(*) FROM l{i})" for i in range(len(colls)))
    return f"WITH {ctes} SELECT {mvts} AS tile, ARRAY[{counts}] AS counts"


def tile_params(tms: morecantile.TileMatrixSet, tile: morecantile.Tile) -> dict[str, Any] | None:
    """The parameters of the tile SQL: the tile's envelope, the search envelope (with the buffer, cut to where the
    storage CRS is defined; None when nothing there can hold features) and the feature cap."""
    b = tms.xy_bounds(tile)
    size = b.right - b.left
    margin = size * BUFFER / EXTENT
    search = clamp((b.left - margin, b.bottom - margin, b.right + margin, b.top + margin), tms.crs.to_epsg())
    if search is None:
        return None
    cap = get_settings().tile_max_features
    return {
        "x1": b.left,
        "y1": b.bottom,
        "x2": b.right,
        "y2": b.top,
        "sx1": search[0],
        "sy1": search[1],
        "sx2": search[2],
        "sy2": search[3],
        "step": size / 8,
        "cap": cap,
        "cap1": cap + 1,
    }


async def _render(request: Request, colls: list[Collection], tms_id: str, z: int, y: int, x: int) -> Response:
    tms = _tms(tms_id)
    tile = _tile(tms, z, y, x)
    who = await principal(request)
    srid = tms.crs.to_epsg()
    omitted = [c for c in colls if z < min_zoom(c)]
    colls = [c for c in colls if z >= min_zoom(c)]
    params = tile_params(tms, tile)
    notes = {"X-Tile-Omitted": ", ".join(f"{c.id};minzoom={min_zoom(c)}" for c in omitted)} if omitted else {}
    if not colls or params is None:
        return Response(status_code=204, headers={**notes, "Cache-Control": f"public, max-age={MAX_AGE}"})
    cap = params["cap"]
    layers = sorted({c.layer for c in colls if c.layer})
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT layer, counter FROM layer_changes WHERE layer = ANY(%s) ORDER BY layer", (layers,)
        )
        stamps = ",".join(f"{r['layer']}:{r['counter']}" for r in await cur.fetchall())
        key = f"{','.join(c.id for c in colls)}|{tms.id}/{z}/{y}/{x}|{visibility_key(who)}|{stamps}|{cap}"
        etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
        cache = f"{'public' if who.role == 'anonymous' else 'private'}, max-age={MAX_AGE}"
        headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Authorization, X-API-Key", **notes}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        cur = await conn.execute(_tile_sql(colls, who, params, srid), params)
        row = await cur.fetchone()
    data = bytes(row["tile"]) if row and row["tile"] else b""
    truncated = [c.id for c, n in zip(colls, row["counts"] if row else [], strict=True) if n > cap]
    if truncated:
        headers["X-Tile-Truncated"] = ", ".join(f"{name};limit={cap}" for name in truncated)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _tileset(request: Request, base: str, title: str, colls: list[Collection], tms_id: str) -> dict[str, Any]:
    tms = _tms(tms_id)
    return {
        "title": title,
        "dataType": "vector",
        "crs": tms.crs.root if hasattr(tms.crs, "root") else str(tms.crs),
        "tileMatrixSetURI": tms.uri,
        "links": [
            link(url(request, f"{base}/{tms_id}"), "self", JSON, f"{title}, {tms_id}"),
            link(
                url(request, f"/tileMatrixSets/{tms_id}"),
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                JSON,
                tms_id,
            ),
            {
                **link(
                    f"{url(request, base)}/{tms_id}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
                    "item",
                    MVT,
                    "Mapbox Vector Tile",
                ),
                "templated": True,
            },
        ],
        "layers": [
            {
                "id": c.id,
                "title": c.title,
                "dataType": "vector",
                "geometryType": c.geometry_type.lower(),
                "minTileMatrix": str(min_zoom(c)),
            }
            for c in colls
        ],
    }


def _tilesets(request: Request, base: str, title: str, colls: list[Collection]) -> Response:
    return json_response(
        {
            "links": [link(url(request, base), "self", JSON, title)],
            "tilesets": [_tileset(request, base, title, colls, t) for t in TILE_MATRIX_SETS],
        }
    )


@router.get("/tileMatrixSets", tags=["tiles"])
async def tile_matrix_sets(request: Request) -> Response:
    sets = [morecantile.tms.get(t) for t in TILE_MATRIX_SETS]
    return json_response(
        {
            "tileMatrixSets": [
                {
                    "id": t.id,
                    "title": t.title,
                    "uri": t.uri,
                    "links": [link(url(request, f"/tileMatrixSets/{t.id}"), "self", JSON, t.title)],
                }
                for t in sets
            ]
        }
    )


@router.get("/tileMatrixSets/{tms_id}", tags=["tiles"])
async def tile_matrix_set(tms_id: str) -> Response:
    return json_response(_tms(tms_id).model_dump(exclude_none=True, mode="json"))


@router.get("/collections/{collection_id}/tiles", tags=["tiles"])
async def collection_tilesets(request: Request, collection_id: str) -> Response:
    coll = collection_or_404(collection_id)
    return _tilesets(request, f"/collections/{coll.id}/tiles", coll.title, [coll])


@router.get("/collections/{collection_id}/tiles/{tms_id}", tags=["tiles"])
async def collection_tileset(request: Request, collection_id: str, tms_id: str) -> Response:
    coll = collection_or_404(collection_id)
    return json_response(_tileset(request, f"/collections/{coll.id}/tiles", coll.title, [coll], tms_id))


@router.get("/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}", tags=["tiles"])
async def collection_tile(request: Request, collection_id: str, tms_id: str, z: int, y: int, x: int) -> Response:
    return await _render(request, [collection_or_404(collection_id)], tms_id, z, y, x)


ALL = "All layers"


@router.get("/tiles", tags=["tiles"])
async def dataset_tilesets(request: Request) -> Response:
    return _tilesets(request, "/tiles", ALL, list(COLLECTIONS.values()))


@router.get("/tiles/{tms_id}", tags=["tiles"])
async def dataset_tileset(request: Request, tms_id: str) -> Response:
    return json_response(_tileset(request, "/tiles", ALL, list(COLLECTIONS.values()), tms_id))


@router.get("/tiles/{tms_id}/{z}/{y}/{x}", tags=["tiles"])
async def dataset_tile(request: Request, tms_id: str, z: int, y: int, x: int) -> Response:
    """One tile with a layer per collection the caller may see."""
    return await _render(request, list(COLLECTIONS.values()), tms_id, z, y, x)
