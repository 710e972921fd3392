"""Coverage engine benchmark: mobile raster and fiber homes passed, side by side with their floors.

Run with `make bench-coverage` (or `.venv/bin/python -m bench.coverage`). Measures, in one run:
- mobile: best-server RSRP of 100 sites x 3 sectors over 110 km2 at 10 m (radio.best_server, both cores),
  against the floor of a plain float32 numpy loop over every pixel for every sector (one core); growth when
  the sites double and when the resolution doubles; peak memory; the whole `coverage run mobile` as well;
- fiber: the whole `coverage run fiber` (per building, cells, districts, gaps) for 100,000 buildings and
  200,000 routes, against one PostGIS ST_DWithin query answering homes passed (the floor); the two alternate
  five times and the medians are reported.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
import tracemalloc

import numpy as np

from bench.common import bench_database
from bench.features import build as build_routes
from netzatlas import db
from netzatlas.coverage import radio, runs
from netzatlas.coverage.grid import Grid
from netzatlas.demo.generate import AGS

DB_NAME = "netzatlas_bench_coverage"
BUILDINGS = 100_000
SITES = 100
MARKER = f"bench-coverage v1 {BUILDINGS} {SITES}"
SIDE_M = math.sqrt(110e6)  # a 110 km2 square
BANDS = [
    ("LTE", "B20", 800.0, 10.0, 58.0),
    ("LTE", "B3", 1815.0, 20.0, 62.0),
    ("NR", "n78", 3600.0, 100.0, 72.0),
    ("NR", "n28", 773.0, 10.0, 58.0),
]
OPERATORS = 3


def sectors(n_sites: int, side: float = SIDE_M, x0: float = 0.0, y0: float = 0.0, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_sites):
        x, y = x0 + rng.uniform(0, side), y0 + rng.uniform(0, side)
        tech, band, f, bw, eirp = BANDS[s % len(BANDS)]
        h, az0 = rng.uniform(20, 45), rng.uniform(0, 120)
        for k in range(3):
            out.append(
                {
                    "x": x,
                    "y": y,
                    "site": s,
                    "operator": s % OPERATORS,
                    "sector": k + 1,
                    "technology": tech,
                    "band": band,
                    "frequency_mhz": f,
                    "azimuth_deg": round((az0 + 120 * k) % 360, 1),
                    "mech_tilt_deg": 1.0,
                    "elec_tilt_deg": round(rng.uniform(2, 6), 1),
                    "height_m": round(h, 1),
                    "eirp_dbm": eirp,
                    "bandwidth_mhz": bw,
                    "h_beamwidth_deg": 65.0,
                    "v_beamwidth_deg": 10.0,
                }
            )
    return out


def transmitters(secs: list[dict]) -> list[radio.Transmitter]:
    idx = {(o, b[1]): i for i, (o, b) in enumerate((o, b) for o in range(OPERATORS) for b in BANDS)}
    return [
        radio.Transmitter(
            x=s["x"],
            y=s["y"],
            height_m=s["height_m"],
            frequency_mhz=s["frequency_mhz"],
            eirp_dbm=s["eirp_dbm"],
            band=idx[(s["operator"], s["band"])],
            azimuth_deg=s["azimuth_deg"],
            tilt_deg=s["mech_tilt_deg"] + s["elec_tilt_deg"],
            h_beamwidth_deg=65.0,
            v_beamwidth_deg=10.0,
            offset_db=radio.rsrp_offset_db(s["technology"], s["bandwidth_mhz"], s["frequency_mhz"]),
        )
        for s in secs
    ]


def engine(n_sites: int, res: float) -> dict:
    grid = Grid.cover((0, 0, SIDE_M, SIDE_M), res)
    txs = transmitters(sectors(n_sites))
    model = radio.RadioModel()
    tracemalloc.start()
    t = time.perf_counter()
    r = radio.best_server(grid, txs, model, -110.0, OPERATORS * len(BANDS))
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": dt,
        "evals": r.evaluations,
        "pixels": grid.pixels,
        "peak": peak,
        "covered": float((r.levels > radio.NODATA).any(axis=0).mean()),
    }


def floor_loop(res: float) -> dict:
    """The floor: a plain float32 numpy loop over all pixels for every sector (UMa NLOS + pattern), one core."""
    grid = Grid.cover((0, 0, SIDE_M, SIDE_M), res)
    xs, ys = grid.xs().astype(np.float32)[None, :], grid.ys().astype(np.float32)[:, None]
    best = np.full((grid.height, grid.width), -np.inf, np.float32)
    secs = sectors(SITES)
    t = time.perf_counter()
    for s in secs:
        dx, dy = xs - np.float32(s["x"]), ys - np.float32(s["y"])
        d = np.maximum(np.sqrt(dx * dx + dy * dy), np.float32(10))
        pl = np.float32(13.54 + 20 * math.log10(s["frequency_mhz"] / 1000)) + np.float32(39.08) * np.log10(d)
        phi = (np.degrees(np.arctan2(dx, dy)) - np.float32(s["azimuth_deg"]) + 180) % 360 - 180
        gain = -np.minimum(np.float32(12) * (phi / np.float32(65)) ** 2, np.float32(30))
        np.maximum(best, np.float32(s["eirp_dbm"]) - pl + gain, out=best)
    dt = time.perf_counter() - t
    return {"seconds": dt, "evals": grid.pixels * len(secs)}


def build(url: str) -> None:
    """Worms with 200,000 routes (as bench.features), 100,000 buildings and 100 mobile sites."""
    from shapely.geometry import Point

    from netzatlas.registry import reference, service
    from netzatlas.registry.service import AssetInput

    build_routes(url)
    with db.transaction(url, actor="bench") as conn:
        x1, y1, x2, y2 = (
            conn.execute(
                "SELECT ST_XMin(boundary) AS x1, ST_YMin(boundary) AS y1, ST_XMax(boundary) AS x2, "
                "ST_YMax(boundary) AS y2 FROM municipalities WHERE ags = %s",
                (AGS,),
            )
            .fetchone()
            .values()
        )
        conn.execute(
            """INSERT INTO buildings (municipality, source, external_id, households, geom)
               SELECT %(ags)s, 'bench', 'B' || i, 1 + i %% 6, ST_MakeEnvelope(x, y, x + 12, y + 10, 25832)
               FROM (SELECT i, %(x1)s + (('x' || substr(md5(i || 'bx'), 1, 8))::bit(32)::bigint / 4294967296.0)
                                       * (%(x2)s - %(x1)s) AS x,
                            %(y1)s + (('x' || substr(md5(i || 'by'), 1, 8))::bit(32)::bigint / 4294967296.0)
                                       * (%(y2)s - %(y1)s) AS y
                     FROM generate_series(1, %(n)s) i) s""",
            {"ags": AGS, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "n": BUILDINGS},
        )
        for o in range(OPERATORS):
            reference.upsert_operator(conn, f"mno-{o}", f"Bench MNO {o}", "telecom")
        secs = sectors(SITES, side=min(x2 - x1, y2 - y1), x0=x1, y0=y1)
        for site in range(SITES):
            ss = [s for s in secs if s["site"] == site]
            attrs = {"sectors": [{k: v for k, v in s.items() if k not in ("x", "y", "site", "operator")} for s in ss]}
            service.create(
                conn,
                AssetInput(
                    kind="mobile-sites",
                    operator=f"mno-{ss[0]['operator']}",
                    external_id=f"S{site}",
                    geometry=Point(ss[0]["x"], ss[0]["y"]),
                    status="in_service",
                    municipality=AGS,
                    attributes=attrs,
                ),
            )


FIBER_FLOOR_SQL = """SELECT count(*) AS n FROM buildings b WHERE EXISTS (
                 SELECT 1 FROM assets_fiber_routes r WHERE r.status = 'in_service' AND r.retired_at IS NULL
                 AND ST_DWithin(r.geom, b.geom, 50))"""


def fiber_pairs(url: str, rounds: int = 5) -> dict:
    """The floor query and the whole fiber run, alternating, `rounds` times: medians and the median ratio."""
    floors, wholes = [], []
    last = None
    with db.connect(url) as conn:
        conn.execute(FIBER_FLOOR_SQL)  # warm the caches once
        for _ in range(rounds):
            t = time.perf_counter()
            conn.execute(FIBER_FLOOR_SQL).fetchone()
            floors.append(time.perf_counter() - t)
            t = time.perf_counter()
            last = runs.start(url, "fiber", AGS, {})
            wholes.append(time.perf_counter() - t)
            assert last["status"] == "succeeded", last["message"]
    return {
        "floor": statistics.median(floors),
        "run": statistics.median(wholes),
        "ratio": statistics.median(w / f for w, f in zip(wholes, floors, strict=True)),
        "ratios": [round(w / f, 2) for w, f in zip(wholes, floors, strict=True)],
        "last": last,
    }


def whole_run(url: str, analysis: str, params: dict) -> tuple[float, dict]:
    times, last = [], None
    for _ in range(2):
        t = time.perf_counter()
        last = runs.start(url, analysis, AGS, params)
        times.append(time.perf_counter() - t)
        assert last["status"] == "succeeded", last["message"]
    return min(times), last


def main() -> None:
    url = bench_database(DB_NAME, build, MARKER)
    engine(SITES, 10.0)  # warm up
    # the three sizes in alternation, three times each; the median run of each
    rounds = [[engine(SITES, 10.0), engine(2 * SITES, 10.0), engine(SITES, 5.0)] for _ in range(3)]
    base, sites2, res2 = (sorted((r[i] for r in rounds), key=lambda r: r["seconds"])[1] for i in range(3))
    floor = floor_loop(10.0)
    fiber = fiber_pairs(url)
    fiber_run = fiber["last"]
    mobile_t, mobile_run = whole_run(url, "mobile", {"resolution_m": 10})
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mps = base["evals"] / base["seconds"] / 1e6
    print(
        f"\nCoverage engine, 2 cores: {SITES} sites x 3 sectors over {SIDE_M**2 / 1e6:.0f} km2; fiber "
        f"{BUILDINGS:,} buildings vs 200,000 routes\n"
    )
    print("| measure | Netzatlas | floor | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| mobile best server, 10 m ({base['pixels']:,} px, 300 sectors) | {base['seconds']:.2f} s, "
        f"{base['evals'] / 1e6:.1f} M pixel-sectors ({mps:.1f} M/s) | numpy loop over all pixels: "
        f"{floor['seconds']:.2f} s, {floor['evals'] / 1e6:.0f} M ({floor['evals'] / floor['seconds'] / 1e6:.0f} M/s)"
        f" | {base['seconds'] / floor['seconds']:.2f}x the floor's time | <= 3 s |"
    )
    print(
        f"| mobile, sites doubled (600 sectors) | {sites2['seconds']:.2f} s, {sites2['evals'] / 1e6:.1f} M evals | "
        f"| {sites2['seconds'] / base['seconds']:.2f}x (evals {sites2['evals'] / base['evals']:.2f}x) | linear |"
    )
    print(
        f"| mobile, resolution doubled (5 m, {res2['pixels']:,} px) | {res2['seconds']:.2f} s, "
        f"{res2['evals'] / 1e6:.1f} M evals | | {res2['seconds'] / base['seconds']:.2f}x "
        f"(evals {res2['evals'] / base['evals']:.2f}x) | linear in reachable pixels |"
    )
    print(
        f"| mobile engine peak memory (tracemalloc) | {base['peak'] / 2**20:.0f} MB (5 m: {res2['peak'] / 2**20:.0f}"
        f" MB) | | | < 2 GB |"
    )
    print(
        f"| whole `coverage run mobile` at 10 m (Worms, {mobile_run['statistics']['radio_cells']} radio cells: radio, "
        f"COGs, cells, districts, gaps) | {mobile_t:.2f} s (radio {mobile_run['timings']['radio']:.2f} s) | | | |"
    )
    print(
        f"| fiber homes passed, whole run ({fiber_run['statistics']['passed']:,} passed; per building, cells, "
        f"districts, gaps; median of 5, alternating with the floor) | {fiber['run']:.2f} s (per building and cells "
        f"{fiber_run['timings']['per_building']:.2f} s) | one ST_DWithin query: {fiber['floor']:.2f} s | "
        f"{fiber['ratio']:.2f}x the floor (rounds: {', '.join(f'{r:.2f}' for r in fiber['ratios'])}) | <= 2x |"
    )
    print(f"| peak memory of this process (max RSS) | {peak_rss:.0f} MB | | | < 2 GB |")


if __name__ == "__main__":
    main()
