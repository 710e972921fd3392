"""Optional digital elevation model: a GeoTIFF resampled onto the analysis grid (rasterio)."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject

from netzatlas.coverage.grid import STORAGE_SRID, Grid
from netzatlas.coverage.radio import Terrain


def load(path: str, grid: Grid) -> Terrain:
    """Ground heights (m) on the grid, bilinear; pixels the DEM does not cover get its lowest height."""
    z = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    with rasterio.open(path) as src:
        reproject(
            source=rasterio.band(src, 1),
            destination=z,
            dst_transform=grid.transform,
            dst_crs=f"EPSG:{STORAGE_SRID}",
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    if np.isnan(z).all():
        raise ValueError(f"the DEM {path} does not cover the municipality")
    z[np.isnan(z)] = np.nanmin(z)
    return Terrain(grid, z)
