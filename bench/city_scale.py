"""City scale: mobile coverage of an invented 300 km2 city with 500 sites and 10,000 cells, within memory.

Run with `make bench-city` (or `.venv/bin/python -m bench.city_scale`). The city ("Neuhafen", AGS 09990001, an
invented key) has a boundary in EPSG:25832 and 12 districts; it and its operators are registered through the
onboarding functions (`municipalities.add_from_districts`, `operators.add`), and its network is one three-table
delivery (sites, antennas, cells) imported through the importer: 500 sites shared by several operators, ~2,600
antennas (omnidirectional indoor systems among them) and 10,000 cells in B1, B3, B7, B8, B20, B28, B32 and n78.

`netzatlas coverage run mobile` then runs at 25 m and at 10 m, each in its own process under /usr/bin/time -v:
wall time and the peak RSS of the whole process, against the targets (10 m < 2 GB, 25 m <= 30 s on 2 cores).
The raster preview of the 10 m run is rendered twice: the first request builds the PNG, the second is served
from its file. Every figure is printed with the machine's load average (the machine is shared).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, mapping

from bench.common import ROOT, VENV_BIN, bench_database, load
from netzatlas import db
from netzatlas.coverage import runs
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import municipalities, operators

DB_NAME = "netzatlas_bench_city"
AGS, CITY = "09990001", "Neuhafen (invented)"
CENTRE = (620_000.0, 5_440_000.0)  # EPSG:25832, far from Worms
AREA_KM2 = 300.0
N_SITES, N_INDOOR, N_ANTENNAS, N_CELLS = 500, 50, 2_600, 10_000
DISTRICTS = 12
OPERATORS = {"Telekom": "telekom", "Vodafone": "vodafone", "Telefonica": "telefonica", "1&1": "einsundeins"}
# bands per operator, most used first: an antenna carries the first n of its operator's list
OPERATOR_BANDS = {
    "Telekom": ["B20", "B3", "B1", "n78", "B7", "B8", "B28", "B32"],
    "Vodafone": ["B20", "B3", "B1", "n78", "B7", "B32", "B8", "B28"],
    "Telefonica": ["B20", "B3", "B1", "n78", "B8", "B28", "B7"],
    "1&1": ["n78", "B3", "B1", "B20"],
}
INDOOR_BANDS = ["B1", "n78"]
MARKER = f"bench-city v2 {AREA_KM2} {N_SITES} {N_ANTENNAS} {N_CELLS}"
RESOLUTIONS = (25, 10)
TARGET_10M_BYTES = 2 * 1024**3
TARGET_25M_S = 30.0

_OPMAP = "{" + ", ".join(f"'{k}': {v}" for k, v in OPERATORS.items()) + "}"
PROFILE = f"""\
name: city-network
title: Sites, antennas and cells of every operator (a public site register)
crs: EPSG:4326
x-operators: &ops {_OPMAP}
layers:
  - layer: sites
    target: mobile-sites
    operator: {{column: site_operator, map: *ops}}
    external_id: site_id
    name: name
    status: {{field: status, map: {{in service: in_service, planned: planned}}}}
    attributes:
      structure: structure
      operators: {{field: operators, map: *ops}}
  - layer: antennas
    target: antennas
    site: site_id
    operator: {{column: operator, map: *ops}}
    attributes:
      antenna_id: antenna
      azimuth_deg: azimuth
      omnidirectional: {{field: omni, map: {{yes: true, no: false}}}}
      height_m: height_m
      mech_tilt_deg: tilt_mech
      elec_tilt_deg: tilt_el
  - layer: cells
    target: cells
    site: site_id
    antenna: antenna
    operator: {{column: operator, map: *ops}}
    attributes:
      cell_id: cell
      band: band
      bandwidth_mhz: bandwidth_mhz
      eirp_dbm: eirp_dbm
"""


# ---------------------------------------------------------------- the invented city


def boundary() -> Polygon:
    """An irregular 300 km2 outline around CENTRE (a wobbly circle), EPSG:25832."""
    a = np.linspace(0, 2 * math.pi, 181)[:-1]
    wobble = 1 + 0.12 * np.sin(3 * a + 0.4) + 0.07 * np.cos(7 * a) + 0.04 * np.sin(11 * a + 1.0)
    poly = Polygon(np.c_[CENTRE[0] + np.sin(a) * wobble, CENTRE[1] + np.cos(a) * wobble])
    scale = math.sqrt(AREA_KM2 * 1e6 / poly.area)
    return Polygon(np.c_[CENTRE[0] + np.sin(a) * wobble * scale, CENTRE[1] + np.cos(a) * wobble * scale])


def districts(outline: Polygon) -> list[tuple[str, str, Polygon]]:
    """An inner town and 11 outer pie slices: (key, name, polygon), covering the outline exactly."""
    r = math.sqrt(outline.area / math.pi)
    inner = shapely.Point(CENTRE).buffer(r * 0.35, 64).intersection(outline)
    out = [("01", "Altstadt", inner)]
    n = DISTRICTS - 1
    for k in range(n):
        a0, a1 = 2 * math.pi * k / n, 2 * math.pi * (k + 1) / n
        arc = np.linspace(a0, a1, 24)
        slice_ = Polygon([CENTRE, *zip(CENTRE[0] + 3 * r * np.sin(arc), CENTRE[1] + 3 * r * np.cos(arc), strict=True)])
        part = slice_.intersection(outline).difference(inner)
        out.append((f"{k + 2:02d}", f"Ortsbezirk {k + 2}", part))
    return out


def districts_file(path: Path) -> Path:
    feats = [
        {"type": "Feature", "properties": {"key": key, "name": name}, "geometry": mapping(geom)}
        for key, name, geom in districts(boundary())
    ]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": feats}))
    return path


def network(outline: Polygon, seed: int = 11) -> dict[str, str]:
    """The three tables as CSV text: N_SITES sites (N_INDOOR indoor), N_ANTENNAS antennas, N_CELLS cells."""
    rng = np.random.default_rng(seed)
    names = list(OPERATORS)
    to_wgs84 = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    x1, y1, x2, y2 = outline.bounds
    sites, antennas, cells = [], [], []
    pairs: list[tuple[str, str, bool]] = []  # (site id, operator name, indoor)
    s = 0
    while s < N_SITES:
        # denser towards the centre: half of the candidates are drawn from a narrower spread
        if rng.random() < 0.5:
            x, y = rng.normal(CENTRE[0], (x2 - x1) / 6), rng.normal(CENTRE[1], (y2 - y1) / 6)
        else:
            x, y = rng.uniform(x1, x2), rng.uniform(y1, y2)
        if not shapely.contains_xy(outline, x, y):
            continue
        indoor = s >= N_SITES - N_INDOOR
        n_ops = 2 if indoor else int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
        ops = [names[i] for i in sorted(rng.choice(len(names), n_ops, replace=False))]
        lon, lat = to_wgs84.transform(x, y)
        structure = "indoor" if indoor else ("rooftop", "mast", "tower", "rooftop")[s % 4]
        status = "planned" if not indoor and s % 50 == 7 else "in service"
        sid = f"NH-{10000 + s}"
        sites.append(f'{sid};{ops[0]};{"/".join(ops)};Standort {s + 1};{structure};{status};"{lat:.6f},{lon:.6f}"')
        pairs += [(sid, op, indoor) for op in ops]
        s += 1
    macro = [p for p in pairs if not p[2]]
    indoor_pairs = len(pairs) - len(macro)
    n_macro_antennas = N_ANTENNAS - indoor_pairs
    per_pair = np.full(len(macro), n_macro_antennas // len(macro))
    per_pair[rng.permutation(len(macro))[: n_macro_antennas - per_pair.sum()]] += 1
    macro_cells = N_CELLS - len(INDOOR_BANDS) * indoor_pairs
    per_antenna = np.full(n_macro_antennas, macro_cells // n_macro_antennas)
    per_antenna[rng.permutation(n_macro_antennas)[: macro_cells - per_antenna.sum()]] += 1
    k = m = 0
    for sid, op, indoor in pairs:
        if indoor:
            antennas.append(f"{sid};{op};I1;;yes;;;")
            cells += [f"{sid};{op};I1;{j + 1};{b};;" for j, b in enumerate(INDOOR_BANDS)]
            continue
        n_ant = int(per_pair[m])
        m += 1
        az0 = int(rng.integers(0, 120))
        for a in range(n_ant):
            height = "" if k % 5 == 0 else f"{rng.uniform(18, 45):.1f}"  # some heights left to the defaults
            antennas.append(
                f"{sid};{op};A{a + 1};{(az0 + a * 360 // n_ant) % 360};no;{height};{rng.integers(0, 3)};"
                f"{rng.integers(2, 9)}"
            )
            bands = OPERATOR_BANDS[op]
            for j in range(int(per_antenna[k])):
                band = bands[(j + a) % len(bands)]  # the antennas of a site carry different bands
                bw = "" if j % 3 else {"n78": "90", "B20": "10", "B8": "10", "B28": "10"}.get(band, "20")
                eirp = "" if k % 7 == 0 else f"{rng.uniform(56, 64) + (5 if band == 'n78' else 0):.1f}"
                cells.append(f"{sid};{op};A{a + 1};{j + 1};{band};{bw};{eirp}")
            k += 1
    assert (len(sites), len(antennas), len(cells)) == (N_SITES, N_ANTENNAS, N_CELLS), (
        len(sites),
        len(antennas),
        len(cells),
    )
    return {
        "sites": 'site_id;site_operator;operators;name;structure;status;"lat,lon"\n' + "\n".join(sites) + "\n",
        "antennas": "site_id;operator;antenna;azimuth;omni;height_m;tilt_mech;tilt_el\n" + "\n".join(antennas) + "\n",
        "cells": "site_id;operator;antenna;cell;band;bandwidth_mhz;eirp_dbm\n" + "\n".join(cells) + "\n",
    }


def build(url: str) -> None:
    """The city through the onboarding functions, then its network through the importer."""
    home = ROOT / ".netzatlas" / "bench-city"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        with db.transaction(url, actor="bench") as conn:
            operators.add(conn, "stadt-neuhafen", "Stadt Neuhafen", "city")
            for name, op in OPERATORS.items():
                operators.add(conn, op, name, "telecom")
        summary, report = municipalities.add_from_districts(
            url, AGS, CITY, districts_file(d / "districts.geojson"), home=home, actor="bench"
        )
        assert summary["districts"] == DISTRICTS, (summary, report.to_json())
        tables = network(boundary())
        with zipfile.ZipFile(d / "network.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in tables.items():
                z.writestr(f"{name}.csv", text)
        (d / "profile.yaml").write_text(PROFILE)
        _, status, report = run_import(
            d / "network.zip", "stadt-neuhafen", str(d / "profile.yaml"), url=url, home=home, actor="bench",
            municipality=AGS,
        )  # fmt: skip
        assert status == "loaded", report.to_json()


# ---------------------------------------------------------------- measuring


def timed_run(resolution: int) -> dict:
    """`netzatlas coverage run mobile` at `resolution` m in its own process, under /usr/bin/time -v."""
    env = {**os.environ, "NETZATLAS_DATABASE_NAME": DB_NAME}
    cmd = ["/usr/bin/time", "-v", str(VENV_BIN / "netzatlas"), "coverage", "run", "mobile"]
    cmd += ["--municipality", AGS, "--set", f"resolution_m={resolution}"]
    before = load()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    after = load()
    if proc.returncode != 0:
        sys.exit(f"coverage run at {resolution} m failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", proc.stderr).group(1)) for k in ("User", "System"))
    run_id = json.loads(proc.stdout[proc.stdout.index("{") :])["id"]
    return {
        "resolution": resolution,
        "seconds": seconds,
        "cpu": cpu,
        "rss": rss_kb * 1024,
        "id": run_id,
        "load": (before, after),
    }


def preview_twice(url: str, run_id: str) -> tuple[float, float, Path]:
    """The preview of the run's RSRP raster: the first request renders and stores it, the second reads the file."""
    from netzatlas.api import previews

    run = runs.get(url, run_id)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        png = previews.png_file(run, "rsrp.tif")
        png.read_bytes()
        times.append(time.perf_counter() - t)
    return times[0], times[1], png


def main() -> None:
    t = time.perf_counter()
    url = bench_database(DB_NAME, build, MARKER)
    print(f"database ready in {time.perf_counter() - t:.0f} s (load {load()})", flush=True)
    with db.connect(url) as conn:
        counts = conn.execute(
            """SELECT (SELECT count(*) FROM assets WHERE kind = 'mobile-sites' AND municipality = %(a)s) AS sites,
                      (SELECT count(*) FROM radio_antennas) AS antennas, (SELECT count(*) FROM radio_cells) AS cells,
                      (SELECT count(*) FROM radio_cells WHERE status = 'in_service' AND site_status = 'in_service')
                          AS cells_in_service,
                      (SELECT count(DISTINCT band) FROM radio_cells) AS bands,
                      (SELECT count(*) FROM radio_antennas WHERE omnidirectional) AS omni,
                      (SELECT round((ST_Area(boundary) / 1e6)::numeric, 1) FROM municipalities WHERE ags = %(a)s)
                          AS km2""",
            {"a": AGS},
        ).fetchone()
    print(
        f"{CITY}, AGS {AGS}: {counts['km2']} km2, {counts['sites']} sites, {counts['antennas']} antennas "
        f"({counts['omni']} omnidirectional), {counts['cells']} cells ({counts['cells_in_service']} in service) in "
        f"{counts['bands']} bands"
    )
    results = {}
    for res in RESOLUTIONS:
        r = timed_run(res)
        run = runs.get(url, r["id"])
        r["timings"], r["pixels"] = run["timings"], run["statistics"]["pixels"]
        results[res] = r
        print(
            f"  {res} m: {r['seconds']:.1f} s (CPU {r['cpu']:.1f} s), max RSS {r['rss'] / 2**20:.0f} MB, "
            f"load {r['load']}, {r['timings']}",
            flush=True,
        )
    first, second, png = preview_twice(url, results[10]["id"])
    r25, r10 = results[25], results[10]
    print(f"\nMobile coverage, {counts['km2']} km2, {counts['cells']} cells, 2 cores, load average {load()} (1-15 min)")
    print("\n| measure | Netzatlas | target | met |")
    print("|---|---|---|---|")
    for res in RESOLUTIONS:
        r = results[res]
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items() if k != "total")
        print(
            f"| `coverage run mobile` at {res} m ({r['pixels']:,} px in the city): wall time | {r['seconds']:.1f} s "
            f"({steps} s; CPU {r['cpu']:.1f} s user+system, load {' -> '.join(r['load'])}) | "
            f"{'<= 30 s' if res == 25 else ''} | "
            f"{('yes' if r['seconds'] <= TARGET_25M_S else 'no') if res == 25 else ''} |"
        )
        print(
            f"| the same: peak RSS of the whole process | {r['rss'] / 2**20:,.0f} MB | "
            f"{'< 2 GB' if res == 10 else ''} | "
            f"{('yes' if r['rss'] < TARGET_10M_BYTES else 'no') if res == 10 else ''} |"
        )
    print(f"| raster preview of the 10 m run, first request (renders, writes {png.name}) | {first:.2f} s | | |")
    print(f"| the same, second request (from the file) | {second * 1000:.1f} ms | built once | "
          f"{'yes' if second < first / 10 else 'no'} |")  # fmt: skip
    ok = r10["rss"] < TARGET_10M_BYTES and r25["seconds"] <= TARGET_25M_S
    print(f"\ntargets {'met' if ok else 'NOT met'}; load average at the end {load()}")


if __name__ == "__main__":
    main()
