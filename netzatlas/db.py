"""Database access: connection URLs, connections, and the embedded local PostGIS cluster."""

from __future__ import annotations

import getpass
import glob
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.rows import dict_row

from netzatlas.config import Settings, get_settings
from netzatlas.registry import access

PG_MAJOR = 15
# The role the application (API, CLI, coverage engine) connects as; created by migration 0006. It is no
# superuser, and row-level security decides what it sees (netzatlas.registry.access).
APP_ROLE = "netzatlas_app"
DEBIAN_PACKAGES = (f"postgresql-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-postgis-3")
# AF_UNIX paths are limited to 107 bytes; ".s.PGSQL.5432" is appended to the directory.
MAX_SOCKET_DIR = 90


class ClusterError(RuntimeError):
    """The local cluster cannot be installed, started or reached; the message says what to do."""


def is_root() -> bool:
    return os.geteuid() == 0


def _run(cmd: list[str], *, as_user: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ClusterError(f"command failed: {' '.join(cmd)}\n{(proc.stderr or proc.stdout).strip()}")
    return proc


def find_pg_bin() -> Path | None:
    """The bin directory of PostgreSQL 15 (Debian keeps initdb off the PATH)."""
    candidates = [f"/usr/lib/postgresql/{PG_MAJOR}/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, str(Path(on_path).resolve().parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def postgis_available(bin_dir: Path) -> bool:
    proc = _run([str(bin_dir / "pg_config"), "--sharedir"], check=False)
    sharedir = proc.stdout.strip() if proc.returncode == 0 else f"/usr/share/postgresql/{PG_MAJOR}"
    return bool(glob.glob(f"{sharedir}/extension/postgis.control"))


def ensure_server_installed() -> Path:
    """Return PostgreSQL's bin dir, installing PostgreSQL + PostGIS with apt when root on Debian."""
    bin_dir = find_pg_bin()
    if bin_dir and postgis_available(bin_dir):
        return bin_dir
    if is_root() and Path("/etc/debian_version").exists() and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES]):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise ClusterError(f"installing PostGIS failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        bin_dir = find_pg_bin()
        if bin_dir and postgis_available(bin_dir):
            return bin_dir
    raise ClusterError(
        f"PostgreSQL {PG_MAJOR} with PostGIS 3 is needed for the local database but was not found. "
        f"On Debian or Ubuntu install it with `sudo apt-get install {' '.join(DEBIAN_PACKAGES)}` "
        "(other systems: install PostgreSQL 15 and PostGIS 3 so that initdb and pg_ctl are available), "
        "or point NETZATLAS_DATABASE_URL at an existing PostGIS server."
    )


def _traversable_by_others(path: Path) -> bool:
    """Whether every ancestor of path lets another user (the postgres account) pass through."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


@dataclass(frozen=True)
class Cluster:
    """The embedded cluster: initdb/pg_ctl under <home>/pg, reachable only by a unix socket."""

    root: Path  # directory holding data/, run/ and the server log
    socket_dir: Path
    owner: str | None  # system user that runs the server when we are root

    @classmethod
    def for_settings(cls, settings: Settings | None = None) -> Cluster:
        settings = settings or get_settings()
        home = settings.home.expanduser().absolute()
        root = home / "pg"
        owner = "postgres" if is_root() else None
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        if owner and not _traversable_by_others(root.parent):
            # The postgres account cannot reach the checkout (e.g. below /root): keep the cluster elsewhere.
            root = Path("/var/lib/netzatlas") / digest / "pg"
        socket_dir = root / "run"
        if len(str(socket_dir)) > MAX_SOCKET_DIR:
            socket_dir = Path("/tmp") / f"netzatlas-{digest}"
        return cls(root=root, socket_dir=socket_dir, owner=owner)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def superuser(self) -> str:
        return "postgres"

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        bin_dir = find_pg_bin()
        if not bin_dir or not self.initialised():
            return False
        return (
            _run(
                [str(bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], as_user=self.owner, check=False
            ).returncode
            == 0
        )

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            if self.owner:
                shutil.chown(d, self.owner, self.owner)
            d.chmod(0o700)

    def init(self, bin_dir: Path) -> bool:
        if self.initialised():
            return False
        self._prepare_dirs()
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            as_user=self.owner,
        )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# netzatlas embedded cluster: unix socket only, no TCP port\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                # room for the registry, its indexes and a coverage run's results in memory; bulk writes
                # (imports, coverage results) checkpoint less often and keep their log in memory longer
                "shared_buffers = 1GB\n"
                "wal_buffers = 64MB\n"
                "max_wal_size = 4GB\n"
                "work_mem = 32MB\n"
                "max_connections = 100\n"
            )
        return True

    def start(self, bin_dir: Path) -> bool:
        if self.running():
            return False
        self._prepare_dirs()
        _run(
            [str(bin_dir / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60"],
            as_user=self.owner,
        )
        return True

    def stop(self) -> bool:
        bin_dir = find_pg_bin()
        if not bin_dir or not self.running():
            return False
        _run([str(bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"], as_user=self.owner)
        return True

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.superuser}@/{quote(dbname)}?host={quote(str(self.socket_dir))}"


def embedded(settings: Settings | None = None) -> bool:
    return not (settings or get_settings()).database_url


def database_url(dbname: str | None = None, settings: Settings | None = None) -> str:
    """libpq URL of the registry database (or of another database on the same server)."""
    settings = settings or get_settings()
    if settings.database_url:
        url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        if dbname:
            info = psycopg.conninfo.conninfo_to_dict(url)
            info["dbname"] = dbname
            url = psycopg.conninfo.make_conninfo(**info)
        return url
    return Cluster.for_settings(settings).url(dbname or settings.database_name)


def app_url(url: str | None = None, settings: Settings | None = None) -> str:
    """URL of the application role: NETZATLAS_APP_DATABASE_URL, or `url` (default: the registry
    database) with its user replaced by APP_ROLE. The embedded cluster trusts its unix socket; an
    external server needs the role's credentials, given by NETZATLAS_APP_DATABASE_URL."""
    settings = settings or get_settings()
    if url is None and settings.app_database_url:
        return settings.app_database_url
    info = psycopg.conninfo.conninfo_to_dict(url or database_url(settings=settings))
    info["user"] = APP_ROLE
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**info)


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy needs the driver named; accepts libpq URLs and key=value strings."""
    if "://" not in url:
        info = psycopg.conninfo.conninfo_to_dict(url)
        host = info.pop("host", "")
        dbname = info.pop("dbname", "")
        user = info.pop("user", "")
        rest = "&".join(f"{k}={quote(str(v))}" for k, v in info.items())
        url = f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(host)}" + (f"&{rest}" if rest else "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection (default: the application role to the registry) that states the current caller
    (access.current(): a web request's, or SYSTEM for the CLI and coverage jobs)."""
    try:
        conn = psycopg.connect(url or app_url(), autocommit=autocommit, row_factory=dict_row)
    except psycopg.OperationalError as e:
        hint = "run `netzatlas db up`" if embedded() else "check NETZATLAS_DATABASE_URL"
        raise ClusterError(f"cannot connect to the database ({hint}): {str(e).strip()}") from e
    access.state(conn)
    if not autocommit:
        conn.commit()  # the caller is a session setting: keep it past a rollback of the first transaction
    return conn


@contextmanager
def transaction(url: str | None = None, actor: str | None = None) -> Iterator[psycopg.Connection]:
    """One transaction; commits on success, rolls back on error. The actor is recorded in the history."""
    with connect(url) as conn, conn.transaction():
        if actor:
            set_actor(conn, actor)
        yield conn


def set_actor(conn: psycopg.Connection, actor: str) -> None:
    conn.execute("SELECT set_config('netzatlas.actor', %s, true)", (actor,))


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def ensure_database(dbname: str, settings: Settings | None = None) -> bool:
    """Create the database with PostGIS if missing. Returns True when it was created."""
    created = False
    with connect(database_url("postgres", settings), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
            created = True
    with connect(database_url(dbname, settings), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return created


def drop_database(dbname: str, settings: Settings | None = None) -> None:
    with connect(database_url("postgres", settings), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def up(settings: Settings | None = None) -> dict[str, bool]:
    """Bring the database up: install, init, start, create, migrate. Every step is a no-op when done."""
    settings = settings or get_settings()
    done = {"installed": False, "initialised": False, "started": False, "created": False}
    if embedded(settings):
        had_bin = find_pg_bin() is not None and postgis_available(find_pg_bin())  # type: ignore[arg-type]
        bin_dir = ensure_server_installed()
        done["installed"] = not had_bin
        cluster = Cluster.for_settings(settings)
        done["initialised"] = cluster.init(bin_dir)
        done["started"] = cluster.start(bin_dir)
    done["created"] = ensure_database(settings.database_name, settings)
    return done
