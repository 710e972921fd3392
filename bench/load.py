"""Load: a mix of reads at 64 connections for 60 s over the Worms demo with 1,000 coverage runs, and the database
restarted under 16-connection load.

Run with `make bench-load` (or `.venv/bin/python -m bench.load`; `--runs`, `--seconds`, `--connections` make a
quick trial). Everything happens in a throwaway cluster under a temporary NETZATLAS_HOME, which is stopped and
removed afterwards, so the restart never touches the cluster anyone else uses.

- Database: the Worms demo (netzatlas.demo.load), four real coverage runs (fiber, mobile, IoT, fiber from public
  inputs only) and copies of their rows and results made with SQL up to `--runs` runs, so that the runs table
  and the result tables are as large as 1,000 real runs would make them.
- Server: `netzatlas serve`, one worker, no access log, rate limit off (NETZATLAS_RATE_LIMIT=0).
- Mix: items of several collections (first pages, bbox pages, coverage results of one run), single features,
  vector tiles at z12-z16 over the city (per collection and all layers), /collections metadata; a third of the
  requests carry a planner key.
- Throughput: wrk (C, one thread, a Lua script cycling through the mix). On 2 cores a Python load generator
  would take a core from the server it measures; wrk takes a few percent.
- Restart: an asyncio httpx client (16 connections) records each response's status, body and latency, which
  wrk cannot; throughput is not the point of that phase. `pg_ctl stop -m fast`, a pause, `pg_ctl start`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import ROOT, ensure_tool, free_port, serve_cmd, server
from bench.tiles import tiles_of_city
from netzatlas import db, migrate
from netzatlas.demo import load as demo
from netzatlas.registry import keys
from tests.cluster_helpers import Throwaway, throwaway_cluster

# The real runs the copies are made of: (analysis, --set parameters).
REAL_RUNS = (("fiber", []), ("mobile", []), ("iot", []), ("fiber", ["inputs=public"]))
RESULT_TABLES = (
    "coverage_cells",
    "coverage_districts",
    "coverage_gaps",
    "coverage_buildings",
    "coverage_devices",
)
TIMEOUT_S = 10  # a response slower than this counts as an error (wrk --timeout, httpx timeout)
ERROR_DEADLINE_S = 2.0  # during an outage every request is to be answered (503) within this
# restart phase: load before the stop, the outage, load after the start
BEFORE_S, OUTAGE_S, AFTER_S = 8.0, 5.0, 10.0
MAX_REQUESTS = 500_000  # per phase of the httpx client: a bound besides time


# ---------------------------------------------------------------- the database


def build(tw: Throwaway, runs: int) -> dict[str, int]:
    """The demo, the real runs, then copies of them up to `runs`; returns row counts."""
    url = tw.url()
    migrate.upgrade(url)
    with db.transaction(url, actor=demo.DEMO_ACTOR) as conn:
        demo.load(conn)
    netzatlas = str(Path(sys.executable).parent / "netzatlas")
    for analysis, sets in REAL_RUNS:
        cmd = [netzatlas, "coverage", "run", analysis, *(a for s in sets for a in ("--set", s))]
        subprocess.run(cmd, env={**os.environ, **tw.env()}, check=True, capture_output=True, cwd=ROOT)
    with db.transaction(url, actor="bench") as conn:
        real = conn.execute("SELECT count(*) AS n FROM coverage_runs WHERE status = 'succeeded'").fetchone()["n"]
        assert real == len(REAL_RUNS), f"{real} of {len(REAL_RUNS)} real runs succeeded"
        copies = max(runs - real, 0)
        # copies are older than the real runs, so that "the latest run" is a real one with its files
        conn.execute(
            """CREATE TEMP TABLE copies ON COMMIT DROP AS
               SELECT gen_random_uuid() AS id, r.id AS src, i
               FROM (SELECT id, row_number() OVER (ORDER BY created_at) - 1 AS k, count(*) OVER () AS n
                     FROM coverage_runs) r,
                    generate_series(1, %(copies)s) i
               WHERE i %% r.n = r.k""",
            {"copies": copies},
        )
        run_cols = _columns(conn, "coverage_runs", {"id", "created_at", "started_at", "finished_at"})
        conn.execute(
            f"""INSERT INTO coverage_runs (id, {", ".join(run_cols)}, created_at, started_at, finished_at)
                SELECT c.id, {", ".join("r." + c for c in run_cols)}, r.created_at - c.i * interval '1 hour',
                       r.started_at - c.i * interval '1 hour', r.finished_at - c.i * interval '1 hour'
                FROM copies c JOIN coverage_runs r ON r.id = c.src"""
        )
        for table in RESULT_TABLES:
            cols = _columns(conn, table, {"run_id"})
            conn.execute(
                f"""INSERT INTO {table} (run_id, {", ".join(cols)})
                    SELECT c.id, {", ".join("t." + c for c in cols)} FROM copies c JOIN {table} t ON t.run_id = c.src"""
            )
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return row_counts(url)


def row_counts(url: str) -> dict[str, int]:
    with db.connect(url) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
            for t in ("assets", "buildings", "coverage_runs", *RESULT_TABLES)
        }
        size = conn.execute("SELECT pg_database_size(current_database()) / 1048576 AS n").fetchone()["n"]
    return {**counts, "database MB": size}


def _columns(conn: object, table: str, leave_out: set[str]) -> list[str]:
    """A table's columns that can be inserted (no identity or generated ones), less `leave_out`."""
    rows = conn.execute(  # type: ignore[attr-defined]
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = %s AND is_identity = 'NO' AND is_generated = 'NEVER'
           ORDER BY ordinal_position""",
        (table,),
    ).fetchall()
    return [r["column_name"] for r in rows if r["column_name"] not in leave_out]


# ---------------------------------------------------------------- the mix


@dataclass(frozen=True)
class Request:
    path: str
    keyed: bool  # sent with the planner key
    kind: str


def mix(url: str, planner: str) -> list[Request]:
    """The request mix: about a third items, a third tiles, a fifth single features, the rest metadata."""
    rnd = random.Random(10)
    with db.connect(url) as conn:
        e = conn.execute(
            "SELECT ST_XMin(e) x1, ST_YMin(e) y1, ST_XMax(e) x2, ST_YMax(e) y2 FROM "
            "(SELECT ST_Transform(ST_SetSRID(ST_Extent(boundary), 25832), 4326) e FROM municipalities) s"
        ).fetchone()
        features = conn.execute(
            """(SELECT kind AS coll, id::text, sensitivity = 'public' AS open FROM assets
                WHERE retired_at IS NULL AND sensitivity <> 'critical' ORDER BY md5(id::text) LIMIT 25)
               UNION ALL
               (SELECT 'buildings', id::text, true FROM buildings ORDER BY md5(id::text) LIMIT 10)"""
        ).fetchall()
        latest = {
            r["analysis"]: str(r["id"])
            for r in conn.execute(
                """SELECT DISTINCT ON (analysis) analysis, id FROM coverage_runs
                   WHERE status = 'succeeded' AND sensitivity = 'public' ORDER BY analysis, created_at DESC"""
            ).fetchall()
        }
        some_run = conn.execute("SELECT id::text FROM coverage_runs ORDER BY md5(id::text) LIMIT 1").fetchone()["id"]
    x1, y1, x2, y2 = e["x1"], e["y1"], e["x2"], e["y2"]

    def box(size: float) -> str:  # a box of `size` degrees of longitude somewhere in the city
        bx, by = x1 + rnd.random() * (x2 - x1 - size), y1 + rnd.random() * (y2 - y1 - size * 0.65)
        return f"{bx:.5f},{by:.5f},{bx + size:.5f},{by + size * 0.65:.5f}"

    out: list[Request] = []
    # items: first pages, bbox pages of several sizes, with and without the planner key
    for coll in ("fiber-routes", "network-nodes", "sensors", "mobile-sites", "iot-gateways", "actuators"):
        out += [Request(f"/collections/{coll}/items?limit=10", k, "items") for k in (False, True)]
        for size in (0.005, 0.01, 0.03):
            out += [Request(f"/collections/{coll}/items?limit=50&bbox={box(size)}", k, "items") for k in (False, True)]
    for _ in range(8):
        out.append(Request(f"/collections/buildings/items?limit=100&bbox={box(0.005)}", rnd.random() < 0.3, "items"))
    out.append(Request("/collections/districts/items", False, "items"))
    for run in (latest.get("fiber"), some_run):
        if run:
            out += [
                Request(f"/collections/coverage-cells/items?limit=100&run_id={run}", True, "items"),
                Request(f"/collections/coverage-districts/items?run_id={run}", True, "items"),
            ]
    out.append(Request("/collections/sensors/items?limit=100&sortby=-commissioned_on", False, "items"))
    # single features
    out += [Request(f"/collections/{r['coll']}/items/{r['id']}", not r["open"], "feature") for r in features]
    # tiles at z12-z16 over the city: buildings, fiber routes, coverage cells, and all layers together
    tiles = [t for ts in tiles_of_city(url).values() for t in ts]
    for t in rnd.sample(tiles, min(len(tiles), 60)):
        coll = rnd.choice(("buildings", "fiber-routes", "coverage-cells", None))
        base = f"/collections/{coll}/tiles" if coll else "/tiles"
        out.append(Request(f"{base}/WebMercatorQuad/{t.z}/{t.y}/{t.x}", rnd.random() < 0.3, "tile"))
    # metadata
    out += [Request("/collections", k, "metadata") for k in (False, True) * 3]
    for coll in ("fiber-routes", "sensors", "coverage-cells", "buildings"):
        out += [Request(f"/collections/{coll}", k, "metadata") for k in (False, True)]
    rnd.shuffle(out)
    return out


def check_mix(base: str, requests: list[Request], planner: str) -> None:
    """Every request of the mix answers 200 (204: an empty tile) before the load starts; warms the caches."""
    with httpx.Client(base_url=base, timeout=120) as client:
        for r in requests:
            resp = client.get(r.path, headers={"X-API-Key": planner} if r.keyed else {})
            if resp.status_code not in (200, 204):
                raise RuntimeError(f"{r.path}: {resp.status_code} {resp.text[:200]}")


# ---------------------------------------------------------------- (a) throughput with wrk

WRK_SCRIPT = """
local paths = {%(paths)s}
local keyed = {%(keyed)s}
local i = 0
request = function()
  i = i %% #paths + 1
  if keyed[i] then return wrk.format("GET", paths[i], {["X-API-Key"] = "%(key)s"}) end
  return wrk.format("GET", paths[i])
end
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local e = summary.errors
  local counts = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do counts[status] = (counts[status] or 0) + n end
  end
  io.write("STATUSES")
  for status, n in pairs(counts) do io.write(string.format(" %%d=%%d", status, n)) end
  io.write("\\n")
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%.3f, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, ' ..
    '"timeout": %%d, "p50": %%d, "p95": %%d, "p99": %%d, "max": %%d, "bytes": %%d}\\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, summary.bytes))
end
"""


def throughput(base: str, requests: list[Request], planner: str, connections: int, seconds: int) -> dict:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        WRK_SCRIPT
        % {
            "paths": ",".join(json.dumps(r.path) for r in requests),
            "keyed": ",".join("true" if r.keyed else "false" for r in requests),
            "key": planner,
        }
    )
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={TIMEOUT_S}s", "-s", str(script), base],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        script.unlink()
    r = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    counts = dict(p.split("=") for p in out.split("STATUSES", 1)[1].splitlines()[0].split())
    r["statuses"] = ", ".join(f"{k}: {int(v):,}" for k, v in sorted(counts.items()))
    r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    r["rps"] = r["requests"] / r["seconds"]
    return r


# ---------------------------------------------------------------- (b) the database restarted under load


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int  # 0: no response (connection error or timeout)
    keyed: bool
    problem: str = ""  # for an error: what is wrong with it besides being an error ("" if a proper 503)


@dataclass
class Restart:
    outcomes: list[Outcome] = field(default_factory=list)
    stopping: float = 0.0  # when pg_ctl stop was called
    back: float = 0.0  # when pg_ctl start returned


def _problem(resp: httpx.Response) -> str:
    """What makes an error response other than the promised 503 JSON with Retry-After ('' if nothing)."""
    if resp.status_code != 503:
        return f"status {resp.status_code}"
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return "not JSON"
    if "retry-after" not in resp.headers:
        return "no Retry-After"
    try:
        if resp.json().get("code") != "ServiceUnavailable":
            return "code " + str(resp.json().get("code"))
    except ValueError:
        return "unparsable JSON"
    return ""


async def restart_under_load(
    base: str, requests: list[Request], planner: str, tw: Throwaway, connections: int
) -> Restart:
    result = Restart()
    t0 = time.monotonic()
    deadline = t0 + BEFORE_S + OUTAGE_S + AFTER_S
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT_S, limits=limits) as client:

        async def user(n: int) -> None:
            i = n * 7919  # users start at different places of the mix
            while time.monotonic() < deadline and len(result.outcomes) < MAX_REQUESTS:
                r = requests[i % len(requests)]
                i += 1
                start = time.monotonic()
                try:
                    resp = await client.get(r.path, headers={"X-API-Key": planner} if r.keyed else {})
                    status, problem = resp.status_code, "" if resp.status_code < 400 else _problem(resp)
                except httpx.HTTPError as e:
                    status, problem = 0, type(e).__name__
                result.outcomes.append(Outcome(start - t0, time.monotonic() - start, status, r.keyed, problem))

        async def operator() -> None:
            await asyncio.sleep(BEFORE_S)
            result.stopping = time.monotonic() - t0
            await asyncio.to_thread(tw.stop)
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(tw.start)
            result.back = time.monotonic() - t0

        await asyncio.gather(operator(), *(user(n) for n in range(connections)))
    return result


def restart_report(r: Restart) -> dict:
    ok = lambda o: 200 <= o.status < 400  # noqa: E731
    # before: answered before the stop; after: sent once the database was back; during: the rest
    before = [o for o in r.outcomes if o.started + o.seconds < r.stopping]
    after = [o for o in r.outcomes if o.started >= r.back]
    during = [o for o in r.outcomes if o.started + o.seconds >= r.stopping and o.started < r.back]
    errors = [o for o in r.outcomes if not ok(o)]
    first_after = min(after, key=lambda o: o.started) if after else None
    return {
        "requests": len(r.outcomes),
        "outage_s": r.back - r.stopping,
        "errors_before": sum(not ok(o) for o in before),
        "errors_during": sum(not ok(o) for o in during),
        "requests_during": len(during),
        "errors_after": sum(not ok(o) for o in after),
        "improper_errors": sorted({o.problem or "ok" for o in errors if o.problem}),
        "max_error_s": max((o.seconds for o in errors), default=0.0),
        "max_error_s_anonymous": max((o.seconds for o in errors if not o.keyed), default=0.0),
        "max_error_s_keyed": max((o.seconds for o in errors if o.keyed), default=0.0),
        "errors_over_deadline": sum(o.seconds > ERROR_DEADLINE_S for o in errors),
        # a request already running when the database stopped could not know of the outage before it: counted from
        # the later of its sending and the stop
        "max_error_since_stop_s": max(
            (o.started + o.seconds - max(o.started, r.stopping) for o in errors), default=0.0
        ),
        # the slowest errors: when they were sent relative to the stop, how long they took
        "slowest_errors": [
            (round(o.started - r.stopping, 2), round(o.seconds, 2), o.status, "keyed" if o.keyed else "anonymous")
            for o in sorted(errors, key=lambda o: -o.seconds)[:5]
        ],
        "first_after": first_after.status if first_after else None,
        "first_after_s": first_after.seconds if first_after else None,
    }


# ---------------------------------------------------------------- main

# The benchmark's own cluster (it is stopped and started under load, so never the shared one), kept between runs
# like the other bench databases: building 1,000 runs takes minutes. Rebuilt when the marker differs.
HOME = ROOT / ".netzatlas" / "bench-load"
MARKER = "bench-load v1"


def built(tw: Throwaway, runs: int) -> tuple[dict[str, int], float | None]:
    """Row counts of the database with `runs` runs, built now (and the seconds it took) or kept from an earlier
    run with the same marker (None)."""
    stamp = tw.home / "built"
    marker = f"{MARKER} {runs}"
    if stamp.exists() and stamp.read_text() == marker:
        return row_counts(tw.url()), None
    stamp.unlink(missing_ok=True)
    db.drop_database(tw.settings.database_name, tw.settings)
    db.ensure_database(tw.settings.database_name, tw.settings)
    t = time.perf_counter()
    counts = build(tw, runs)
    stamp.write_text(marker)
    return counts, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="coverage runs in the database")
    parser.add_argument("--seconds", type=int, default=60, help="duration of the throughput phase")
    parser.add_argument("--connections", type=int, default=64, help="connections of the throughput phase")
    parser.add_argument("--restart-connections", type=int, default=16, help="connections during the restart")
    args = parser.parse_args()
    ensure_tool("wrk", "wrk")
    with throwaway_cluster(HOME, keep=True) as tw:
        counts, built_s = built(tw, args.runs)
        with db.transaction(tw.url(), actor="bench") as conn:
            planner = keys.create_key(conn, "planner", label="bench-load")
        requests = mix(tw.url(), planner)
        migrate.upgrade(tw.url())  # the server checks for the head revision of the checkout as it is now
        port = free_port()
        env = {**tw.env(), "NETZATLAS_RATE_LIMIT": "0"}
        log = HOME / "serve.log"
        with server(serve_cmd(port), env, port, "/health", log) as base:
            check_mix(base, requests, planner)
            a = throughput(base, requests, planner, args.connections, args.seconds)
            b = restart_report(asyncio.run(restart_under_load(base, requests, planner, tw, args.restart_connections)))
        server_errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
    kinds = {k: sum(r.kind == k for r in requests) for k in ("items", "feature", "tile", "metadata")}
    how = f"built in {built_s:.0f} s" if built_s is not None else f"kept from an earlier run, {HOME}"
    print(f"\nLoad over the Worms demo with {counts['coverage_runs']:,} coverage runs ({how})\n")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"mix of {len(requests)} requests cycled: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
    print(f"{sum(r.keyed for r in requests)} with the planner key\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    print(
        f"| {args.connections} connections, {a['seconds']:.0f} s (wrk) | {a['rps']:.0f} req/s, {a['requests']:,} "
        f"requests | |"
    )
    print(
        f"| errors | {a['errors']} (status {a['status']}, timeouts {a['timeout']}, connect {a['connect']}, "
        f"read {a['read']}); responses by status {a['statuses']} | 0 |"
    )
    print(
        f"| latency p50 / p95 / p99 / max | {a['p50'] / 1000:.0f} / {a['p95'] / 1000:.0f} / {a['p99'] / 1000:.0f} / "
        f"{a['max'] / 1000:.0f} ms | |"
    )
    print(
        f"| restart under {args.restart_connections} connections (httpx) | {b['requests']:,} requests, database "
        f"down {b['outage_s']:.1f} s | |"
    )
    print(f"| errors before the stop / after the start | {b['errors_before']} / {b['errors_after']} | 0 / 0 |")
    print(f"| errors during the outage | {b['errors_during']} of {b['requests_during']} requests | |")
    print(f"| errors other than 503 JSON with Retry-After | {', '.join(b['improper_errors']) or 'none'} | none |")
    print(
        f"| slowest error response | {b['max_error_s']:.2f} s ({b['errors_over_deadline']} over "
        f"{ERROR_DEADLINE_S:.0f} s); anonymous {b['max_error_s_anonymous']:.2f} s, planner key "
        f"{b['max_error_s_keyed']:.2f} s | ≤ {ERROR_DEADLINE_S:.0f} s |"
    )
    print(
        f"| slowest error counted from the later of its sending and the stop | {b['max_error_since_stop_s']:.2f} s | "
        f"≤ {ERROR_DEADLINE_S:.0f} s |"
    )
    print(f"| first request after the start | {b['first_after']} in {(b['first_after_s'] or 0) * 1000:.0f} ms | 200 |")
    print(f"| tracebacks in the server log | {len(server_errors)} | 0 |")
    print(f"\nslowest errors (sent s after the stop, took s, status, caller): {b['slowest_errors']}")


if __name__ == "__main__":
    main()
