"""Raster outputs and raster statistics: Cloud-Optimised GeoTIFFs, gap polygons, sums per zone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.features import shapes, sieve
from rasterio.io import MemoryFile
from shapely.geometry import shape

from netzatlas.config import get_settings
from netzatlas.coverage.grid import STORAGE_SRID, Grid, store_cells
from netzatlas.private import private_dir, private_file


def write_cog(
    path: Path, grid: Grid, data: np.ndarray, descriptions: list[str], nodata: float, tags: dict[str, str]
) -> dict[str, Any]:
    """A COG (deflate, 256 px tiles, overviews) with band descriptions; returns its manifest entry.

    No timestamps or run ids go into the file, so the same inputs give the same bytes.
    """
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{STORAGE_SRID}",
        "transform": grid.transform,
        "nodata": nodata,
    }
    # the run's directory is the server's own (0700), so the file is never readable by others, even while written
    private_dir(path.parent, get_settings().home)
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data)
            for i, d in enumerate(descriptions, start=1):
                ds.set_band_description(i, d)
            ds.update_tags(**tags)
        with mem.open() as src:
            rasterio.shutil.copy(
                src,
                str(path),
                driver="COG",
                COMPRESS="ZSTD",
                LEVEL=1,
                PREDICTOR="YES",
                BLOCKSIZE=256,
                OVERVIEWS="AUTO",
                RESAMPLING="NEAREST",
                NUM_THREADS="ALL_CPUS",
            )
    private_file(path)
    return {
        "file": path.name,
        "media_type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "bands": descriptions,
        "nodata": nodata,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
    }


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
