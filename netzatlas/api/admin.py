"""Onboarding through the API, for admin keys: /municipalities and /operators (netzatlas.registry holds the logic).

Anonymous callers get 401, other keys 403; bad input 400, unknown ids 404, a refused change (already
registered, still referenced) 409, each with the JSON error body.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from netzatlas import db
from netzatlas.api.auth import principal, unauthorized
from netzatlas.api.errors import ApiError, bad_request
from netzatlas.api.negotiation import json_response, url
from netzatlas.config import get_settings
from netzatlas.registry import municipalities as muni
from netzatlas.registry import operators as ops
from netzatlas.registry.keys import Principal

router = APIRouter()
CODES = {400: "InvalidParameterValue", 404: "NotFound", 409: "Conflict"}
MAX_FIELD = 2000  # characters of a text form field (name, layer, where, note)


async def _admin(request: Request) -> Principal:
    who = await principal(request)
    if who.role == "anonymous":
        raise unauthorized("onboarding municipalities and operators needs an admin key")
    if who.role != "admin":
        raise ApiError(403, "Forbidden", "onboarding municipalities and operators needs an admin key")
    return who


async def _call(fn: Callable[[], Any]) -> Any:
    """Run registry code on a worker thread; its errors become the JSON error body with their status."""
    try:
        return await run_in_threadpool(fn)
    except (muni.MunicipalityError, ops.OperatorError) as e:
        raise ApiError(e.status, CODES.get(e.status, "Error"), str(e)) from None


def _text(form: Any, name: str, required: bool = False) -> str | None:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise bad_request(f"{name}: expected a text field, got a file")
    if value in (None, ""):
        if required:
            raise bad_request(f"{name}: required")
        return None
    if "\x00" in value or len(value) > MAX_FIELD:
        raise bad_request(f"{name}: text without NUL bytes of at most {MAX_FIELD} characters")
    return value


@router.get("/municipalities", tags=["admin"])
async def list_municipalities(request: Request) -> Response:
    """Every municipality with area, districts, assets and population (null: unknown)."""
    await _admin(request)
    url_ = request.app.state.database_url

    def work() -> list[dict[str, Any]]:
        with db.connect(url_) as conn:
            return muni.list_all(conn)

    rows = await _call(work)
    return json_response({"municipalities": orjson.loads(orjson.dumps(rows, default=str))})


@router.post("/municipalities", tags=["admin"])
async def add_municipality(request: Request) -> Response:
    """Multipart form: `ags`, `name`, and `boundary` (a file GDAL reads, any CRS; optional `layer`, `where`)
    or `from_districts` (a districts file: the boundary is their union and they are loaded); `note`, `replace`."""
    who = await _admin(request)
    settings = get_settings()
    limit = settings.import_max_mb * 1024 * 1024
    try:
        form = await request.form(max_part_size=limit)
    except Exception:  # not a form: say what is expected
        raise bad_request("send a multipart form with ags, name and a boundary or from_districts file") from None
    ags, name = _text(form, "ags", True), _text(form, "name", True)
    layer, where, note = _text(form, "layer"), _text(form, "where"), _text(form, "note")
    replace = (_text(form, "replace") or "").lower() in ("1", "true", "yes")
    files = {k: form.get(k) for k in ("boundary", "from_districts") if isinstance(form.get(k), UploadFile)}
    if len(files) != 1:
        raise bad_request("send exactly one file: boundary or from_districts")
    ((kind, upload),) = files.items()
    if kind == "from_districts" and (layer or where):
        raise bad_request("layer and where apply to boundary; a districts file is loaded whole")
    url_ = request.app.state.database_url
    d = tempfile.mkdtemp(prefix="netzatlas-boundary-")
    try:
        path = Path(d) / (Path(upload.filename or "upload").name or "upload")
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out)

        def work() -> dict[str, Any]:
            loaded = None
            if kind == "from_districts":
                _row, report = muni.add_from_districts(
                    url_, str(ags), str(name), path, home=settings.home, actor=who.actor, replace=replace
                )
                loaded = report.summary()
            else:
                geom = muni.read_boundary(path, layer, where)
                with db.transaction(url_, actor=who.actor) as conn:
                    muni.add(conn, str(ags), str(name), geom, note, replace=replace)
            with db.connect(url_) as conn:
                doc = muni.show(conn, str(ags))
            if loaded:
                doc["districts_loaded"] = loaded
            return doc

        out_doc = await _call(work)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return json_response(
        orjson.loads(orjson.dumps(out_doc, default=str)),
        status=201,
        headers={"Location": url(request, f"/municipalities/{out_doc['ags']}")},
    )


@router.get("/municipalities/{ags}", tags=["admin"])
async def show_municipality(request: Request, ags: str) -> Response:
    """Area, districts, population (total null and status "unknown" when nothing is loaded), operators, runs."""
    await _admin(request)
    url_ = request.app.state.database_url

    def work() -> dict[str, Any]:
        with db.connect(url_) as conn:
            return muni.show(conn, ags)

    return json_response(orjson.loads(orjson.dumps(await _call(work), default=str)))


@router.delete("/municipalities/{ags}", tags=["admin"])
async def remove_municipality(request: Request, ags: str) -> Response:
    """Remove a municipality with its districts; 409 naming what still references it."""
    who = await _admin(request)
    url_ = request.app.state.database_url

    def work() -> dict[str, Any]:
        with db.transaction(url_, actor=who.actor) as conn:
            return muni.remove(conn, ags)

    return json_response(await _call(work))


@router.get("/operators", tags=["admin"])
async def list_operators(request: Request) -> Response:
    await _admin(request)
    url_ = request.app.state.database_url

    def work() -> list[dict[str, Any]]:
        with db.connect(url_) as conn:
            return ops.list_all(conn)

    return json_response({"operators": orjson.loads(orjson.dumps(await _call(work), default=str))})


@router.post("/operators", tags=["admin"])
async def add_operator(request: Request) -> Response:
    """JSON body {"id", "name", "kind"} with kind telecom, city, utility or other."""
    who = await _admin(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise bad_request('send a JSON object {"id", "name", "kind"}') from None
    if not isinstance(body, dict) or set(body) - {"id", "name", "kind"}:
        raise bad_request('send a JSON object with exactly the members "id", "name" and "kind"')
    url_ = request.app.state.database_url

    def work() -> dict[str, Any]:
        with db.transaction(url_, actor=who.actor) as conn:
            return ops.add(conn, body.get("id"), body.get("name"), body.get("kind"))

    row = await _call(work)
    return json_response(
        orjson.loads(orjson.dumps(row, default=str)),
        status=201,
        headers={"Location": url(request, f"/operators/{row['id']}")},
    )


@router.get("/operators/{operator_id}", tags=["admin"])
async def show_operator(request: Request, operator_id: str) -> Response:
    await _admin(request)
    url_ = request.app.state.database_url

    def work() -> dict[str, Any]:
        with db.connect(url_) as conn:
            return ops.show(conn, operator_id)

    return json_response(orjson.loads(orjson.dumps(await _call(work), default=str)))
