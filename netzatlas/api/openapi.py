"""The OpenAPI 3.0 document at /api, derived from the collections.

QGIS reads `components.parameters.limit.schema.maximum/default` for its page size, so `limit` lives
in the components and every items path refers to it.
"""

from __future__ import annotations

from typing import Any

from netzatlas import __version__
from netzatlas.api.collections import COLLECTIONS
from netzatlas.api.crs import CRS84, OFFERED
from netzatlas.api.params import LIMIT_DEFAULT, LIMIT_MAX

JSON_SCHEMA_TYPES = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "timestamp": {"type": "string", "format": "date-time"},
}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query", **extra: Any) -> dict:
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": where == "path",
        "schema": schema,
        **extra,
    }


PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": _param(
        "limit",
        "Maximum number of features in the page.",
        {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT},
        style="form",
        explode=False,
    ),
    "offset": _param(
        "offset",
        "Number of features to skip (the next links use a cursor instead).",
        {"type": "integer", "minimum": 0, "default": 0},
    ),
    "cursor": _param("cursor", "Opaque position from a next link.", {"type": "string"}),
    "bbox": _param(
        "bbox",
        "Only features that intersect the box (minx,miny,maxx,maxy in bbox-crs).",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        style="form",
        explode=False,
    ),
    "bbox-crs": _param(
        "bbox-crs", "CRS of bbox.", {"type": "string", "format": "uri", "enum": list(OFFERED), "default": CRS84}
    ),
    "crs": _param(
        "crs",
        "CRS of the response geometries.",
        {"type": "string", "format": "uri", "enum": list(OFFERED), "default": CRS84},
    ),
    "datetime": _param(
        "datetime",
        "Instant or interval (start/end, '..' open) that a feature's lifetime "
        "(commissioned_on to decommissioned_on) must meet.",
        {"type": "string"},
    ),
    "filter": _param("filter", "CQL2 filter expression.", {"type": "string"}),
    "filter-lang": _param(
        "filter-lang",
        "Language of filter.",
        {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
    ),
    "filter-crs": _param(
        "filter-crs",
        "CRS of geometries in filter.",
        {"type": "string", "format": "uri", "enum": list(OFFERED), "default": CRS84},
    ),
    "sortby": _param(
        "sortby",
        "Comma-separated queryables, '-' prefix for descending.",
        {"type": "array", "items": {"type": "string"}},
        style="form",
        explode=False,
    ),
    "properties": _param(
        "properties",
        "Comma-separated properties to return.",
        {"type": "array", "items": {"type": "string"}},
        style="form",
        explode=False,
    ),
    "skipGeometry": _param("skipGeometry", "Leave out geometries.", {"type": "boolean", "default": False}),
    "asOf": _param(
        "asOf",
        "Time travel: the registry as it was at this instant (RFC 3339).",
        {"type": "string", "format": "date-time"},
    ),
    "f": _param("f", "Output format.", {"type": "string", "enum": ["json", "html"]}),
    "featureId": _param("featureId", "Id of a feature.", {"type": "string"}, "path"),
}

ERROR = {
    "description": "Bad request, with a JSON body naming the problem.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _json_response(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}, "text/html": {}}}


def _tile_paths() -> dict[str, Any]:
    """OGC API Tiles: tile matrix sets, and vector tiles per collection and of all collections."""
    mvt = {"description": "A Mapbox Vector Tile", "content": {"application/vnd.mapbox-vector-tile": {}}}
    tile_params = [
        _param(n, d, {"type": "integer", "minimum": 0}, "path")
        for n, d in (("tileMatrix", "zoom level"), ("tileRow", "row (y)"), ("tileCol", "column (x)"))
    ]
    tms = _param("tileMatrixSetId", "Tile matrix set", {"type": "string", "enum": ["WebMercatorQuad"]}, "path")
    cid = _param("collectionId", "Collection", {"type": "string", "enum": list(COLLECTIONS)}, "path")

    def op(summary: str, op_id: str, params: list[dict], ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "operationId": op_id,
                "tags": ["tiles"],
                "parameters": params,
                "responses": {"200": ok, "204": {"description": "No features in the tile"}, "404": ERROR},
            }
        }

    return {
        "/tileMatrixSets": op("Tile matrix sets", "getTileMatrixSets", [], _json_response("Tile matrix sets")),
        "/tileMatrixSets/{tileMatrixSetId}": op(
            "A tile matrix set", "getTileMatrixSet", [tms], _json_response("Tile matrix set")
        ),
        "/tiles": op("Tilesets of all layers", "getDatasetTilesets", [], _json_response("Tilesets")),
        "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": op(
            "A tile of all layers the caller may see", "getDatasetTile", [tms, *tile_params], mvt
        ),
        "/collections/{collectionId}/tiles": op(
            "Tilesets of a collection", "getCollectionTilesets", [cid], _json_response("Tilesets")
        ),
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": op(
            "A tile of a collection", "getCollectionTile", [cid, tms, *tile_params], mvt
        ),
    }


def document(server_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "Landing page",
                "operationId": "getLandingPage",
                "tags": ["capabilities"],
                "parameters": [_ref("f")],
                "responses": {"200": _json_response("Landing page")},
            }
        },
        "/conformance": {
            "get": {
                "summary": "Conformance classes",
                "operationId": "getConformance",
                "tags": ["capabilities"],
                "parameters": [_ref("f")],
                "responses": {"200": _json_response("Conformance classes")},
            }
        },
        "/collections": {
            "get": {
                "summary": "Feature collections",
                "operationId": "getCollections",
                "tags": ["capabilities"],
                "parameters": [_ref("f")],
                "responses": {"200": _json_response("Collections")},
            }
        },
    }
    item_params = [
        "limit",
        "offset",
        "cursor",
        "bbox",
        "bbox-crs",
        "crs",
        "datetime",
        "filter",
        "filter-lang",
        "filter-crs",
        "sortby",
        "properties",
        "skipGeometry",
        "asOf",
        "f",
    ]
    for cid, coll in COLLECTIONS.items():
        op = cid.replace("-", "_")
        eq = [
            _param(name, q.title, JSON_SCHEMA_TYPES[q.type])
            for name, q in coll.queryables.items()
            if q.type != "geometry"
        ]
        paths[f"/collections/{cid}"] = {
            "get": {
                "summary": f"{coll.title}: description",
                "operationId": f"describe_{op}",
                "tags": [cid],
                "parameters": [_ref("f")],
                "responses": {"200": _json_response("Collection"), "404": ERROR},
            }
        }
        paths[f"/collections/{cid}/queryables"] = {
            "get": {
                "summary": f"{coll.title}: queryables",
                "operationId": f"queryables_{op}",
                "tags": [cid],
                "parameters": [_ref("f")],
                "responses": {"200": _json_response("Queryables", "application/schema+json")},
            }
        }
        paths[f"/collections/{cid}/items"] = {
            "get": {
                "summary": f"{coll.title}: features",
                "operationId": f"items_{op}",
                "tags": [cid],
                "parameters": [*(_ref(p) for p in item_params), *eq],
                "responses": {"200": _json_response("Features", "application/geo+json"), "400": ERROR, "404": ERROR},
            }
        }
        paths[f"/collections/{cid}/items/{{featureId}}"] = {
            "get": {
                "summary": f"{coll.title}: one feature",
                "operationId": f"item_{op}",
                "tags": [cid],
                "parameters": [
                    _ref("featureId"),
                    _ref("crs"),
                    _ref("asOf"),
                    _ref("properties"),
                    _ref("skipGeometry"),
                    _ref("f"),
                ],
                "responses": {"200": _json_response("Feature", "application/geo+json"), "404": ERROR},
            }
        }
    paths.update(_tile_paths())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Netzatlas",
            "version": __version__,
            "description": "OGC API Features (Parts 1-3) of the Netzatlas infrastructure registry.",
            "license": {"name": "EUPL-1.2"},
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "parameters": PARAMETERS,
            "schemas": {
                "exception": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
