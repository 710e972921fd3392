"""Grids: the EPSG:25832 analysis raster of a run, and the INSPIRE 100 m reporting grid (EPSG:3035)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import Affine
from shapely.geometry.base import BaseGeometry

STORAGE_SRID = 25832
INSPIRE_SRID = 3035
CELL_M = 100
MAX_PIXELS = 60_000_000  # 600 km2 at 10 m per band: beyond this a run is refused, not swapped


@lru_cache
def to_inspire() -> Transformer:
    return Transformer.from_crs(STORAGE_SRID, INSPIRE_SRID, always_xy=True)


@lru_cache
def from_inspire() -> Transformer:
    return Transformer.from_crs(INSPIRE_SRID, STORAGE_SRID, always_xy=True)


def inspire_id(north: int, east: int, res: int = CELL_M) -> str:
    """Cell id of the south-west corner, full metres: CRS3035RES100mN2997000E4234500."""
    return f"CRS3035RES{res}mN{int(north)}E{int(east)}"


def cell_key(north: np.ndarray, east: np.ndarray) -> np.ndarray:
    """An int64 key per 100 m cell from 3035 coordinates: (N // 100) * 10^6 + E // 100."""
    return (np.floor(north / CELL_M).astype(np.int64) * 1_000_000) + np.floor(east / CELL_M).astype(np.int64)


def key_to_id(key: int) -> str:
    return inspire_id((key // 1_000_000) * CELL_M, (key % 1_000_000) * CELL_M)


@dataclass(frozen=True)
class Grid:
    """A north-up raster: west edge x0, north edge y0, square pixels of `res` metres."""

    x0: float
    y0: float
    res: float
    width: int
    height: int

    @classmethod
    def cover(cls, bounds: tuple[float, float, float, float], res: float) -> Grid:
        if not res > 0:
            raise ValueError(f"resolution must be positive, got {res}")
        x1, y1, x2, y2 = bounds
        west, south = math.floor(x1 / res) * res, math.floor(y1 / res) * res
        east, north = math.ceil(x2 / res) * res, math.ceil(y2 / res) * res
        width, height = max(1, round((east - west) / res)), max(1, round((north - south) / res))
        if width * height > MAX_PIXELS:
            raise ValueError(
                f"{width * height:,} pixels at {res:g} m exceed the limit of {MAX_PIXELS:,}; use a coarser resolution"
            )
        return cls(west, north, res, width, height)

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def pixel_area_m2(self) -> float:
        return self.res * self.res

    def xs(self, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """Centre x of columns c0..c1-1 (float64)."""
        c1 = self.width if c1 is None else c1
        return self.x0 + (np.arange(c0, c1) + 0.5) * self.res

    def ys(self, r0: int = 0, r1: int | None = None) -> np.ndarray:
        r1 = self.height if r1 is None else r1
        return self.y0 - (np.arange(r0, r1) + 0.5) * self.res

    def window(self, x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int] | None:
        """Rows r0:r1 and columns c0:c1 of the pixels meeting the box, clipped to the grid; None if empty."""
        c0 = max(0, math.floor((x1 - self.x0) / self.res))
        c1 = min(self.width, math.ceil((x2 - self.x0) / self.res))
        r0 = max(0, math.floor((self.y0 - y2) / self.res))
        r1 = min(self.height, math.ceil((self.y0 - y1) / self.res))
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and inside-flag of points."""
        col = np.floor((np.asarray(x) - self.x0) / self.res).astype(np.int64)
        row = np.floor((self.y0 - np.asarray(y)) / self.res).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return np.clip(row, 0, self.height - 1), np.clip(col, 0, self.width - 1), inside

    def mask(self, geom: BaseGeometry) -> np.ndarray:
        """True for pixels whose centre lies in the geometry."""
        return rasterize([(geom, 1)], out_shape=(self.height, self.width), transform=self.transform, dtype="uint8") == 1

    def labels(self, shapes: list[tuple[BaseGeometry, int]], fill: int = 0) -> np.ndarray:
        """An int32 label raster (pixel centre rule); later shapes win where they overlap."""
        if not shapes:
            return np.full((self.height, self.width), fill, dtype=np.int32)
        return rasterize(
            shapes, out_shape=(self.height, self.width), transform=self.transform, fill=fill, dtype="int32"
        )

    def cell_keys(self) -> np.ndarray:
        """INSPIRE 100 m cell key of each pixel centre (int64, height x width).

        The 25832 -> 3035 transformation is smooth at this scale: it is computed exactly on a lattice
        of about 200 m and interpolated bilinearly in between (error far below a millimetre).
        """
        step = max(1, round(200.0 / self.res))
        rows = np.unique(np.r_[np.arange(0, self.height, step), self.height - 1])
        cols = np.unique(np.r_[np.arange(0, self.width, step), self.width - 1])
        gx, gy = np.meshgrid(self.xs()[cols], self.ys()[rows])
        le, ln = to_inspire().transform(gx, gy)
        east = _bilinear(le, rows, cols, self.height, self.width)
        north = _bilinear(ln, rows, cols, self.height, self.width)
        return cell_key(north, east)


def _bilinear(lattice: np.ndarray, rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> np.ndarray:
    r = np.arange(height)
    c = np.arange(width)
    i = np.clip(np.searchsorted(rows, r, side="right") - 1, 0, max(len(rows) - 2, 0))
    j = np.clip(np.searchsorted(cols, c, side="right") - 1, 0, max(len(cols) - 2, 0))
    i1 = np.minimum(i + 1, len(rows) - 1)
    j1 = np.minimum(j + 1, len(cols) - 1)
    wr = np.where(rows[i1] > rows[i], (r - rows[i]) / np.maximum(rows[i1] - rows[i], 1), 0.0)[:, None]
    wc = np.where(cols[j1] > cols[j], (c - cols[j]) / np.maximum(cols[j1] - cols[j], 1), 0.0)[None, :]
    top = lattice[i][:, j] * (1 - wc) + lattice[i][:, j1] * wc
    bottom = lattice[i1][:, j] * (1 - wc) + lattice[i1][:, j1] * wc
    return top * (1 - wr) + bottom * wr


def cell_id_sql(point: str, res: str = str(CELL_M)) -> str:
    """SQL for the INSPIRE id of the cell (of `res` metres) holding an EPSG:3035 point (buildings.grid_point)."""
    return (
        f"('CRS3035RES' || {res} || 'mN' || (floor(ST_Y({point}) / {res}) * {res})::bigint"
        f" || 'E' || (floor(ST_X({point}) / {res}) * {res})::bigint)"
    )


def cell_polygons(keys: np.ndarray) -> np.ndarray:
    """The INSPIRE 100 m cells (by key) as polygons in EPSG:25832: their corners transformed, the same polygons
    as the database's `inspire_cell_polygon`."""
    keys = np.asarray(keys, dtype=np.int64)
    north, east = (keys // 1_000_000) * CELL_M, (keys % 1_000_000) * CELL_M
    back = from_inspire()
    boxes = shapely.box(east, north, east + CELL_M, north + CELL_M)
    return shapely.transform(boxes, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def register_cells_sql(ids: str) -> str:
    """SQL registering the cells of a query returning ids (column `c`) in `inspire_cells`, which generates
    their polygons. Known cells are filtered out first, since ON CONFLICT alone would generate each polygon
    before skipping it; ON CONFLICT remains for another run registering the same cells right now."""
    return f"""INSERT INTO inspire_cells (id)
               SELECT c FROM ({ids}) n WHERE NOT EXISTS (SELECT 1 FROM inspire_cells i WHERE i.id = n.c)
               ON CONFLICT (id) DO NOTHING"""


def store_cells(conn: Any, ids: list[str]) -> None:
    """Register cells (by id) in `inspire_cells`."""
    conn.execute(register_cells_sql("SELECT DISTINCT unnest(%s::text[]) AS c"), (ids,))


def inspire_cells(geom: BaseGeometry) -> tuple[list[str], np.ndarray]:
    """INSPIRE 100 m cells meeting a geometry in EPSG:25832: their ids and their keys."""
    t = to_inspire()
    x1, y1, x2, y2 = t.transform_bounds(*geom.bounds, densify_pts=21)
    e0, n0 = math.floor(x1 / CELL_M) * CELL_M, math.floor(y1 / CELL_M) * CELL_M
    es = np.arange(e0, x2, CELL_M)
    ns = np.arange(n0, y2, CELL_M)
    ee, nn = np.meshgrid(es, ns)
    keys = cell_key(nn.ravel() + 0.5, ee.ravel() + 0.5)
    keys = keys[shapely.intersects(cell_polygons(keys), geom)]
    return [key_to_id(int(k)) for k in keys], keys


def merge_cells(keys: np.ndarray, values: dict[str, np.ndarray] | None = None) -> list[tuple[BaseGeometry, dict]]:
    """Merge INSPIRE 100 m cells (by key) into polygons in EPSG:25832, with the sums of `values` per polygon.

    The cells are burnt into a 100 m raster in EPSG:3035 and vectorised there (edges along the grid), then
    the polygons are densified to 100 m and transformed: much faster than a geometric union of squares.
    """
    from rasterio.features import shapes

    keys = np.asarray(keys, dtype=np.int64)
    if keys.size == 0:
        return []
    n, e = keys // 1_000_000, keys % 1_000_000
    n0, e0 = n.min(), e.min()
    h, w = int(n.max() - n0 + 1), int(e.max() - e0 + 1)
    r, c = (n.max() - n), (e - e0)
    raster = np.zeros((h, w), np.uint8)
    raster[r, c] = 1
    transform = Affine(CELL_M, 0.0, float(e0 * CELL_M), 0.0, -CELL_M, float((n.max() + 1) * CELL_M))
    polys3035 = [shapely.geometry.shape(g) for g, v in shapes(raster, mask=raster == 1, transform=transform) if v == 1]
    labels = rasterize(
        [(p, i + 1) for i, p in enumerate(polys3035)], out_shape=(h, w), transform=transform, dtype="int32"
    )
    idx = labels[r, c] - 1
    back = from_inspire()
    k = len(polys3035)
    totals = {"cells": np.bincount(idx, minlength=k)}
    for name, v in (values or {}).items():
        totals[name] = np.bincount(idx, weights=np.asarray(v, dtype=np.float64), minlength=k)
    merged = shapely.transform(
        shapely.segmentize(np.array(polys3035, dtype=object), CELL_M),
        lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])),
    )
    return [(merged[i], {name: float(t[i]) for name, t in totals.items()}) for i in range(k)]


def id_to_key(cell_id: str) -> int:
    n = int(cell_id[cell_id.index("mN") + 2 : cell_id.index("E", cell_id.index("mN"))])
    e = int(cell_id[cell_id.rindex("E") + 1 :])
    return (n // CELL_M) * 1_000_000 + e // CELL_M


# How population grids of several resolutions are combined (stated in every run that weights by population).
POPULATION_RULE = (
    "population grids of several resolutions are combined so that nobody is counted twice: where a finer cell "
    "holds a value it wins; a coarser cell contributes only its remainder (its population minus the people of "
    "the finer cells inside it, never below 0), spread over its area not covered by finer cells with a value; "
    "cells without a value (suppressed, e.g. Zensus -1) cover nothing, so their people stay in the coarser remainder"
)


@dataclass(frozen=True)
class PopulationCells:
    """Population cells meeting an area with their effective population (after POPULATION_RULE)."""

    ids: list[str]
    resolution_m: list[int]
    population: list[float]  # effective: the people this cell contributes where it is the finest with a value
    uncovered_share: list[float]  # share of the cell's area where it is the finest cell with a value
    clipped: int  # coarser cells whose finer cells hold more people than they do (remainder set to 0)

    def summary(self) -> dict[str, Any]:
        per = {}
        for r, p in zip(self.resolution_m, self.population, strict=True):
            e = per.setdefault(f"{r} m", {"cells": 0, "population": 0.0})
            e["cells"] += 1
            e["population"] = round(e["population"] + p, 2)
        return {"by_resolution": per, "coarser_cells_clipped_to_0": self.clipped}


def _cell_corner(cell_id: str) -> tuple[int, int]:
    n = int(cell_id[cell_id.index("mN") + 2 : cell_id.index("E", cell_id.index("mN"))])
    return n, int(cell_id[cell_id.rindex("E") + 1 :])


def effective_population(rows: list[dict[str, Any]]) -> PopulationCells:
    """Apply POPULATION_RULE to population cells (dicts with id, resolution_m, population not NULL).

    INSPIRE cells of one resolution nest in every coarser one that is a multiple of it (100 m in 1 km), so the
    parent of a cell is arithmetic on its id. Resolutions are processed finest first; each cell's effective
    population and area are added to its parent at every coarser resolution, and since effective values of
    different resolutions never overlap, summing them counts each person and square metre once.
    """
    rows = sorted(rows, key=lambda r: (r["resolution_m"], r["id"]))
    resolutions = sorted({int(r["resolution_m"]) for r in rows})
    for i, fine in enumerate(resolutions):
        for coarse in resolutions[i + 1 :]:
            if coarse % fine:
                raise ValueError(
                    f"population grids of {fine} m and {coarse} m do not nest; load grids whose cell sizes divide "
                    "each other (e.g. 100 m and 1 km)"
                )
    inner_people: dict[tuple[int, int, int], float] = {}
    inner_area: dict[tuple[int, int, int], float] = {}
    ids, res, people, uncovered = [], [], [], []
    clipped = 0
    for r in rows:
        m = int(r["resolution_m"])
        n, e = _cell_corner(r["id"])
        key = (m, n, e)
        area = float(m * m)
        free = max(0.0, area - inner_area.get(key, 0.0))
        rest = float(r["population"]) - inner_people.get(key, 0.0)
        if rest < 0:
            clipped += 1
        p = max(0.0, rest) if free > 0 else 0.0
        ids.append(r["id"])
        res.append(m)
        people.append(p)
        uncovered.append(free / area)
        for coarse in resolutions:
            if coarse > m:
                parent = (coarse, n // coarse * coarse, e // coarse * coarse)
                inner_people[parent] = inner_people.get(parent, 0.0) + p
                inner_area[parent] = inner_area.get(parent, 0.0) + free
    return PopulationCells(ids, res, people, uncovered, clipped)


def population_cells(conn: Any, bounds: tuple[float, float, float, float]) -> PopulationCells:
    """The population cells with a value meeting a box in EPSG:25832, with their effective population. The box is
    widened by the coarsest cell size first, so that every finer cell inside a coarser cell meeting the box is read
    too (a coarser cell's remainder needs all of them)."""
    where = "FROM population_cells WHERE population IS NOT NULL AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 25832)"
    coarsest = conn.execute(f"SELECT coalesce(max(resolution_m), 0) AS m {where}", bounds).fetchone()["m"]
    x1, y1, x2, y2 = bounds
    m = 1.5 * coarsest  # the EPSG:3035 cells are slightly rotated against EPSG:25832
    rows = conn.execute(f"SELECT id, resolution_m, population {where}", (x1 - m, y1 - m, x2 + m, y2 + m)).fetchall()
    return effective_population(rows)
