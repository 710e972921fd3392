"""Fixtures: a real PostGIS (the embedded cluster, or NETZATLAS_DATABASE_URL), one fresh database per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from shapely.geometry import box

from netzatlas import db, migrate
from netzatlas.registry import reference

TEST_AGS = "09999000"
# A 10 km square municipality in EPSG:25832 for tests that build their own fixtures.
TEST_BOUNDARY = box(450000, 5490000, 460000, 5500000)


def make_database(name: str) -> str:
    db.up()
    db.drop_database(name)
    db.ensure_database(name)
    return db.database_url(name)


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    name = f"netzatlas_test_{os.getpid()}"
    url = make_database(name)
    migrate.upgrade(url)
    yield url
    db.drop_database(name)


TABLES = (
    "asset_history, assets, submissions, api_keys, operators, buildings, population_cells, districts, municipalities"
)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection to an emptied registry holding one test municipality and two operators."""
    with db.connect(db_url, autocommit=True) as c:
        c.execute(f"TRUNCATE {TABLES} CASCADE")
        reference.upsert_municipality(c, TEST_AGS, "Teststadt", TEST_BOUNDARY, "test fixture")
        reference.upsert_operator(c, "city", "Test city", "city")
        reference.upsert_operator(c, "telco", "Test telco", "telecom")
        yield c


# ---------------------------------------------------------------- a served demo registry


@dataclass(frozen=True)
class Served:
    url: str  # base URL of the running server
    db_url: str
    planner_key: str
    partner_key: str  # partner of operator "rheinfaser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    """The Worms demo in its own database, served by `netzatlas serve` on a free port."""
    from netzatlas.demo import load as demo
    from netzatlas.registry import keys

    name = f"netzatlas_test_api_{os.getpid()}"
    url = make_database(name)
    migrate.upgrade(url)
    with db.transaction(url, actor=demo.DEMO_ACTOR) as c:
        demo.load(c)
        planner = keys.create_key(c, "planner", label="tests")
        partner = keys.create_key(c, "partner", "rheinfaser", label="tests")
        c.execute("ANALYZE")
    port = _free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"netzatlas-test-serve-{port}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "netzatlas"), "serve", "--port", str(port)],
        env={**os.environ, "NETZATLAS_DATABASE_URL": url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {log.name}")
        time.sleep(0.2)
    yield Served(base, url, planner, partner)
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
    db.drop_database(name)
