"""Partner delivery import vs ogr2ogr: the same 100,000-route GeoPackage into the same database.

Run with `make bench-importer` (or `.venv/bin/python -m bench.importer`). Netzatlas reads, validates every
feature by the registry's rules, stages with COPY and upserts set-based, with history; ogr2ogr copies the
layer into a plain table (`-f PostgreSQL`, COPY mode, GiST index). Both start from an empty target each
round; rounds alternate and the medians are reported.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write

from bench.common import ROOT, bench_database, ensure_tool, worms_registry
from netzatlas import db
from netzatlas.demo.generate import generate
from netzatlas.importers.deliveries import run_import

ROUTES = 100_000
ROUNDS = 3
DB_NAME = "netzatlas_bench_importer"
MARKER = "bench-importer v1"
GPKG = ROOT / ".netzatlas" / f"bench-importer-{ROUTES}.gpkg"


def build(url: str) -> None:
    worms_registry(url)


def delivery(url: str) -> Path:
    """100,000 three-vertex routes inside Worms, deterministic (seeded)."""
    if GPKG.exists():
        return GPKG
    boundary = generate().municipality["boundary"]
    rng = np.random.default_rng(20261126)
    x1, y1, x2, y2 = boundary.bounds
    pts = shapely.points(rng.uniform(x1, x2, ROUTES * 3), rng.uniform(y1, y2, ROUTES * 3))
    inside = np.flatnonzero(shapely.contains(boundary.buffer(-200), pts))[:ROUTES]
    xs, ys = shapely.get_x(pts[inside]), shapely.get_y(pts[inside])
    dx, dy = rng.uniform(-80, 80, ROUTES), rng.uniform(-80, 80, ROUTES)
    coords = np.stack([np.c_[xs, ys], np.c_[xs + dx, ys + dy], np.c_[xs + 2 * dx + dy / 3, ys + 2 * dy - dx / 3]], 1)
    geoms = shapely.linestrings(np.round(coords, 2))
    i = np.arange(ROUTES)
    fields = {
        "external_id": np.array([f"BENCH-{n:07d}" for n in i], dtype=object),
        "name": np.array([f"Trasse {n}" for n in i], dtype=object),
        "status": np.array(["in_service", "in_service", "planned", "under_construction"], dtype=object)[i % 4],
        "route_type": np.array(["trench", "duct", "cable"], dtype=object)[i % 3],
        "fibre_count": np.array([12, 24, 48, 96, 144, 288])[i % 6],
        "laying_method": np.array(["open_trench", "microtrench"], dtype=object)[i % 2],
    }
    GPKG.parent.mkdir(parents=True, exist_ok=True)
    tmp = GPKG.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    write(
        tmp,
        shapely.to_wkb(geoms),
        list(fields.values()),
        fields=list(fields),
        geometry_type="LineString",
        crs="EPSG:25832",
        driver="GPKG",
        layer="fiber-routes",
    )
    tmp.rename(GPKG)
    return GPKG


def ours(url: str, path: Path) -> float:
    with db.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE asset_history, assets, submissions CASCADE")
        conn.execute("CHECKPOINT")
    t = time.perf_counter()
    _, status, report = run_import(
        path, "rheinfaser", None, url=url, home=ROOT / ".netzatlas" / "bench-home", actor="bench"
    )
    elapsed = time.perf_counter() - t
    assert status == "loaded" and report.counts["fiber-routes"]["created"] == ROUTES, report.summary()
    return elapsed


def ogr2ogr(url: str, path: Path) -> float:
    info = db.connect(url).info
    pg = f"PG:host={info.host} dbname={info.dbname} user={info.user}"
    with db.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ogr_fiber_routes")
        conn.execute("CHECKPOINT")
    t = time.perf_counter()
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            str(path),
            "fiber-routes",
            "-nln",
            "ogr_fiber_routes",
            "-lco",
            "SPATIAL_INDEX=GIST",
            "-lco",
            "GEOMETRY_NAME=geom",
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - t
    with db.connect(url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ogr_fiber_routes").fetchone()["n"] == ROUTES
    return elapsed


FLOOR_COLUMNS = "kind, municipality, operator, external_id, name, status, sensitivity, attributes, geom"


def registry_floor(url: str) -> float:
    """The same 100,000 validated rows written into the registry by one INSERT from a plain table: the
    registry's own cost (indexes, constraints, history, references) without reading, validating or matching."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS bench_floor_rows AS SELECT {FLOOR_COLUMNS} FROM assets_fiber_routes")
        conn.execute("TRUNCATE asset_history, assets")
        conn.execute("CHECKPOINT")
        t = time.perf_counter()
        conn.execute(f"INSERT INTO assets ({FLOOR_COLUMNS}) SELECT {FLOOR_COLUMNS} FROM bench_floor_rows")
        elapsed = time.perf_counter() - t
        conn.execute("TRUNCATE asset_history, assets")
    return elapsed


def main() -> None:
    ensure_tool("ogr2ogr", "gdal-bin")
    url = bench_database(DB_NAME, build, MARKER)
    path = delivery(url)
    samples: dict[str, list[float]] = {"netzatlas": [], "ogr2ogr": [], "floor": []}
    for _ in range(ROUNDS):
        samples["ogr2ogr"].append(ogr2ogr(url, path))
        samples["netzatlas"].append(ours(url, path))
    for _ in range(ROUNDS):
        samples["floor"].append(registry_floor(url))
    ours(url, path)  # the registry holds the delivery again, for the repeat below
    again = time.perf_counter()
    _, _, report = run_import(path, "rheinfaser", None, url=url, home=ROOT / ".netzatlas" / "bench-home")
    repeat = time.perf_counter() - again
    assert report.changes == 0
    n, o, f = (statistics.median(samples[k]) for k in ("netzatlas", "ogr2ogr", "floor"))
    print(f"\nImport of {ROUTES:,} fiber routes (GeoPackage, EPSG:25832), medians of {ROUNDS} rounds\n")
    print("| measure | Netzatlas | ogr2ogr | ratio |")
    print("|---|---|---|---|")
    print(f"| into an empty registry / table | {n:.2f} s | {o:.2f} s | {n / o:.2f}x ogr2ogr |")
    print(f"| the same file again (no changes) | {repeat:.2f} s | - | {repeat / o:.2f}x ogr2ogr |")
    print(
        f"| registry floor: one INSERT of the validated rows (indexes, history, references) | {f:.2f} s | - | "
        f"{f / o:.2f}x ogr2ogr; the import is {n / f:.2f}x this floor |"
    )
    print("\ntarget: at most 1.5x ogr2ogr's time (Netzatlas validates every feature and writes history)")


if __name__ == "__main__":
    main()
