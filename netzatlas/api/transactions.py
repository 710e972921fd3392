"""OGC API Features Part 4 on the asset collections: create, replace, update, retire, with ETag locking.

Writes go through the registry's asset provider (netzatlas.registry.provider) in one transaction each, with the
caller's key as the actor of the history. Partners write only their own operator's assets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import orjson
import psycopg
import shapely
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from netzatlas import db
from netzatlas.api import crs as crs_mod
from netzatlas.api.auth import principal
from netzatlas.api.collections import Collection
from netzatlas.api.errors import ApiError, not_found
from netzatlas.api.features import collection_or_404
from netzatlas.api.negotiation import url
from netzatlas.registry.keys import Principal
from netzatlas.registry.provider import (
    AssetInput,
    AssetProvider,
    Conflict,
    NotFound,
    StaleVersion,
    ValidationError,
)

router = APIRouter()

COMMON = ("name", "status", "sensitivity", "commissioned_on", "decommissioned_on")
READ_ONLY = ("version", "updated_at", "submission_id", "municipality")
WRITERS = ("partner", "planner", "admin")


def _asset_collection(collection_id: str) -> Collection:
    coll = collection_or_404(collection_id)
    if coll.kind is None:
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"{coll.id!r} is a reference layer; it is loaded by import only",
            {"Allow": "GET, OPTIONS"},
        )
    return coll


async def _writer(request: Request) -> Principal:
    who = await principal(request)
    if who.role == "anonymous":
        raise ApiError(401, "Unauthorized", "writing needs an API key", {"WWW-Authenticate": "Bearer"})
    if who.role not in WRITERS:
        raise ApiError(403, "Forbidden", f"role {who.role!r} cannot write")
    return who


def _may_write(who: Principal, operator: str | None) -> bool:
    return who.role in ("planner", "admin") or (who.role == "partner" and who.operator == operator)


def _visible(who: Principal, row: dict[str, Any]) -> bool:
    if who.role in ("planner", "admin"):
        return True
    return row["sensitivity"] == "public" or (who.role == "partner" and row["operator"] == who.operator)


def _if_match(request: Request) -> int:
    value = request.headers.get("if-match")
    if not value:
        raise ApiError(428, "PreconditionRequired", "send If-Match with the ETag of the feature you change")
    tag = value.strip().removeprefix("W/").strip('"')
    try:
        return int(tag)
    except ValueError:
        raise ApiError(412, "PreconditionFailed", f"If-Match {value!r} is not an ETag of this server") from None


# A feature body larger than this is refused unread (a 100,000-vertex line in GeoJSON is about 4 MiB).
MAX_BODY = 16 * 1024 * 1024


async def _body(request: Request) -> bytes:
    too_large = ApiError(413, "PayloadTooLarge", f"a feature body is at most {MAX_BODY:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _nul_path(doc: Any) -> str | None:
    """The path of the first key or string in a JSON document holding a NUL byte (iterative: bodies nest deep)."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            return path or "the body"
        if isinstance(value, dict):
            for k, v in value.items():
                if "\x00" in k:
                    return f"{path}.{k!r}" if path else repr(k)
                stack.append((f"{path}.{k}" if path else k, v))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return None


async def _feature(request: Request) -> dict[str, Any]:
    try:
        doc = orjson.loads(await _body(request))
    except orjson.JSONDecodeError as e:
        raise ApiError(400, "InvalidBody", f"the body is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise ApiError(400, "InvalidBody", "the body must be a GeoJSON Feature")
    if where := _nul_path(doc):  # PostgreSQL text and jsonb cannot hold NUL
        raise ApiError(400, "InvalidBody", f"{where}: must not contain NUL bytes")
    if doc.get("properties") is not None and not isinstance(doc["properties"], dict):
        raise ApiError(400, "InvalidBody", "properties must be an object")
    return doc


def _geometry(request: Request, doc: dict[str, Any]) -> tuple[Any, int]:
    """The feature's geometry as shapely in the Content-Crs (default CRS84), and that CRS's SRID."""
    c = crs_mod.resolve(request.headers.get("content-crs"), "Content-Crs")
    geom = doc.get("geometry")
    if geom is None:
        return None, c.srid
    try:
        shape = shapely.geometry.shape(geom)
    except Exception as e:
        raise ApiError(400, "InvalidBody", f"geometry: not a GeoJSON geometry ({e})") from None
    if c.swap:
        shape = shapely.transform(shape, lambda xy: xy[:, ::-1])
    return shape, c.srid


def _split(coll: Collection, props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Feature properties -> (common fields, attributes); read-only properties are ignored."""
    common, attrs = {}, {}
    for k, v in props.items():
        if k in COMMON:
            common[k] = v
        elif k in ("external_id", "operator", *READ_ONLY):
            continue
        else:
            attrs[k] = v
    return common, attrs


def _invalid(e: ValidationError) -> ApiError:
    return ApiError(
        422, "InvalidFeature", str(e), extra={"problems": [{"field": p.field, "reason": p.reason} for p in e.problems]}
    )


async def _run(request: Request, who: Principal, fn: Callable[[AssetProvider], Any]) -> Any:
    def work() -> Any:
        with db.transaction(request.app.state.database_url, actor=who.actor) as conn:
            return fn(AssetProvider(conn))

    try:
        return await run_in_threadpool(work)
    except ValidationError as e:
        raise _invalid(e) from None
    except StaleVersion as e:
        raise ApiError(412, "PreconditionFailed", str(e), {"ETag": f'"{e.current}"'}) from None
    except NotFound as e:
        raise not_found(str(e)) from None
    except Conflict as e:
        raise ApiError(409, "Conflict", str(e)) from None
    except psycopg.errors.InsufficientPrivilege as e:  # e.g. a partner lowering a sensitivity (migration 0007)
        raise ApiError(403, "Forbidden", e.diag.message_primary or "not allowed for this key") from None


def _current(assets: AssetProvider, coll: Collection, who: Principal, feature_id: str) -> dict[str, Any]:
    try:
        row = assets.get(feature_id, kind=coll.id, retired=False)
    except NotFound:
        row = None
    if row is None or not _visible(who, row):
        raise NotFound(f"no feature {feature_id!r} in {coll.id!r}")
    if not _may_write(who, row["operator"]):
        raise ApiError(403, "Forbidden", f"this key writes only assets of operator {who.operator!r}")
    return row


@router.post("/collections/{collection_id}/items", tags=["transactions"])
async def create_item(request: Request, collection_id: str) -> Response:
    coll = _asset_collection(collection_id)
    who = await _writer(request)
    doc = await _feature(request)
    props = doc.get("properties") or {}
    operator = props.get("operator") or who.operator
    if not operator:
        raise ApiError(422, "InvalidFeature", "properties.operator: required for planner and admin keys")
    if not _may_write(who, operator):
        raise ApiError(403, "Forbidden", f"this key writes only assets of operator {who.operator!r}")
    geom, srid = _geometry(request, doc)
    common, attrs = _split(coll, props)
    data = AssetInput(
        kind=coll.id,
        operator=operator,
        external_id=str(props.get("external_id") or doc.get("id") or uuid4()),
        geometry=geom,
        attributes=attrs,
        crs=srid,
        **{k: v for k, v in common.items() if v is not None},
    )
    row = await _run(request, who, lambda assets: assets.create(data))
    location = url(request, f"/collections/{coll.id}/items/{row['id']}")
    return Response(status_code=201, headers={"Location": location, "ETag": f'"{row["version"]}"'})


async def _change(request: Request, collection_id: str, feature_id: str, replace: bool) -> Response:
    coll = _asset_collection(collection_id)
    who = await _writer(request)
    version = _if_match(request)
    doc = await _feature(request)
    geom, srid = _geometry(request, doc)
    common, attrs = _split(coll, doc.get("properties") or {})

    def apply(assets: AssetProvider) -> dict[str, Any]:
        current = _current(assets, coll, who, feature_id)
        if replace:  # left out: reset, but the sensitivity is kept (provider.REPLACE_DEFAULTS)
            return assets.replace(
                current["id"], version, {**common, "attributes": attrs, "geometry": geom, "crs": srid}
            )
        changes: dict[str, Any] = dict(common)
        if attrs:  # merged into the asset's; None removes one
            changes["attributes"] = attrs
        if geom is not None:
            changes.update(geometry=geom, crs=srid)
        return assets.update(current["id"], version, changes)

    row = await _run(request, who, apply)
    return Response(status_code=204, headers={"ETag": f'"{row["version"]}"'})


@router.put("/collections/{collection_id}/items/{feature_id}", tags=["transactions"])
async def replace_item(request: Request, collection_id: str, feature_id: str) -> Response:
    return await _change(request, collection_id, feature_id, replace=True)


@router.patch("/collections/{collection_id}/items/{feature_id}", tags=["transactions"])
async def update_item(request: Request, collection_id: str, feature_id: str) -> Response:
    return await _change(request, collection_id, feature_id, replace=False)


@router.delete("/collections/{collection_id}/items/{feature_id}", tags=["transactions"])
async def delete_item(request: Request, collection_id: str, feature_id: str) -> Response:
    coll = _asset_collection(collection_id)
    who = await _writer(request)
    version = _if_match(request)

    def retire(assets: AssetProvider) -> dict[str, Any]:
        return assets.retire(_current(assets, coll, who, feature_id)["id"], version)

    await _run(request, who, retire)
    return Response(status_code=204)


@router.options("/collections/{collection_id}/items", tags=["transactions"])
async def options_items(request: Request, collection_id: str) -> Response:
    coll = collection_or_404(collection_id)
    who = await principal(request)
    allow = "GET, POST, OPTIONS" if coll.kind and who.role in WRITERS else "GET, OPTIONS"
    return Response(status_code=204, headers={"Allow": allow})


@router.options("/collections/{collection_id}/items/{feature_id}", tags=["transactions"])
async def options_item(request: Request, collection_id: str, feature_id: str) -> Response:
    coll = collection_or_404(collection_id)
    who = await principal(request)
    allow = "GET, OPTIONS"
    if coll.kind and who.role in WRITERS:

        def may(assets: AssetProvider) -> bool:
            try:
                _current(assets, coll, who, feature_id)
            except ApiError:
                return False
            return True

        if await _run(request, who, may):
            allow = "GET, PUT, PATCH, DELETE, OPTIONS"
    return Response(status_code=204, headers={"Allow": allow})
