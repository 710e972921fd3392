"""OGC API Tiles: Netzatlas vs tipg, vector tiles of the 200,000 fiber routes of bench/features.py at z12-z16.

Run with `make bench-tiles` (or `.venv/bin/python -m bench.tiles`). Both servers (one worker each, uncompressed)
serve every tile covering Worms at z12-z14 and an evenly spread sample of 40 at z15 and z16. tipg is set up for
the same payload: its id column `id`, a 64 px buffer (TIPG_TILE_BUFFER) and Netzatlas's cap of features per tile
(TIPG_MAX_FEATURES_PER_TILE), and the same properties asked for. Before timing, every tile of both is decoded
and its feature count compared. Then alternating rounds of wrk (16 connections) cycling through each zoom's
tiles; medians, with the machine's load.
"""

from __future__ import annotations

import os
import statistics
import time

import httpx
import morecantile

from bench import features
from bench.common import (
    alternate,
    bench_database,
    cpu_seconds,
    ensure_tool,
    free_port,
    in_tile,
    load,
    mvt_features,
    serve_cmd,
    server,
    tipg_server,
    wrk_paths,
)
from netzatlas import db
from netzatlas.api.collections import COLLECTIONS
from netzatlas.api.tiles import tile_layer_sql, tile_params
from netzatlas.config import get_settings
from netzatlas.registry.keys import Principal

ZOOMS = (12, 13, 14, 15, 16)
SAMPLE = 40  # tiles per zoom at z15 and z16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
TMS = morecantile.tms.get("WebMercatorQuad")
CAP = get_settings().tile_max_features  # both servers' cap of features per tile
OURS = "fiber-routes"
TIPG = "public.assets_fiber_routes"
# What Netzatlas puts in a route's tile feature (tiles.py): the common properties as columns, the coded
# attributes from the jsonb; tipg gets the same columns and the jsonb `attributes` (one JSON string).
TIPG_PROPERTIES = "id,external_id,name,operator,status,sensitivity,commissioned_on,attributes"


def tiles_of_city(url: str) -> dict[int, list[morecantile.Tile]]:
    with db.connect(url) as conn:
        e = conn.execute(
            "SELECT ST_XMin(e) x1, ST_YMin(e) y1, ST_XMax(e) x2, ST_YMax(e) y2 FROM "
            "(SELECT ST_Transform(ST_SetSRID(ST_Extent(boundary), 25832), 4326) e FROM municipalities) s"
        ).fetchone()
    out = {}
    for z in ZOOMS:
        tiles = list(TMS.tiles(e["x1"], e["y1"], e["x2"], e["y2"], [z]))
        if len(tiles) > SAMPLE:  # evenly spread, deterministic
            step = len(tiles) / SAMPLE
            tiles = [tiles[int(i * step)] for i in range(SAMPLE)]
        out[z] = tiles
    return out


def path(peer: str, t: morecantile.Tile) -> str:
    if peer == "netzatlas":
        return f"/collections/{OURS}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}"
    return f"/collections/{TIPG}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}?properties={TIPG_PROPERTIES}"


def check_same(bases: dict[str, str], tiles: dict[int, list[morecantile.Tile]]) -> dict[int, dict[str, int]]:
    """Every tile of both decoded, its features counted and each feature's geometry checked against the tile
    square. tipg searches the tile itself and Netzatlas the tile with its 64 px buffer, so Netzatlas also carries
    the routes lying only in the margin (so that strokes at a tile's edge are drawn whole); the features that
    reach into the tile must be the same number in both. Returns per zoom the features in the tile (Netzatlas,
    tipg), the tiles where they are equal, Netzatlas's margin-only features and its bytes."""
    out = {}
    keys: dict[str, set[str]] = {p: set() for p in bases}
    # no Accept-Encoding: uncompressed, as wrk asks
    with httpx.Client(timeout=120, headers={"Accept-Encoding": "identity"}) as client:
        for z, ts in tiles.items():
            acc = dict(ours=0, tipg=0, equal=0, margin=0, tipg_margin=0, bytes=0)
            for t in ts:
                inside, margin = {}, {}
                for p, base in bases.items():
                    r = client.get(base + path(p, t))
                    assert r.status_code in (200, 204) and "content-encoding" not in r.headers, (p, t, r.status_code)
                    layers = mvt_features(r.content) if r.status_code == 200 else {}
                    flags = [in_tile(f) for features, _ in layers.values() for f in features]
                    inside[p], margin[p] = sum(flags), len(flags) - sum(flags)
                    for _, k in layers.values():
                        keys[p] |= set(k)
                    if p == "netzatlas":
                        acc["bytes"] += len(r.content)
                if max(inside[p] + margin[p] for p in bases) < CAP:  # below the cap both hold every feature
                    assert inside["netzatlas"] == inside["tipg"], (t, inside)
                acc["ours"] += inside["netzatlas"]
                acc["tipg"] += inside["tipg"]
                acc["equal"] += inside["netzatlas"] == inside["tipg"]
                acc["margin"] += margin["netzatlas"]
                acc["tipg_margin"] += margin["tipg"]
            out[z] = acc
    print(f"properties in the tiles: Netzatlas {sorted(keys['netzatlas'])}; tipg {sorted(keys['tipg'])}")
    return out


def encoding_floor(url: str, tiles: list[morecantile.Tile]) -> float:
    """Milliseconds per tile that ST_AsMVT alone takes to encode the rows of Netzatlas's tile (geometries
    already in tile coordinates, properties already cast), one connection, best of 3: work that any server
    building its tiles per request from the same rows does, however fast the rest."""
    coll = COLLECTIONS[OURS]
    who = Principal("anonymous", None, "bench")
    total = 0.0
    with db.connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE netzatlas_app")  # as the API reads: row-level security, anonymous
        for t in tiles:
            params = tile_params(TMS, t)
            conn.execute("DROP TABLE IF EXISTS bench_tile_rows")
            conn.execute(f"CREATE TEMP TABLE bench_tile_rows AS {tile_layer_sql(coll, who, params, 3857)}", params)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                conn.execute(f"SELECT ST_AsMVT(r, '{OURS}', 4096, 'geom') FROM bench_tile_rows r").fetchone()
                best = min(best, time.perf_counter() - start)
            total += best
        conn.execute("DROP TABLE IF EXISTS bench_tile_rows")
    return total / len(tiles) * 1000


def main() -> None:
    ensure_tool("wrk", "wrk")
    url = bench_database(features.DB_NAME, features.build, features.MARKER)
    tiles = tiles_of_city(url)
    ours_port, tipg_port = free_port(), free_port()
    tipg_cmd, tipg_env = tipg_server(
        tipg_port, url, [TIPG], {"TIPG_TILE_BUFFER": "64", "TIPG_MAX_FEATURES_PER_TILE": str(CAP)}
    )
    # whose CPU each request costs: the server's process and the database's (backends, parallel workers)
    processes = {"netzatlas": ("netzatlas.cli", "serve", f"--port {ours_port}"), "tipg": ("tipg.main", str(tipg_port))}
    peers = ["netzatlas", "tipg"]
    rps: dict[tuple[int, str], list[float]] = {}
    cpu: dict[tuple[int, str], list[float]] = {}
    loads = []
    with (
        server(serve_cmd(ours_port), {"NETZATLAS_DATABASE_URL": url}, ours_port, "/health") as ours,
        server(tipg_cmd, tipg_env, tipg_port, f"/collections/{TIPG}") as peer,
    ):
        bases = {"netzatlas": ours, "tipg": peer}
        payload = check_same(bases, tiles)
        for _, order in alternate(ROUNDS, peers):
            for z in ZOOMS:
                for p in order:
                    before = cpu_seconds(*processes[p]) + cpu_seconds("postgres")
                    start = time.monotonic()
                    rate = wrk_paths(bases[p], [path(p, t) for t in tiles[z]], seconds=SECONDS)
                    elapsed = time.monotonic() - start
                    used = cpu_seconds(*processes[p]) + cpu_seconds("postgres") - before
                    rps.setdefault((z, p), []).append(rate)
                    cpu.setdefault((z, p), []).append(used / (rate * elapsed) * 1000)
            loads.append(load())
    floors = {z: encoding_floor(url, tiles[z]) for z in ZOOMS}
    print(
        f"\nOGC API Tiles, {features.ROUTES:,} fiber routes over Worms, one worker each, uncompressed, 64 px buffer, "
        f"at most {CAP:,} features per tile, medians of {ROUNDS} alternating rounds"
    )
    print(f"load average (1/5/15 min) after each round: {', '.join(loads)}\n")
    print(
        "| zoom | tiles | features in the tile: Netzatlas / tipg (tiles equal) | also in the 64 px margin: "
        "Netzatlas / tipg | Netzatlas | tipg | ratio | CPU per tile: Netzatlas / tipg | ST_AsMVT alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for z in ZOOMS:
        a, b = statistics.median(rps[(z, "netzatlas")]), statistics.median(rps[(z, "tipg")])
        ca, cb = statistics.median(cpu[(z, "netzatlas")]), statistics.median(cpu[(z, "tipg")])
        n = payload[z]
        print(
            f"| z{z} | {len(tiles[z])} | {n['ours']:,} / {n['tipg']:,} ({n['equal']}) | "
            f"{n['margin']:,} / {n['tipg_margin']:,} ({n['bytes'] / 1e3:,.0f} kB from Netzatlas) | "
            f"{a:.1f} tiles/s | {b:.1f} tiles/s | " + (f"{a / b:.2f}x tipg's" if b else "tipg finished no tile") + " | "
            f"{ca:.1f} / {cb:.1f} ms | {floors[z]:.1f} ms |"
        )
    print(
        "\ntarget: >= 2x tipg's tiles/s at 16 connections. CPU per tile: the server's and PostgreSQL's CPU time over "
        "the wrk run divided by the tiles served (2 cores: 2x tipg's rate means at most tipg's CPU per tile / 2). "
        "ST_AsMVT alone: encoding Netzatlas's rows of each tile, already clipped and cast, one connection."
    )


if __name__ == "__main__":
    main()
