"""Where a vector tile's CPU goes, Netzatlas and tipg, on the 200,000 routes of bench/features.py.

Run with `make bench-tiles-anatomy` (or `.venv/bin/python -m bench.tiles_anatomy`); not part of `make bench`. It
answers what `bench/tiles.py` cannot: how much of a tile's cost any server rendering per request must pay, and
so whether 2x tipg's tiles/s (at most half of tipg's CPU per tile on 2 cores) is reachable at all.

1. One connection, no parallel workers, as the API reads (role netzatlas_app, anonymous), per zoom averaged over
   bench/tiles.py's tiles, best of 3 per tile:
   - scan: the index scan and row-level filter of Netzatlas's tile statement (count only);
   - scan + clip: its layer rows (ST_AsMVTGeom, properties), counted, not encoded;
   - encoding: ST_AsMVT alone over those rows, already in a table;
   - whole statement: the tile statement as the API runs it (its bytes' length only).
2. Under load (wrk, 16 connections, 8 s per zoom, each server in turn over ROUNDS rounds): CPU per tile of the
   server's own process and of PostgreSQL, apart, from /proc; medians.

The bound printed per zoom: Netzatlas's own process per tile (HTTP, access, ETag) plus scan + clip plus the
encoding, against half of tipg's whole CPU per tile. Where the bound is above the half, no per-request renderer
with this server can reach 2x.
"""

from __future__ import annotations

import statistics
import time

from bench import features
from bench.common import (
    alternate,
    bench_database,
    cpu_seconds,
    free_port,
    load,
    serve_cmd,
    server,
    tipg_server,
    wrk_paths,
)
from bench.tiles import CAP, OURS, TIPG, TMS, encoding_floor, path, tiles_of_city
from netzatlas import db
from netzatlas.api.collections import COLLECTIONS
from netzatlas.api.tiles import _tile_sql, tile_layer_sql, tile_params
from netzatlas.registry.keys import Principal

ZOOMS = (13, 15)
ROUNDS = 2
SECONDS = 8


def single_connection(url: str, tiles: list) -> dict[str, float]:
    """Milliseconds per tile of each part of Netzatlas's tile statement, one connection (see the module text)."""
    coll = COLLECTIONS[OURS]
    who = Principal("anonymous", None, "bench")
    layer = tile_layer_sql(coll, who, {}, 3857)
    table = f"FROM {coll.table} t"
    scan = table + layer.split(table, 1)[1].split("OFFSET 0", 1)[0]  # the table, access and search of the tile
    statements = {
        "scan": f"SELECT count(*) {scan}",
        "scan + clip": f"SELECT count(*) FROM ({layer}) m",
        "whole statement": f"SELECT length(tile) FROM ({_tile_sql([coll], who, {}, 3857)}) t",
    }
    totals = dict.fromkeys(statements, 0.0)
    with db.connect(url, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SET ROLE netzatlas_app")
        for t in tiles:
            params = tile_params(TMS, t)
            for name, sql in statements.items():
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    conn.execute(sql, params).fetchall()
                    best = min(best, time.perf_counter() - start)
                totals[name] += best
    out = {k: v / len(tiles) * 1000 for k, v in totals.items()}
    out["encoding"] = encoding_floor(url, tiles)
    return out


def main() -> None:
    url = bench_database(features.DB_NAME, features.build, features.MARKER)
    tiles = tiles_of_city(url)
    parts = {z: single_connection(url, tiles[z]) for z in ZOOMS}
    ours_port, tipg_port = free_port(), free_port()
    tipg_cmd, tipg_env = tipg_server(
        tipg_port, url, [TIPG], {"TIPG_TILE_BUFFER": "64", "TIPG_MAX_FEATURES_PER_TILE": str(CAP)}
    )
    processes = {"netzatlas": ("netzatlas.cli", "serve", f"--port {ours_port}"), "tipg": ("tipg.main", str(tipg_port))}
    cpu: dict[tuple[int, str, str], list[float]] = {}
    loads = []
    with (
        server(serve_cmd(ours_port), {"NETZATLAS_DATABASE_URL": url}, ours_port, "/health") as ours,
        server(tipg_cmd, tipg_env, tipg_port, f"/collections/{TIPG}") as peer,
    ):
        bases = {"netzatlas": ours, "tipg": peer}
        for _, order in alternate(ROUNDS, list(bases)):
            for z in ZOOMS:
                for p in order:
                    own, pg = cpu_seconds(*processes[p]), cpu_seconds("postgres")
                    start = time.monotonic()
                    rate = wrk_paths(bases[p], [path(p, t) for t in tiles[z]], seconds=SECONDS)
                    served = rate * (time.monotonic() - start)
                    cpu.setdefault((z, p, "server"), []).append((cpu_seconds(*processes[p]) - own) / served * 1000)
                    cpu.setdefault((z, p, "postgres"), []).append((cpu_seconds("postgres") - pg) / served * 1000)
            loads.append(load())
    m = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"\nWhere a tile's CPU goes: {features.ROUTES:,} fiber routes over Worms, uncompressed, 64 px buffer; "
        f"load average after each round: {', '.join(loads)}\n"
    )
    print("| zoom | tiles | one connection (ms per tile): scan / scan + clip / encoding / whole statement "
          "| 16 connections (CPU ms per tile): Netzatlas process + PostgreSQL | tipg process + PostgreSQL "
          "| half of tipg's | Netzatlas's bound: its process + scan + clip + encoding |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for z in ZOOMS:
        s = parts[z]
        own, theirs = m[(z, "netzatlas", "server")], m[(z, "tipg", "server")]
        half = (theirs + m[(z, "tipg", "postgres")]) / 2
        bound = own + s["scan + clip"] + s["encoding"]
        print(
            f"| z{z} | {len(tiles[z])} | {s['scan']:.1f} / {s['scan + clip']:.1f} / {s['encoding']:.1f} / "
            f"{s['whole statement']:.1f} | {own:.1f} + {m[(z, 'netzatlas', 'postgres')]:.1f} | "
            f"{theirs:.1f} + {m[(z, 'tipg', 'postgres')]:.1f} | {half:.1f} | {bound:.1f} "
            f"({'above' if bound > half else 'below'} the half) |"
        )
    print(
        "\nThe bound counts one-connection costs; under 16 connections on 2 cores the same work costs more CPU "
        "(compare the whole statement with PostgreSQL's share), so the bound is a lower one."
    )


if __name__ == "__main__":
    main()
