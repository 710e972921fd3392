"""Database faults: an outage is a fast 503 with Retry-After, the first request after it succeeds, and /health
reports a schema that is not whole. Runs against a throwaway cluster, never the one other tests share."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.common import free_port, server
from netzatlas import db, migrate, schema
from tests.cluster_helpers import Throwaway, throwaway_cluster

# Generous bound on a request during an outage: before the fix, requests hung for 30 s.
OUTAGE_REQUEST_TIMEOUT = 15
ITEMS = "/collections/sensors/items"


@dataclass(frozen=True)
class Faulty:
    cluster: Throwaway
    url: str  # the served base URL


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    with throwaway_cluster(tmp_path_factory.mktemp("faults-home")) as tw:
        migrate.upgrade(tw.url())
        port = free_port()
        cmd = [str(Path(sys.executable).parent / "netzatlas"), "serve", "--port", str(port)]
        log = Path(tempfile.gettempdir()) / f"netzatlas-test-faults-{port}.log"
        with server(cmd, tw.env(), port, "/health", log) as base:
            yield Faulty(tw, base)


def _catalog(url: str) -> dict[str, set[str]]:
    """Tables, views and functions of the public schema that no extension owns (partitions left out)."""
    not_extension = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {}.oid AND d.deptype = 'e')"
    with db.connect(url) as conn:
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition AND "
            + not_extension.format("c")
        ).fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND " + not_extension.format("p")
        ).fetchall()
    return {"tables": {r["relname"] for r in tables}, "functions": {r["proname"] for r in functions}}


def _app_privileges(url: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(relation, privilege) granted to the application role on the public schema's own relations, and what
    netzatlas/schema.py expects."""
    with db.connect(url) as conn:
        rows = conn.execute(
            """SELECT c.relname, a.privilege_type
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
               WHERE n.nspname = 'public' AND a.grantee = to_regrole(%s)
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')""",
            (db.APP_ROLE,),
        ).fetchall()
        partitions = conn.execute(
            "SELECT inhrelid::regclass::text AS p FROM pg_inherits WHERE inhparent = 'assets'::regclass"
        ).fetchall()
        sequences = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'S'"
        ).fetchall()
    found = {(r["relname"], r["privilege_type"]) for r in rows}
    expected = {(t, "SELECT") for t in schema.TABLES} | {(r["p"], "SELECT") for r in partitions}
    expected |= {(t, p) for t, ps in schema.APP_WRITES.items() for p in ps}
    expected |= {(r["relname"], "USAGE") for r in sequences}
    return found, expected


def test_expected_schema_is_the_migrated_catalog(faulty: Faulty) -> None:
    found = _catalog(faulty.cluster.url())
    assert found["tables"] == set(schema.TABLES), "update netzatlas/schema.py TABLES to what the migrations create"
    assert found["functions"] == set(schema.FUNCTIONS), "update netzatlas/schema.py FUNCTIONS"
    granted, expected = _app_privileges(faulty.cluster.url())
    assert granted == expected, "update netzatlas/schema.py APP_WRITES to what the migrations grant"
    with db.connect(faulty.cluster.url()) as conn:
        assert schema.check(conn, migrate.head_revision()) == []


def test_health_ok(faulty: Faulty) -> None:
    r = httpx.get(faulty.url + "/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["schema"] == body["head"] == migrate.head_revision()
    assert body["postgis"]


@pytest.mark.parametrize(
    ("break_sql", "repair_sql", "kind", "name"),
    [
        (
            "ALTER FUNCTION inspire_cell_polygon(text) RENAME TO inspire_cell_polygon_gone",
            "ALTER FUNCTION inspire_cell_polygon_gone(text) RENAME TO inspire_cell_polygon",
            "functions",
            "inspire_cell_polygon",
        ),
        (
            "ALTER FUNCTION refs_check() RENAME TO refs_check_gone",
            "ALTER FUNCTION refs_check_gone() RENAME TO refs_check",
            "functions",
            "refs_check",
        ),
        (
            "ALTER TABLE layer_changes RENAME TO layer_changes_gone",
            "ALTER TABLE layer_changes_gone RENAME TO layer_changes",
            "tables",
            "layer_changes",
        ),
        (  # every caller would see every run: as broken as a missing table
            "ALTER TABLE coverage_runs DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE coverage_runs ENABLE ROW LEVEL SECURITY",
            "unprotected",
            "coverage_runs",
        ),
        (  # the API reads partitions directly: each needs its own
            "ALTER TABLE assets_mobile_sites DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE assets_mobile_sites ENABLE ROW LEVEL SECURITY",
            "unprotected",
            "assets_mobile_sites",
        ),
        (  # every import would fail at its first statement
            f"REVOKE INSERT ON submissions FROM {db.APP_ROLE}",
            f"GRANT INSERT ON submissions TO {db.APP_ROLE}",
            "privileges",
            "INSERT on submissions",
        ),
        (  # the partitions are read directly, so a grant on the parent is not enough
            f"REVOKE SELECT ON assets_sensors FROM {db.APP_ROLE}",
            f"GRANT SELECT ON assets_sensors TO {db.APP_ROLE}",
            "privileges",
            "SELECT on assets_sensors",
        ),
        (  # new districts take their ids from it
            f"REVOKE USAGE ON SEQUENCE districts_id_seq FROM {db.APP_ROLE}",
            f"GRANT USAGE ON SEQUENCE districts_id_seq TO {db.APP_ROLE}",
            "privileges",
            "USAGE on districts_id_seq",
        ),
    ],
)
def test_health_reports_missing_objects(faulty: Faulty, break_sql: str, repair_sql: str, kind: str, name: str) -> None:
    with db.connect(faulty.cluster.url(), autocommit=True) as conn:
        conn.execute(break_sql)
        try:
            r = httpx.get(faulty.url + "/health")
        finally:
            conn.execute(repair_sql)
    assert r.status_code == 503
    body = r.json()
    assert body["code"] == "SchemaIncomplete"
    assert body["missing"][kind] == [name]
    assert name in body["description"]
    assert httpx.get(faulty.url + "/health").status_code == 200


def test_health_reports_an_old_revision(faulty: Faulty) -> None:
    head = migrate.head_revision()
    with db.connect(faulty.cluster.url(), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
        try:
            r = httpx.get(faulty.url + "/health")
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert r.status_code == 503
    assert r.json()["schema"] == "0003"
    assert f"schema revision 0003, expected {head}" in r.json()["description"]
    assert httpx.get(faulty.url + "/health").status_code == 200


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["code"] == "ServiceUnavailable"


def test_outage_is_503_and_the_first_request_after_it_succeeds(faulty: Faulty) -> None:
    with httpx.Client(base_url=faulty.url, timeout=OUTAGE_REQUEST_TIMEOUT) as client:
        for _ in range(3):
            assert client.get(ITEMS).status_code == 200  # the pool holds working connections
        faulty.cluster.stop()
        try:
            for path in (ITEMS, "/collections/sensors/items/00000000-0000-0000-0000-000000000000", "/collections"):
                _assert_unavailable(client.get(path))
            health = client.get("/health")
            assert health.status_code == 503
            assert "retry-after" in health.headers
            # long enough for the pool's reconnection attempts to have failed and been given up
            time.sleep(3)
            _assert_unavailable(client.get(ITEMS))
        finally:
            faulty.cluster.start()
        first = client.get(ITEMS)
        assert first.status_code == 200, first.text
        assert first.json()["type"] == "FeatureCollection"


def test_restart_between_requests_leaves_no_stale_connection(faulty: Faulty) -> None:
    with httpx.Client(base_url=faulty.url, timeout=OUTAGE_REQUEST_TIMEOUT) as client:
        for _ in range(3):
            assert client.get(ITEMS).status_code == 200
        # every pooled connection now belongs to a server process that is gone
        faulty.cluster.stop()
        faulty.cluster.start()
        for _ in range(5):
            r = client.get(ITEMS)
            assert r.status_code == 200, r.text


def test_a_missing_application_role_is_named_not_an_error(faulty: Faulty) -> None:
    """Without the role the privilege checks cannot run: the role itself is the problem reported."""
    with db.connect(faulty.cluster.url()) as conn:
        row = conn.execute(schema.MISSING_SQL, {**schema.MISSING_PARAMS, "role": "netzatlas_gone"}).fetchone()
    assert row["roles"] == ["netzatlas_gone"] and row["privileges"] == []
    assert schema.problems(row, "x", "x") == ["missing role netzatlas_gone"]


def test_db_up_refuses_a_schema_whose_role_lacks_a_privilege(faulty: Faulty) -> None:
    """`netzatlas db up` says what is missing and exits 1, instead of 'schema at ...' over a broken database."""
    up = [str(Path(sys.executable).parent / "netzatlas"), "db", "up"]
    env = {**os.environ, **faulty.cluster.env()}
    with db.connect(faulty.cluster.url(), autocommit=True) as conn:
        conn.execute(f"REVOKE UPDATE ON assets FROM {db.APP_ROLE}")
        try:
            r = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
        finally:
            conn.execute(f"GRANT UPDATE ON assets TO {db.APP_ROLE}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{db.APP_ROLE} lacks UPDATE on assets" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    r = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "schema at" in r.stdout, r.stdout + r.stderr
