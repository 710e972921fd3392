"""Deliveries generated for the importer tests: the same small delivery written in every format."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write
from pyproj import Transformer

from .conftest import TEST_AGS  # noqa: F401  (the municipality the deliveries lie in)

ROUTE_FIELDS = ["external_id", "name", "status", "route_type", "fibre_count"]
NODE_FIELDS = ["external_id", "name", "status", "node_type", "ports"]


def routes(n: int = 6, bad: int | None = None, changed: set[int] = frozenset()) -> tuple[list, dict[str, list]]:
    geoms, cols = [], {f: [] for f in ROUTE_FIELDS}
    for i in range(n):
        x = 450500 + (i % 60) * 150.0 + (i // 3600) % 7
        y = 5490500 + ((i // 60) % 60) * 150.0 + (i // 25200)
        geoms.append(shapely.LineString([(x, y), (x + 60, y + 20), (x + 100, y + 80)]))
        cols["external_id"].append(f"R-{i:05d}")
        cols["name"].append(f"Trasse {i}" + (" neu" if i in changed else ""))
        cols["status"].append("in_service")
        cols["route_type"].append("bogus" if i == bad else ("trench", "duct", "cable")[i % 3])
        cols["fibre_count"].append(12 * (1 + i % 4))
    return geoms, cols


def nodes(n: int = 4) -> tuple[list, dict[str, list]]:
    geoms, cols = [], {f: [] for f in NODE_FIELDS}
    for i in range(n):
        geoms.append(shapely.Point(452000 + i * 200.0, 5492000 + i * 100.0))
        cols["external_id"].append(f"N-{i:03d}")
        cols["name"].append(f"Knoten {i}")
        cols["status"].append("planned")
        cols["node_type"].append(("pop", "street_cabinet", "manhole", "building_entry")[i % 4])
        cols["ports"].append(24 * (i + 1))
    return geoms, cols


TO_4326 = Transformer.from_crs(25832, 4326, always_xy=True)


def _to_4326(geoms: list) -> list:
    return [shapely.transform(g, lambda c: np.column_stack(TO_4326.transform(c[:, 0], c[:, 1]))) for g in geoms]


def _arrays(cols: dict[str, list]) -> list[np.ndarray]:
    return [np.array(v, dtype=np.int64 if isinstance(v[0], int) else object) for v in cols.values()]


def write_layer(path: Path, layer: str, geoms: list, cols: dict, driver: str, crs: str = "EPSG:25832", **kw) -> None:
    gtype = geoms[0].geom_type
    if crs == "EPSG:4326":
        geoms = _to_4326(geoms)
    write(
        path,
        shapely.to_wkb(np.array(geoms, dtype=object)),
        _arrays(cols),
        fields=list(cols),
        geometry_type=gtype,
        crs=crs,
        driver=driver,
        layer=layer,
        **kw,
    )


def write_csv(path: Path, geoms: list, cols: dict, delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["wkt", *cols])
        for i, g in enumerate(geoms):
            w.writerow([g.wkt, *(cols[c][i] for c in cols)])


def zip_files(path: Path, files: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for f in files:
            z.write(f, f.name)
    return path


def delivery(fmt: str, d: Path, route_set: tuple | None = None, node_set: tuple | None = None) -> Path:
    """The small delivery (routes and nodes) in one format; single-layer formats come as a zip of two files."""
    rs = route_set or routes()
    ns = node_set or nodes()
    layers = {"fiber-routes": rs, "network-nodes": ns}
    if fmt == "gpkg":
        p = d / "delivery.gpkg"
        for name, (g, c) in layers.items():
            write_layer(p, name, g, c, "GPKG", append=p.exists())
        return p
    ext, driver, crs = {
        "shapefile": ("shp", "ESRI Shapefile", "EPSG:25832"),
        "geojson": ("geojson", "GeoJSON", "EPSG:4326"),
        "flatgeobuf": ("fgb", "FlatGeobuf", "EPSG:25832"),
        "kml": ("kml", "KML", "EPSG:4326"),
        "csv": ("csv", None, None),
    }[fmt]
    files = []
    for name, (g, c) in layers.items():
        p = d / f"{name}.{ext}"
        if fmt == "csv":
            write_csv(p, g, c)
        else:
            write_layer(p, name, g, c, driver, crs)
        files.extend(sorted(d.glob(f"{name}.*")))
    return zip_files(d / f"delivery-{fmt}.zip", files)
