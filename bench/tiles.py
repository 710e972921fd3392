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

import httpx
import morecantile

from bench import features
from bench.common import (
    alternate,
    bench_database,
    ensure_tool,
    free_port,
    load,
    mvt_layers,
    serve_cmd,
    server,
    tipg_server,
    wrk_paths,
)
from netzatlas import db
from netzatlas.config import get_settings

ZOOMS = (12, 13, 14, 15, 16)
SAMPLE = 40  # tiles per zoom at z15 and z16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
TMS = morecantile.tms.get("WebMercatorQuad")
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


def check_same(bases: dict[str, str], tiles: dict[int, list[morecantile.Tile]]) -> dict[int, tuple[int, int, int, int]]:
    """Every tile of both decoded and its features counted. tipg searches the tile itself and Netzatlas the tile
    with its buffer, so tipg leaves out the features lying only in the 64 px margin: every tile of tipg must hold
    at most Netzatlas's features, and the same where no feature lies only in the margin. Returns per zoom
    (features of Netzatlas, of tipg, tiles with equal counts, bytes of Netzatlas)."""
    out = {}
    keys: dict[str, set[str]] = {p: set() for p in bases}
    # no Accept-Encoding: uncompressed, as wrk asks
    with httpx.Client(timeout=120, headers={"Accept-Encoding": "identity"}) as client:
        for z, ts in tiles.items():
            n = m = same = size = 0
            for t in ts:
                counts = {}
                for p, base in bases.items():
                    r = client.get(base + path(p, t))
                    assert r.status_code in (200, 204) and "content-encoding" not in r.headers, (p, t, r.status_code)
                    layers = mvt_layers(r.content) if r.status_code == 200 else {}
                    counts[p] = sum(c for c, _ in layers.values())
                    for _, k in layers.values():
                        keys[p] |= set(k)
                    if p == "netzatlas":
                        size += len(r.content)
                assert counts["tipg"] <= counts["netzatlas"], (t, counts)
                n, m, same = n + counts["netzatlas"], m + counts["tipg"], same + (counts["netzatlas"] == counts["tipg"])
            out[z] = (n, m, same, size)
    print(f"properties in the tiles: Netzatlas {sorted(keys['netzatlas'])}; tipg {sorted(keys['tipg'])}")
    return out


def main() -> None:
    ensure_tool("wrk", "wrk")
    url = bench_database(features.DB_NAME, features.build, features.MARKER)
    tiles = tiles_of_city(url)
    cap = get_settings().tile_max_features
    ours_port, tipg_port = free_port(), free_port()
    tipg_cmd, tipg_env = tipg_server(
        tipg_port, url, [TIPG], {"TIPG_TILE_BUFFER": "64", "TIPG_MAX_FEATURES_PER_TILE": str(cap)}
    )
    peers = ["netzatlas", "tipg"]
    rps: dict[tuple[int, str], list[float]] = {}
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
                    rps.setdefault((z, p), []).append(
                        wrk_paths(bases[p], [path(p, t) for t in tiles[z]], seconds=SECONDS)
                    )
            loads.append(load())
    print(
        f"\nOGC API Tiles, {features.ROUTES:,} fiber routes over Worms, one worker each, uncompressed, 64 px buffer, "
        f"at most {cap:,} features per tile, medians of {ROUNDS} alternating rounds"
    )
    print(f"load average (1/5/15 min) after each round: {', '.join(loads)}\n")
    print("| zoom | tiles | features: Netzatlas / tipg (tiles with equal counts) | Netzatlas | tipg | ratio |")
    print("|---|---|---|---|---|---|")
    for z in ZOOMS:
        a, b = statistics.median(rps[(z, "netzatlas")]), statistics.median(rps[(z, "tipg")])
        n, m, same, size = payload[z]
        print(
            f"| z{z} | {len(tiles[z])} | {n:,} / {m:,} ({same}; {size / 1e3:,.0f} kB from Netzatlas) | "
            f"{a:.1f} tiles/s | "
            f"{b:.1f} tiles/s | " + (f"{a / b:.2f}x tipg's |" if b else "tipg finished no tile |")
        )
    print("\ntarget: >= 2x tipg's tiles/s at 16 connections")


if __name__ == "__main__":
    main()
