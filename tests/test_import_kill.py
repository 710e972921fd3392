"""An import killed with SIGKILL while loading leaves the registry unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import import_helpers as h


def test_sigkill_during_load_leaves_registry_unchanged(conn, db_url, tmp_path):
    geoms, cols = h.routes(60_000)
    path = tmp_path / "fiber-routes.gpkg"
    h.write_layer(path, "fiber-routes", geoms, cols, "GPKG")
    before = conn.execute(
        "SELECT (SELECT count(*) FROM assets) AS a, (SELECT count(*) FROM asset_history) AS h"
    ).fetchone()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "netzatlas"), "import", str(path), "--operator", "telco"],
        env={**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    seen = None
    while time.monotonic() < deadline and proc.poll() is None:
        seen = conn.execute(
            """SELECT query FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
               AND (query LIKE 'COPY import_stage%%' OR query LIKE '%%import_match%%')
               AND pid <> pg_backend_pid()"""
        ).fetchone()
        if seen:
            break
        time.sleep(0.02)
    assert seen, "the import never reached its load phase"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # the server notices the dead client and rolls its transaction back
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE '%%import_%%'"
        ).fetchone()["n"]
        if not busy:
            break
        time.sleep(0.1)
    after = conn.execute(
        "SELECT (SELECT count(*) FROM assets) AS a, (SELECT count(*) FROM asset_history) AS h"
    ).fetchone()
    assert after == before == {"a": 0, "h": 0}
