"""Coverage jobs as a queue in PostgreSQL: caps (429), restarts, and work whose process was killed.

Servers here are real `netzatlas serve` processes on the Worms demo in their own database, started and killed
by the tests; the CLI runs and imports are subprocesses killed with SIGKILL mid-work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from netzatlas import db, migrate
from netzatlas.coverage import runs

from . import import_helpers as h
from .conftest import make_database

NETZATLAS = str(Path(sys.executable).parent / "netzatlas")
MOBILE_COARSE = {"resolution_m": 100}  # about a second on the demo
MOBILE_SLOW = {"resolution_m": 10}  # several seconds: long enough to be killed while running


def until(check: Callable[[], object], what: str, timeout: float = 120) -> object:
    """Poll until check() is truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, str]]:
    """The Worms demo in its own database, with two planner keys."""
    from netzatlas.demo import load as demo_load
    from netzatlas.registry import keys

    name = f"netzatlas_test_jobs_{os.getpid()}"
    url = make_database(name)
    migrate.upgrade(url)
    with db.transaction(url, actor=demo_load.DEMO_ACTOR) as c:
        demo_load.load(c)
        a = keys.create_key(c, "planner", label="jobs a")
        b = keys.create_key(c, "planner", label="jobs b")
        c.execute("ANALYZE")
    yield {"url": url, "a": a, "b": b}
    db.drop_database(name)


@pytest.fixture
def fresh(demo: dict[str, str]) -> dict[str, str]:
    with db.connect(demo["url"], autocommit=True) as c:
        c.execute("TRUNCATE coverage_runs CASCADE")
    return demo


class Server:
    def __init__(self, proc: subprocess.Popen, base: str) -> None:
        self.proc, self.url = proc, base


@contextmanager
def serve(url: str, **settings: object) -> Iterator[Server]:
    """`netzatlas serve` on the database with NETZATLAS_<setting> overrides; stopped (if still alive) at the end."""
    port = free_port()
    env = {**os.environ, "NETZATLAS_DATABASE_URL": url}
    env.update({f"NETZATLAS_{k.upper()}": str(v) for k, v in settings.items()})
    log = open(Path(tempfile.gettempdir()) / f"netzatlas-test-jobs-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [NETZATLAS, "serve", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, f"server exited; see {log.name}"
        try:
            return httpx.get(base + "/processes", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(up, "server start")
        yield Server(proc, base)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        log.close()


def _post(server: Server, key: str, inputs: dict, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/processes/coverage-mobile/execution",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=300,
    )


def _get(server: Server, key: str, path: str, **params: str) -> httpx.Response:
    """A GET as a planner: row-level security shows anonymous callers public runs only."""
    return httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _status(url: str, run_id: str) -> str:
    return runs.get(url, run_id)["status"]


def test_caps_429_and_queued_jobs_survive_a_restart(fresh):
    url = fresh["url"]
    # no worker in this server: jobs stay queued, as they would behind a long run
    with serve(url, jobs_in_server="false", jobs_per_key=2, jobs_total=3, jobs_retry_after_s=17) as s:
        ids = [_post(s, fresh["a"], MOBILE_COARSE) for _ in range(2)]
        assert [r.status_code for r in ids] == [201, 201], ids[0].text
        over = _post(s, fresh["a"], MOBILE_COARSE)
        assert over.status_code == 429 and over.headers["retry-after"] == "17"
        assert over.headers["content-type"] == "application/json" and over.json()["code"] == "TooManyJobs"
        assert "per key" in over.json()["description"]
        other = _post(s, fresh["b"], MOBILE_COARSE)  # another key has its own places
        assert other.status_code == 201
        total = _post(s, fresh["b"], MOBILE_COARSE)
        assert total.status_code == 429 and "retry later" in total.json()["description"]
        # respond-sync goes through the same queue and its caps
        assert _post(s, fresh["b"], MOBILE_COARSE, Prefer="respond-sync").status_code == 429
        jobs = _get(s, fresh["a"], "/jobs").json()["jobs"]
        assert sorted(j["status"] for j in jobs) == ["accepted"] * 3
    queued = [r.json()["jobID"] for r in (*ids, other)]
    assert [_status(url, j) for j in queued] == ["queued"] * 3  # the stop lost nothing
    with serve(url) as s:
        for j in queued:
            until(lambda j=j: _status(url, j) in ("succeeded", "failed"), f"job {j} finishing")
        done = _get(s, fresh["a"], "/jobs", status="successful").json()["jobs"]
        assert {j["jobID"] for j in done} == set(queued)
        assert _get(s, fresh["a"], f"/jobs/{queued[0]}/results").json()["statistics"]["radio_cells"] > 100
        # places are free again
        assert _post(s, fresh["a"], MOBILE_COARSE).status_code == 201


def test_sync_execution_runs_through_the_queue(fresh):
    with serve(fresh["url"]) as s:
        r = _post(s, fresh["a"], MOBILE_COARSE, Prefer="respond-sync")
        assert r.status_code == 200, r.text
        assert r.headers["preference-applied"] == "respond-sync" and r.json()["statistics"]["radio_cells"] > 100
        job = httpx.get(r.headers["location"], timeout=30).json()
        assert job["status"] == "successful"


def test_server_killed_mid_run_fails_that_run_and_runs_the_queued_one(fresh):
    url = fresh["url"]
    with serve(url) as s:
        slow = _post(s, fresh["a"], MOBILE_SLOW).json()["jobID"]
        waiting = _post(s, fresh["a"], MOBILE_COARSE).json()["jobID"]
        until(lambda: _status(url, slow) == "running", "the slow job starting")
        assert _status(url, waiting) == "queued"  # one run at a time
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(timeout=30)
    # the next look (here: this test process) finds the owner gone
    until(lambda: _status(url, slow) == "failed", "the orphaned run being marked failed", timeout=60)
    run = runs.get(url, slow)
    assert "stopped before it finished" in run["message"] and run["finished_at"]
    with db.connect(url) as c:
        assert c.execute("SELECT count(*) AS n FROM coverage_cells WHERE run_id = %s", (slow,)).fetchone()["n"] == 0
    with serve(url) as s:
        until(lambda: _status(url, waiting) == "succeeded", "the queued job running after the restart")
        assert _get(s, fresh["a"], f"/jobs/{slow}").json()["status"] == "failed"


def test_graceful_stop_puts_the_running_job_back_in_the_queue(fresh):
    url = fresh["url"]
    with serve(url) as s:
        slow = _post(s, fresh["a"], MOBILE_SLOW).json()["jobID"]
        until(lambda: runs.get(url, slow)["progress"] > 0, "the slow job making progress")
        s.proc.terminate()
        s.proc.wait(timeout=60)
    run = runs.get(url, slow)
    assert run["status"] == "queued" and run["worker"] is None and "back in the queue" in run["message"]
    with serve(url):
        until(lambda: _status(url, slow) == "succeeded", "the re-queued job finishing")


def test_killed_cli_run_is_failed_by_the_next_look(fresh):
    url = fresh["url"]
    env = {**os.environ, "NETZATLAS_DATABASE_URL": url}
    proc = subprocess.Popen(
        [NETZATLAS, "coverage", "run", "mobile", "--set", "resolution_m=10"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def running() -> str | None:
            rows = runs.list_runs(url, 5, status="running")
            return str(rows[0]["id"]) if rows else None

        run_id = until(running, "the CLI run starting")
        assert runs.get(url, run_id)["status"] == "running"  # alive: its process holds the lock
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def shown() -> bool:
        out = subprocess.run([NETZATLAS, "coverage", "show", str(run_id)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return '"status": "failed"' in out.stdout

    until(shown, "`coverage show` reporting the killed run failed", timeout=60)
    listed = subprocess.run([NETZATLAS, "coverage", "list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "failed" in listed.stdout and "running" not in listed.stdout


def test_killed_import_leaves_its_submission_failed(conn, db_url, tmp_path):
    geoms, cols = h.routes(60_000)
    path = tmp_path / "fiber-routes.gpkg"
    h.write_layer(path, "fiber-routes", geoms, cols, "GPKG")
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [NETZATLAS, "import", str(path), "--operator", "telco"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sub = until(
            lambda: conn.execute("SELECT id, status FROM submissions").fetchone(), "the submission being recorded"
        )
        assert sub["status"] == "received"
        listed = subprocess.run([NETZATLAS, "submissions", "list"], env=env, capture_output=True, text=True)
        assert listed.returncode == 0 and "received" in listed.stdout  # alive: not touched
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def failed() -> bool:
        out = subprocess.run([NETZATLAS, "submissions", "list"], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return "failed" in out.stdout

    until(failed, "`submissions list` reporting the killed import failed", timeout=60)
    row = conn.execute("SELECT status, report, finished_at FROM submissions WHERE id = %s", (sub["id"],)).fetchone()
    assert row["status"] == "failed" and row["finished_at"] and "stopped" in row["report"]["error"]
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0  # nothing half-written


def test_job_list_parameters_and_paging(fresh):
    url = fresh["url"]
    with db.connect(url, autocommit=True) as c:
        c.execute(
            """INSERT INTO coverage_runs (analysis, municipality, parameters, status, created_at)
               SELECT 'fiber', (SELECT ags FROM municipalities LIMIT 1), '{}', 'failed',
                      now() - make_interval(secs => i % 4)  -- ties in created_at: the order must still be total
               FROM generate_series(1, 11) i"""
        )
    with serve(url, jobs_in_server="false") as s:
        for bad in (
            {"limit": "abc"},
            {"limit": "0"},
            {"limit": "1001"},
            {"offset": "-1"},
            {"offset": "1e3"},
            {"status": "done"},
            {"processID": "nope"},
            {"colour": "red"},
            {"f": "xml"},
        ):
            r = _get(s, fresh["a"], "/jobs", **bad)
            assert r.status_code == 400 and r.headers["content-type"] == "application/json", (bad, r.text)
            assert r.json()["code"] == "InvalidParameterValue" and next(iter(bad)) in r.json()["description"]
        seen: list[str] = []
        href: str | None = f"{s.url}/jobs?limit=4"
        pages = 0
        while href:
            page = httpx.get(href, headers={"Authorization": f"Bearer {fresh['a']}"}, timeout=30).json()
            assert len(page["jobs"]) <= 4
            seen += [j["jobID"] for j in page["jobs"]]
            href = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
            pages += 1
        assert pages == 3 and len(seen) == len(set(seen)) == 11
        assert len(_get(s, fresh["a"], "/jobs", status="failed").json()["jobs"]) == 11
        assert _get(s, fresh["a"], "/jobs", processID="coverage-iot").json()["jobs"] == []
