"""The planner's web map at /map (MapLibre GL JS, served from this application, no CDN).

Both pages (/map and /dashboard) show one municipality at a time: the first by AGS, or `?municipality=AGS`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from netzatlas.api.collections import COLLECTIONS
from netzatlas.api.errors import ApiError, not_found
from netzatlas.api.html import render
from netzatlas.api.negotiation import base_url
from netzatlas.api.previews import corners, is_level_raster
from netzatlas.config import get_settings
from netzatlas.coverage import runs
from netzatlas.registry import access
from netzatlas.registry.kinds import KINDS, STATUSES

router = APIRouter()

# Colours of the asset layers (colour-blind safe palette) and how each is drawn.
STYLE = {
    "fiber-routes": ("#0072b2", "line"),
    "network-nodes": ("#e69f00", "circle"),
    "mobile-sites": ("#d55e00", "circle"),
    "sensors": ("#009e73", "circle"),
    "actuators": ("#cc79a7", "circle"),
    "iot-gateways": ("#56b4e9", "circle"),
}


# Germany, for a registry without any municipality boundary yet.
GERMANY = [5.8, 47.2, 15.1, 55.1]
# How many municipalities an "unknown municipality" error lists by name.
LISTED = 20


async def _rows(request: Request, sql: str, params: Any = None) -> list[dict[str, Any]]:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def municipalities(request: Request) -> list[dict[str, Any]]:
    """Every registered municipality by AGS, with the bounding box of its boundary in WGS 84 (None without one)."""
    return await _rows(
        request,
        """SELECT m.ags, m.name, ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2
           FROM municipalities m, LATERAL (SELECT ST_Transform(m.boundary, 4326) AS e) b ORDER BY m.ags""",
    )


def choose(request: Request, known: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The municipality the page shows: `?municipality=AGS`, else the first by AGS (None when none is registered).
    An unknown AGS is a 404 naming the registered ones, never a silent fallback to another municipality."""
    ags = request.query_params.get("municipality")
    if not ags:
        return known[0] if known else None
    for m in known:
        if m["ags"] == ags:
            return m
    names = ", ".join(f"{m['ags']} ({m['name']})" for m in known[:LISTED])
    more = f" and {len(known) - LISTED} more" if len(known) > LISTED else ""
    raise not_found(f"no municipality {ags[:40]!r}; registered: {names or 'none'}{more}")


def html_error(request: Request, exc: ApiError) -> Response:
    """An API error as an HTML page, for the pages a browser opens."""
    response = render(request, "error.html", error=exc)
    response.status_code = exc.status
    return response


def bbox(row: dict[str, Any]) -> list[float] | None:
    return None if row.get("x1") is None else [row["x1"], row["y1"], row["x2"], row["y2"]]


@router.get("/map", include_in_schema=False)
async def web_map(request: Request) -> Response:
    known = await municipalities(request)
    try:
        chosen = choose(request, known)
    except ApiError as e:
        return html_error(request, e)
    settings = get_settings()
    ags = chosen["ags"] if chosen else None
    operators = await _rows(request, "SELECT id, name FROM operators ORDER BY name")
    districts = await _rows(
        request,
        """SELECT d.name, ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2
           FROM districts d, LATERAL (SELECT ST_Transform(d.boundary, 4326) AS e) b
           WHERE d.municipality = %s ORDER BY d.name""",
        (ags,),
    )
    # a municipality registered without a boundary: the box of its districts, else all of Germany
    bounds = (bbox(chosen) if chosen else None) or (
        [
            min(d["x1"] for d in districts),
            min(d["y1"] for d in districts),
            max(d["x2"] for d in districts),
            max(d["y2"] for d in districts),
        ]
        if districts
        else GERMANY
    )
    latest = await _rows(
        request,
        f"""SELECT id::text, analysis, outputs, sensitivity FROM coverage_runs
            WHERE id IN ({runs.LATEST_RUNS_SQL}) AND municipality = %s ORDER BY analysis""",
        (ags,),
    )
    rasters = []
    for run in (r for r in latest if access.sees_run_details(r["sensitivity"])):
        for name, out in run["outputs"].items():
            path = runs.output_dir(run["id"]) / out["file"]
            if path.is_file() and is_level_raster(out):
                rasters.append(
                    {
                        "id": f"raster-{run['analysis']}-{name}",
                        "title": f"{run['analysis']} {name} (latest run)",
                        "url": f"{base_url(request)}/jobs/{run['id']}/outputs/{out['file']}/preview.png",
                        "coordinates": corners(path),
                    }
                )
    config = {
        "layers": [{"id": k.id, "title": k.title, "color": STYLE[k.id][0], "type": STYLE[k.id][1]} for k in KINDS],
        "reference": [c for c in ("districts", "buildings", "population-cells") if c in COLLECTIONS],
        # gap polygons of the latest run of each analysis (from the tiles' coverage-gaps layer) and rasters
        "gapRuns": [r["id"] for r in latest],
        "rasters": rasters,
        "operators": operators,
        "statuses": list(STATUSES),
        "municipality": {"ags": ags, "name": chosen["name"]} if chosen else None,
        "municipalities": [{"ags": m["ags"], "name": m["name"]} for m in known],
        "districts": [{"name": d["name"], "bbox": [d["x1"], d["y1"], d["x2"], d["y2"]]} for d in districts],
        "bounds": bounds,
        "basemap": {"url": settings.basemap_url, "attribution": settings.basemap_attribution}
        if settings.basemap_url
        else None,
    }
    # "</" cannot close the script element that carries the configuration
    return render(
        request,
        "map.html",
        municipality=config["municipality"],
        municipalities=config["municipalities"],
        config=orjson.dumps(config).decode().replace("</", "<\\/"),
    )
