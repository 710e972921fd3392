"""Building-aware line of sight: the registry's building footprints with heights on the run's raster.

A path is line of sight (3GPP TR 38.901's LOS state) when the straight line from the antenna's top to the
receiver clears every building cell along it. Heights: the delivery's `height_m`, else `levels` x 3 m, else the
run's declared default. The test samples each path at the raster's resolution (numpy, all paths of a window at
once), walking from the receiver towards the antenna, where a blocked path is found soonest in a built-up area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from netzatlas.coverage.grid import Grid

LEVEL_HEIGHT_M = 3.0  # height of one storey when a building states levels but no height
DEFAULTED_LISTED = 20  # external ids of buildings with a defaulted height listed in a run (the count is complete)

BUILDINGS_SQL = """
    SELECT id, source, external_id, height_m, levels, ST_AsBinary(geom) AS g
    FROM buildings
    WHERE geom && ST_MakeEnvelope(%(x1)s, %(y1)s, %(x2)s, %(y2)s, 25832)
      AND GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')
    ORDER BY id
"""

RULE = (
    "a path is line of sight when the straight line from the antenna's top to the receiver clears every building "
    "cell along it (the registry's footprints on the run's raster, a pixel belonging to the building that holds its "
    "centre, the tallest where footprints overlap; the line sampled every pixel width). The building at the "
    "antenna's position is no obstacle (the antenna stands on it or on its wall). A receiver in a building (its "
    "pixel's centre inside a footprint) is judged by the path outside: its own building is no obstacle, as 3GPP TR "
    "38.901 section 7.4.3 takes an indoor user's LOS state from the outdoor path, and the run's indoor_loss_db is "
    "the building entry loss. Parts of a path beyond the run's raster have no buildings. Terrain is no obstacle "
    "here: with a DEM it adds diffraction loss, and heights above ground stand on the DEM's ground. Buildings "
    "smaller than a pixel may hold no pixel centre: use a resolution of 10 m or finer"
)


@dataclass
class Buildings:
    """Building heights (m above ground, 0 where none) and building labels (1..n, 0 where none) on the grid."""

    grid: Grid
    height: np.ndarray  # float32, height x width
    label: np.ndarray  # int32, height x width
    counts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # padded by one empty pixel on every side: a sample off the grid is clipped onto the pad (no building)
        self._h = np.pad(self.height, 1).ravel()
        self._id = np.pad(self.label, 1).ravel()

    def _flat(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = self.grid
        c = np.clip(np.floor((x - g.x0) / g.res) + 1, 0, g.width + 1).astype(np.int32)
        r = np.clip(np.floor((g.y0 - y) / g.res) + 1, 0, g.height + 1).astype(np.int32)
        return r * np.int32(g.width + 2) + c

    def label_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._id[self._flat(np.asarray(x), np.asarray(y))]

    def line_of_sight(
        self,
        x_tx: float,
        y_tx: float,
        top_tx: float,
        dx: np.ndarray,
        dy: np.ndarray,
        ue_height_m: float,
        need: np.ndarray | None = None,
        ground: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        ground_max: float = 0.0,
    ) -> np.ndarray:
        """True where the line from the antenna top (top_tx, above the datum of `ground`, or above flat ground
        at 0) to the receiver at ue_height_m above its ground at (x_tx + dx, y_tx + dy) clears every building.

        Only paths where `need` is true are tested (the others are returned as LOS). `ground(x, y)` gives the
        ground height with a DEM (`ground_max` its highest value); without one the ground is flat at 0.
        """
        shape = np.broadcast_shapes(np.shape(dx), np.shape(dy))
        los = np.ones(shape, dtype=bool)
        dx = np.broadcast_to(np.asarray(dx, np.float32), shape).ravel()
        dy = np.broadcast_to(np.asarray(dy, np.float32), shape).ravel()
        d = np.sqrt(dx * dx + dy * dy)
        step = np.float32(self.grid.res)
        test = d > step  # the antenna's own pixel and its neighbours: nothing between
        if need is not None:
            test &= np.broadcast_to(need, shape).ravel()
        idx = np.nonzero(test)[0].astype(np.int64)
        if not len(idx) or not self.label.any():
            return los
        own_tx = self.label_at(np.array([x_tx]), np.array([y_tx]))[0]
        d, ux, uy = d[idx], dx[idx] / d[idx], dy[idx] / d[idx]
        xr, yr = np.float32(x_tx) + dx[idx], np.float32(y_tx) + dy[idx]  # receivers
        own = self._id[self._flat(xr, yr)]
        g_rx = ground(xr, yr).astype(np.float32) if ground else np.zeros(len(idx), np.float32)
        z_rx = g_rx + np.float32(ue_height_m)
        slope = (np.float32(top_tx) - z_rx) / d  # the line rises this much per metre towards the antenna
        # the last sample of a path: short of the antenna's own pixel, and below the highest building top of the
        # grid (beyond it the line clears every building)
        h_max = float(self.height.max()) + (ground_max if ground else 0.0)
        with np.errstate(divide="ignore"):
            end = np.minimum(d - np.float32(0.5) * step, (np.float32(h_max) - z_rx) / np.maximum(slope, 0))
        paths = [idx, ux, uy, xr, yr, own, z_rx, slope, end]
        blocked = np.zeros(los.size, dtype=bool)
        done = np.zeros(len(idx), dtype=bool)
        k = 1
        while len(paths[0]):
            idx, ux, uy, xr, yr, own, z_rx, slope, end = paths
            t = step * np.float32(k)  # distance from the receiver back along the path
            xs, ys = xr - ux * t, yr - uy * t
            f = self._flat(xs, ys)
            h, lab = self._h[f], self._id[f]
            top = h + ground(xs, ys).astype(np.float32) if ground else h
            hit = (h > 0) & (top > z_rx + slope * t) & (lab != own) & (lab != own_tx) & ~done
            blocked[idx[hit]] = True
            done |= hit | (end <= t)
            n_done = int(done.sum())
            if n_done == len(done):
                break
            if n_done > len(done) // 4:  # drop finished paths from the arrays now and then
                keep = ~done
                paths = [a[keep] for a in paths]
                done = np.zeros(len(paths[0]), dtype=bool)
            k += 1
        los.ravel()[blocked] = False
        return los


def height_rule(default_height_m: float) -> str:
    return (
        f"each building's height_m as delivered; else its levels x {LEVEL_HEIGHT_M:g} m; else the run's default "
        f"building_height_m of {default_height_m:g} m"
    )


def burn(grid: Grid, geoms: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Label raster (1 + index into geoms, 0 for none) by the pixel-centre rule, the tallest footprint winning
    where footprints overlap. Vectorised: every pixel centre in each footprint's bounding box is tested with
    shapely.contains_xy (rasterio's rasterize spends ~0.1 ms per shape building its GeoJSON)."""
    g = grid
    label = np.zeros((g.height, g.width), np.int32)
    if not len(geoms):
        return label
    b = shapely.bounds(geoms)
    c0 = np.maximum(np.ceil((b[:, 0] - g.x0) / g.res - 0.5), 0).astype(np.int64)
    c1 = np.minimum(np.floor((b[:, 2] - g.x0) / g.res - 0.5), g.width - 1).astype(np.int64)
    r0 = np.maximum(np.ceil((g.y0 - b[:, 3]) / g.res - 0.5), 0).astype(np.int64)
    r1 = np.minimum(np.floor((g.y0 - b[:, 1]) / g.res - 0.5), g.height - 1).astype(np.int64)
    w, h = np.maximum(c1 - c0 + 1, 0), np.maximum(r1 - r0 + 1, 0)
    n = w * h
    which = np.repeat(np.arange(len(geoms)), n)  # one entry per candidate pixel centre
    k = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n)
    cols, rows = c0[which] + k % w[which], r0[which] + k // w[which]
    inside = shapely.contains_xy(geoms[which], g.x0 + (cols + 0.5) * g.res, g.y0 - (rows + 0.5) * g.res)
    which, flat = which[inside], rows[inside] * g.width + cols[inside]
    # the tallest last (ties: the later footprint), then the last entry per pixel wins
    order = np.lexsort((which, heights[which]))
    which, flat = which[order], flat[order]
    last = len(flat) - 1 - np.unique(flat[::-1], return_index=True)[1]
    label.ravel()[flat[last]] = which[last] + 1
    return label


def load(conn: Any, grid: Grid, default_height_m: float) -> Buildings:
    """The footprints meeting the grid, rasterised with their heights; counts of how each height was set."""
    g = grid
    box = {"x1": g.x0, "y1": g.y0 - g.height * g.res, "x2": g.x0 + g.width * g.res, "y2": g.y0}
    rows = conn.execute(BUILDINGS_SQL, box).fetchall()
    heights, defaulted = np.empty(len(rows), np.float32), []
    n_height = n_levels = 0
    for i, r in enumerate(rows):
        if r["height_m"] is not None:
            heights[i], n_height = r["height_m"], n_height + 1
        elif r["levels"]:
            heights[i], n_levels = r["levels"] * LEVEL_HEIGHT_M, n_levels + 1
        else:
            heights[i] = default_height_m
            defaulted.append(f"{r['source']}:{r['external_id']}")
    label = burn(g, shapely.from_wkb([bytes(r["g"]) for r in rows]), heights)
    height = np.r_[np.float32(0), heights][label]
    counts = {
        "footprints": len(rows),
        "height_from_delivery": n_height,
        "height_from_levels": n_levels,
        "height_defaulted": len(defaulted),
        "height_defaulted_first": sorted(defaulted)[:DEFAULTED_LISTED],
        "pixels_in_buildings": int((label > 0).sum()),
        "footprints_without_pixel": len(rows) - len(np.unique(label[label > 0])),
    }
    return Buildings(grid, height, label, counts)
