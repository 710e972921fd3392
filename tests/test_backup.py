"""Backup and restore: the Worms demo with a coverage run and a kept delivery, backed up, restored into a fresh
cluster under another home; every table, file and API path is the same there, and a new run works."""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mapbox_vector_tile
import orjson
import pytest

from bench.common import free_port, server
from netzatlas import backup, db, migrate
from tests.cluster_helpers import Throwaway, throwaway_cluster
from tests.conftest import make_database

NETZATLAS = str(Path(sys.executable).parent / "netzatlas")
# a point well inside Worms (EPSG:25832), for the delivery kept under home/submissions
WORMS_NODE = "POINT(455200 5499300)"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETZATLAS, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=600)


def ok(env: dict[str, str], *args: str) -> str:
    proc = cli(env, *args)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


@dataclass(frozen=True)
class Source:
    url: str
    home: Path
    archive: Path
    planner_key: str
    run_id: str


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """The demo, a mobile coverage run (COGs under home) and an imported delivery (kept under home), backed up."""
    name = f"netzatlas_test_backup_{os.getpid()}"
    url = make_database(name)
    migrate.upgrade(url)
    tmp = tmp_path_factory.mktemp("backup")
    home = tmp / "source-home"
    env = {"NETZATLAS_HOME": str(home), "NETZATLAS_DATABASE_URL": url}
    ok(env, "demo", "load")
    key = ok(env, "keys", "create", "--role", "planner", "--label", "backup test").split()[-1]
    ok(env, "coverage", "run", "mobile", "--set", "resolution_m=100")
    delivery = tmp / "network-nodes.csv"
    delivery.write_text(
        f'wkt,external_id,name,status,node_type,ports\n"{WORMS_NODE}",BK-1,Backup-Knoten,planned,street_cabinet,48\n'
    )
    ok(env, "import", str(delivery), "--operator", "rheinfaser")
    with db.connect(url) as conn:
        run_id = str(conn.execute("SELECT id FROM coverage_runs WHERE status = 'succeeded'").fetchone()["id"])
    archive = tmp / "registry.backup"
    ok(env, "db", "backup", str(archive))
    yield Source(url, home, archive, key, run_id)
    db.drop_database(name)


@dataclass(frozen=True)
class Restored:
    cluster: Throwaway
    url: str  # served base URL
    output: str  # what `db restore` printed


@pytest.fixture(scope="module")
def restored(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restored]:
    """The archive restored by `netzatlas db restore` into a fresh cluster under another home, and served."""
    with throwaway_cluster(tmp_path_factory.mktemp("restore-home"), create_database=False) as tw:
        output = ok(tw.env(), "db", "restore", str(source.archive))
        port = free_port()
        log = Path(tempfile.gettempdir()) / f"netzatlas-test-backup-{port}.log"
        with server([NETZATLAS, "serve", "--port", str(port)], tw.env(), port, "/health", log) as base:
            yield Restored(tw, base, output)


def _tables(url: str) -> dict[str, tuple[int, str]]:
    """Row count and checksum of every table's rows (as text, ordered) in the registry."""
    with db.connect(url) as conn:
        names = [r["name"] for r in conn.execute(backup.TABLES_SQL).fetchall()]
        out = {}
        for t in names:
            row = conn.execute(
                f"SELECT count(*) AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS sum FROM {t} x"
            ).fetchone()
            out[t] = (row["n"], row["sum"])
    return out


def _files(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for top in backup.FILE_DIRS
        for p in sorted((home / top).rglob("*"))
        if p.is_file()
    }


def test_archive_is_private_and_complete(source: Source) -> None:
    assert stat.S_IMODE(source.archive.stat().st_mode) == 0o600
    manifest = backup.read_manifest(source.archive)
    assert manifest["schema_revision"] == migrate.head_revision()
    assert manifest["tables"]["public.inspire_cells"] > 0 and manifest["tables"]["public.coverage_cells"] > 0
    names = {f["path"] for f in manifest["files"]}
    assert any(n.startswith("files/submissions/") and n.endswith("/network-nodes.csv") for n in names)
    assert f"files/coverage/{source.run_id}/rsrp.tif" in names
    assert {k: len(v) for k, v in _files(source.home).items()} == {n.removeprefix("files/"): 64 for n in names}


def test_every_table_and_file_is_the_same(source: Source, restored: Restored) -> None:
    assert "restored the backup" in restored.output
    before, after = _tables(source.url), _tables(restored.cluster.url())
    assert before == after
    # the rows a plain pg_dump/pg_restore used to lose (a generated column calling an unqualified function)
    assert after["public.inspire_cells"][0] > 0 and after["public.coverage_cells"][0] > 0
    assert _files(restored.cluster.home) == _files(source.home)
    roles = [r["name"] for r in backup.read_manifest(source.archive)["roles"]]
    with db.connect(restored.cluster.url()) as conn:
        assert all(conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone() for r in roles)
    for p in (restored.cluster.home / "coverage").rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_api_serves_the_restored_registry(source: Source, restored: Restored) -> None:
    auth = {"Authorization": f"Bearer {source.planner_key}"}  # the key's hash came with the backup
    with httpx.Client(base_url=restored.url, timeout=60, headers=auth) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["schema"] == migrate.head_revision()
        with db.connect(source.url) as conn:
            sensors = conn.execute("SELECT count(*) AS n, min(id::text) AS one FROM assets WHERE kind = 'sensors'")
            sensors = sensors.fetchone()
        items = client.get("/collections/sensors/items", params={"limit": 1000}).json()
        assert items["numberMatched"] == sensors["n"] == len(items["features"])
        assert client.get(f"/collections/sensors/items/{sensors['one']}").json()["id"] == sensors["one"]
        node = client.get("/collections/network-nodes/items", params={"external_id": "BK-1"}).json()
        assert [f["properties"]["name"] for f in node["features"]] == ["Backup-Knoten"]
        x, y = _tile(8.3613, 49.6319, 14)  # Worms town centre
        tile = client.get(f"/collections/buildings/tiles/WebMercatorQuad/14/{y}/{x}")
        assert tile.status_code == 200
        assert sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(tile.content).values()) > 0
        results = client.get(f"/jobs/{source.run_id}/results").json()
        cells = client.get(results["outputs"]["cells"]["href"]).json()
        assert cells["features"] and {f["properties"]["run_id"] for f in cells["features"]} == {source.run_id}
        cog = client.get(f"/jobs/{source.run_id}/outputs/rsrp.tif")
        assert cog.status_code == 200
        assert cog.content == (source.home / "coverage" / source.run_id / "rsrp.tif").read_bytes()


def test_a_new_coverage_run_works_after_restore(restored: Restored) -> None:
    out = ok(restored.cluster.env(), "coverage", "run", "mobile", "--set", "resolution_m=100")
    assert "radio_cells" in out
    with db.connect(restored.cluster.url()) as conn:
        runs = conn.execute("SELECT status, count(*) AS n FROM coverage_runs GROUP BY status").fetchall()
    assert {r["status"]: r["n"] for r in runs} == {"succeeded": 2}


def test_restore_refuses_a_database_that_is_not_empty(source: Source, restored: Restored) -> None:
    proc = cli(restored.cluster.env(), "db", "restore", str(source.archive))
    assert proc.returncode == 1
    assert re.search(r"database netzatlas is not empty .*pass --force", " ".join(proc.stderr.split()))
    assert "Traceback" not in proc.stderr


def test_backup_refuses_to_overwrite_and_restore_refuses_damaged_archives(source: Source, tmp_path: Path) -> None:
    env = {"NETZATLAS_DATABASE_URL": source.url, "NETZATLAS_HOME": str(source.home)}
    proc = cli(env, "db", "backup", str(source.archive))
    assert proc.returncode == 1 and "exists; pass --force" in " ".join(proc.stderr.split())
    damaged = tmp_path / "damaged.backup"
    data = bytearray(source.archive.read_bytes())
    with tarfile.open(source.archive) as tar:
        offset = tar.getmember(backup.DUMP).offset_data
    data[offset + 1000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    not_tar = tmp_path / "not.backup"
    not_tar.write_bytes(orjson.dumps({"format": "something else"}))
    target = {
        "NETZATLAS_DATABASE_URL": "postgresql://nobody@/nowhere?host=/nonexistent",
        "NETZATLAS_HOME": str(tmp_path),
    }
    for path, message in ((damaged, "database.dump does not match its checksum"), (not_tar, "not a Netzatlas backup")):
        proc = cli(target, "db", "restore", str(path))
        assert proc.returncode == 1 and message in " ".join(proc.stderr.split()), proc.stderr
