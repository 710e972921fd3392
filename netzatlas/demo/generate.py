"""Deterministic synthetic demo dataset for Worms (AGS 07319000), as plain Python data.

Only the population grid is real (Zensus 2011, 1 km cells, see ``data/README.md``). The municipality
and district boundaries are approximations derived from it; buildings, operators and every network
asset are invented, seeded and reproducible. Nothing here touches a database.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.ops import nearest_points, substring

from netzatlas.registry.mobile import sectors_to_antennas

DEMO_SEED: int = 7319  # from the AGS 07319000 of Worms
SYNTHETIC_NOTE: str = (
    "Synthetic demo network: operators, fiber routes, network nodes, mobile sites, sensors, actuators, "
    "IoT gateways and buildings were generated (seeded, reproducible) by netzatlas.demo.generate for "
    "demonstration and testing; they are not real infrastructure and must not be used for planning. District and "
    "municipality boundaries are approximations. Population: Zensus 2011 1 km grid, dl-de/by-2-0, "
    "© Statistische Ämter des Bundes und der Länder (Zensus 2011)."
)

ZENSUS_CSV = Path(__file__).parent / "data" / "zensus2011_1km_worms.csv"
AGS = "07319000"
STORAGE_EPSG = 25832

# Approximate WGS84 centres (lat, lon) of the Ortsbezirke, placed on the populated Zensus cells.
DISTRICT_CENTRES: dict[str, tuple[float, float]] = {
    "Innenstadt": (49.632, 8.359),
    "Neuhausen": (49.646, 8.352),
    "Hochheim": (49.644, 8.337),
    "Pfiffligheim": (49.633, 8.328),
    "Horchheim": (49.608, 8.334),
    "Wiesoppenheim": (49.607, 8.300),
    "Weinsheim": (49.611, 8.317),
    "Heppenheim": (49.607, 8.265),
    "Pfeddersheim": (49.637, 8.278),
    "Leiselheim": (49.648, 8.310),
    "Herrnsheim": (49.656, 8.330),
    "Abenheim": (49.676, 8.285),
    "Rheindürkheim": (49.702, 8.358),
    "Ibersheim": (49.719, 8.398),
}
# Districts deliberately left without in-service fiber, so that gap analysis has something to find.
UNSERVED_DISTRICTS: tuple[str, ...] = ("Wiesoppenheim", "Heppenheim", "Ibersheim")
PLANNED_DISTRICTS: tuple[str, ...] = ("Ibersheim",)

OPERATORS: tuple[dict, ...] = (
    {"id": "stadt-worms", "name": "Stadt Worms", "kind": "city"},
    {"id": "rheinfaser", "name": "Rheinfaser Netz GmbH (Demo)", "kind": "telecom"},
    {"id": "stadtwerke-demo", "name": "Stadtwerke Demo", "kind": "utility"},
    {"id": "funknetz-nord", "name": "Funknetz Nord (Demo)", "kind": "telecom"},
    {"id": "funknetz-mitte", "name": "Funknetz Mitte (Demo)", "kind": "telecom"},
    {"id": "funknetz-sued", "name": "Funknetz Süd (Demo)", "kind": "telecom"},
)
MOBILE_OPERATORS: tuple[str, ...] = ("funknetz-nord", "funknetz-mitte", "funknetz-sued")
_MNO_PREFIX = {"funknetz-nord": "FN-N", "funknetz-mitte": "FN-M", "funknetz-sued": "FN-S"}
_MNO_LABEL = {"funknetz-nord": "Funknetz Nord", "funknetz-mitte": "Funknetz Mitte", "funknetz-sued": "Funknetz Süd"}

# Backbone corridors (from, to, status): a tree from the Innenstadt PoP towards the district centres.
BACKBONE: tuple[tuple[str, str, str], ...] = (
    ("Innenstadt", "Neuhausen", "in_service"),
    ("Neuhausen", "Herrnsheim", "in_service"),
    ("Herrnsheim", "Abenheim", "in_service"),
    ("Herrnsheim", "Rheindürkheim", "in_service"),
    ("Rheindürkheim", "Ibersheim", "planned"),
    ("Innenstadt", "Hochheim", "in_service"),
    ("Hochheim", "Leiselheim", "in_service"),
    ("Innenstadt", "Pfiffligheim", "in_service"),
    ("Pfiffligheim", "Pfeddersheim", "in_service"),
    ("Innenstadt", "Horchheim", "in_service"),
    ("Horchheim", "Weinsheim", "in_service"),
    ("Leiselheim", "Pfeddersheim", "under_construction"),  # ring closure for redundancy
)

# Radio configurations per band: (technology, band, MHz, bandwidth MHz, EIRP range dBm, earliest year).
RADIO_BANDS: dict[str, tuple[str, str, float, float, tuple[float, float], int]] = {
    "LTE800": ("LTE", "B20", 806.0, 10.0, (57.0, 61.0), 2010),
    "LTE1800": ("LTE", "B3", 1842.5, 20.0, (59.0, 63.0), 2012),
    "NR3600": ("NR", "n78", 3600.0, 100.0, (61.0, 65.0), 2020),
    "NR700": ("NR", "n28", 778.0, 10.0, (55.0, 59.0), 2020),
}

_TO_25832 = {}  # Transformer cache: building a pyproj Transformer costs ~10 ms


def _transformer(src_epsg: int) -> Transformer:
    if src_epsg not in _TO_25832:
        _TO_25832[src_epsg] = Transformer.from_crs(src_epsg, STORAGE_EPSG, always_xy=True)
    return _TO_25832[src_epsg]


@dataclass(frozen=True)
class DemoData:
    municipality: dict
    districts: list[dict]
    population_cells: list[dict]
    buildings: list[dict]
    operators: list[dict]
    assets: list[dict]


# --------------------------------------------------------------------------------------------------
# Population grid and boundaries (derived from real data)


def load_population_csv(path: str | Path | None = None) -> list[dict]:
    """Parse the Zensus 2011 1 km CSV into rows sorted by south-west corner (north, then east).

    Each row: ``id`` (``CRS3035RES1000mN{N}E{E}`` of the SW corner), ``resolution_m``, ``population``
    (None where the file says -1), ``source``, ``year``, ``in_municipality``, and the cell centre
    ``x_centre_3035`` / ``y_centre_3035`` as given in the file.
    """
    rows: list[dict] = []
    with open(path or ZENSUS_CSV, newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            x = int(rec["x_mp_1km_3035"])
            y = int(rec["y_mp_1km_3035"])
            einwohner = int(rec["Einwohner"])
            rows.append(
                {
                    "id": f"CRS3035RES1000mN{y - 500}E{x - 500}",
                    "resolution_m": 1000,
                    "population": None if einwohner == -1 else einwohner,
                    "source": "Zensus 2011",
                    "year": 2011,
                    "in_municipality": rec["in_worms_boundary"].strip() == "True",
                    "x_centre_3035": x,
                    "y_centre_3035": y,
                }
            )
    rows.sort(key=lambda r: (r["y_centre_3035"], r["x_centre_3035"]))
    return rows


def _cell_polygons(rows: list[dict]) -> list[Polygon]:
    """1 km squares in EPSG:3035, densified to 250 m so the reprojected edges stay faithful."""
    boxes = [
        shapely.box(
            r["x_centre_3035"] - 500, r["y_centre_3035"] - 500, r["x_centre_3035"] + 500, r["y_centre_3035"] + 500
        )
        for r in rows
    ]
    rings = shapely.get_exterior_ring(shapely.segmentize(np.array(boxes), 250.0))
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    xs, ys = _transformer(3035).transform(coords[:, 0], coords[:, 1])
    out = shapely.polygons(shapely.linearrings(np.round(np.c_[xs, ys], 2), indices=idx))
    return list(out)


def _as_multipolygon(geom) -> MultiPolygon:
    polys = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return MultiPolygon(polys)


def _district_centres_25832() -> dict[str, Point]:
    lats = [c[0] for c in DISTRICT_CENTRES.values()]
    lons = [c[1] for c in DISTRICT_CENTRES.values()]
    xs, ys = _transformer(4326).transform(lons, lats)
    return {name: Point(round(x, 2), round(y, 2)) for name, x, y in zip(DISTRICT_CENTRES, xs, ys, strict=True)}


def _districts(boundary: MultiPolygon, centres: dict[str, Point]) -> list[dict]:
    # Voronoi cells tile the plane; clipping them to the boundary tiles the boundary without gaps.
    cells = shapely.voronoi_polygons(
        MultiPoint(list(centres.values())), extend_to=boundary.envelope.buffer(2000), ordered=True
    )
    districts = []
    for name, cell in zip(centres, shapely.get_parts(cells), strict=True):
        geom = _as_multipolygon(shapely.intersection(cell, boundary, grid_size=0.01))
        if geom.is_empty:
            raise RuntimeError(f"district {name} came out empty")
        districts.append(
            {
                "name": name,
                "boundary": geom,
                "approximate": True,
                "note": (
                    f"Approximate: Voronoi cell around an approximate centre point of {name}, clipped to the "
                    "approximate municipality boundary. Not the official Ortsbezirk boundary."
                ),
            }
        )
    return districts


# --------------------------------------------------------------------------------------------------
# Buildings (synthetic, driven by the real population grid)

_HH_VALUES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12])
_HH_RURAL = np.array([0.62, 0.22, 0.05, 0.04, 0.02, 0.03, 0.01, 0.005, 0.005])
_HH_URBAN = np.array([0.40, 0.18, 0.07, 0.08, 0.05, 0.08, 0.07, 0.04, 0.03])
_HASH = 32.0  # spatial hash cell, >= 2 x the largest padded footprint half-diagonal (15.6 m)
_Rect = tuple[tuple[float, float], ...]


def _rect(x: float, y: float, ha: float, hb: float, angle: float) -> _Rect:
    c, s = math.cos(angle), math.sin(angle)
    return tuple(
        (x + u * ha * c - v * hb * s, y + u * ha * s + v * hb * c) for u, v in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    )


def _rects_overlap(p: _Rect, q: _Rect) -> bool:
    """Separating-axis test for two convex quadrilaterals (cheap enough to run per candidate)."""
    for rect in (p, q):
        for i in range(2):
            ex, ey = rect[i + 1][0] - rect[i][0], rect[i + 1][1] - rect[i][1]
            nx, ny = -ey, ex
            pp = [nx * x + ny * y for x, y in p]
            qq = [nx * x + ny * y for x, y in q]
            if max(pp) < min(qq) or max(qq) < min(pp):
                return False
    return True


def _buildings(
    rows: list[dict],
    cell_polys: list[Polygon],
    boundary: MultiPolygon,
    centres: dict[str, Point],
    districts: list[dict],
    rnd: random.Random,
    npr: np.random.Generator,
) -> list[dict]:
    centre_xy = np.array([[p.x, p.y] for p in centres.values()])
    occupied: dict[tuple[int, int], list[tuple[float, float, float, _Rect]]] = {}
    boundary_inner = boundary.buffer(-15.0)  # footprints stay clear of the boundary
    cx_all: list[float] = []
    cy_all: list[float] = []
    a_all: list[float] = []
    b_all: list[float] = []
    ang_all: list[float] = []
    hh_all: list[int] = []

    def free(x: float, y: float, r: float, rect: _Rect) -> bool:
        i, j = int(x // _HASH), int(y // _HASH)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                for ox, oy, orad, other in occupied.get((i + di, j + dj), ()):
                    if (ox - x) ** 2 + (oy - y) ** 2 < (orad + r) ** 2 and _rects_overlap(rect, other):
                        return False
        return True

    for row, poly in zip(rows, cell_polys, strict=True):
        if not row["in_municipality"]:
            continue
        pop = row["population"]
        n = rnd.randint(2, 6) if pop is None else max(1, round(pop / 4.5))
        density = 0.0 if pop is None else min(1.0, pop / 6000.0)
        hh_p = (1 - density) * _HH_RURAL + density * _HH_URBAN
        hh_p = hh_p / hh_p.sum()
        inner = shapely.intersection(poly.buffer(-15.0), boundary_inner)
        shapely.prepare(inner)
        c = np.array(poly.centroid.coords[0])
        # Settlements cluster around the village / town centre, so pull the cell's mean towards it.
        nearest = centre_xy[np.argmin(((centre_xy - c) ** 2).sum(axis=1))]
        pull = 0.45 * (nearest - c)
        if np.hypot(*pull) > 350.0:
            pull *= 350.0 / np.hypot(*pull)
        mean = c + pull
        sigma = 160.0 + 170.0 * density
        street_angle = rnd.uniform(0.0, math.pi / 2)
        placed = 0
        minx, miny, maxx, maxy = inner.bounds
        for attempt in range(40):
            if placed >= n:
                break
            m = max(64, 3 * (n - placed))
            if attempt < 25:
                pts = npr.normal(mean, sigma, size=(m, 2))
            else:  # the centre is full: fill the rest of the cell evenly
                pts = npr.uniform((minx, miny), (maxx, maxy), size=(m, 2))
            hh = npr.choice(_HH_VALUES, size=m, p=hh_p)
            side_a = np.where(hh <= 2, npr.uniform(8.0, 14.0, m), npr.uniform(12.0, 20.0, m))
            side_b = np.where(hh <= 2, npr.uniform(8.0, 12.0, m), npr.uniform(10.0, 16.0, m))
            turn = npr.integers(0, 2, m) * (math.pi / 2) + npr.normal(0.0, 0.08, m)
            ok = shapely.contains_xy(inner, pts[:, 0], pts[:, 1])
            for k in np.flatnonzero(ok):
                if placed >= n:
                    break
                x, y = float(pts[k, 0]), float(pts[k, 1])
                # Checked with a 1 m margin all round so that neighbours keep a gap of >= 2 m.
                r = 0.5 * math.hypot(side_a[k] + 2.0, side_b[k] + 2.0)
                rect = _rect(x, y, side_a[k] / 2 + 1.0, side_b[k] / 2 + 1.0, street_angle + float(turn[k]))
                if not free(x, y, r, rect):
                    continue
                occupied.setdefault((int(x // _HASH), int(y // _HASH)), []).append((x, y, r, rect))
                cx_all.append(x)
                cy_all.append(y)
                a_all.append(float(side_a[k]))
                b_all.append(float(side_b[k]))
                ang_all.append(street_angle + float(turn[k]))
                hh_all.append(int(hh[k]))
                placed += 1
            sigma *= 1.15  # crowded centre: widen the spread rather than loop forever

    # Rotated rectangles, built in one vectorised pass.
    cx, cy = np.array(cx_all), np.array(cy_all)
    ha, hb, ang = np.array(a_all) / 2, np.array(b_all) / 2, np.array(ang_all)
    local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    lx = local[None, :, 0] * ha[:, None]
    ly = local[None, :, 1] * hb[:, None]
    cos, sin = np.cos(ang)[:, None], np.sin(ang)[:, None]
    coords = np.stack([cx[:, None] + lx * cos - ly * sin, cy[:, None] + lx * sin + ly * cos], axis=-1)
    polys = shapely.polygons(np.round(coords, 2))
    centroids = shapely.centroid(polys)
    names = _assign_districts(centroids, districts)
    return [
        {"external_id": f"demo-b-{i + 1:06d}", "geom": polys[i], "households": hh_all[i], "district": names[i]}
        for i in range(len(polys))
    ]


def _assign_districts(points: np.ndarray, districts: list[dict]) -> list[str]:
    names: list[str | None] = [None] * len(points)
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    for d in districts:
        shapely.prepare(d["boundary"])
        for i in np.flatnonzero(shapely.contains_xy(d["boundary"], xs, ys)):
            if names[i] is None:
                names[i] = d["name"]
    for i, name in enumerate(names):
        if name is None:  # on a shared edge: take the nearest district (first in order on ties)
            dists = [d["boundary"].distance(points[i]) for d in districts]
            names[i] = districts[int(np.argmin(dists))]["name"]
    return names  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Helpers for assets


def _pt(x: float, y: float) -> Point:
    return Point(round(float(x), 2), round(float(y), 2))


def _line(coords: Iterable[tuple[float, float]]) -> LineString:
    out: list[tuple[float, float]] = []
    for x, y in coords:
        p = (round(float(x), 2), round(float(y), 2))
        if not out or p != out[-1]:
            out.append(p)
    return LineString(out)


def _date(rnd: random.Random, first_year: int, last_year: int = 2024) -> dt.date:
    start = dt.date(first_year, 1, 1).toordinal()
    end = dt.date(last_year, 12, 31).toordinal()
    return dt.date.fromordinal(rnd.randint(start, end))


def _pick(rnd: random.Random, weighted: dict[str, float]) -> str:
    keys = list(weighted)
    return rnd.choices(keys, weights=[weighted[k] for k in keys])[0]


def _asset(
    kind: str,
    operator: str,
    external_id: str,
    name: str,
    status: str,
    sensitivity: str,
    commissioned_on: dt.date | None,
    attributes: dict,
    geometry,
) -> dict:
    return {
        "kind": kind,
        "operator": operator,
        "external_id": external_id,
        "name": name,
        "status": status,
        "sensitivity": sensitivity,
        "commissioned_on": commissioned_on,
        "attributes": attributes,
        "geometry": geometry,
    }


def _commissioned(rnd: random.Random, status: str, first_year: int) -> dt.date | None:
    # Only what has been built carries a commissioning date.
    if status in ("in_service", "out_of_service", "decommissioned"):
        return _date(rnd, first_year)
    return None


class _Context:
    """What the asset generators share: boundaries, buildings and the random streams."""

    def __init__(
        self,
        boundary: MultiPolygon,
        districts: list[dict],
        centres: dict[str, Point],
        buildings: list[dict],
        cells: dict[tuple[int, int], tuple[Polygon, Point]],
        rnd: random.Random,
    ) -> None:
        self.boundary = boundary
        self.districts = {d["name"]: d["boundary"] for d in districts}
        self.centres = centres
        self.buildings = buildings
        self.rnd = rnd
        self.inner = boundary.buffer(-25.0)  # keep point assets clear of the (approximate) edge
        shapely.prepare(self.inner)
        self.corridor_area = self.inner.buffer(20.0)
        shapely.prepare(self.corridor_area)
        self.cells = cells
        self.by_district: dict[str, list[dict]] = {name: [] for name in centres}
        for b in buildings:
            self.by_district[b["district"]].append(b)
        self.centroids = shapely.centroid(np.array([b["geom"] for b in buildings]))
        self.tree = shapely.STRtree(self.centroids)

    def cell_path(self, a: Point, b: Point) -> list[tuple[float, float]]:
        """a -> centres of edge-adjacent municipal 1 km cells -> b (breadth-first, so few turns)."""

        def cell_of(p: Point) -> tuple[int, int]:
            return next(key for key, (poly, _c) in self.cells.items() if poly.covers(p))

        start, goal = cell_of(a), cell_of(b)
        came: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
        queue = [start]
        while queue and goal not in came:
            nxt = []
            for ix, iy in queue:
                for key in ((ix + 1, iy), (ix - 1, iy), (ix, iy + 1), (ix, iy - 1)):
                    if key in self.cells and key not in came:
                        came[key] = (ix, iy)
                        nxt.append(key)
            queue = nxt
        chain = [goal]
        while came[chain[-1]] is not None:
            chain.append(came[chain[-1]])  # type: ignore[arg-type]
        chain.reverse()
        # Inner cell centres only: the segment from a point to the centre of a neighbour stays in both cells.
        mids = [(self.cells[k][1].x, self.cells[k][1].y) for k in chain[1:-1]]
        return [(a.x, a.y), *mids, (b.x, b.y)]

    def point_in_district(self, district: str, near_centre_m: float | None = None) -> Point:
        """A uniform random point of the district (optionally within a radius of its centre)."""
        poly = self.districts[district].buffer(-25.0)
        if near_centre_m is not None:
            poly = poly.intersection(self.centres[district].buffer(near_centre_m))
        minx, miny, maxx, maxy = poly.bounds
        for _ in range(1000):
            x, y = self.rnd.uniform(minx, maxx), self.rnd.uniform(miny, maxy)
            if poly.contains(Point(x, y)) and self.inner.contains(Point(x, y)):
                return _pt(x, y)
        raise RuntimeError(f"no point found in {district}")

    def point_near_building(self, district: str, offset: tuple[float, float] = (12.0, 30.0)) -> Point:
        """A point in the street space next to a random building of the district."""
        for _ in range(1000):
            b = self.rnd.choice(self.by_district[district])
            c = b["geom"].centroid
            ang = self.rnd.uniform(0, 2 * math.pi)
            dist = self.rnd.uniform(*offset)
            p = _pt(c.x + dist * math.cos(ang), c.y + dist * math.sin(ang))
            if self.inner.contains(p) and self.districts[district].contains(p):
                return p
        raise RuntimeError(f"no point near a building in {district}")

    def district_weights(self, urban_bonus: float = 1.0) -> dict[str, float]:
        w = {name: float(len(bs)) for name, bs in self.by_district.items()}
        w["Innenstadt"] *= urban_bonus
        return w


# --------------------------------------------------------------------------------------------------
# Fiber network: routes and nodes


def _corridor(ctx: _Context, a: Point, b: Point) -> LineString:
    """A straight-ish polyline from a to b with a few jittered vertices, kept inside the boundary."""
    length = a.distance(b)
    n_mid = max(1, int(length // 700))
    dx, dy = (b.x - a.x) / length, (b.y - a.y) / length
    for _ in range(20):
        pts = [(a.x, a.y)]
        for i in range(1, n_mid + 1):
            f = i / (n_mid + 1)
            off = max(-150.0, min(150.0, ctx.rnd.gauss(0.0, 0.04 * length)))
            pts.append((a.x + f * (b.x - a.x) - off * dy, a.y + f * (b.y - a.y) + off * dx))
        pts.append((b.x, b.y))
        line = _line(pts)
        if ctx.corridor_area.covers(line):
            return line
    # The straight way leaves the (narrow) municipality: follow the grid cells instead, then straighten.
    path = ctx.cell_path(a, b)
    for tolerance in (400.0, 200.0, 100.0):
        line = _line(LineString(path).simplify(tolerance).coords)
        if ctx.corridor_area.covers(line):
            return line
    return _line(path)


def _split(line: LineString, target_m: float, rnd: random.Random) -> list[LineString]:
    """Cut a corridor into route sections of roughly target_m (as a partner would deliver them)."""
    n = max(1, round(line.length / target_m))
    cuts = [0.0]
    for i in range(1, n):
        cuts.append(line.length * i / n + rnd.uniform(-0.1, 0.1) * line.length / n)
    cuts.append(line.length)
    return [_line(substring(line, cuts[i], cuts[i + 1]).coords) for i in range(n)]


def _mesh_segments(ctx: _Context, district: str) -> list[list[LineString]]:
    """Street-grid-like distribution lines over the built-up part of a district, grouped per grid line."""
    rnd = ctx.rnd
    centre = ctx.centres[district]
    spacing = 180.0 if district == "Innenstadt" else 160.0
    radius = 1500.0 if district == "Innenstadt" else 900.0
    theta = rnd.uniform(0.0, math.pi / 2)
    ux, uy = math.cos(theta), math.sin(theta)
    vx, vy = -uy, ux
    area = ctx.districts[district].buffer(-60.0)  # keep >= 60 m off the neighbours
    shapely.prepare(area)
    bs = [b["geom"].centroid for b in ctx.by_district[district]]
    us = [(p.x - centre.x) * ux + (p.y - centre.y) * uy for p in bs if p.distance(centre) <= radius]
    vs = [(p.x - centre.x) * vx + (p.y - centre.y) * vy for p in bs if p.distance(centre) <= radius]
    if not us:
        return []
    i0, i1 = math.floor(min(us) / spacing), math.ceil(max(us) / spacing)
    j0, j1 = math.floor(min(vs) / spacing), math.ceil(max(vs) / spacing)
    # Jitter the crossings once so that adjacent segments still meet.
    jitter = {
        (i, j): (rnd.uniform(-15, 15), rnd.uniform(-15, 15)) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)
    }

    def node(i: int, j: int) -> tuple[float, float]:
        ju, jv = jitter[(i, j)]
        u, v = i * spacing + ju, j * spacing + jv
        return centre.x + u * ux + v * vx, centre.y + u * uy + v * vy

    lines: list[list[tuple[tuple[float, float], tuple[float, float]]]] = []
    for j in range(j0, j1 + 1):
        lines.append([(node(i, j), node(i + 1, j)) for i in range(i0, i1)])
    for i in range(i0, i1 + 1):
        lines.append([(node(i, j), node(i, j + 1)) for j in range(j0, j1)])

    flat = [_line(seg) for line in lines for seg in line]
    if not flat:
        return []
    seg_arr = np.array(flat)
    hits = ctx.tree.query(seg_arr, predicate="dwithin", distance=40.0)
    counts = np.bincount(hits[0], minlength=len(flat))
    keep = (counts >= 6) & shapely.covers(area, seg_arr)

    runs: list[list[LineString]] = []
    k = 0
    for line in lines:
        run: list[LineString] = []
        for _seg in line:
            if keep[k]:
                run.append(flat[k])
            elif run:
                runs.append(run)
                run = []
            k += 1
        if run:
            runs.append(run)
    return runs


def _fiber(ctx: _Context) -> tuple[list[dict], list[dict]]:
    rnd = ctx.rnd
    routes: list[dict] = []
    nodes: list[dict] = []
    op = "rheinfaser"

    def add_route(geom: LineString, status: str, name: str, backbone: bool, rural: bool = False) -> None:
        if backbone:
            attrs = {
                "route_type": "duct",
                "fibre_count": rnd.choice([288, 432, 576]),
                "duct_count": rnd.choice([4, 6, 8]),
                "laying_method": _pick(
                    rnd, {"open_trench": 3, "directional_drilling": 2, "ploughing": 2 if rural else 0}
                ),
                "surface": "unsealed" if rural and rnd.random() < 0.6 else "sealed",
            }
        else:
            route_type = _pick(rnd, {"duct": 6, "cable": 3, "trench": 1})
            attrs = {
                "route_type": route_type,
                "fibre_count": 0 if route_type == "trench" else rnd.choice([24, 48, 96, 144]),
                "duct_count": rnd.randint(1, 4) if route_type != "cable" else 0,
                "laying_method": _pick(
                    rnd,
                    {"microtrench": 4, "open_trench": 3, "existing_duct": 2, "directional_drilling": 1, "aerial": 0.3},
                ),
                "surface": "sealed" if rnd.random() < 0.85 else "unsealed",
            }
        routes.append(
            _asset(
                "fiber-routes",
                op,
                f"RF-TR-{len(routes) + 1:04d}",
                name,
                status,
                "critical" if backbone else "internal",
                _commissioned(rnd, status, 2016),
                attrs,
                geom,
            )
        )

    def add_node(p: Point, node_type: str, status: str, name: str, ports: int | None) -> None:
        attrs: dict = {"node_type": node_type}
        if ports is not None:
            attrs["ports"] = ports
        nodes.append(
            _asset(
                "network-nodes",
                op,
                f"RF-ND-{len(nodes) + 1:04d}",
                name,
                status,
                "critical" if node_type == "pop" else "internal",
                _commissioned(rnd, status, 2016),
                attrs,
                p,
            )
        )

    add_node(ctx.centres["Innenstadt"], "pop", "in_service", "PoP Innenstadt", 2304)
    add_node(ctx.centres["Herrnsheim"], "pop", "in_service", "PoP Herrnsheim", 1152)

    # Backbone: corridors between district centres, delivered as sections with closures at the joints.
    splice_no = manhole_no = 0
    for src, dst, status in BACKBONE:
        corridor = _corridor(ctx, ctx.centres[src], ctx.centres[dst])
        rural = src != "Innenstadt"
        sections = _split(corridor, 750.0, rnd)
        for k, sec in enumerate(sections, start=1):
            add_route(sec, status, f"Hauptkabel {src}–{dst} Abschnitt {k}", backbone=True, rural=rural)
            if k < len(sections):
                splice_no += 1
                end = sec.coords[-1]
                add_node(
                    _pt(*end), "splice_closure", status, f"Muffe {splice_no} ({src}–{dst})", rnd.choice([96, 144, 288])
                )
            # Manholes every ~300 m along the section, clear of its ends.
            for f in np.arange(300.0, sec.length - 100.0, 300.0):
                manhole_no += 1
                p = sec.interpolate(float(f))
                add_node(_pt(p.x, p.y), "manhole", status, f"Schacht {manhole_no}", None)

    # Local distribution in the served districts (and a planned one), cabinets on grid crossings.
    served = [d for d in DISTRICT_CENTRES if d not in UNSERVED_DISTRICTS or d in PLANNED_DISTRICTS]
    for district in served:
        runs = _mesh_segments(ctx, district)
        local_no = 0
        ends: list[tuple[float, float]] = []
        for run in runs:
            for start in range(0, len(run), 5):
                chunk = run[start : start + 5]
                geom = _line([c for seg in chunk for c in seg.coords])
                if district in PLANNED_DISTRICTS:
                    status = "planned"
                elif district == "Abenheim":
                    status = _pick(rnd, {"in_service": 5, "under_construction": 4, "planned": 1})
                else:
                    status = _pick(rnd, {"in_service": 88, "under_construction": 6, "planned": 6})
                local_no += 1
                add_route(geom, status, f"Verteiltrasse {district} {local_no}", backbone=False)
                ends.append(geom.coords[0])
        if not ends:
            continue
        # Spread cabinets over the mesh by farthest-point selection, starting at the district centre.
        n_cab = max(1, min(8, round(len(ends) / 12)))
        xy = np.array(ends)
        c = ctx.centres[district]
        first = int(np.argmin(np.hypot(xy[:, 0] - c.x, xy[:, 1] - c.y)))
        chosen = [first]
        dist = np.hypot(xy[:, 0] - xy[first, 0], xy[:, 1] - xy[first, 1])
        while len(chosen) < min(n_cab, len(ends)):
            k = int(np.argmax(dist))
            chosen.append(k)
            dist = np.minimum(dist, np.hypot(xy[:, 0] - xy[k, 0], xy[:, 1] - xy[k, 1]))
        cab_status = "planned" if district in PLANNED_DISTRICTS else "in_service"
        for n, k in enumerate(chosen, start=1):
            add_node(
                _pt(*ends[k]),
                "street_cabinet",
                cab_status,
                f"Netzverteiler {district} {n}",
                rnd.choice([144, 288, 576]),
            )

    # Building entries: a sample of buildings close to in-service routes, node inside the footprint.
    live = [r["geometry"] for r in routes if r["status"] == "in_service"]
    live_tree = shapely.STRtree(np.array(live))
    near = np.unique(live_tree.query(ctx.centroids, predicate="dwithin", distance=20.0)[0])
    sample = sorted(rnd.sample(list(near), min(140, len(near))))
    for i in sample:
        b = ctx.buildings[int(i)]
        c = ctx.centroids[int(i)]
        route = live[int(live_tree.nearest(c))]
        edge = nearest_points(b["geom"].exterior, route)[0]
        p = _pt(c.x + 0.6 * (edge.x - c.x), c.y + 0.6 * (edge.y - c.y))  # inside: rectangles are convex
        add_node(p, "building_entry", "in_service", f"Hausübergabepunkt {b['external_id']}", 2 * b["households"])
    return routes, nodes


# --------------------------------------------------------------------------------------------------
# Radio and IoT


def _ground_height(p: Point, rnd: random.Random) -> float:
    # Rhine plain at ~89 m rising gently towards the Rheinhessen hills in the west.
    return round(89.0 + max(0.0, 455500.0 - p.x) * 0.0045 + rnd.uniform(-1.5, 1.5), 1)


def _mobile_sites(ctx: _Context) -> list[dict]:
    rnd = ctx.rnd
    per_district = dict.fromkeys(DISTRICT_CENTRES, 1)
    per_district["Innenstadt"] = 12
    per_district["Neuhausen"] = 4
    weights = ctx.district_weights()
    while sum(per_district.values()) < 45:
        per_district[_pick(rnd, {k: v for k, v in weights.items() if k != "Innenstadt"})] += 1
    sites: list[dict] = []
    placed: list[Point] = []
    counter = dict.fromkeys(MOBILE_OPERATORS, 0)
    planned = set(rnd.sample(range(sum(per_district.values())), 4))  # a few sites still in planning
    for district, n in per_district.items():
        urban = district in ("Innenstadt", "Neuhausen")
        for k in range(1, n + 1):
            for _ in range(500):
                if urban or rnd.random() < 0.5:
                    p = ctx.point_near_building(district, (0.0, 3.0))  # on a roof
                    structure = "rooftop"
                else:
                    p = ctx.point_in_district(district)
                    structure = _pick(rnd, {"mast": 3, "tower": 1})
                if all(p.distance(q) > (300.0 if urban else 600.0) for q in placed):
                    break
            placed.append(p)
            operator = MOBILE_OPERATORS[len(sites) % 3]
            counter[operator] += 1
            band = _pick(
                rnd,
                {"LTE800": 1, "LTE1800": 3.5, "NR3600": 4, "NR700": 1}
                if urban
                else {"LTE800": 4, "LTE1800": 2, "NR3600": 1, "NR700": 3},
            )
            tech, band_id, freq, bw, (eirp_lo, eirp_hi), first_year = RADIO_BANDS[band]
            height = {
                "rooftop": rnd.uniform(20.0, 32.0),
                "mast": rnd.uniform(25.0, 40.0),
                "tower": rnd.uniform(35.0, 45.0),
            }[structure]
            base_az = rnd.uniform(-20.0, 20.0)
            sectors = []
            for s in range(3):
                total_tilt = rnd.uniform(4.0, 8.0) if urban else rnd.uniform(2.0, 5.0)
                mech = 0.0 if rnd.random() < 0.7 else float(rnd.randint(1, 2))
                mech = min(mech, total_tilt - 2.0)
                sectors.append(
                    {
                        "sector": s + 1,
                        "technology": tech,
                        "band": band_id,
                        "frequency_mhz": freq,
                        "azimuth_deg": round((base_az + 120.0 * s + rnd.uniform(-10.0, 10.0)) % 360.0, 1),
                        "mech_tilt_deg": round(mech, 1),
                        "elec_tilt_deg": round(total_tilt - mech, 1),
                        "height_m": round(height, 1),
                        "eirp_dbm": round(rnd.uniform(eirp_lo, eirp_hi), 1),
                        "bandwidth_mhz": bw,
                        "h_beamwidth_deg": 65.0,
                        "v_beamwidth_deg": 10.0,
                    }
                )
            status = "planned" if len(sites) in planned else "in_service"
            sites.append(
                _asset(
                    "mobile-sites",
                    operator,
                    f"{_MNO_PREFIX[operator]}-{counter[operator]:04d}",
                    f"Mobilfunkstandort {district} {k} ({_MNO_LABEL[operator]})",
                    status,
                    "public",
                    _commissioned(rnd, status, first_year),
                    {
                        "structure": structure,
                        "ground_height_m": _ground_height(p, rnd),
                        "operators": [operator],
                        "antennas": sectors_to_antennas(sectors, operator),
                    },
                    p,
                )
            )
    return sites


# sensor_type: (count, German label, owner operator, department, quantities, connectivity weights)
SENSOR_TYPES: dict[str, tuple[int, str, str, str, tuple[str, ...], dict[str, float]]] = {
    "air_quality": (
        30,
        "Luftqualität",
        "stadt-worms",
        "Umwelt",
        ("NO2", "PM10", "PM2.5", "O3"),
        {"lorawan": 6, "ltem": 2, "nbiot": 1, "wifi": 1},
    ),
    "noise": (20, "Lärm", "stadt-worms", "Umwelt", ("LAeq dB(A)",), {"lorawan": 7, "ltem": 1, "5g": 1}),
    "traffic_counter": (
        30,
        "Verkehrszählung",
        "stadt-worms",
        "Verkehr",
        ("Fahrzeuge/h", "Radfahrende/h"),
        {"lorawan": 3, "fiber": 3, "lte": 1, "5g": 2},
    ),
    "parking": (45, "Parkplatzbelegung", "stadt-worms", "Verkehr", ("Stellplatzbelegung",), {"lorawan": 8, "nbiot": 3}),
    "water_level": (
        10,
        "Pegel",
        "stadtwerke-demo",
        "Stadtentwässerung",
        ("Wasserstand cm",),
        {"lorawan": 5, "nbiot": 3, "fiber": 1},
    ),
    "weather": (
        10,
        "Wetter",
        "stadt-worms",
        "Umwelt",
        ("Lufttemperatur °C", "Niederschlag mm", "Wind m/s"),
        {"lorawan": 6, "wifi": 2, "ltem": 2},
    ),
    "soil_moisture": (30, "Bodenfeuchte", "stadt-worms", "Grünflächen", ("Bodenfeuchte %",), {"lorawan": 1}),
    "waste_level": (
        25,
        "Füllstand Abfall",
        "stadt-worms",
        "Abfallwirtschaft",
        ("Füllstand %",),
        {"lorawan": 7, "nbiot": 3},
    ),
}


def _rhine_point(ctx: _Context, district: str) -> Point:
    """A point near the eastern (Rhine) edge of the municipality within a district."""
    poly = ctx.districts[district]
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(200):
        y = ctx.rnd.uniform(miny, maxy)
        cut = shapely.intersection(poly, shapely.box(minx, y - 0.5, maxx, y + 0.5))
        if cut.is_empty:
            continue
        p = _pt(cut.bounds[2] - ctx.rnd.uniform(40.0, 300.0), y)
        if ctx.inner.contains(p) and poly.contains(p):
            return p
    return ctx.point_in_district(district)


def _sensors(ctx: _Context) -> list[dict]:
    rnd = ctx.rnd
    out: list[dict] = []
    numbers: dict[tuple[str, str], int] = {}
    weights = ctx.district_weights(urban_bonus=1.6)
    for stype, (count, label, operator, dept, quantities, conn) in SENSOR_TYPES.items():
        for _ in range(count):
            if stype == "water_level":
                district = rnd.choice(["Innenstadt", "Neuhausen", "Rheindürkheim", "Ibersheim"])
                p = _rhine_point(ctx, district)
            elif stype == "soil_moisture":
                district = _pick(rnd, dict.fromkeys(DISTRICT_CENTRES, 1.0))
                p = ctx.point_in_district(district)
            elif stype == "parking":
                district = _pick(rnd, {"Innenstadt": 6, "Neuhausen": 2, "Pfeddersheim": 1, "Horchheim": 1})
                p = ctx.point_near_building(district)
            else:
                district = _pick(rnd, weights)
                p = ctx.point_near_building(district)
            numbers[(stype, district)] = numbers.get((stype, district), 0) + 1
            status = _pick(
                rnd, {"in_service": 80, "planned": 8, "under_construction": 4, "out_of_service": 6, "decommissioned": 2}
            )
            sensitivity = "internal" if stype == "water_level" or rnd.random() < 0.03 else "public"
            attrs = {
                "sensor_type": stype,
                "measured_quantity": rnd.choice(quantities),
                "connectivity": _pick(rnd, conn),
                "owner_department": dept,
            }
            if status in ("in_service", "out_of_service", "decommissioned"):
                attrs["datastream_url"] = f"https://daten.worms.example/sensorthings/Datastreams({len(out) + 101})"
            out.append(
                _asset(
                    "sensors",
                    operator,
                    f"SEN-{len(out) + 1:04d}",
                    f"Sensor {label} {district} {numbers[(stype, district)]}",
                    status,
                    sensitivity,
                    _commissioned(rnd, status, 2018),
                    attrs,
                    p,
                )
            )
    return out


# actuator_type: (count, label, operator, department, sensitivity, connectivity weights, share controllable)
ACTUATOR_TYPES: dict[str, tuple[int, str, str, str, str, dict[str, float], float]] = {
    "street_light": (
        45,
        "Straßenleuchte",
        "stadtwerke-demo",
        "Straßenbeleuchtung",
        "public",
        {"lorawan": 7, "nbiot": 2, "none": 1},
        0.8,
    ),
    "traffic_signal": (
        20,
        "Lichtsignalanlage",
        "stadt-worms",
        "Verkehr",
        "critical",
        {"fiber": 6, "lte": 2, "5g": 1},
        1.0,
    ),
    "barrier": (10, "Schranke", "stadt-worms", "Verkehr", "public", {"lte": 2, "lorawan": 1, "fiber": 1}, 1.0),
    "valve": (
        12,
        "Absperrschieber",
        "stadtwerke-demo",
        "Wasserversorgung",
        "critical",
        {"lorawan": 2, "nbiot": 2},
        0.6,
    ),
    "display": (13, "Anzeigetafel", "stadt-worms", "Verkehr", "public", {"lte": 3, "fiber": 2, "5g": 1}, 1.0),
}


def _actuators(ctx: _Context) -> list[dict]:
    rnd = ctx.rnd
    out: list[dict] = []
    numbers: dict[tuple[str, str], int] = {}
    prefix = {"stadt-worms": "AKT", "stadtwerke-demo": "SWD-AKT"}
    per_operator: dict[str, int] = {}
    for atype, (count, label, operator, dept, sensitivity, conn, share_ctl) in ACTUATOR_TYPES.items():
        for _ in range(count):
            if atype in ("traffic_signal", "barrier", "display"):
                district = _pick(
                    rnd, {"Innenstadt": 6, "Neuhausen": 2, "Horchheim": 1, "Pfeddersheim": 1, "Herrnsheim": 1}
                )
            else:
                district = _pick(rnd, ctx.district_weights())
            p = ctx.point_near_building(district)
            numbers[(atype, district)] = numbers.get((atype, district), 0) + 1
            per_operator[operator] = per_operator.get(operator, 0) + 1
            status = _pick(rnd, {"in_service": 85, "planned": 6, "under_construction": 4, "out_of_service": 5})
            connectivity = _pick(rnd, conn)
            out.append(
                _asset(
                    "actuators",
                    operator,
                    f"{prefix[operator]}-{per_operator[operator]:04d}",
                    f"{label} {district} {numbers[(atype, district)]}",
                    status,
                    sensitivity,
                    _commissioned(rnd, status, 2015),
                    {
                        "actuator_type": atype,
                        "connectivity": connectivity,
                        "controllable": connectivity != "none" and rnd.random() < share_ctl,
                        "owner_department": dept,
                    },
                    p,
                )
            )
    return out


def _gateways(ctx: _Context) -> list[dict]:
    rnd = ctx.rnd
    out: list[dict] = []
    # (district, ring around its centre in m): the Innenstadt gets a second gateway further out.
    places = (
        ("Innenstadt", 0.0),
        ("Innenstadt", 900.0),
        ("Herrnsheim", 0.0),
        ("Pfeddersheim", 0.0),
        ("Horchheim", 0.0),
        ("Rheindürkheim", 0.0),
    )
    for i, (district, ring) in enumerate(places, start=1):
        # On the roof of the largest building in the ring: mounting height is what LoRa range needs.
        c = ctx.centres[district]
        cands = [b for b in ctx.by_district[district] if ring <= b["geom"].centroid.distance(c) <= ring + 400.0]
        b = max(cands, key=lambda b: (b["households"], -b["geom"].centroid.distance(c)))
        p = _pt(b["geom"].centroid.x, b["geom"].centroid.y)
        status = "planned" if i == len(places) else "in_service"
        out.append(
            _asset(
                "iot-gateways",
                "stadtwerke-demo",
                f"SWD-GW-{i:02d}",
                f"LoRaWAN-Gateway {district}" + (" 2" if ring else ""),
                status,
                "public",
                _commissioned(rnd, status, 2019),
                {
                    "technology": "lorawan",
                    "height_m": round(rnd.uniform(15.0, 40.0), 1),
                    "frequency_mhz": 868.1,
                    "eirp_dbm": round(rnd.uniform(14.0, 27.0), 1),
                },
                p,
            )
        )
    return out


# --------------------------------------------------------------------------------------------------


def generate(seed: int = DEMO_SEED) -> DemoData:
    """Build the whole demo dataset; the same seed always gives the same data (coordinates to 0.01 m)."""
    rnd = random.Random(seed)
    npr = np.random.default_rng(seed)

    rows = load_population_csv()
    cell_polys = _cell_polygons(rows)
    boundary = _as_multipolygon(
        shapely.union_all([p for r, p in zip(rows, cell_polys, strict=True) if r["in_municipality"]], grid_size=0.01)
    )
    municipality = {
        "ags": AGS,
        "name": "Worms",
        "boundary": boundary,
        "note": (
            "Boundary approximated from the Zensus 2011 1 km cells whose centre lies in Worms "
            "(union of those cells, reprojected to EPSG:25832); not the official boundary."
        ),
    }
    population_cells = [
        {
            "id": r["id"],
            "resolution_m": r["resolution_m"],
            "population": r["population"],
            "geom": p,
            "source": r["source"],
            "year": r["year"],
            "in_municipality": r["in_municipality"],
        }
        for r, p in zip(rows, cell_polys, strict=True)
    ]
    centres = _district_centres_25832()
    districts = _districts(boundary, centres)
    buildings = _buildings(rows, cell_polys, boundary, centres, districts, rnd, npr)

    # Municipal cells keyed by their 3035 grid index, for routing corridors through the municipality.
    cells = {
        (r["x_centre_3035"] // 1000, r["y_centre_3035"] // 1000): (p, p.centroid)
        for r, p in zip(rows, cell_polys, strict=True)
        if r["in_municipality"]
    }
    ctx = _Context(boundary, districts, centres, buildings, cells, rnd)
    routes, nodes = _fiber(ctx)
    assets = routes + nodes + _mobile_sites(ctx) + _sensors(ctx) + _actuators(ctx) + _gateways(ctx)
    return DemoData(
        municipality=municipality,
        districts=districts,
        population_cells=population_cells,
        buildings=buildings,
        operators=[dict(o) for o in OPERATORS],
        assets=assets,
    )
