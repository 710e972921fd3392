"""The command line as a user runs it: help, the database lifecycle, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netzatlas import db

CLI = [str(Path(sys.executable).parent / "netzatlas")]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_help_explains_every_command():
    out = run("--help").stdout
    for cmd in ("db", "demo", "serve", "keys", "assets", "kinds"):
        assert cmd in out
    db_help = run("db", "--help").stdout
    for cmd in ("up", "down", "status", "migrate", "psql"):
        assert cmd in db_help


@pytest.mark.skipif(not db.embedded(), reason="the embedded cluster is not used when NETZATLAS_DATABASE_URL is set")
def test_db_up_twice_is_a_noop_and_status_says_where():
    first = run("db", "up")
    assert first.returncode == 0, first.stderr
    second = run("db", "up")
    assert second.returncode == 0, second.stderr
    assert "already running, nothing to do" in second.stdout
    status = run("db", "status")
    assert status.returncode == 0, status.stderr
    cluster = db.Cluster.for_settings()
    text = " ".join(status.stdout.split())
    assert "embedded" in text and "running │ yes" in text
    assert str(cluster.data_dir)[:40] in text.replace(" ", "") or "data directory" in text
    assert "PostgreSQL 15" in text and "postgis" in text


def test_status_of_a_stopped_cluster_says_how_to_start(tmp_path: Path):
    res = run("db", "status", env={"NETZATLAS_HOME": str(tmp_path / "nowhere"), "NETZATLAS_DATABASE_URL": ""})
    assert res.returncode == 3
    assert "running │ no" in " ".join(res.stdout.split()) and "netzatlas db up" in res.stdout


def test_errors_are_one_line_and_nonzero(db_url: str):
    env = {"NETZATLAS_DATABASE_URL": db_url}
    res = run("assets", "show", "00000000-0000-0000-0000-000000000000", env=env)
    assert res.returncode == 1
    assert res.stderr.strip() == "error: no asset 00000000-0000-0000-0000-000000000000"
    assert "Traceback" not in res.stderr
    res = run("keys", "create", "--role", "partner", env=env)
    assert res.returncode == 1 and "partner key needs --operator" in res.stderr
    res = run("assets", "show", "not-a-uuid", env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr


def test_unreachable_database_is_a_clear_error():
    res = run("keys", "list", env={"NETZATLAS_DATABASE_URL": "postgresql://nobody@/nothing?host=/nonexistent"})
    assert res.returncode == 1
    assert "cannot connect to the database (check NETZATLAS_DATABASE_URL)" in res.stderr
    assert "Traceback" not in res.stderr


def test_keys_lifecycle(db_url: str, conn):
    env = {"NETZATLAS_DATABASE_URL": db_url}
    res = run("keys", "create", "--role", "partner", "--operator", "telco", "--label", "test", env=env)
    assert res.returncode == 0, res.stderr
    key = res.stdout.strip()
    assert key.startswith("nz_")
    from netzatlas.registry import keys

    principal = keys.resolve(conn, key)
    assert principal and principal.role == "partner" and principal.operator == "telco"
    stored = conn.execute("SELECT key_hash FROM api_keys").fetchone()["key_hash"]
    assert key not in stored
    assert run("keys", "revoke", principal.key_prefix, env=env).returncode == 0
    assert keys.resolve(conn, key) is None
