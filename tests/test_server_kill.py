"""`netzatlas serve` killed with SIGKILL while Part 4 writes and a delivery upload are in flight: restarted on the
same database, nothing is half-written, no submission stays `received`, and the registry answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from bench.common import free_port
from netzatlas.registry import keys

from . import import_helpers as h
from .test_api_conformance import _route_feature

ITEMS = "/collections/fiber-routes/items"
WRITERS = 4
MAX_WRITES = 400  # per writer: a bound besides the kill
ROUTES = 60_000  # enough for the delivery to be loading when the server is killed


@contextmanager
def serving(db_url: str, home: Path, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`netzatlas serve` on a free port, yielded with its base URL once /health answers."""
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "netzatlas"), "serve", "--port", str(port)]
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(home), "NETZATLAS_RATE_LIMIT": "0"}
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, f"the server did not start; see {log}"
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


def _writer(base: str, key: str, operator: str | None, n: int, stop: threading.Event, acked: dict) -> None:
    """POST a route, then PUT it with If-Match, until stopped or the server is gone; records acknowledged
    versions by asset path."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for i in range(MAX_WRITES):
            if stop.is_set():
                return
            feature = _route_feature(f"kill {n}-{i}", lon=8.355 + 0.002 * n, lat=49.62 + 0.00005 * i)
            if operator:
                feature["properties"]["operator"] = operator
            try:
                r = client.post(ITEMS, json=feature)
                assert r.status_code == 201, r.text
                path = r.headers["location"].removeprefix(base)
                acked[path] = 1
                feature["properties"]["name"] += " replaced"
                r = client.put(path, json=feature, headers={"If-Match": '"1"'})
                assert r.status_code == 204, r.text
                acked[path] = 2
            except httpx.HTTPError:
                return  # the server was killed under this request


def _upload(base: str, key: str, path: Path, outcome: dict) -> None:
    try:
        with path.open("rb") as f:
            r = httpx.post(
                base + "/submissions",
                files={"file": (path.name, f, "application/geopackage+sqlite3")},
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            )
        outcome["status"] = r.status_code
    except httpx.HTTPError as e:
        outcome["error"] = type(e).__name__


def _backends(conn: psycopg.Connection) -> set[int]:
    """Client sessions on the test database other than this one's: the server's, while it runs alone."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    ).fetchall()
    return {r["pid"] for r in rows}


def test_sigkill_during_writes_and_upload(conn: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    partner = keys.create_key(conn, "partner", "telco", label="kill test")
    planner = keys.create_key(conn, "planner", label="kill test")
    delivery = tmp_path / "fiber-routes.gpkg"
    h.write_layer(delivery, "fiber-routes", *h.routes(ROUTES), "GPKG")
    home, log = tmp_path / "home", tmp_path / "serve.log"
    acked: dict[str, int] = {}
    upload: dict[str, object] = {}
    stop = threading.Event()

    with serving(db_url, home, log) as (proc, base):
        threads = [threading.Thread(target=_upload, args=(base, partner, delivery, upload))]
        for n in range(WRITERS):
            key, operator = (partner, None) if n % 2 else (planner, "telco")
            threads.append(threading.Thread(target=_writer, args=(base, key, operator, n, stop, acked)))
        for t in threads:
            t.start()
        # kill once the delivery is being loaded into the registry, and writes have been acknowledged
        deadline = time.monotonic() + 60
        loading = None
        while time.monotonic() < deadline and loading is None:
            loading = conn.execute(
                """SELECT query FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
                   AND (query LIKE 'COPY import_stage%%' OR query LIKE '%%import_match%%')
                   AND pid <> pg_backend_pid()"""
            ).fetchone()
            time.sleep(0.02)
        assert loading, "the upload never reached its load phase"
        assert acked, "no write was acknowledged before the kill"
        sessions = _backends(conn)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert "status" not in upload, f"the upload was answered ({upload}) before the kill"

    # PostgreSQL rolls back the dead server's transactions once it notices the closed sockets
    deadline = time.monotonic() + 30
    while sessions & _backends(conn) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sessions & _backends(conn), "the killed server's database sessions did not end"

    # the killed upload's submission is left `received`, until a process looks
    received = conn.execute("SELECT id, filename FROM submissions WHERE status = 'received'").fetchall()
    assert [r["filename"] for r in received] == [delivery.name]
    sid = received[0]["id"]

    with serving(db_url, home, log) as (_, base):
        keyed = {"Authorization": f"Bearer {partner}"}
        # the restarted server (its job worker at start, or this request) finds the lock free and marks it failed
        r = httpx.get(f"{base}/submissions/{sid}", headers=keyed, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "failed"
        assert "stopped before it finished" in r.json()["report"]["error"]
        assert conn.execute("SELECT count(*) AS n FROM submissions WHERE status = 'received'").fetchone()["n"] == 0
        # nothing of the killed delivery was loaded
        loaded = conn.execute("SELECT count(*) AS n FROM asset_history WHERE submission_id = %s", (sid,)).fetchone()
        assert loaded["n"] == 0

        # every asset's versions are exactly its history rows, 1..version, one of them current
        torn = conn.execute(
            """SELECT a.id, a.version, count(h.history_id) AS rows, array_agg(h.version ORDER BY h.version) AS versions,
                      count(*) FILTER (WHERE h.valid_to IS NULL) AS current
               FROM assets a LEFT JOIN asset_history h ON h.id = a.id
               GROUP BY a.id, a.version
               HAVING count(h.history_id) <> a.version
                   OR array_agg(h.version ORDER BY h.version) <> ARRAY(SELECT generate_series(1, a.version))
                   OR count(*) FILTER (WHERE h.valid_to IS NULL) <> 1"""
        ).fetchall()
        assert torn == []
        orphans = conn.execute(
            "SELECT count(*) AS n FROM asset_history h WHERE NOT EXISTS (SELECT 1 FROM assets a WHERE a.id = h.id)"
        ).fetchone()
        assert orphans["n"] == 0
        # every acknowledged write is there, at least at the acknowledged version
        for path, version in acked.items():
            r = httpx.get(base + path, headers=keyed, timeout=30)
            assert r.status_code == 200, (path, r.text)
            assert r.json()["properties"]["version"] >= version

        # the registry answers reads and writes
        assert httpx.get(base + ITEMS, params={"limit": 5}, headers=keyed, timeout=30).status_code == 200
        r = httpx.post(base + ITEMS, json=_route_feature("after the kill"), headers=keyed, timeout=30)
        assert r.status_code == 201, r.text
        assert httpx.get(base + "/health", timeout=30).json()["status"] == "ok"
