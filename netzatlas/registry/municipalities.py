"""Onboarding municipalities: add from a boundary file (or the union of its districts), list, show, remove.

The command line (`netzatlas municipalities ...`) and the admin API (/municipalities) both call these
functions; they only parse and print. A boundary is any file GDAL reads (GeoPackage, GeoJSON, Shapefile, ...)
in any CRS: it is transformed to EPSG:25832 and its features are unioned into one MultiPolygon.

Population is reported from what is loaded, never invented: the city's per-district table (latest year per
district) when it covers every district, else the finest population grid (Zensus) inside the boundary, else
"unknown" (total None), never 0.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyogrio
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from netzatlas.registry import reference
from netzatlas.registry.service import STORAGE_SRID

AGS_PATTERN = re.compile(r"^[0-9]{8}$")
MAX_NAME = 500
LATEST_RUNS = 5
# EPSG:25832's area of use (6-12° E) widened by 3° both ways, as for query boxes: Germany fits, Sydney does not.
STORAGE_BOUNDS_LONLAT = (3.0, 33.5, 15.0, 87.0)


class MunicipalityError(ValueError):
    """Bad input or a state that refuses the change; `status` is the HTTP status the API answers with."""

    status = 400


class UnknownMunicipality(MunicipalityError):
    status = 404


class MunicipalityConflict(MunicipalityError):
    status = 409


def check_ags(ags: Any) -> str:
    if not isinstance(ags, str) or not AGS_PATTERN.match(ags):
        raise MunicipalityError(
            f"AGS {ags!r}: the Amtlicher Gemeindeschlüssel has exactly 8 digits, e.g. 07319000 for Worms"
        )
    return ags


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or "\x00" in name:
        raise MunicipalityError(f"name: required text of at most {MAX_NAME} characters")
    return name.strip()


def known_ags(conn: psycopg.Connection) -> list[str]:
    return [r["ags"] for r in conn.execute("SELECT ags FROM municipalities ORDER BY ags").fetchall()]


def _unknown(conn: psycopg.Connection, ags: str) -> UnknownMunicipality:
    known = known_ags(conn)
    return UnknownMunicipality(f"unknown municipality {ags!r}; registered: {', '.join(known) if known else 'none'}")


# ---------------------------------------------------------------- reading a boundary


def _ogr_path(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def read_boundary(path: Path, layer: str | None = None, where: str | None = None) -> MultiPolygon:
    """The union of a file's (multi)polygons in EPSG:25832. `where` is an OGR SQL attribute filter."""
    path = Path(path)
    if not path.is_file():
        raise MunicipalityError(f"{path.name}: no such file")
    source = _ogr_path(path)
    try:
        layers = [str(n) for n in pyogrio.list_layers(source)[:, 0]]
    except Exception as e:
        raise MunicipalityError(f"{path.name}: cannot be read ({str(e).splitlines()[0]})") from None
    if layer is None and len(layers) > 1:
        raise MunicipalityError(f"{path.name} has {len(layers)} layers; choose one with --layer: {', '.join(layers)}")
    if layer is not None and layer not in layers:
        raise MunicipalityError(f"{path.name} has no layer {layer!r}; its layers: {', '.join(layers)}")
    try:
        meta, _fids, wkb, _fields = ogr_read(source, layer=layer or layers[0], where=where or None)
    except Exception as e:
        what = f"--where {where!r}" if where else path.name
        raise MunicipalityError(f"{what}: cannot be read ({str(e).splitlines()[0]})") from None
    if wkb is None or len(wkb) == 0:
        raise MunicipalityError(f"{path.name}: no features" + (f" match --where {where!r}" if where else ""))
    crs = meta.get("crs")
    if not crs:
        raise MunicipalityError(f"{path.name} states no coordinate reference system; save it with one (e.g. a .prj)")
    try:
        src = CRS.from_user_input(crs)
    except CRSError:
        raise MunicipalityError(f"{path.name}: unknown coordinate reference system {crs!r}") from None
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    for i, g in enumerate(geoms):
        if g is None or g.is_empty or shapely.get_type_id(g) not in (3, 6):
            kind = "no geometry" if g is None or g.is_empty else g.geom_type
            raise MunicipalityError(f"{path.name}, feature {i}: expected a Polygon or MultiPolygon, got {kind}")
    transformer = Transformer.from_crs(src, STORAGE_SRID, always_xy=True)

    def to_storage(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    geoms = shapely.transform(geoms, to_storage)
    if not all(np.isfinite(shapely.get_coordinates(g)).all() for g in geoms):
        raise MunicipalityError(f"{path.name}: coordinates cannot be transformed from {src.name}; check the CRS")
    geoms = np.array([g if g.is_valid else shapely.make_valid(g) for g in geoms], dtype=object)
    union = shapely.union_all(geoms)
    polys = [p for p in getattr(union, "geoms", [union]) if shapely.get_type_id(p) in (3, 6)]
    parts = [q for p in polys for q in getattr(p, "geoms", [p])]
    boundary = MultiPolygon(parts)
    if boundary.is_empty or boundary.area <= 0:
        raise MunicipalityError(f"{path.name}: the polygons enclose no area")
    lon0, lat0, lon1, lat1 = STORAGE_BOUNDS_LONLAT
    back = Transformer.from_crs(STORAGE_SRID, 4326, always_xy=True)
    x0, y0, x1, y1 = boundary.bounds
    lons, lats = back.transform([x0, x1], [y0, y1])
    if not (lon0 <= min(lons) and max(lons) <= lon1 and lat0 <= min(lats) and max(lats) <= lat1):
        raise MunicipalityError(
            f"{path.name}: the boundary lies outside the area of EPSG:25832 (Germany) after transformation "
            f"from {src.name}; check the CRS"
        )
    return boundary


# ---------------------------------------------------------------- add, list, show, remove


def add(
    conn: psycopg.Connection,
    ags: str,
    name: str,
    boundary: BaseGeometry,
    note: str | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Register a municipality. An existing AGS is refused unless `replace` (then name and boundary change)."""
    check_ags(ags)
    name = _check_name(name)
    existing = conn.execute("SELECT name FROM municipalities WHERE ags = %s", (ags,)).fetchone()
    if existing and not replace:
        raise MunicipalityConflict(
            f"municipality {ags} is already registered ({existing['name']}); use --replace to change it"
        )
    reference.upsert_municipality(conn, ags, name, boundary, note)
    return summary(conn, ags)


def summary(conn: psycopg.Connection, ags: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT m.ags, m.name, m.note, m.created_at,
                  round((ST_Area(m.boundary) / 1e6)::numeric, 3)::float AS area_km2,
                  (SELECT count(*) FROM districts d WHERE d.municipality = m.ags) AS districts
           FROM municipalities m WHERE m.ags = %s""",
        (ags,),
    ).fetchone()
    if row is None:
        raise _unknown(conn, ags)
    return row


def list_all(conn: psycopg.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT m.ags, m.name, round((ST_Area(m.boundary) / 1e6)::numeric, 3)::float AS area_km2,
                  (SELECT count(*) FROM districts d WHERE d.municipality = m.ags) AS districts,
                  (SELECT count(*) FROM assets a WHERE a.municipality = m.ags AND a.retired_at IS NULL) AS assets
           FROM municipalities m ORDER BY m.ags"""
    ).fetchall()
    for r in rows:
        r["population"] = population(conn, r["ags"])["total"]
    return rows


def _district_population(conn: psycopg.Connection, ags: str) -> list[dict[str, Any]]:
    """Each district with its latest population figure (None when it has none)."""
    return conn.execute(
        """SELECT d.id, d.name, d.key, round((ST_Area(d.boundary) / 1e6)::numeric, 3)::float AS area_km2,
                  p.population, p.year, p.source
           FROM districts d
           LEFT JOIN LATERAL (SELECT population, year, source FROM district_population dp
                              WHERE dp.district_id = d.id ORDER BY year DESC LIMIT 1) p ON true
           WHERE d.municipality = %s ORDER BY d.name""",
        (ags,),
    ).fetchall()


def population(conn: psycopg.Connection, ags: str, districts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The population total and every source it could come from; total None ("unknown") when nothing is loaded."""
    districts = _district_population(conn, ags) if districts is None else districts
    sources: list[dict[str, Any]] = []
    with_figure = [d for d in districts if d["population"] is not None]
    if with_figure:
        sources.append(
            {
                "kind": "districts",
                "source": sorted({d["source"] for d in with_figure}),
                "years": sorted({d["year"] for d in with_figure}),
                "population": sum(d["population"] for d in with_figure),
                "districts": len(with_figure),
                "of_districts": len(districts),
            }
        )
    # grid cells whose centre lies in the boundary; each resolution on its own (a 1 km and a 100 m grid
    # of the same area hold the same people)
    grids = conn.execute(
        """SELECT p.source, p.year, p.resolution_m, count(*) AS cells,
                  count(*) FILTER (WHERE p.population IS NULL) AS secret_cells,
                  sum(p.population)::bigint AS population
           FROM municipalities m JOIN population_cells p
             ON p.geom && m.boundary AND ST_Contains(m.boundary, ST_Centroid(p.geom))
           WHERE m.ags = %s
           GROUP BY p.source, p.year, p.resolution_m ORDER BY p.resolution_m, p.year DESC NULLS LAST""",
        (ags,),
    ).fetchall()
    for g in grids:
        sources.append({"kind": "grid", **g, "population": g["population"]})
    total: int | None = None
    basis = "unknown"
    if with_figure and len(with_figure) == len(districts):
        total, basis = sum(d["population"] for d in with_figure), "districts"
    elif grids and any(g["population"] is not None for g in grids):
        finest = next(g for g in grids if g["population"] is not None)
        total = int(finest["population"])
        basis = f"grid {finest['resolution_m']} m" + (
            f" ({finest['secret_cells']} cells kept secret, not counted)" if finest["secret_cells"] else ""
        )
    elif with_figure:
        total = sum(d["population"] for d in with_figure)
        basis = f"districts (partial: {len(with_figure)} of {len(districts)} districts)"
    return {"total": total, "status": "unknown" if total is None else "known", "basis": basis, "sources": sources}


def references(conn: psycopg.Connection, ags: str) -> dict[str, int]:
    """What refers to the municipality besides its own districts (and their population)."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM assets WHERE municipality = %(a)s) AS assets,
                  (SELECT count(*) FROM buildings WHERE municipality = %(a)s) AS buildings,
                  (SELECT count(*) FROM coverage_runs WHERE municipality = %(a)s) AS coverage_runs""",
        {"a": ags},
    ).fetchone()
    return {k: int(v) for k, v in row.items() if v}


def show(conn: psycopg.Connection, ags: str) -> dict[str, Any]:
    check_ags(ags)
    out = summary(conn, ags)
    districts = _district_population(conn, ags)
    out["districts"] = [
        {
            "name": d["name"],
            "key": d["key"],
            "area_km2": d["area_km2"],
            "population": d["population"],
            "population_year": d["year"],
        }
        for d in districts
    ]
    out["population"] = population(conn, ags, districts)
    out["operators"] = conn.execute(
        """SELECT a.operator AS id, o.name, count(*) AS assets
           FROM assets a JOIN operators o ON o.id = a.operator
           WHERE a.municipality = %s AND a.retired_at IS NULL GROUP BY a.operator, o.name ORDER BY a.operator""",
        (ags,),
    ).fetchall()
    out["runs"] = conn.execute(
        """SELECT id::text, analysis, status, created_at, finished_at FROM coverage_runs
           WHERE municipality = %s ORDER BY created_at DESC LIMIT %s""",
        (ags, LATEST_RUNS),
    ).fetchall()
    out["references"] = references(conn, ags)
    return out


def remove(conn: psycopg.Connection, ags: str) -> dict[str, Any]:
    """Delete a municipality with its districts and their population; refused while anything else refers to it."""
    check_ags(ags)
    row = conn.execute("SELECT ags, name FROM municipalities WHERE ags = %s FOR UPDATE", (ags,)).fetchone()
    if row is None:
        raise _unknown(conn, ags)
    refs = references(conn, ags)
    if refs:
        what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in refs.items())
        raise MunicipalityConflict(f"municipality {ags} ({row['name']}) is still referenced by {what}; nothing removed")
    districts = conn.execute("DELETE FROM districts WHERE municipality = %s", (ags,)).rowcount
    conn.execute("DELETE FROM municipalities WHERE ags = %s", (ags,))
    return {"ags": ags, "name": row["name"], "districts_removed": districts}


def add_from_districts(
    url: str | None,
    ags: str,
    name: str,
    path: Path,
    *,
    home: Path | None = None,
    actor: str | None = None,
    filename: str | None = None,
    replace: bool = False,
) -> tuple[dict[str, Any], Any]:
    """A municipality whose boundary is the union of a districts file, then those districts loaded through the
    importer (profile `districts`), so they are validated and recorded like any delivery. If the districts are
    rejected, a municipality created here is removed again. Returns (summary, import report)."""
    from netzatlas import db
    from netzatlas.importers.deliveries import run_import  # the importer is the one way districts are loaded

    check_ags(ags)
    _check_name(name)
    boundary = read_boundary(path)
    with db.transaction(url, actor=actor) as conn:
        created = conn.execute("SELECT 1 FROM municipalities WHERE ags = %s", (ags,)).fetchone() is None
        add(conn, ags, name, boundary, replace=replace)
    _sid, status, report = run_import(
        path, None, "districts", url=url, home=home, actor=actor, municipality=ags, filename=filename
    )
    if status not in ("loaded", "validated"):
        if created:
            with db.transaction(url, actor=actor) as conn:
                remove(conn, ags)
        raise MunicipalityError(
            f"the districts of {Path(filename or path).name} were rejected ({report.summary()}); "
            + ("nothing was registered" if created else "the municipality keeps its new boundary")
        )
    with db.connect(url) as conn:
        return summary(conn, ags), report
