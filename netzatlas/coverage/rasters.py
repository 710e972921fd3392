"""Raster outputs and raster statistics: Cloud-Optimised GeoTIFFs, gap polygons, sums per zone."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.features import shapes, sieve
from rasterio.windows import Window
from shapely.geometry import shape

from netzatlas.config import get_settings
from netzatlas.coverage.grid import STORAGE_SRID, Grid, store_cells
from netzatlas.private import private_dir, private_file

# GDAL's block cache while a COG is written: its default (5 % of the machine's memory) would count in the process's
# peak memory without making the write faster.
COG_CACHE_BYTES = 128 * 2**20
COG_BLOCK = 256  # px: the COG's tiles, and the tiles of the plain GeoTIFF it is copied from
WINDOW_BYTES = 64 * 2**20  # at most this much of the bands is in memory at once while they are written
# A band is an array (height, width) or a function returning the window rows r0:r1, columns c0:c1 of it, so that a
# caller can compute a band window by window instead of holding it whole.
Band = np.ndarray | Callable[[int, int, int, int], np.ndarray]


def write_cog(
    path: Path,
    grid: Grid,
    data: np.ndarray | Sequence[Band],
    descriptions: list[str],
    nodata: float,
    tags: dict[str, str],
    dtype: str | None = None,
) -> dict[str, Any]:
    """A COG (deflate, 256 px tiles, overviews) with band descriptions; returns its manifest entry.

    `data` is an array (bands, height, width) or (height, width), or a sequence of bands (arrays, or functions of a
    window, with `dtype` given). The bands go window by window into a plain tiled GeoTIFF next to the output
    (band-interleaved, removed afterwards), which GDAL copies into the COG tile by tile with a bounded block cache:
    memory holds one window of the bands, not every band twice (the array and an in-memory file). No timestamps
    or run ids go into the file, so the same inputs give the same bytes, whichever form the bands came in.
    """
    bands: Sequence[Band] = (data[None] if data.ndim == 2 else data) if isinstance(data, np.ndarray) else data
    dt = np.dtype(dtype or bands[0].dtype)  # type: ignore[union-attr]
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(bands),
        "dtype": dt.name,
        "crs": f"EPSG:{STORAGE_SRID}",
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": COG_BLOCK,
        "blockysize": COG_BLOCK,
        "interleave": "band",  # GDAL builds the overviews band by band: each pass reads only its band's tiles
    }
    # the run's directory is the server's own (0700), so the file is never readable by others, even while written
    private_dir(path.parent, get_settings().home)
    plain = path.with_name(f".{path.name}.{os.getpid()}.plain.tif")
    # windows of whole tiles: COG_BLOCK rows, as many tile columns as WINDOW_BYTES allow
    tile_bytes = COG_BLOCK * COG_BLOCK * dt.itemsize * len(bands)
    cols = COG_BLOCK * max(1, WINDOW_BYTES // tile_bytes)
    try:
        with rasterio.Env(GDAL_CACHEMAX=COG_CACHE_BYTES):
            with rasterio.open(plain, "w", **profile) as ds:
                for r0 in range(0, grid.height, COG_BLOCK):
                    r1 = min(r0 + COG_BLOCK, grid.height)
                    for c0 in range(0, grid.width, cols):
                        c1 = min(c0 + cols, grid.width)
                        win = np.empty((len(bands), r1 - r0, c1 - c0), dt)
                        for i, band in enumerate(bands):
                            win[i] = band(r0, r1, c0, c1) if callable(band) else band[r0:r1, c0:c1]
                        ds.write(win, window=Window(c0, r0, c1 - c0, r1 - r0))
                for i, d in enumerate(descriptions, start=1):
                    ds.set_band_description(i, d)
                ds.update_tags(**tags)
            with rasterio.open(plain) as src:
                rasterio.shutil.copy(
                    src,
                    str(path),
                    driver="COG",
                    COMPRESS="ZSTD",
                    LEVEL=1,
                    PREDICTOR="YES",
                    BLOCKSIZE=COG_BLOCK,
                    OVERVIEWS="AUTO",
                    RESAMPLING="NEAREST",
                    NUM_THREADS="ALL_CPUS",
                )
    finally:
        plain.unlink(missing_ok=True)
    private_file(path)
    return {
        "file": path.name,
        "media_type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "bands": descriptions,
        "nodata": nodata,
        "sha256": _sha256(path),
        "bytes": path.stat().st_size,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def polygons(grid: Grid, mask: np.ndarray, min_pixels: int = 4) -> list[Any]:
    """Polygons of the True regions of a mask, regions smaller than min_pixels removed first (sieve)."""
    m = mask.astype(np.uint8)
    if min_pixels > 1 and m.any():
        m = sieve(m, size=min_pixels, connectivity=8)
    return [shape(g) for g, v in shapes(m, mask=m.astype(bool), transform=grid.transform, connectivity=8) if v == 1]


def zone_sums(
    zones: np.ndarray, valid: np.ndarray, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per zone (unique values of zones where valid): the sum of each value array. Returns (zone ids, sums)."""
    z = zones[valid]
    ids, inverse = np.unique(z, return_inverse=True)
    out = {}
    for name, v in values.items():
        w = v[valid] if v.shape == zones.shape else v
        out[name] = np.bincount(inverse, weights=w.astype(np.float64), minlength=len(ids))
    return ids, out


def masked_zone_sums(
    zones: np.ndarray, valid: np.ndarray, weights: dict[str, np.ndarray], masks: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """zone_sums of each weight and of each weight within each mask (key "mask|weight"), the same sums as
    zone_sums(zones, valid, {w: ..., "m|w": np.where(mask, weight, 0.0)}) without a whole-raster array per pair:
    the zones are indexed once and each pair is summed over the valid pixels only."""
    ids, inverse = np.unique(zones[valid], return_inverse=True)
    out = {}
    picked = {w: v[valid].astype(np.float64) for w, v in weights.items()}
    for w, v in picked.items():
        out[w] = np.bincount(inverse, weights=v, minlength=len(ids))
    zero = np.float64(0.0)
    for name, m in masks.items():
        mv = m[valid]
        for w, v in picked.items():
            out[f"{name}|{w}"] = np.bincount(inverse, weights=np.where(mv, v, zero), minlength=len(ids))
    return ids, out


def write_gaps(conn: Any, run_id: str, analysis: str, gap: str, polys: list[tuple[Any, dict]]) -> None:
    """Insert gap polygons (EPSG:25832) with their metrics, in one statement."""
    if not polys:
        return
    import orjson
    import shapely

    conn.execute(
        """INSERT INTO coverage_gaps (run_id, analysis, gap, area_m2, metrics, geom)
           SELECT %s, %s, %s, ST_Area(g), m::jsonb, ST_Multi(g)
           FROM (SELECT ST_SetSRID(ST_GeomFromWKB(w), 25832) AS g, m
                 FROM unnest(%s::bytea[], %s::text[]) AS u(w, m)) s""",
        (
            run_id,
            analysis,
            gap,
            [shapely.to_wkb(p) for p, _ in polys],
            [
                orjson.dumps({k: (int(v) if float(v).is_integer() else round(v, 3)) for k, v in m.items()}).decode()
                for _, m in polys
            ],
        ),
    )


def write_cells(conn: Any, run_id: Any, analysis: str, cells: list[tuple[str, Any, Any, Any, dict]]) -> None:
    """COPY per-cell results: cell id, buildings, population, share covered, metrics (polygons: inspire_cells)."""
    import orjson

    store_cells(conn, [c[0] for c in cells])
    copy_rows(
        conn,
        "coverage_cells",
        ("run_id", "analysis", "cell_id", "buildings", "population", "share_covered", "metrics"),
        ((run_id, analysis, *c[:4], orjson.dumps(c[4]).decode()) for c in sorted(cells, key=lambda c: c[0])),
    )


def copy_rows(conn: Any, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """COPY rows into a result table, in the caller's transaction. PostgreSQL refuses COPY FROM into a table
    under row-level security (migration 0006), so the rows are copied into a temporary table of the same
    columns first and moved with one INSERT ... SELECT, which the table's policies check."""
    stage = f"stage_{table}"
    cols = ", ".join(columns)
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
    conn.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
    with conn.cursor().copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}")
