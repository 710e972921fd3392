"""Throwaway embedded clusters for tests that stop the database or restore into a fresh one.

Each lives under its own NETZATLAS_HOME, so stopping it never touches the cluster the other tests share.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netzatlas import db
from netzatlas.config import Settings

VAR_ROOT = Path("/var/lib/netzatlas")


@dataclass(frozen=True)
class Throwaway:
    home: Path
    settings: Settings
    cluster: db.Cluster
    bin_dir: Path

    def url(self, dbname: str | None = None) -> str:
        return db.database_url(dbname, self.settings)

    def env(self) -> dict[str, str]:
        """Environment for a netzatlas process that uses this cluster (embedded mode) and home."""
        return {"NETZATLAS_HOME": str(self.home), "NETZATLAS_DATABASE_URL": ""}

    def stop(self) -> None:
        self.cluster.stop()

    def start(self) -> None:
        self.cluster.start(self.bin_dir)


@contextmanager
def throwaway_cluster(home: Path, create_database: bool = True, keep: bool = False) -> Iterator[Throwaway]:
    """A cluster initialised (unless it is there) and started under `home`; stopped afterwards, and removed unless
    `keep` (a benchmark's cluster kept between runs)."""
    settings = Settings(home=home, database_url=None)
    bin_dir = db.ensure_server_installed()
    cluster = db.Cluster.for_settings(settings)
    try:
        cluster.init(bin_dir)
        cluster.start(bin_dir)
        if create_database:
            db.ensure_database(settings.database_name, settings)
        yield Throwaway(home, settings, cluster, bin_dir)
    finally:
        cluster.stop()
        if not keep:
            # the cluster may live in /var/lib/netzatlas/<hash>/pg when the postgres account cannot reach home
            shutil.rmtree(cluster.root.parent if cluster.root.parent.parent == VAR_ROOT else cluster.root, True)
            shutil.rmtree(cluster.socket_dir, ignore_errors=True)
