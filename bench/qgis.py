"""QGIS 3.22 headless (Debian's python3-qgis, provider OAPIF) loading fiber-routes: Netzatlas vs a zero-cost replay.

Run with `make bench-qgis` (or `.venv/bin/python -m bench.qgis`). The data are the 200,000 routes of
`bench/features.py` (the same database, built or reused the same way).

1. Netzatlas serves the routes (one worker, as in the other benchmarks).
2. QGIS loads the layer once through a recording proxy (stdlib, in this process) that forwards every request to
   Netzatlas and keeps its path and query and the exact response bytes (compressed as sent) and headers.
3. The replay server (the same port as the proxy, so the recorded `next` links point at it) answers each recorded
   request with the recorded bytes from memory: what QGIS costs when the server costs nothing.
4. Alternating rounds (the order flips every round), medians: QGIS against Netzatlas directly, against the replay;
   the server's share = (Netzatlas - replay) / Netzatlas. The same for a map-view extent over part of the city
   (`restrictToRequestBBOX='1'` and a QgsFeatureRequest with a filter rect: QGIS asks only for that bbox).

QGIS runs in its own process (/usr/bin/python3, QT_QPA_PLATFORM=offscreen) with a fresh HOME each time, so no
network cache or settings carry over; the time is measured inside it, from creating the layer to the last
feature read (QGIS's start-up is not counted).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from bench.common import ROOT, alternate, bench_database, free_port, load, serve_cmd, server
from bench.features import CENTER, DB_NAME, MARKER, ROUTES, build
from netzatlas import db

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
QGIS_PYTHON = "/usr/bin/python3"
COLLECTION = "fiber-routes"
# the map view: a rectangle over the Innenstadt, about 1.4 x 1.8 km (lon/lat, the layer's CRS in QGIS 3.22)
VIEW = (CENTER[0] - 0.01, CENTER[1] - 0.008, CENTER[0] + 0.01, CENTER[1] + 0.008)
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}

QGIS_SCRIPT = r"""
import json, os, sys, time
from qgis.core import QgsApplication, QgsFeatureRequest, QgsRectangle, QgsVectorLayer

base, typename, restrict, rect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
app = QgsApplication([], False)
app.initQgis()
t = time.perf_counter()
layer = QgsVectorLayer(f"url='{base}' typename='{typename}' restrictToRequestBBOX='{restrict}'", typename, "OAPIF")
if not layer.isValid():
    print(json.dumps({"valid": False}))
    sys.exit(1)
request = QgsFeatureRequest()
if rect != "-":
    request.setFilterRect(QgsRectangle(*(float(v) for v in rect.split(","))))
n = sum(1 for _ in layer.getFeatures(request))
seconds = time.perf_counter() - t
print(json.dumps({"valid": True, "count": n, "seconds": seconds, "crs": layer.crs().authid()}), flush=True)
os._exit(0)  # QgsApplication.exitQgis() crashes (SIGSEGV) after an OAPIF layer in 3.22; nothing left to save
"""


class Recorder:
    """The recording proxy and, once switched, the replay server: one HTTP/1.1 server on one port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.replaying = False
        self.recorded: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self.order: list[str] = []
        self.misses: list[str] = []
        self.served = 0
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if rec.replaying:
                    hit = rec.recorded.get(self.path)
                    if hit is None:
                        rec.misses.append(self.path)
                        hit = (404, [("Content-Type", "text/plain")], b"not recorded")
                    rec.served += 1
                else:
                    hit = rec.forward(self.path, self.headers.items())
                status, headers, body = hit
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def forward(self, path: str, headers: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=600)
        # the Host header as QGIS sent it (the proxy's address), so that links in the pages lead back here
        conn.request("GET", path, headers={k: v for k, v in headers if k.lower() not in HOP})
        resp = conn.getresponse()
        body = resp.read()  # the bytes as sent (still gzipped if they were); chunking undone
        kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP and k.lower() != "content-length"]
        conn.close()
        out = (resp.status, kept, body)
        if path not in self.recorded:
            self.order.append(path)
        self.recorded[path] = out
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _plain(response: tuple[int, list[tuple[str, str]], bytes]) -> bytes:
    _, headers, body = response
    gzipped = any(k.lower() == "content-encoding" and v.lower() == "gzip" for k, v in headers)
    return gzip.decompress(body) if gzipped else body


def qgis_load(base: str, restrict: bool, rect: tuple[float, ...] | None) -> dict:
    """One QGIS process loading the layer from `base`: {"count", "seconds", ...}."""
    with tempfile.TemporaryDirectory(prefix="bench-qgis-") as home:
        script = Path(home) / "load.py"
        script.write_text(QGIS_SCRIPT)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "TMPDIR": home,
            "XDG_RUNTIME_DIR": home,
            "QT_QPA_PLATFORM": "offscreen",
            "LANG": "C.UTF-8",
        }
        rect_arg = ",".join(f"{v:.10f}" for v in rect) if rect else "-"
        out = subprocess.run(
            [QGIS_PYTHON, str(script), base, COLLECTION, "1" if restrict else "0", rect_arg],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"QGIS failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
        return json.loads(lines[-1])


def ensure_qgis() -> None:
    probe = [QGIS_PYTHON, "-c", "import qgis.core"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "bench-deps.sh")], check=True)
    if subprocess.run(probe, capture_output=True).returncode != 0:
        raise SystemExit("the benchmark needs Debian's python3-qgis (apt-get install python3-qgis)")


def qgis_version() -> str:
    return subprocess.run(
        [QGIS_PYTHON, "-c", "from qgis.core import Qgis; print(Qgis.version())"],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    ).stdout.strip()


def items_stats(rec: Recorder, paths: list[str]) -> str:
    """Requests and bytes of one recorded load: how many items pages, the page size QGIS asked for."""
    items = [p for p in paths if urlsplit(p).path.endswith("/items")]
    limits = sorted({q.get("limit", ["?"])[0] for q in (parse_qs(urlsplit(p).query) for p in items)})
    size = sum(len(rec.recorded[p][2]) for p in paths)
    enc = sorted({dict((k.lower(), v) for k, v in rec.recorded[p][1]).get("content-encoding", "none") for p in items})
    return (
        f"{len(paths)} requests ({len(items)} items pages, limit={'/'.join(limits)}), "
        f"{size / 1e6:.1f} MB as sent (encoding {'/'.join(enc)})"
    )


def main() -> None:
    ensure_qgis()
    version = qgis_version()
    url = bench_database(DB_NAME, build, MARKER)
    with db.connect(url) as conn:
        layer_count = conn.execute(
            "SELECT count(*) AS n FROM assets_fiber_routes WHERE retired_at IS NULL AND sensitivity = 'public'"
        ).fetchone()["n"]
    port = free_port()
    cases = {"whole layer": (False, None), "map view, restrictToRequestBBOX='1'": (True, VIEW)}
    with server(serve_cmd(port), {"NETZATLAS_DATABASE_URL": url}, port, "/health") as base:
        rec = Recorder(port)
        replay_base = f"http://127.0.0.1:{rec.port}"
        # record: one load of each case through the proxy
        recorded: dict[str, list[str]] = {}
        expected: dict[str, int] = {}
        record_runs: dict[str, dict] = {}
        for name, (restrict, rect) in cases.items():
            before = len(rec.order)
            t = time.perf_counter()
            record_runs[name] = qgis_load(replay_base, restrict, rect)
            print(f"recorded {name}: {record_runs[name]} in {time.perf_counter() - t:.1f} s (load {load()})")
            recorded[name] = rec.order[before:]
        leaked = [p for p in rec.order if f":{port}/".encode() in _plain(rec.recorded[p])]
        assert not leaked, f"recorded pages link to Netzatlas's own port: {leaked[:3]}"
        expected["whole layer"] = layer_count
        bboxes = {
            parse_qs(urlsplit(p).query)["bbox"][0]
            for p in recorded["map view, restrictToRequestBBOX='1'"]
            if "bbox=" in p and urlsplit(p).path.endswith("/items")
        }
        assert len(bboxes) == 1, f"QGIS asked for bboxes {bboxes}"
        (bbox,) = bboxes
        matched = httpx.get(
            f"{base}/collections/{COLLECTION}/items", params={"bbox": bbox, "limit": 1, "f": "json"}, timeout=120
        ).json()["numberMatched"]
        expected["map view, restrictToRequestBBOX='1'"] = matched
        rec.replaying = True

        times: dict[tuple[str, str], list[float]] = {}
        counts: dict[tuple[str, str], set[int]] = {}
        loads: list[str] = []
        bases = {"netzatlas": base, "replay": replay_base}
        for _, order in alternate(ROUNDS, ["netzatlas", "replay"]):
            for name, (restrict, rect) in cases.items():
                for peer in order:
                    r = qgis_load(bases[peer], restrict, rect)
                    times.setdefault((name, peer), []).append(r["seconds"])
                    counts.setdefault((name, peer), set()).add(r["count"])
                    print(f"  {name}, {peer}: {r['count']:,} features in {r['seconds']:.1f} s (load {load()})")
            loads.append(load())
        rec.close()

    print(
        f"\nQGIS {version} headless (python3-qgis, provider OAPIF, default page size) loading {COLLECTION} "
        f"({ROUTES:,} routes), Netzatlas one worker vs a replay of its recorded responses from memory, "
        f"medians of {ROUNDS} alternating rounds"
    )
    print(f"load average (1/5/15 min) after each round: {', '.join(loads)}")
    print(f"replay misses (requests not recorded): {len(rec.misses)}\n")
    print("| load | features (expected) | Netzatlas | replay | ratio | server's share | recorded |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for name in cases:
        a, b = (statistics.median(times[(name, p)]) for p in ("netzatlas", "replay"))
        got = sorted(counts[(name, "netzatlas")] | counts[(name, "replay")])
        ok &= got == [expected[name]]
        label = name if name == "whole layer" else f"{name}, bbox={bbox}"
        print(
            f"| {label} | {'/'.join(f'{c:,}' for c in got)} ({expected[name]:,}) | {a:.2f} s | {b:.2f} s | "
            f"{a / b:.2f}x | {(a - b) / a * 100:.1f} % | {items_stats(rec, recorded[name])} |"
        )
    print(f"\nfeature counts {'equal' if ok else 'NOT equal'} to the layer's (expected) count")
    if not ok or rec.misses:
        raise SystemExit(1)


if __name__ == "__main__":
    if not shutil.which(QGIS_PYTHON):
        raise SystemExit(f"{QGIS_PYTHON} missing")
    main()
