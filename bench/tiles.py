"""OGC API Tiles: Netzatlas vs tipg, vector tiles of the same tables over the demo city at z12-z16.

Run with `make bench-tiles` (or `.venv/bin/python -m bench.tiles`). For buildings (17,729 footprints) and
fiber routes, both servers (one worker each) serve every tile covering Worms at z12-z14 and a fixed
sample at z15-z16. Reports per zoom the median latency of single requests, and the throughput of all
tiles in turn at 16 connections (wrk with a script cycling through the tile list).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx
import morecantile

from bench.common import bench_database, ensure_tool, free_port, serve_cmd, server, tipg_server
from netzatlas import db
from netzatlas.demo import load as demo

DB_NAME = "netzatlas_bench_tiles"
MARKER = "bench-tiles v1 demo"
ZOOMS = (12, 13, 14, 15, 16)
SAMPLE = 40  # tiles per zoom at z15 and z16
LAYERS = {"buildings": "public.buildings", "fiber-routes": "public.assets_fiber_routes"}
TMS = morecantile.tms.get("WebMercatorQuad")


def build(url: str) -> None:
    with db.transaction(url, actor="bench") as conn:
        demo.load(conn)
        # the demo keeps fiber routes internal; both servers serve them here (tipg knows no access rules)
        conn.execute("UPDATE assets SET sensitivity = 'public', version = version + 1 WHERE sensitivity <> 'public'")


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


def wrk_paths(base: str, paths: list[str]) -> float:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    listed = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{\n{listed}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c16", "-d10s", "-s", str(script), base], capture_output=True, text=True, check=True
    ).stdout
    script.unlink()
    return float(out.split("Requests/sec:")[1].split()[0])


def latency(client: httpx.Client, urls: list[str]) -> float:
    times = []
    for u in urls:
        r = client.get(u)
        assert r.status_code in (200, 204), (u, r.status_code)
        times.append(r.elapsed.total_seconds())
    return statistics.median(times)


def main() -> None:
    ensure_tool("wrk", "wrk")
    url = bench_database(DB_NAME, build, MARKER)
    tiles = tiles_of_city(url)
    ours_port, tipg_port = free_port(), free_port()
    ours_cmd = serve_cmd(ours_port)
    tipg_cmd, tipg_env = tipg_server(tipg_port, url, list(LAYERS.values()))
    rows = []
    with (
        server(ours_cmd, {"NETZATLAS_DATABASE_URL": url}, ours_port, "/health") as ours,
        server(tipg_cmd, tipg_env, tipg_port, f"/collections/{LAYERS['buildings']}") as peer,
        httpx.Client(timeout=60) as client,
    ):
        for ours_id, tipg_id in LAYERS.items():

            def ours_path(t: morecantile.Tile, c: str = ours_id) -> str:
                return f"/collections/{c}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}"

            def tipg_path(t: morecantile.Tile, c: str = tipg_id) -> str:
                return f"/collections/{c}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"

            every = [t for z in ZOOMS for t in tiles[z]]
            for z in ZOOMS:
                a = latency(client, [ours + ours_path(t) for t in tiles[z]])
                b = latency(client, [peer + tipg_path(t) for t in tiles[z]])
                rows.append(
                    (
                        ours_id,
                        f"z{z} median latency ({len(tiles[z])} tiles)",
                        f"{a * 1000:.1f} ms",
                        f"{b * 1000:.1f} ms",
                        f"{b / a:.2f}x faster" if a < b else f"{a / b:.2f}x slower",
                    )
                )
            a = wrk_paths(ours, [ours_path(t) for t in every])
            b = wrk_paths(peer, [tipg_path(t) for t in every])
            rows.append(
                (
                    ours_id,
                    f"throughput, all {len(every)} tiles, 16 connections",
                    f"{a:.0f} tiles/s",
                    f"{b:.0f} tiles/s",
                    f"{a / b:.2f}x tipg's",
                )
            )
    print("\nOGC API Tiles over the Worms demo, one worker each\n")
    print("| layer | measure | Netzatlas | tipg | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
