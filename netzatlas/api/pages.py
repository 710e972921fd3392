"""The planner's web map at /map (MapLibre GL JS, served from this application, no CDN)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from netzatlas.api.collections import COLLECTIONS
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


async def _rows(request: Request, sql: str) -> list[dict[str, Any]]:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(sql)
        return await cur.fetchall()


@router.get("/map", include_in_schema=False)
async def web_map(request: Request) -> Response:
    settings = get_settings()
    operators = await _rows(request, "SELECT id, name FROM operators ORDER BY name")
    districts = await _rows(
        request,
        """SELECT d.name, ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2
           FROM districts d, LATERAL (SELECT ST_Transform(d.boundary, 4326) AS e) b ORDER BY d.name""",
    )
    extent = await _rows(
        request,
        """SELECT ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2
           FROM (SELECT ST_Transform(ST_SetSRID(ST_Extent(boundary), 25832), 4326) AS e FROM municipalities) s""",
    )
    bounds = [[r["x1"], r["y1"], r["x2"], r["y2"]] for r in extent if r["x1"] is not None]
    latest = await _rows(
        request,
        """SELECT DISTINCT ON (analysis) id::text, analysis, outputs, sensitivity FROM coverage_runs
           WHERE status = 'succeeded' ORDER BY analysis, finished_at DESC""",
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
        "districts": [{"name": d["name"], "bbox": [d["x1"], d["y1"], d["x2"], d["y2"]]} for d in districts],
        "bounds": bounds[0] if bounds else [5.8, 47.2, 15.1, 55.1],
        "basemap": {"url": settings.basemap_url, "attribution": settings.basemap_attribution}
        if settings.basemap_url
        else None,
    }
    # "</" cannot close the script element that carries the configuration
    return render(request, "map.html", config=orjson.dumps(config).decode().replace("</", "<\\/"))
