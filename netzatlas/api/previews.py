"""Map previews of coverage rasters: a COG classified against the run's threshold, as a transparent PNG.

MapLibre draws the PNG as an image source on the four corners of the raster (EPSG:25832 corners in
lon/lat); the COG itself stays the data product (/jobs/{id}/outputs/{file}).

A run's rasters never change once it has succeeded, so each preview is rendered once, on its first request, and
written next to the run's files (0600, atomically: a reader sees the whole file or none); later requests are
served from that file. Every request passes the same access checks first, whether the file exists or not.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from PIL import Image
from pyproj import Transformer
from starlette.concurrency import run_in_threadpool

from netzatlas.api.errors import not_found
from netzatlas.coverage import runs
from netzatlas.private import FILE_MODE
from netzatlas.registry import access

router = APIRouter()
MAX_SIDE = 2048  # preview pixels along the longer side
# colour-blind safe: good coverage green, basic coverage yellow, below the threshold transparent
GOOD, BASIC = (0, 158, 115, 150), (240, 228, 66, 150)
_to_lonlat = Transformer.from_crs(25832, 4326, always_xy=True)
# in the stored file's name: a change of the rendering (colours, size) renders every preview anew
PREVIEW_VERSION = 1
_rendering: dict[Path, threading.Lock] = {}  # one render per file at a time in this process
_rendering_lock = threading.Lock()


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


def preview_path(run: dict[str, Any], name: str) -> Path:
    """Where the preview of output `name` of a run is stored: beside the run's files."""
    return runs.output_dir(run["id"]) / f"{name}.preview-v{PREVIEW_VERSION}.png"


def png_file(run: dict[str, Any], name: str) -> Path:
    """The preview PNG of a run's received-level output: rendered and stored on first use, then the stored file.
    The caller checks access first."""
    src = output_path(run, name)
    dst = preview_path(run, name)
    if dst.is_file():
        return dst
    with _rendering_lock:
        lock = _rendering.setdefault(dst, threading.Lock())
    with lock:
        if not dst.is_file():  # another request may have rendered it meanwhile
            _write_private(dst, render(src, *thresholds(run)))
    with _rendering_lock:
        _rendering.pop(dst, None)
    return dst


def _write_private(path: Path, data: bytes) -> None:
    """Write a file 0600 from its creation, under a temporary name renamed into place (atomic on one filesystem)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask, and if a stale temporary file was there
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    path = await run_in_threadpool(png_file, run, name)
    cache = "public" if run["sensitivity"] == "public" else "private"
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": f"{cache}, max-age=3600"})
