"""Fixtures: a real PostGIS (the embedded cluster, or NETZATLAS_DATABASE_URL), one fresh database per session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from shapely.geometry import box

from bench.common import free_port, server
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
    with serve_database(url, "serve") as base:
        yield Served(base, url, planner, partner)
    db.drop_database(name)


@contextmanager
def serve_database(url: str, label: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`netzatlas serve` of the database at `url` on a free port (log in the temp dir); yields its base URL."""
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "netzatlas"), "serve", "--port", str(port)]
    log = Path(tempfile.gettempdir()) / f"netzatlas-test-{label}-{port}.log"
    with server(cmd, {"NETZATLAS_DATABASE_URL": url, **(env or {})}, port, "/health", log) as base:
        yield base


# ---------------------------------------------------------------- a real browser for the web pages

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Software WebGL for MapLibre; no background connections (the machine may be offline).
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until(page: Page, expression: str, timeout_s: float = 60) -> None:
    """Wait until a page expression is truthy. Polled through page.evaluate, which runs outside the page's
    CSP: page.wait_for_function evaluates its predicate as a string inside the page, which the CSP forbids."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
