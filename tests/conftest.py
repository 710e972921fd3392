"""Fixtures: a real PostGIS (the embedded cluster, or NETZATLAS_DATABASE_URL), one fresh database per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
