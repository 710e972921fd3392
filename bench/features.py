"""OGC API Features: Netzatlas vs tipg on the same 200,000 fiber routes, one worker each.

Run with `make bench-features` (or `.venv/bin/python -m bench.features`). Both servers answer uncompressed
(no Accept-Encoding; tipg would gzip at level 6, Netzatlas at level 1). tipg is configured as a user would
configure it: its id column is `id`. Before timing, the pages of both are checked to hold the same features.
Alternating rounds (the order flips every round), medians; the machine's load is noted with every result:
- requests/s of `items?limit=10&bbox=...` at 16 connections (wrk) for a box below and a box above PROBE_MAX
  (5,000) matches, warm (one URL again and again: Netzatlas's count cache hits) and cold (a new box for
  every request, shifted by a fraction of a millimetre: every count is computed);
- latency of one `limit=10000` page (curl) against two floors doing the same work: Netzatlas's own page SQL
  (string_agg of GeoJSON text) on one connection, and split in two halves on two connections at once.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
from pyproj import Transformer

from bench.common import (
    alternate,
    bench_database,
    ensure_tool,
    free_port,
    load,
    serve_cmd,
    server,
    tipg_server,
    worms_registry,
    wrk_paths,
)
from netzatlas import db
from netzatlas.demo.generate import AGS, generate
from netzatlas.registry import access

ROUTES = 200_000
DB_NAME = "netzatlas_bench_features"
MARKER = f"bench-features v1 {ROUTES}"
CENTER = (8.3575, 49.632)  # the Innenstadt
TARGETS = (4_828, 5_111)  # matches of the boxes below and above PROBE_MAX (the sets of issue 14)
ROUNDS = int(__import__("os").environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(__import__("os").environ.get("BENCH_SECONDS", "8"))
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


def _box(h: float, shift: float = 0.0) -> str:
    cx, cy = CENTER
    return f"{cx - h + shift:.10f},{cy - h * 0.8:.10f},{cx + h + shift:.10f},{cy + h * 0.8:.10f}"


@functools.cache
def _to_utm() -> Transformer:
    return Transformer.from_crs(4326, 25832, always_xy=True)


def _utm(box: str) -> str:
    """The box tipg searches for a CRS84 bbox: the bounds of its corners (densified) in the table's EPSG:25832,
    computed as tipg does (pyproj's transform_bounds). Netzatlas is given that box with bbox-crs, so both servers
    select the same features (Netzatlas itself transforms the box's outline, which selects fewer)."""
    x1, y1, x2, y2 = _to_utm().transform_bounds(*(float(v) for v in box.split(",")))
    return f"{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f}"


UTM = "http://www.opengis.net/def/crs/EPSG/0/25832"


def _query(peer: str, box: str) -> str:
    return f"limit=10&bbox={box}" if peer == "tipg" else f"limit=10&bbox={_utm(box)}&bbox-crs={UTM}"


def _count(conn: object, box: str) -> int:
    x1, y1, x2, y2 = (float(v) for v in _utm(box).split(","))
    return conn.execute(  # type: ignore[attr-defined]
        "SELECT count(*) AS n FROM assets_fiber_routes WHERE retired_at IS NULL AND "
        "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 25832))",
        (x1, y1, x2, y2),
    ).fetchone()["n"]


def box_for(url: str, target: int) -> tuple[float, int]:
    """The half width of the box around CENTER whose number of matches comes closest to `target` (bisection)."""
    lo, hi = 0.001, 0.05
    best = (0.0, 0)
    with db.connect(url) as conn:
        for _ in range(40):
            mid = (lo + hi) / 2
            n = _count(conn, _box(mid))
            if abs(n - target) < abs(best[1] - target):
                best = (mid, n)
            if n == target:
                break
            lo, hi = (mid, hi) if n < target else (lo, mid)
    return best


def page_floors(url: str) -> tuple[float, float]:
    """Netzatlas's own SQL for the first 10,000-feature page (built by netzatlas.api.query, the anonymous caller's
    row-level security applying), fetched by psycopg: on one connection, and as two halves on two connections
    at once (what paging.py does). Median seconds of 3 each."""
    from netzatlas.api.collections import COLLECTIONS
    from netzatlas.api.crs import resolve
    from netzatlas.api.query import Where, feature_sql, order_by, page_sql, source

    coll = COLLECTIONS["fiber-routes"]
    where = Where()
    src = source(coll, where, None)
    sql = page_sql(feature_sql(coll, resolve(None), None, False), src, where, order_by(coll, []))
    whole = {**where.params, "off": 0, "lim": 10_000, "lim1": 10_001}
    halves = [
        {**where.params, "off": 0, "lim": 5_000, "lim1": 5_000},
        {**where.params, "off": 5_000, "lim": 5_000, "lim1": 5_001},
    ]
    with access.acting_as(access.ANONYMOUS):
        conns = [db.connect(db.app_url(url), autocommit=True) for _ in range(2)]
    try:

        def run(i: int, args: dict) -> int:
            return len(conns[i].execute(sql, args).fetchone()["body"])

        def one() -> None:
            run(0, whole)

        def two() -> None:
            with ThreadPoolExecutor(2) as ex:
                list(ex.map(run, [0, 1], halves))

        assert run(0, whole) == sum(run(i, a) for i, a in enumerate(halves)) + 1  # the comma between the halves
        return median_of(one), median_of(two)
    finally:
        for c in conns:
            c.close()


def median_of(fn: object, runs: int = 3) -> float:
    import time

    fn()  # type: ignore[operator]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def page(url: str) -> float:
    """Median seconds to receive the whole page with curl (libcurl, as GDAL and QGIS use), uncompressed."""

    def fetch() -> float:
        out = subprocess.run(
            ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", url], capture_output=True, text=True, check=True
        ).stdout
        return float(out)

    fetch()  # warm up
    return statistics.median(fetch() for _ in range(3))


def _ids(doc: dict) -> list[str]:
    return [str(f["id"]) for f in doc["features"]]


def check_same(urls: dict[str, str], boxes: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Both servers return the same features for every measured request; returns the 10k page's bytes."""
    with httpx.Client(timeout=120) as client:
        for name, (box, n) in boxes.items():
            docs = {p: client.get(f"{u}?{_query(p, box)}").json() for p, u in urls.items()}
            assert {p: d["numberMatched"] for p, d in docs.items()} == {p: n for p in urls}, (name, n, docs.keys())
            a, b = (_ids(d) for d in docs.values())
            assert a == b and len(a) == 10, (name, a, b)
        sizes = {}
        pages = {}
        for p, u in urls.items():
            r = client.get(f"{u}?limit=10000", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in r.headers
            sizes[p], pages[p] = len(r.content), _ids(r.json())
        a, b = pages.values()
        assert a == b and len(a) == 10_000
    return sizes


def main() -> None:
    ensure_tool("wrk", "wrk")
    ensure_tool("curl", "curl")
    url = bench_database(DB_NAME, build, MARKER)
    found = {f"{n:,}": box_for(url, n) for n in TARGETS}
    boxes = {label: (_box(h), n) for label, (h, n) in found.items()}
    ours_port, tipg_port = free_port(), free_port()
    tipg_cmd, tipg_env = tipg_server(tipg_port, url, [TIPG_COLLECTION])
    peers = ["netzatlas", "tipg"]
    rps: dict[tuple[str, str, str], list[float]] = {}
    pages: dict[str, list[float]] = {p: [] for p in peers}
    floors: list[tuple[float, float]] = []
    loads: list[str] = []
    with (
        server(serve_cmd(ours_port), {"NETZATLAS_DATABASE_URL": url}, ours_port, "/health") as ours_base,
        server(tipg_cmd, tipg_env, tipg_port, f"/collections/{TIPG_COLLECTION}") as tipg_base,
    ):
        paths = {"netzatlas": "/collections/fiber-routes/items", "tipg": f"/collections/{TIPG_COLLECTION}/items"}
        bases = {"netzatlas": ours_base, "tipg": tipg_base}
        sizes = check_same({p: bases[p] + paths[p] for p in peers}, boxes)
        for r, order in alternate(ROUNDS, peers):
            for label, (h, _) in found.items():
                for p in order:
                    warm = [f"{paths[p]}?{_query(p, _box(h))}"]
                    rps.setdefault((label, "warm", p), []).append(wrk_paths(bases[p], warm, seconds=SECONDS))
                    # a box never asked before for every request: shifted by 1e-9 degrees (0.1 mm) each
                    cold = [f"{paths[p]}?{_query(p, _box(h, (r * 10_000 + i) * 1e-9))}" for i in range(5_000)]
                    rps.setdefault((label, "cold", p), []).append(wrk_paths(bases[p], cold, seconds=SECONDS))
            for p in order:
                pages[p].append(page(f"{bases[p]}{paths[p]}?limit=10000"))
            floors.append(page_floors(url))
            loads.append(load())
    med = {k: statistics.median(v) for k, v in rps.items()}
    pg = {p: statistics.median(v) for p, v in pages.items()}
    one, two = (statistics.median(f[i] for f in floors) for i in range(2))
    below, above = found
    print(f"\nOGC API Features, {ROUTES:,} fiber routes, one worker each, medians of {ROUNDS} alternating rounds")
    print(f"load average (1/5/15 min) after each round: {', '.join(loads)}\n")
    print("| measure | Netzatlas | tipg | ratio |")
    print("|---|---|---|---|")
    for label, (_, n) in found.items():
        for temp in ("warm", "cold"):
            a, b = med[(label, temp, "netzatlas")], med[(label, temp, "tipg")]
            print(
                f"| items?limit=10&bbox=<{n:,} matches>, {temp}, 16 connections | {a:.0f} req/s | {b:.0f} req/s | "
                f"{a / b:.2f}x tipg's |"
            )
    for temp in ("warm", "cold"):
        for p in peers:
            a, b = med[(below, temp, p)], med[(above, temp, p)]
            print(
                f"| {p}: {found[below][1]:,} vs {found[above][1]:,} matches, {temp} | "
                f"{a:.0f} req/s | {b:.0f} req/s | {a / b:.2f}x |"
            )
    a, b = pg["netzatlas"], pg["tipg"]
    print(
        f"| items?limit=10000 page, uncompressed ({sizes['netzatlas'] / 1e6:.1f} vs {sizes['tipg'] / 1e6:.1f} MB) | "
        f"{a * 1000:.0f} ms | {b * 1000:.0f} ms | Netzatlas {a / two:.2f}x the two-connection floor "
        f"({two * 1000:.0f} ms), {a / one:.2f}x the one-connection floor ({one * 1000:.0f} ms); tipg {b / one:.2f}x "
        "the one-connection floor |"
    )
    print(
        "\ntargets: >= 3x tipg's requests/s on small bbox pages; above PROBE_MAX within 1.3x of below; "
        "the 10,000-feature page within 1.5x its floor"
    )


if __name__ == "__main__":
    main()
