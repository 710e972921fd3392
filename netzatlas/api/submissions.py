"""Partner deliveries over HTTP: POST /submissions (multipart upload), GET /submissions/{id}, and templates."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from netzatlas import db
from netzatlas.api.auth import principal
from netzatlas.api.errors import ApiError, bad_request, not_found
from netzatlas.api.features import collection_or_404
from netzatlas.api.html import render
from netzatlas.api.negotiation import json_response, url, wants_html
from netzatlas.config import get_settings
from netzatlas.importers.deliveries import ImportError_, get_submission, run_import
from netzatlas.importers.files import DeliveryError
from netzatlas.importers.profiles import MAX_PROFILE_BYTES, PROFILE_SUFFIXES, builtin_names
from netzatlas.registry.keys import Principal

router = APIRouter()
TEMPLATE_TYPES = {"gpkg": "application/geopackage+sqlite3", "csv": "text/csv"}


def _may_deliver(who: Principal, operator: str | None) -> bool:
    return who.role in ("planner", "admin") or (who.role == "partner" and who.operator == operator)


def _flag(value: Any) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on")


async def _profile(value: Any, workdir: Path) -> str | None:
    """The form field `profile`: a built-in profile's name, or an uploaded profile file (saved into `workdir`).

    Never a path: a request must not make the server read its own files."""
    if isinstance(value, UploadFile):
        suffix = Path(value.filename or "").suffix.lower()
        if suffix not in PROFILE_SUFFIXES:
            raise bad_request(f"profile: upload a {' or '.join(PROFILE_SUFFIXES)} file, got {value.filename!r}")
        data = await value.read(MAX_PROFILE_BYTES + 1)
        if len(data) > MAX_PROFILE_BYTES:
            raise bad_request(f"profile: more than {MAX_PROFILE_BYTES:,} bytes")
        target = Path(tempfile.mkdtemp(dir=workdir)) / f"uploaded{suffix}"
        target.write_bytes(data)
        return str(target)
    name = str(value or "")
    if not name:
        return None
    if name not in builtin_names():
        raise bad_request(
            f"profile: no built-in profile {name!r}; built-in: {', '.join(builtin_names())}, "
            "or upload a profile file as the multipart field 'profile'"
        )
    return name


@router.post("/submissions", tags=["submissions"])
async def create_submission(request: Request) -> Response:
    who = await principal(request)
    if who.role == "anonymous":
        raise ApiError(401, "Unauthorized", "deliveries need an API key", {"WWW-Authenticate": "Bearer"})
    settings = get_settings()
    limit = settings.import_max_mb * 1024 * 1024
    form = await request.form(max_part_size=limit)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise bad_request("send the delivery as the multipart field 'file'")
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            raise bad_request(f"{name}: must not contain NUL bytes")
    operator = str(form.get("operator") or who.operator or "")
    if not operator:
        raise bad_request("operator: required for planner and admin keys")
    if not _may_deliver(who, operator):
        raise ApiError(403, "Forbidden", f"this key delivers only for operator {who.operator!r}")
    with tempfile.TemporaryDirectory(prefix="netzatlas-upload-") as d:
        path = Path(d) / Path(upload.filename).name
        with path.open("wb") as out:
            size = 0
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "PayloadTooLarge", f"the delivery is larger than {settings.import_max_mb} MiB")
                out.write(chunk)
        profile = await _profile(form.get("profile"), Path(d))

        def work() -> tuple:
            return run_import(
                path,
                operator,
                profile,
                url=request.app.state.database_url,
                home=settings.home,
                actor=who.actor,
                dry_run=_flag(form.get("dry_run")),
                repair=_flag(form.get("repair")),
                municipality=str(form.get("municipality") or "") or None,
                kind=str(form.get("kind") or "") or None,
                max_bytes=limit,
            )

        try:
            sid, status, report = await run_in_threadpool(work)
        except (ImportError_, DeliveryError) as e:
            raise bad_request(str(e)) from None
        finally:
            shutil.rmtree(d, ignore_errors=True)
    doc = {"id": str(sid) if sid else None, "status": status, "report": report.to_json()}
    headers = {"Location": url(request, f"/submissions/{sid}")} if sid else None
    return json_response(doc, status=422 if status in ("rejected", "failed") else 201, headers=headers)


@router.get("/submissions/{submission_id}", tags=["submissions"])
async def show_submission(request: Request, submission_id: str) -> Response:
    html = wants_html(request)
    who = await principal(request)
    if who.role == "anonymous":
        raise ApiError(401, "Unauthorized", "submissions need an API key", {"WWW-Authenticate": "Bearer"})

    def fetch() -> dict[str, Any] | None:
        with db.connect(request.app.state.database_url) as conn:
            return get_submission(conn, submission_id)

    row = await run_in_threadpool(fetch)
    if row is None or not _may_deliver(who, row["operator"]):
        raise not_found(f"no submission {submission_id!r}")
    doc = {k: (str(v) if k in ("id", "created_at", "finished_at") and v is not None else v) for k, v in row.items()}
    if html:
        return render(request, "submission.html", sub=doc, report=row["report"] or {})
    return json_response(doc)


@router.get("/collections/{collection_id}/template", tags=["submissions"])
async def template(request: Request, collection_id: str) -> Response:
    from netzatlas.importers.templates import template_bytes

    coll = collection_or_404(collection_id)
    if coll.kind is None:
        raise not_found(f"{coll.id!r} has no delivery template (reference layers use the built-in profiles)")
    fmt = request.query_params.get("f", "gpkg").lower()
    if fmt not in TEMPLATE_TYPES:
        raise bad_request(f"f must be one of {', '.join(TEMPLATE_TYPES)}, got {fmt!r}")
    body = await run_in_threadpool(template_bytes, coll.id, fmt)
    return Response(
        body,
        media_type=TEMPLATE_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{coll.id}.{fmt}"'},
    )
