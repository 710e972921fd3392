"""OGC API Features: Netzatlas vs tipg on the same 200,000 fiber routes, one worker each.

Run with `make bench-features` (or `.venv/bin/python -m bench.features`). Reports side by side:
- requests/s of `items?limit=10&bbox=<small box in the city>` at 16 connections (wrk);
- latency of one `limit=10000` page;
- the same 10,000 features fetched with plain SQL (the floor).
"""

from __future__ import annotations

import statistics
import subprocess

import httpx

from bench.common import (
    bench_database,
    ensure_tool,
    free_port,
    median_seconds,
    serve_cmd,
    server,
    tipg_server,
    worms_registry,
    wrk,
)
from netzatlas import db
from netzatlas.demo.generate import AGS, generate

ROUTES = 200_000
DB_NAME = "netzatlas_bench_features"
MARKER = f"bench-features v1 {ROUTES}"
SMALL_BBOX = "8.355,49.630,8.360,49.634"  # about 360 m x 450 m in the Innenstadt
ROUNDS = 3
TIPG_COLLECTION = "public.assets_fiber_routes"


def _unit(i: str, salt: str) -> str:
    """A deterministic pseudo-random number in [0, 1) from the row number (md5, not random())."""
    return f"(('x' || substr(md5({i} || '{salt}'), 1, 8))::bit(32)::bigint / 4294967296.0)"


def build(url: str) -> None:
    """200,000 routes of 2-4 vertices over the Worms area, deterministic."""
    worms_registry(url)
    x1, y1, x2, y2 = generate().municipality["boundary"].bounds
    with db.transaction(url, actor="bench") as conn:
        conn.execute(
            f"""
            INSERT INTO assets (kind, municipality, operator, external_id, name, status, sensitivity,
                                commissioned_on, attributes, geom)
            SELECT 'fiber-routes', %(ags)s, 'rheinfaser', 'BENCH-' || lpad(i::text, 7, '0'), 'Trasse ' || i,
                   (ARRAY['in_service', 'in_service', 'planned', 'under_construction'])[1 + i %% 4], 'public',
                   DATE '2015-01-01' + (i %% 3000),
                   jsonb_build_object('route_type', (ARRAY['trench', 'duct', 'cable'])[1 + i %% 3],
                                      'fibre_count', (ARRAY[12, 24, 48, 96, 144, 288])[1 + i %% 6],
                                      'laying_method', (ARRAY['open_trench', 'microtrench'])[1 + i %% 2]),
                   ST_SetSRID(ST_MakeLine(ARRAY[
                       ST_MakePoint(x, y),
                       ST_MakePoint(x + dx, y + dy),
                       ST_MakePoint(x + 2 * dx + dy / 3, y + 2 * dy - dx / 3)]), 25832)
            FROM (SELECT i, %(x1)s + {_unit("i", "x")} * (%(x2)s - %(x1)s) AS x,
                         %(y1)s + {_unit("i", "y")} * (%(y2)s - %(y1)s) AS y,
                         ({_unit("i", "dx")} - 0.5) * 160 AS dx, ({_unit("i", "dy")} - 0.5) * 160 AS dy
                  FROM generate_series(1, %(n)s) i) s
            """,
            {"ags": AGS, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "n": ROUTES},
        )


def sql_floor(url: str) -> float:
    """Plain SQL: the first 10,000 routes with their properties and GeoJSON geometry, fetched to the client."""
    sql = """SELECT id, external_id, name, operator, municipality, status, sensitivity, commissioned_on,
                    decommissioned_on, version, updated_at, attributes, submission_id,
                    ST_AsGeoJSON(ST_Transform(geom, 4326), 7)
             FROM assets_fiber_routes WHERE retired_at IS NULL ORDER BY id LIMIT 10000"""
    with db.connect(url) as conn:
        return median_seconds(lambda: conn.execute(sql).fetchall())


def page(url: str) -> float:
    """Seconds to receive the whole page with curl (libcurl, as GDAL and QGIS use), accepting gzip."""
    with httpx.Client(timeout=120) as client:
        assert len(client.get(url).json()["features"]) == 10_000

    def fetch() -> float:
        out = subprocess.run(
            ["curl", "-sf", "--compressed", "-o", "/dev/null", "-w", "%{time_total}", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(out)

    fetch()  # warm up
    return statistics.median(fetch() for _ in range(5))


def main() -> None:
    ensure_tool("wrk", "wrk")
    ensure_tool("curl", "curl")
    url = bench_database(DB_NAME, build, MARKER)
    ours_port, tipg_port = free_port(), free_port()
    ours_cmd = serve_cmd(ours_port)
    tipg_cmd, tipg_env = tipg_server(tipg_port, url, [TIPG_COLLECTION])
    # Both servers run side by side; measurements alternate between them, ROUNDS times, and the medians
    # are reported, so that a noisy moment of the machine does not decide the ratio.
    samples: dict[str, dict[str, list[float]]] = {n: {"rps": [], "page": []} for n in ("netzatlas", "tipg")}
    floors: list[float] = []
    with (
        server(ours_cmd, {"NETZATLAS_DATABASE_URL": url}, ours_port, "/health") as ours_base,
        server(tipg_cmd, tipg_env, tipg_port, f"/collections/{TIPG_COLLECTION}") as tipg_base,
    ):
        urls = {
            "netzatlas": f"{ours_base}/collections/fiber-routes/items",
            "tipg": f"{tipg_base}/collections/{TIPG_COLLECTION}/items",
        }
        for items in urls.values():
            assert httpx.get(f"{items}?limit=10&bbox={SMALL_BBOX}").json()["numberReturned"] == 10
        for _ in range(ROUNDS):
            for name, items in urls.items():
                samples[name]["rps"].append(wrk(f"{items}?limit=10&bbox={SMALL_BBOX}"))
                samples[name]["page"].append(page(f"{items}?limit=10000"))
            floors.append(sql_floor(url))
    results = {n: {k: statistics.median(v) for k, v in m.items()} for n, m in samples.items()}
    floor = statistics.median(floors)
    ours, tipg = results["netzatlas"], results["tipg"]
    print(f"\nOGC API Features, {ROUTES:,} fiber routes, one server worker each, medians of {ROUNDS} rounds\n")
    print("| measure | Netzatlas | tipg | ratio |")
    print("|---|---|---|---|")
    print(
        f"| items?limit=10&bbox=small box, 16 connections | {ours['rps']:.0f} req/s | {tipg['rps']:.0f} req/s | "
        f"Netzatlas {ours['rps'] / tipg['rps']:.2f}x tipg's throughput |"
    )
    print(
        f"| items?limit=10000 page latency | {ours['page'] * 1000:.0f} ms | {tipg['page'] * 1000:.0f} ms | "
        f"Netzatlas {ours['page'] / floor:.2f}x the SQL floor ({floor * 1000:.0f} ms); "
        f"tipg {tipg['page'] / floor:.2f}x |"
    )
    print("\ntargets: >= 3x tipg's requests/s on small bbox pages; 10,000-feature page within 1.5x the SQL floor")


if __name__ == "__main__":
    main()
