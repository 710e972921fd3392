"""The OpenAPI 3.0 document at /api, derived from the collections.

QGIS reads `components.parameters.limit.schema.maximum/default` for its page size, so `limit` lives
in the components and every items path refers to it.
"""

from __future__ import annotations

from typing import Any

from netzatlas import __version__
from netzatlas.api.collections import COLLECTIONS
from netzatlas.api.crs import CRS84, OFFERED
from netzatlas.api.params import ITEM_PARAMETERS, LIMIT_DEFAULT, LIMIT_MAX, OFFSET_MAX
from netzatlas.importers.profiles import builtin_names

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
        {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0},
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


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
        **extra,
    }


ERROR = _error("Bad request, with a JSON body naming the problem.")
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
# Responses any operation may give: a refused key (401, even where no key is needed), the rate limit (429), the
# database unavailable (503).
COMMON_RESPONSES = {
    "401": _error("The API key is unknown, revoked or expired"),
    "429": _error("Too many requests from this key or address; retry after Retry-After", headers=RETRY_AFTER),
    "503": _error("The database is unavailable; retry after Retry-After", headers=RETRY_AFTER),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _json_response(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}, "text/html": {}}}


def _tile_paths() -> dict[str, Any]:
    """OGC API Tiles: tile matrix sets, and vector tiles per collection and of all collections."""
    tile_headers = {
        "X-Tile-Omitted": {
            "description": "Layers left out because the tile matrix is below their minimum zoom, as "
            "`layer;minzoom=N, ...` (each tileset layer's minTileMatrix)",
            "schema": {"type": "string"},
        },
        "X-Tile-Truncated": {
            "description": "Layers with more features in the tile than the cap (NETZATLAS_TILE_MAX_FEATURES); "
            "only that many are encoded, as `layer;limit=N, ...`",
            "schema": {"type": "string"},
        },
    }
    mvt = {
        "description": "A Mapbox Vector Tile",
        "headers": tile_headers,
        "content": {"application/vnd.mapbox-vector-tile": {}},
    }
    empty = {
        "description": "No features in the tile: none there, the tile lies outside the area of use of the storage "
        "CRS (EPSG:25832), or every layer is below its minimum zoom",
        "headers": tile_headers,
    }
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
                "responses": {"200": ok, "204": empty, "400": ERROR, "404": ERROR},
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


def _process_paths() -> dict[str, Any]:
    """OGC API Processes: the coverage processes and their jobs."""
    from netzatlas.api.processes import JOBS_LIMIT_MAX, JOBS_OFFSET_MAX, PROCESSES, RUN_STATUS

    pid = _param("processId", "Process", {"type": "string", "enum": list(PROCESSES)}, "path")
    jid = _param("jobId", "Job (coverage run) id", {"type": "string", "format": "uuid"}, "path")

    def op(method: str, summary: str, op_id: str, params: list[dict], responses: dict[str, Any]) -> dict[str, Any]:
        return {
            method: {
                "summary": summary,
                "operationId": op_id,
                "tags": ["processes"],
                "parameters": params,
                "responses": responses,
            }
        }

    execute = op(
        "post",
        "Execute a process (asynchronous; Prefer: respond-sync runs small runs inline)",
        "execute",
        [pid, _param("Prefer", "respond-async (default) or respond-sync", {"type": "string"}, "header")],
        {
            "200": _json_response("Results (synchronous)"),
            "201": _json_response("Job created; Location names it"),
            "400": ERROR,
            "401": ERROR,
            "403": ERROR,
            "404": ERROR,
            "429": _error("Too many queued jobs for this key or overall; retry after Retry-After", headers=RETRY_AFTER),
        },
    )
    publication = {
        "200": _json_response("The run's sensitivity and publication"),
        "401": ERROR,
        "403": ERROR,
        "404": ERROR,
        "409": ERROR,
    }
    execute["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "properties": {"inputs": {"type": "object"}}}}},
    }
    return {
        "/processes": op("get", "Processes", "getProcesses", [], {"200": _json_response("Process list")}),
        "/processes/{processId}": op(
            "get",
            "A process with its inputs and outputs",
            "getProcessDescription",
            [pid],
            {"200": _json_response("Process description"), "404": ERROR},
        ),
        "/processes/{processId}/execution": execute,
        "/jobs": op(
            "get",
            "Jobs, newest first",
            "getJobs",
            [
                _param("limit", "Jobs per page.", {"type": "integer", "minimum": 1, "maximum": JOBS_LIMIT_MAX}),
                _param("offset", "Jobs to skip.", {"type": "integer", "minimum": 0, "maximum": JOBS_OFFSET_MAX}),
                _param("status", "Only jobs in this state.", {"type": "string", "enum": list(RUN_STATUS)}),
                _param("processID", "Only jobs of this process.", {"type": "string", "enum": list(PROCESSES)}),
                _param("f", "Output format.", {"type": "string", "enum": ["json"]}),
            ],
            {"200": _json_response("Job list"), "400": ERROR},
        ),
        "/jobs/{jobId}": op(
            "get",
            "Status, progress and timings of a job",
            "getStatus",
            [jid],
            {"200": _json_response("Status info"), "404": ERROR},
        ),
        "/jobs/{jobId}/results": op(
            "get",
            "Results of a job",
            "getResult",
            [jid],
            {"200": _json_response("Results"), "404": ERROR, "500": ERROR},
        ),
        # a run's aggregates for everyone (netzatlas.coverage.publication); planner and admin keys
        "/jobs/{jobId}/publication": {
            **op(
                "post",
                "Publish the run's 100 m cells, district shares and statistics; rasters and details stay restricted",
                "publishJob",
                [jid],
                publication,
            ),
            **op("delete", "Withdraw the run's publication", "withdrawJob", [jid], publication),
        },
    }


def _admin_paths() -> dict[str, Any]:
    """Municipalities and operators (netzatlas/api/admin.py): admin keys only."""
    ags = _param("ags", "Municipality key (AGS, 8 digits)", {"type": "string", "pattern": "^[0-9]{8}$"}, "path")
    oid = _param("operatorId", "Operator id", {"type": "string"}, "path")
    refused = {"401": ERROR, "403": ERROR}

    def op(method: str, summary: str, op_id: str, params: list[dict], responses: dict[str, Any]) -> dict[str, Any]:
        return {
            method: {
                "summary": summary,
                "operationId": op_id,
                "tags": ["admin"],
                "parameters": params,
                "responses": {**responses, **refused},
            }
        }

    add_municipality = op(
        "post",
        "Register a municipality from a boundary file (any CRS) or the union of a districts file",
        "addMunicipality",
        [],
        {"201": _json_response("The municipality"), "400": ERROR, "409": ERROR},
    )
    add_municipality["post"]["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["ags", "name"],
                    "properties": {
                        "ags": {"type": "string", "pattern": "^[0-9]{8}$"},
                        "name": {"type": "string"},
                        "boundary": {"type": "string", "format": "binary"},
                        "from_districts": {"type": "string", "format": "binary"},
                        "layer": {"type": "string"},
                        "where": {"type": "string"},
                        "note": {"type": "string"},
                        "replace": {"type": "string", "enum": ["true", "false"]},
                    },
                }
            }
        },
    }
    add_operator = op(
        "post",
        "Register an operator",
        "addOperator",
        [],
        {"201": _json_response("The operator"), "400": ERROR, "409": ERROR},
    )
    add_operator["post"]["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "name", "kind"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                        "name": {"type": "string"},
                        "kind": {"type": "string", "enum": ["city", "telecom", "utility", "other"]},
                    },
                }
            }
        },
    }
    return {
        "/municipalities": {
            **op(
                "get",
                "Municipalities with area, districts and population",
                "getMunicipalities",
                [],
                {"200": _json_response("Municipalities")},
            ),
            **add_municipality,
        },
        "/municipalities/{ags}": {
            **op(
                "get",
                "A municipality: districts, population and its sources, operators, latest runs",
                "getMunicipality",
                [ags],
                {"200": _json_response("The municipality"), "404": ERROR},
            ),
            **op(
                "delete",
                "Remove a municipality (refused while anything refers to it)",
                "removeMunicipality",
                [ags],
                {"200": _json_response("What was removed"), "404": ERROR, "409": ERROR},
            ),
        },
        "/operators": {
            **op("get", "Operators", "getOperators", [], {"200": _json_response("Operators")}),
            **add_operator,
        },
        "/operators/{operatorId}": op(
            "get",
            "An operator with its assets and keys",
            "getOperator",
            [oid],
            {"200": _json_response("The operator"), "404": ERROR},
        ),
    }


WRITE_HEADERS = [
    _param("Content-Crs", "CRS of the body's geometry (Part 2), default CRS84.", {"type": "string"}, "header"),
]
IF_MATCH = _param("If-Match", "ETag of the version being changed (required).", {"type": "string"}, "header")
FEATURE_BODY = {
    "required": True,
    "content": {
        "application/geo+json": {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}},
    },
}
WRITE_ERRORS = {
    "400": ERROR,
    "401": ERROR,
    "403": ERROR,
    "404": ERROR,
    "412": ERROR,
    "413": ERROR,
    "422": ERROR,
    "428": ERROR,
}


def _catalog_paths() -> dict[str, Any]:
    """The open-data catalogue (DCAT-AP.de 2.0), always as anonymous callers see the registry."""
    from netzatlas.catalog.dcat import FORMATS

    rdf = {media: {"schema": {"type": "string"}} for _, media in FORMATS.values()}
    inv = ["json", "html", "csv"]
    params = [
        _param(
            "f", "rdf (RDF/XML, the default), ttl or jsonld; or by Accept", {"type": "string", "enum": list(FORMATS)}
        ),
        _param("page", "Hydra page, from 1", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        _param("modified_since", "Only datasets changed since this date or date-time", {"type": "string"}),
    ]
    return {
        "/catalog": {
            "get": {
                "summary": "The DCAT-AP.de 2.0 catalogue of the published datasets, paged with Hydra",
                "operationId": "getCatalog",
                "tags": ["open data"],
                "parameters": params,
                "responses": {"200": {"description": "The catalogue page", "content": rdf}, "400": ERROR},
            }
        },
        "/inventory": {
            "get": {
                "summary": "The data inventory: every holding the caller may know of (planners and admins: all)",
                "operationId": "getInventory",
                "tags": ["open data"],
                "parameters": [
                    _param("f", "json (the default), html or csv; or by Accept", {"type": "string", "enum": inv})
                ],
                "responses": {
                    "200": {
                        "description": "The inventory",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/html": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": ERROR,
                },
            }
        },
        "/opendata/{ags}/{file}": {
            "get": {
                "summary": "An open-data download (GeoPackage, GeoJSON, CSV) or the municipality's manifest.json",
                "operationId": "getOpendataFile",
                "tags": ["open data"],
                "parameters": [
                    {
                        "name": "ags",
                        "in": "path",
                        "required": True,
                        "description": "Municipality key (AGS)",
                        "schema": {"type": "string", "pattern": "^[0-9]{8}$"},
                    },
                    {
                        "name": "file",
                        "in": "path",
                        "required": True,
                        "description": "A file of the manifest, or manifest.json",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
                            "application/geo+json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "400": ERROR,
                    "404": ERROR,
                },
            }
        },
    }


def _records_paths() -> dict[str, Any]:
    """OGC API Records (Part 1): the open-data catalogue as a catalog of record GeoJSON features."""
    from netzatlas.catalog.records import CATALOG_ID

    home = f"/collections/{CATALOG_ID}"
    f = _ref("f")
    terms = {"type": "array", "items": {"type": "string"}}
    items_params = [
        _ref("limit"),
        _ref("offset"),
        _ref("bbox"),
        _param(
            "datetime", "Instant or interval (start/end, '..' open) that a record's time must meet.", {"type": "string"}
        ),
        _param(
            "q",
            "Text search over title, description and keywords: comma-separated terms (any), the words of a term "
            "in that order; case-insensitive.",
            terms,
            style="form",
            explode=False,
        ),
        _param("type", "Only records of these resource types (all are 'dataset').", terms, style="form", explode=False),
        _param("ids", "Only records with these ids.", terms, style="form", explode=False),
        _param(
            "externalIds",
            "Only records with one of these external identifiers (scheme:value).",
            {"type": "array", "items": {"type": "string", "pattern": "([^:]+:)?[^:]+"}},
            style="form",
            explode=False,
        ),
        f,
    ]

    def op(summary: str, op_id: str, parameters: list[dict], ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "operationId": op_id,
                "tags": ["open data"],
                "parameters": parameters,
                "responses": {"200": ok, "400": ERROR, "404": ERROR},
            }
        }

    geojson = {"application/geo+json": {"schema": {"type": "object"}}, "text/html": {}}
    return {
        home: op(
            "The open-data catalogue as an OGC API Records catalog",
            "getRecordsCatalog",
            [f],
            _json_response("The catalog"),
        ),
        f"{home}/items": op(
            "Records of the open-data catalogue (the datasets of /catalog)",
            "getRecords",
            items_params,
            {"description": "Records (a GeoJSON FeatureCollection)", "content": geojson},
        ),
        f"{home}/items/{{recordId}}": op(
            "A record of the open-data catalogue",
            "getRecord",
            [_param("recordId", "Id of a record (a dataset of /catalog).", {"type": "string"}, "path"), f],
            {"description": "A record (a GeoJSON Feature)", "content": geojson},
        ),
    }


def _add_write_paths(paths: dict[str, Any]) -> None:
    """OGC API Features Part 4 on the asset collections, and partner deliveries (POST /submissions)."""
    for cid, coll in COLLECTIONS.items():
        if coll.kind is None:
            continue
        op = cid.replace("-", "_")
        secured = [{"bearer": []}, {"apiKey": []}]
        paths[f"/collections/{cid}/items"]["post"] = {
            "summary": f"{coll.title}: create a feature (Part 4)",
            "operationId": f"create_{op}",
            "tags": [cid],
            "parameters": WRITE_HEADERS,
            "requestBody": FEATURE_BODY,
            "security": secured,
            "responses": {"201": {"description": "Created; Location and ETag headers"}, **WRITE_ERRORS},
        }
        paths[f"/collections/{cid}/items"]["options"] = {
            "summary": f"{coll.title}: allowed methods",
            "operationId": f"options_items_{op}",
            "tags": [cid],
            "responses": {"204": {"description": "Allow header"}},
        }
        item = paths[f"/collections/{cid}/items/{{featureId}}"]
        for method, summary in (("put", "replace"), ("patch", "update")):
            item[method] = {
                "summary": f"{coll.title}: {summary} a feature (Part 4)",
                "operationId": f"{summary}_{op}",
                "tags": [cid],
                "parameters": [_ref("featureId"), IF_MATCH, *WRITE_HEADERS],
                "requestBody": FEATURE_BODY,
                "security": secured,
                "responses": {"204": {"description": "Changed; ETag of the new version"}, **WRITE_ERRORS},
            }
        item["delete"] = {
            "summary": f"{coll.title}: retire a feature (Part 4; it stays in the history)",
            "operationId": f"delete_{op}",
            "tags": [cid],
            "parameters": [_ref("featureId"), IF_MATCH],
            "security": secured,
            "responses": {"204": {"description": "Retired"}, **WRITE_ERRORS},
        }
        item["options"] = {
            "summary": f"{coll.title}: allowed methods on a feature",
            "operationId": f"options_item_{op}",
            "tags": [cid],
            "parameters": [_ref("featureId")],
            "responses": {"204": {"description": "Allow header"}, "404": ERROR},
        }
    paths["/submissions"] = {
        "post": {
            "summary": "Deliver a file (GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML, CSV)",
            "operationId": "createSubmission",
            "tags": ["submissions"],
            "security": [{"bearer": []}, {"apiKey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "operator": {"type": "string"},
                                "profile": {
                                    "description": "A built-in profile's name, or a profile file "
                                    "(.yaml, .yml or .json, at most 1 MiB) uploaded in this field",
                                    "oneOf": [
                                        {"type": "string", "enum": builtin_names()},
                                        {"type": "string", "format": "binary"},
                                    ],
                                },
                                "dry_run": {"type": "boolean"},
                                "repair": {"type": "boolean"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _json_response("Loaded (or validated, for a dry run), with the validation report"),
                "422": _json_response("Rejected, with the validation report"),
                "400": ERROR,
                "401": ERROR,
                "403": ERROR,
            },
        }
    }
    paths["/submissions/{submissionId}"] = {
        "get": {
            "summary": "A submission with its status, counts and validation report",
            "operationId": "getSubmission",
            "tags": ["submissions"],
            "parameters": [_param("submissionId", "Id of a submission.", {"type": "string"}, "path"), _ref("f")],
            "security": [{"bearer": []}, {"apiKey": []}],
            "responses": {"200": _json_response("Submission"), "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR},
        }
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
                "parameters": [*(_ref(p) for p in ITEM_PARAMETERS if p != "asOf" or coll.history_table), *eq],
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
                    *([_ref("asOf")] if coll.history_table else []),
                    _ref("properties"),
                    _ref("skipGeometry"),
                    _ref("f"),
                ],
                "responses": {"200": _json_response("Feature", "application/geo+json"), "400": ERROR, "404": ERROR},
            }
        }
    paths.update(_tile_paths())
    paths.update(_process_paths())
    paths.update(_admin_paths())
    paths.update(_catalog_paths())
    paths.update(_records_paths())
    _add_write_paths(paths)
    for path in paths.values():
        for operation in path.values():
            if operation.get("parameters") and "options" not in operation["operationId"]:
                operation["responses"].setdefault("400", ERROR)  # a bad parameter value
            for status, response in COMMON_RESPONSES.items():
                operation["responses"].setdefault(status, response)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Netzatlas",
            "version": __version__,
            "description": "OGC API Features (Parts 1-4) of the Netzatlas infrastructure registry.",
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
