"""Partner delivery import vs ogr2ogr and the registry floor, on the same database.

Run with `make bench-importer` (or `.venv/bin/python -m bench.importer [routes] [network] [addresses]`; all three
without arguments). Three deliveries, each generated once, deterministically:

- routes: 100,000 fiber routes in a GeoPackage;
- network: a mobile network in the three-table shape partners export (sites with one `"lat,lon"` column and a list
  of operators, antennas, cells with band codes; `;` delimited CSVs in a zip, mapped by a profile file): 500 sites,
  2,600 antennas, 10,000 cells of four operators;
- addresses: 100,000 address points with an `objectid` column, loaded as buildings through the built-in
  `buildings` profile.

Netzatlas reads, validates every feature by the registry's rules, stages with COPY and writes set-based (assets
with history). ogr2ogr copies the same files into plain tables. The registry floor writes the rows the import
produced, as the registry stores them, with one `INSERT ... SELECT` from a plain table. Every measurement starts
from an emptied target and a CHECKPOINT; a first import (not counted) warms the caches and gives the floor its
rows; rounds alternate the order and the medians are reported.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write
from pyproj import Transformer

from bench.common import ROOT, alternate, bench_database, ensure_tool, load, worms_registry
from netzatlas import db
from netzatlas.demo.generate import generate
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import reference

ROUTES = 100_000
ROUNDS = 3
DB_NAME = "netzatlas_bench_importer"
MARKER = "bench-importer v2"  # v2: the Worms districts and the four network operators
GPKG = ROOT / ".netzatlas" / f"bench-importer-{ROUTES}.gpkg"
HOME = ROOT / ".netzatlas" / "bench-home"

N_SITES, N_ANTENNAS, N_CELLS = 500, 2_600, 10_000
NETWORK_DIR = ROOT / ".netzatlas" / f"bench-network-{N_CELLS}"
ADDRESSES = 100_000
ADDRESS_GPKG = ROOT / ".netzatlas" / f"bench-addresses-{ADDRESSES}.gpkg"
CITY = "stadt-worms"  # delivers the network register (several operators) and the address file

NETWORK_OPERATORS = {"Telekom": "telekom", "Vodafone": "vodafone", "Telefonica": "telefonica", "1&1": "einsundeins"}


def build(url: str) -> None:
    worms_registry(url)
    data = generate()
    with db.transaction(url, actor="bench") as conn:
        reference.upsert_districts(conn, data.municipality["ags"], data.districts)
        for name, op in NETWORK_OPERATORS.items():
            reference.upsert_operator(conn, op, name, "telecom")


def _points_in_worms(n: int, seed: int) -> np.ndarray:
    """n points spread over Worms (200 m inside its boundary), EPSG:25832, seeded."""
    boundary = generate().municipality["boundary"]
    inner = boundary.buffer(-200)
    shapely.prepare(inner)
    rng = np.random.default_rng(seed)
    x1, y1, x2, y2 = boundary.bounds
    pts = shapely.points(rng.uniform(x1, x2, n * 3), rng.uniform(y1, y2, n * 3))
    return pts[np.flatnonzero(shapely.contains(inner, pts))[:n]]


# ---------------------------------------------------------------- 100,000 fiber routes


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
    _write_gpkg(GPKG, "fiber-routes", geoms, fields, "LineString")
    return GPKG


def _write_gpkg(path: Path, layer: str, geoms: np.ndarray, fields: dict[str, np.ndarray], geometry_type: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    write(
        tmp,
        shapely.to_wkb(geoms),
        list(fields.values()),
        fields=list(fields),
        geometry_type=geometry_type,
        crs="EPSG:25832",
        driver="GPKG",
        layer=layer,
    )
    tmp.rename(path)


# ---------------------------------------------------------------- a 10,000-cell network in three tables

_OPMAP = "{" + ", ".join(f"'{k}': {v}" for k, v in NETWORK_OPERATORS.items()) + "}"
NETWORK_PROFILE = f"""\
name: netz-drei-tabellen
title: Standorte, Antennen und Zellen eines Stadtgebiets (mehrere Betreiber)
crs: EPSG:4326
x-operators: &ops {_OPMAP}
layers:
  - layer: standorte
    target: mobile-sites
    operator: {{column: standortbetreiber, map: *ops}}
    external_id: standort-id
    name: bezeichnung
    status: {{field: zustand, map: {{in Betrieb: in_service, geplant: planned}}}}
    attributes:
      structure: {{field: bauart, map: {{Dach: rooftop, Mast: mast, Turm: tower, Indoor: indoor}}}}
      height_m: hoehe_m
      operators: {{field: netzbetreiber, map: *ops}}
  - layer: antennen
    target: antennas
    site: standort-id
    operator: {{column: netzbetreiber, map: *ops}}
    attributes:
      antenna_id: antenne
      azimuth_deg: azimut
      omnidirectional: {{field: rundstrahler, map: {{ja: true, nein: false}}}}
      height_m: hoehe_m
      mech_tilt_deg: tilt_mech
      elec_tilt_deg: tilt_el
  - layer: zellen
    target: cells
    site: standort-id
    antenna: antenne
    operator: {{column: netzbetreiber, map: *ops}}
    attributes:
      cell_id: zelle
      technology: technik
      band: band
      frequency_mhz: frequenz_mhz
      bandwidth_mhz: bandbreite_mhz
      eirp_dbm: eirp_dbm
"""

# band as partners write it, technology (empty: from the band), downlink MHz (empty: the band's centre), MHz, dBm
MACRO_CELLS = (
    ("B20", "LTE", "806", "10", "59"),
    ("B3", "", "1842.5", "20", "61"),
    ("B1", "LTE", "2140", "", "61"),
    ("N78", "NR", "3650", "80", "66"),
    ("B32", "", "1474", "", ""),
    ("B8", "LTE", "", "10", "58"),
    ("n78", "", "", "", ""),
    ("B28", "", "780.5", "10", "59"),
    ("B7", "LTE", "2655", "20", ""),
)
INDOOR_CELLS = (("B1", "LTE", "2140", "10", ""), ("N78", "", "", "", ""))


def _spread(total: int, parts: int) -> list[int]:
    """`total` split over `parts` as evenly as whole numbers allow."""
    return [(k + 1) * total // parts - k * total // parts for k in range(parts)]


def network_tables() -> dict[str, str]:
    """The three tables as `;`-delimited CSV text: 500 sites (every tenth an indoor system with omnidirectional
    antennas), every third site shared by two operators and every seventh by three, 2,600 antennas, 10,000 cells."""
    names = list(NETWORK_OPERATORS)
    to_wgs84 = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    pts = _points_in_worms(N_SITES, 20261130)
    lon, lat = to_wgs84.transform(shapely.get_x(pts), shapely.get_y(pts))
    sites, antennas, cells = [], [], []
    pairs: list[tuple[str, str, bool]] = []  # (site id, operator name, indoor)
    for s in range(N_SITES):
        indoor = s % 10 == 9
        n_ops = 3 if s % 7 == 0 else 2 if s % 3 == 0 else 1
        ops = [names[(s + k) % 4] for k in range(n_ops)]
        structure = "Indoor" if indoor else ("Dach", "Mast", "Turm")[s % 3]
        height = "" if s % 5 == 0 else str(6 if indoor else 18 + s % 30)
        status = "geplant" if s % 25 == 24 else "in Betrieb"
        sid = f"DE-{71000 + s}"
        sites.append(
            f'{sid};{ops[0]};{"/".join(ops)};Standort {s + 1};{structure};{height};{status};"{lat[s]:.6f},{lon[s]:.6f}"'
        )
        pairs += [(sid, op, indoor) for op in ops]
    macro = [p for p in pairs if not p[2]]
    n_indoor = len(pairs) - len(macro)
    per_pair = iter(_spread(N_ANTENNAS - n_indoor, len(macro)))
    per_antenna = iter(_spread(N_CELLS - 2 * n_indoor, N_ANTENNAS - n_indoor))
    k = 0  # macro antennas so far
    for i, (sid, op, indoor) in enumerate(pairs):
        if indoor:
            antennas.append(f"{sid};{op};I1;;ja;3;;")
            cells += [f"{sid};{op};I1;{j + 1};{';'.join(c)}" for j, c in enumerate(INDOOR_CELLS)]
            continue
        n_ant = next(per_pair)
        for a in range(n_ant):
            height = "" if i % 4 == 0 else f"{16 + i % 20}"
            azimuth = (a * 360 // n_ant + 10 * i) % 360
            antennas.append(f"{sid};{op};A{a + 1};{azimuth};nein;{height};{a % 3};{2 + a % 6}")
            bands = [MACRO_CELLS[(k + j) % len(MACRO_CELLS)] for j in range(next(per_antenna))]
            cells += [f"{sid};{op};A{a + 1};{j + 1};{';'.join(c)}" for j, c in enumerate(bands)]
            k += 1
    assert (len(sites), len(antennas), len(cells)) == (N_SITES, N_ANTENNAS, N_CELLS)
    header = {
        "standorte": 'Standort-ID;Standortbetreiber;Netzbetreiber;Bezeichnung;Bauart;Hoehe_m;Zustand;"lat,lon"',
        "antennen": "Standort-ID;Netzbetreiber;Antenne;Azimut;Rundstrahler;Hoehe_m;Tilt_mech;Tilt_el",
        "zellen": "Standort-ID;Netzbetreiber;Antenne;Zelle;Band;Technik;Frequenz_MHz;Bandbreite_MHz;EIRP_dBm",
    }
    rows = {"standorte": sites, "antennen": antennas, "zellen": cells}
    return {name: header[name] + "\n" + "\n".join(rows[name]) + "\n" for name in header}


def network_delivery() -> dict[str, Path]:
    """The three CSVs, the zip a partner sends (what Netzatlas reads), a zip of the first site alone (the same
    tables cut to its rows: what any delivery costs) and the profile file."""
    files = {name: NETWORK_DIR / f"{name}.csv" for name in ("standorte", "antennen", "zellen")}
    files["profile"] = NETWORK_DIR / "netz-drei-tabellen.yaml"
    files["zip"], files["one"] = NETWORK_DIR / "netz.zip", NETWORK_DIR / "netz-ein-standort.zip"
    if files["zip"].exists() and files["one"].exists():
        return files
    NETWORK_DIR.mkdir(parents=True, exist_ok=True)
    tables = network_tables()
    for name, text in tables.items():
        files[name].write_text(text, encoding="utf-8")
    files["profile"].write_text(NETWORK_PROFILE, encoding="utf-8")
    first = tables["standorte"].splitlines()[1].split(";")[0] + ";"
    one = {n: "\n".join(t.splitlines()[:1] + [r for r in t.splitlines() if r.startswith(first)]) + "\n" for n, t in
           tables.items()}  # fmt: skip
    for path, content in ((files["zip"], tables), (files["one"], one)):
        tmp = path.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in content.items():
                z.writestr(f"{name}.csv", text)
        tmp.rename(path)
    return files


# ---------------------------------------------------------------- 100,000 address points


def address_delivery() -> Path:
    """100,000 address points over Worms as a GIS department exports them: OBJECTID, street, house number,
    postcode, place; EPSG:25832; seeded."""
    if ADDRESS_GPKG.exists():
        return ADDRESS_GPKG
    pts = shapely.set_precision(_points_in_worms(ADDRESSES, 20261201), 0.01)
    i = np.arange(ADDRESSES)
    streets = np.array([f"{w}{s}" for w in ("Haupt", "Mainzer ", "Rhein", "Kirch", "Wormser ") for s in
                        ("straße", "weg", "gasse", "allee")] * 10, dtype=object)  # fmt: skip
    fields = {
        "OBJECTID": i + 1,
        "STRASSE": streets[i % len(streets)],
        "HNR": np.array([str(n) for n in i % 211 + 1], dtype=object),
        "HNR_ZUSATZ": np.array(["", "", "", "a", "", "b"], dtype=object)[i % 6],
        "PLZ": np.array(["67547", "67549", "67550", "67551"], dtype=object)[i % 4],
        "ORT": np.full(ADDRESSES, "Worms", dtype=object),
    }
    _write_gpkg(ADDRESS_GPKG, "adressen", pts, fields, "Point")
    return ADDRESS_GPKG


# ---------------------------------------------------------------- the three contenders


def _emptied(url: str, tables: str) -> None:
    """The target emptied and written out: every measurement starts from the same state."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}")
        conn.execute("CHECKPOINT")


ASSET_TABLES = "asset_history, assets, submissions CASCADE"


PHASES: dict[str, list[tuple[float, float, float]]] = {}  # delivery -> per import: reading, validating, loading


def timed_import(
    url: str, path: Path, operator: str, profile: str | None, tables: str, case: str
) -> tuple[float, object]:
    """One import into the emptied target; its phases (from the import's progress reports) go to PHASES[case]:
    reading (with the submission row and the kept copy), validating, loading (staging, matching, writing, the
    report)."""
    _emptied(url, tables)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks.setdefault(stage, time.perf_counter())

    t = time.perf_counter()
    _, status, report = run_import(path, operator, profile, url=url, home=HOME, actor="bench", progress=progress)
    end = time.perf_counter()
    assert status == "loaded", report.summary()
    PHASES.setdefault(case, []).append(
        (marks["reading"] - t, marks["validating"] - marks["reading"], end - marks["validating"])
    )
    return end - t, report


def ogr2ogr_tables(url: str, loads: list[tuple[str, list[str]]]) -> float:
    """ogr2ogr of each (table, arguments) into a new plain table, one process per file, timed together."""
    info = db.connect(url).info
    pg = f"PG:host={info.host} dbname={info.dbname} user={info.user}"
    with db.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(table for table, _ in loads))
        conn.execute("CHECKPOINT")
    t = time.perf_counter()
    for table, args in loads:
        subprocess.run(["ogr2ogr", "-f", "PostgreSQL", pg, *args, "-nln", table], check=True, capture_output=True)
    return time.perf_counter() - t


def _count(url: str, sql: str) -> int:
    with db.connect(url) as conn:
        return conn.execute(sql).fetchone()["n"]


def registry_floor(url: str, rows_table: str, target: str, columns: str, emptied: str) -> float:
    """The rows the import wrote, kept in the plain table `rows_table`, written into `target` by one INSERT ...
    SELECT: the registry's own cost (indexes, constraints, generated columns, triggers) without reading,
    validating or matching."""
    _emptied(url, emptied)
    with db.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        conn.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {rows_table}")
        elapsed = time.perf_counter() - t
    _emptied(url, emptied)
    return elapsed


def keep_rows(url: str, rows_table: str, columns: str, source: str) -> None:
    """A plain table with what the (warm-up) import wrote: the floor's input."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {rows_table}")
        conn.execute(f"CREATE TABLE {rows_table} AS SELECT {columns} FROM {source}")


def rounds(contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Medians of ROUNDS alternating rounds."""
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    for _, order in alternate(ROUNDS, list(contenders)):
        for name in order:
            samples[name].append(contenders[name]())
    return {k: statistics.median(v) for k, v in samples.items()}


Row = tuple[str, float, float | None, float | None, str]  # delivery, netzatlas, ogr2ogr, floor, target


ASSET_FLOOR_COLUMNS = "kind, municipality, operator, external_id, name, status, sensitivity, attributes, geom"


def routes(url: str) -> list[Row]:
    path = delivery(url)

    def ours() -> float:
        elapsed, report = timed_import(url, path, "rheinfaser", None, ASSET_TABLES, "routes")
        assert report.counts["fiber-routes"]["created"] == ROUTES, report.summary()
        return elapsed

    def ogr() -> float:
        args = [str(path), "fiber-routes", "-lco", "SPATIAL_INDEX=GIST", "-lco", "GEOMETRY_NAME=geom"]
        elapsed = ogr2ogr_tables(url, [("ogr_fiber_routes", args)])
        assert _count(url, "SELECT count(*) AS n FROM ogr_fiber_routes") == ROUTES
        return elapsed

    ours()  # warm-up; its rows are the floor's
    PHASES.pop("routes", None)
    keep_rows(url, "bench_floor_rows", ASSET_FLOOR_COLUMNS, "assets_fiber_routes")
    m = rounds(
        {
            "netzatlas": ours,
            "ogr2ogr": ogr,
            "floor": lambda: registry_floor(url, "bench_floor_rows", "assets", ASSET_FLOOR_COLUMNS, ASSET_TABLES),
        }
    )
    counted = PHASES.pop("routes")
    ours()  # the registry holds the delivery again, for the repeat below
    PHASES["routes"] = counted
    again = time.perf_counter()
    _, _, report = run_import(path, "rheinfaser", None, url=url, home=HOME)
    repeat = time.perf_counter() - again
    assert report.changes == 0
    return [
        (f"{ROUTES:,} fiber routes (GeoPackage)", m["netzatlas"], m["ogr2ogr"], m["floor"], "≤ 1.5x ogr2ogr"),
        ("the same routes again (no changes)", repeat, None, None, ""),
    ]


def network(url: str) -> list[Row]:
    files = network_delivery()

    def ours() -> float:
        elapsed, report = timed_import(url, files["zip"], CITY, str(files["profile"]), ASSET_TABLES, "network")
        assert report.counts["mobile-sites"]["created"] == N_SITES, report.summary()
        return elapsed

    def ogr() -> float:
        csv = ["-oo", "AUTODETECT_TYPE=YES"]  # the `;` delimiter is detected
        # the sites' position: one "lat,lon" text column, which GDAL's CSV driver cannot read as a geometry; the
        # SQLite dialect (SpatiaLite) splits it and makes the point, the others load as attribute tables
        sites_sql = (
            'SELECT *, MakePoint(CAST(substr("lat,lon", instr("lat,lon", \',\') + 1) AS REAL), '
            'CAST(substr("lat,lon", 1, instr("lat,lon", \',\') - 1) AS REAL), 4326) AS geom FROM standorte'
        )
        spatial = ["-lco", "SPATIAL_INDEX=GIST", "-lco", "GEOMETRY_NAME=geom", "-a_srs", "EPSG:4326"]
        elapsed = ogr2ogr_tables(
            url,
            [
                ("ogr_standorte", [*csv, str(files["standorte"]), "-dialect", "SQLite", "-sql", sites_sql, *spatial]),
                ("ogr_antennen", [*csv, str(files["antennen"])]),
                ("ogr_zellen", [*csv, str(files["zellen"])]),
            ],
        )
        counts = [
            _count(url, f"SELECT count(*) AS n FROM {t}") for t in ("ogr_standorte", "ogr_antennen", "ogr_zellen")
        ]
        assert counts == [N_SITES, N_ANTENNAS, N_CELLS], counts
        assert _count(url, "SELECT count(*) AS n FROM ogr_standorte WHERE geom IS NOT NULL") == N_SITES
        return elapsed

    def one_site() -> float:
        elapsed, report = timed_import(url, files["one"], CITY, str(files["profile"]), ASSET_TABLES, "one site")
        assert report.counts["mobile-sites"]["created"] == 1, report.summary()
        return elapsed

    one_site()
    ours()  # warm-up; its rows are the floor's
    PHASES.pop("network", None)
    PHASES.pop("one site", None)
    cells = _count(url, "SELECT count(*) AS n FROM radio_cells")
    antennas = _count(url, "SELECT count(*) AS n FROM radio_antennas")
    assert (antennas, cells) == (N_ANTENNAS, N_CELLS), (antennas, cells)
    keep_rows(url, "bench_floor_sites", ASSET_FLOOR_COLUMNS, "assets_mobile_sites")
    m = rounds(
        {
            "netzatlas": ours,
            "ogr2ogr": ogr,
            "floor": lambda: registry_floor(url, "bench_floor_sites", "assets", ASSET_FLOOR_COLUMNS, ASSET_TABLES),
            "one site": one_site,
        }
    )
    with zipfile.ZipFile(files["one"]) as z:
        a, c = (len(z.read(f"{n}.csv").splitlines()) - 1 for n in ("antennen", "zellen"))
    what = f"{N_SITES} sites, {N_ANTENNAS:,} antennas, {N_CELLS:,} cells (three CSVs, profile file)"
    return [
        (what, m["netzatlas"], m["ogr2ogr"], m["floor"], "≤ 2x the floor"),
        (f"its first site alone ({a} antennas, {c} cells): what any delivery costs", m["one site"], None, None, ""),
    ]


BUILDING_TABLES = "buildings CASCADE"


def written_columns(url: str, table: str) -> str:
    """The columns of `table` a writer gives (not the identity, not the generated ones: the registry computes them
    in both the import and the floor)."""
    with db.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name AS c FROM information_schema.columns WHERE table_name = %s AND is_identity = 'NO' "
            "AND is_generated = 'NEVER' ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return ", ".join(r["c"] for r in rows)


def addresses(url: str) -> list[Row]:
    path = address_delivery()

    def ours() -> float:
        elapsed, report = timed_import(url, path, CITY, "buildings", BUILDING_TABLES, "addresses")
        assert report.counts["buildings"]["changed"] == ADDRESSES, report.summary()
        return elapsed

    def ogr() -> float:
        args = [str(path), "adressen", "-lco", "SPATIAL_INDEX=GIST", "-lco", "GEOMETRY_NAME=geom"]
        elapsed = ogr2ogr_tables(url, [("ogr_adressen", args)])
        assert _count(url, "SELECT count(*) AS n FROM ogr_adressen") == ADDRESSES
        return elapsed

    ours()  # warm-up; its rows are the floor's
    PHASES.pop("addresses", None)
    columns = written_columns(url, "buildings")
    keep_rows(url, "bench_floor_buildings", columns, "buildings")
    m = rounds(
        {
            "netzatlas": ours,
            "ogr2ogr": ogr,
            "floor": lambda: registry_floor(url, "bench_floor_buildings", "buildings", columns, BUILDING_TABLES),
        }
    )
    return [(f"{ADDRESSES:,} address points as buildings (GeoPackage)", m["netzatlas"], m["ogr2ogr"], m["floor"],
             "≤ 2x the floor")]  # fmt: skip


CASES = {"routes": routes, "network": network, "addresses": addresses}


def main() -> None:
    chosen = sys.argv[1:] or list(CASES)
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    ensure_tool("ogr2ogr", "gdal-bin")
    url = bench_database(DB_NAME, build, MARKER)
    loads = [load()]
    rows: list[Row] = []
    for case in chosen:
        rows += CASES[case](url)
        loads.append(load())
    print(f"\nDelivery import vs ogr2ogr and the registry floor, medians of {ROUNDS} alternating rounds")
    print(f"load average (1/5/15 min) at the start and after each delivery: {', '.join(loads)}\n")
    print("| delivery | Netzatlas | ogr2ogr | registry floor | Netzatlas / floor | Netzatlas / ogr2ogr | target |")
    print("|---|---|---|---|---|---|---|")
    for what, n, o, f, target in rows:
        peers = f"{o:.2f} s | {f:.2f} s | {n / f:.2f}x | {n / o:.2f}x" if o and f else "- | - | - | -"
        print(f"| {what} | {n:.2f} s | {peers} | {target} |")
    print("\nWhere the import's time goes (medians of the same rounds):\n")
    print("| delivery | reading | validating | loading (staging, matching, writing, report) |")
    print("|---|---|---|---|")
    for case, phases in PHASES.items():
        r, v, w = (statistics.median(p[k] for p in phases) for k in range(3))
        print(f"| {case} | {r:.2f} s | {v:.2f} s | {w:.2f} s |")
    print(
        "\nogr2ogr: plain tables, no validation, no matching, no history (the network's three CSVs as three tables,"
        " not joined). Floor: one INSERT ... SELECT of the rows the import wrote, from a plain table."
    )


if __name__ == "__main__":
    main()
