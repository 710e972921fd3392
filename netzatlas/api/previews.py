"""Map previews of coverage rasters: a COG classified against the run's threshold, as a transparent PNG.

MapLibre draws the PNG as an image source on the four corners of the raster (EPSG:25832 corners in
lon/lat); the COG itself stays the data product (/jobs/{id}/outputs/{file}).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from fastapi import APIRouter, Request, Response
from PIL import Image
from pyproj import Transformer
from starlette.concurrency import run_in_threadpool

from netzatlas.api.errors import not_found
from netzatlas.coverage import runs
from netzatlas.registry import access

router = APIRouter()
MAX_SIDE = 2048  # preview pixels along the longer side
# colour-blind safe: good coverage green, basic coverage yellow, below the threshold transparent
GOOD, BASIC = (0, 158, 115, 150), (240, 228, 66, 150)
_to_lonlat = Transformer.from_crs(25832, 4326, always_xy=True)


def thresholds(run: dict[str, Any]) -> tuple[float, float]:
    """The basic and good coverage thresholds the run used (its parameters say which)."""
    p = run["parameters"]
    if "lorawan_sensitivity_dbm" in p:
        # the LoRaWAN raster is the uplink level at the best gateway: basic = the slowest spreading factor
        # closes (most sensitive), good = the fastest one does
        levels = [float(v) for v in p["lorawan_sensitivity_dbm"].values()]
        return min(levels), max(levels)
    basic = float(p.get("threshold_dbm", -110.0))
    return basic, float(p.get("good_threshold_dbm", basic + 10))


def corners(path: Path) -> list[list[float]]:
    """Top-left, top-right, bottom-right, bottom-left in lon/lat (MapLibre's image source order)."""
    with rasterio.open(path) as src:
        b = src.bounds
    return [
        list(_to_lonlat.transform(x, y))
        for x, y in ((b.left, b.top), (b.right, b.top), (b.right, b.bottom), (b.left, b.bottom))
    ]


def render(path: Path, basic: float, good: float) -> bytes:
    """Best level over all bands (every operator, technology and band), classified, as PNG."""
    with rasterio.open(path) as src:
        scale = max(src.width, src.height) / MAX_SIDE
        shape = (max(1, round(src.height / max(scale, 1))), max(1, round(src.width / max(scale, 1))))
        data = src.read(out_shape=(src.count, *shape), masked=True)
    best = data.max(axis=0).filled(-np.inf)
    rgba = np.zeros((*best.shape, 4), np.uint8)
    rgba[best >= basic] = BASIC
    rgba[best >= good] = GOOD
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG", optimize=False)
    return out.getvalue()


def is_level_raster(output: dict[str, Any]) -> bool:
    """Received-level rasters (dBm) have previews; class rasters are drawn from the gap polygons instead."""
    return any("dBm" in band for band in output.get("bands", []))


def output_path(run: dict[str, Any], name: str) -> Path:
    files = {o["file"] for o in run["outputs"].values() if is_level_raster(o)}
    if name not in files:
        raise not_found(f"run {run['id']} has no received-level output {name!r} to preview")
    path = runs.output_dir(run["id"]) / name
    if not path.is_file():
        raise not_found(f"the file of output {name!r} is missing on this server")
    return path


@router.get("/jobs/{job_id}/outputs/{name}/preview.png", include_in_schema=False)
async def preview(request: Request, job_id: str, name: str) -> Response:
    try:
        run = await run_in_threadpool(runs.get, request.app.state.database_url, job_id)
    except runs.RunError:
        raise not_found(f"no job {job_id!r}") from None
    if run["status"] != "succeeded":
        raise not_found(f"job {job_id} has no results yet")
    if not access.sees_run_details(run["sensitivity"]):
        # a published run opens its aggregates only: a raster shows where its non-public sites are
        raise not_found(f"job {job_id} has no output {name!r} for this caller")
    png = await run_in_threadpool(render, output_path(run, name), *thresholds(run))
    cache = "public" if run["sensitivity"] == "public" else "private"
    return Response(png, media_type="image/png", headers={"Cache-Control": f"{cache}, max-age=3600"})
