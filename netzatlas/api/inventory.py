"""The data inventory at /inventory (HTML, JSON, CSV): every holding, for planners and admins the non-public
ones too; everyone else sees the public rows, which are the catalogue's datasets.

The catalogue's rows are read as the anonymous caller (as /catalog does); the asset groups are counted as the
caller itself under row-level security, and only planners and admins get the queries that name hidden holdings,
so an anonymous caller learns neither hidden rows nor their counts.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from netzatlas.api.auth import principal
from netzatlas.api.errors import bad_request
from netzatlas.api.html import render
from netzatlas.catalog import inventory
from netzatlas.catalog.datasets import QUERIES, build
from netzatlas.config import get_settings
from netzatlas.registry import access

router = APIRouter()
FORMATS = {"json": "application/json", "html": "text/html", "csv": "text/csv"}


def _format(request: Request) -> str:
    f = request.query_params.get("f")
    if f is not None:
        if f.lower() not in FORMATS:
            raise bad_request(f"f must be one of {', '.join(FORMATS)}, got {f!r}")
        return f.lower()
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        for name, mt in FORMATS.items():
            if media == mt:
                return name
    return "json"


async def entries(request: Request) -> list[inventory.Entry]:
    who = await principal(request)
    sees_all = who.role in ("planner", "admin")
    pool = request.app.state.pool
    rows: dict[str, list[dict[str, Any]]] = {}
    with access.acting_as(access.ANONYMOUS):
        async with pool.connection() as conn:
            for name, sql in QUERIES.items():
                rows[name] = await (await conn.execute(sql)).fetchall()
            if not sees_all:  # partners too: the inventory's public view, not their own rows
                groups = await (await conn.execute(inventory.ASSET_GROUPS)).fetchall()
    datasets, left = build(rows, get_settings())
    if not sees_all:
        return inventory.build(datasets, groups)
    async with pool.connection() as conn:  # states the planner's or admin's caller: row-level security
        groups = await (await conn.execute(inventory.ASSET_GROUPS)).fetchall()
        hidden = await (await conn.execute(inventory.HIDDEN_RUNS)).fetchall()
    return inventory.build(datasets, groups, left, hidden)


@router.get("/inventory", tags=["open data"])
async def get_inventory(request: Request) -> Response:
    """The data inventory: holdings with owner, size, access rights and why not public."""
    unknown = sorted(set(request.query_params) - {"f"})
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r}; allowed: f")
    fmt = _format(request)
    found = await entries(request)
    headers = {"Vary": "Accept, Authorization"}
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(inventory.CSV_COLUMNS)
        for e in found:
            w.writerow(inventory.csv_row(e))
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "html":
        return render(request, "inventory.html", headers=headers, entries=found)
    doc = {"numberOfEntries": len(found), "entries": [e.record() for e in found]}
    return JSONResponse(doc, headers=headers)
