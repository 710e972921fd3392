"""Backups: one archive holding the database and the files the registry keeps beside it.

The archive is an uncompressed tar (the dump and the COGs are compressed already):
- `database.dump`: `pg_dump -Fc` of the registry database, taken by the server's own PostgreSQL bin dir;
- `files/submissions/<id>/…` (kept deliveries) and `files/coverage/<run>/…` (a run's rasters and CSVs), from
  the home directory;
- `manifest.json` (last): schema revision, time, versions, the row count of every table in the dump's snapshot,
  the roles the database refers to, and the SHA-256 of the dump and of every file.

The row counts come from the very snapshot pg_dump reads (an exported snapshot), so a restore can prove it
got every row. The archive is written to a temporary file beside the target, mode 0600, and renamed into place.
Restore goes into an empty database only (or replaces everything with `force`), in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from netzatlas import __version__, db, migrate, schema
from netzatlas.config import Settings, get_settings

FORMAT = "netzatlas-backup"
FORMAT_VERSION = 1
DUMP = "database.dump"
MANIFEST = "manifest.json"
FILES = "files"
# Directories under home whose files belong to the registry: kept deliveries and coverage run outputs.
FILE_DIRS = ("submissions", "coverage")
FILE_MODE = 0o600
DIR_MODE = 0o700
CHUNK = 1 << 20

SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
# Ordinary tables and partitions of the user's schemas that no extension owns (PostGIS's spatial_ref_sys).
TABLES_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND {SYSTEM_SCHEMAS}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype = 'e')
 ORDER BY 1
"""
# What makes a database non-empty: relations or functions outside the system schemas and the extensions.
OBJECTS_SQL = f"""
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMAS}
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.deptype = 'e')) AS relations,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE {SYSTEM_SCHEMAS}
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                           AND d.deptype = 'e')) AS functions,
       to_regclass('public.alembic_version') IS NOT NULL AS migrated
"""
# Roles the dump refers to (owners, grantees, policy roles) other than the one taking it: roles belong to the
# cluster, not to the database, so pg_dump leaves them out and a fresh cluster lacks them.
ROLES_SQL = f"""
WITH refs(oid) AS (
    SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {SYSTEM_SCHEMAS}
    UNION SELECT (aclexplode(c.relacl)).grantee FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relacl IS NOT NULL AND {SYSTEM_SCHEMAS}
    UNION SELECT n.nspowner FROM pg_namespace n WHERE {SYSTEM_SCHEMAS}
    UNION SELECT (aclexplode(n.nspacl)).grantee FROM pg_namespace n WHERE n.nspacl IS NOT NULL AND {SYSTEM_SCHEMAS}
    UNION SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {SYSTEM_SCHEMAS}
    UNION SELECT (aclexplode(p.proacl)).grantee FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.proacl IS NOT NULL AND {SYSTEM_SCHEMAS}
    UNION SELECT unnest(polroles) FROM pg_policy
    UNION SELECT defaclrole FROM pg_default_acl
    UNION SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
)
SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolinherit AS inherit, r.rolcreatedb AS createdb,
       r.rolcreaterole AS createrole, r.rolbypassrls AS bypassrls, r.rolconfig AS config
  FROM pg_roles r
 WHERE r.oid IN (SELECT oid FROM refs) AND r.rolname !~ '^pg_' AND r.rolname <> current_user
 ORDER BY 1
"""


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why and what to do."""


def _pg_tool(name: str) -> str:
    """pg_dump / pg_restore of the server's own PostgreSQL (the Debian packages keep them off the PATH)."""
    bin_dir = db.find_pg_bin()
    if not bin_dir or not (bin_dir / name).exists():
        raise BackupError(f"{name} of PostgreSQL {db.PG_MAJOR} was not found; install postgresql-{db.PG_MAJOR}")
    return str(bin_dir / name)


def _connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    # the URL given (the superuser's by default): a backup must read every row, whatever the row-level policies
    try:
        return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)
    except psycopg.OperationalError as e:
        raise BackupError(f"cannot connect to the database: {str(e).strip().splitlines()[0]}") from None


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise BackupError(f"{what} failed: {' '.join(lines[:3]) or f'exit status {proc.returncode}'}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Hashing:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def _kept_files(home: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every regular file in the home's registry directories; symlinks are skipped."""
    for top in FILE_DIRS:
        root = home / top
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    yield f"{FILES}/{path.relative_to(home).as_posix()}", path


def _home(settings: Settings) -> Path:
    return settings.home.expanduser().absolute()


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [r["name"] for r in conn.execute(TABLES_SQL).fetchall()]
    if not tables:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} AS name, count(*) AS n FROM {}").format(sql.Literal(t), sql.SQL(t)) for t in tables
    )
    return {r["name"]: r["n"] for r in conn.execute(query).fetchall()}


def _roles(conn: psycopg.Connection) -> list[dict[str, Any]]:
    roles = conn.execute(ROLES_SQL).fetchall()
    for r in roles:
        # the password hash, as pg_dumpall keeps it, so the restored role logs in as before (superuser only)
        try:
            with conn.transaction():
                row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (r["name"],)).fetchone()
            r["password"] = row["rolpassword"] if row else None
        except psycopg.errors.InsufficientPrivilege:
            r["password"] = None
    return roles


def backup(path: Path, *, url: str | None = None, settings: Settings | None = None, overwrite: bool = False) -> dict:
    """Write the archive to `path`; returns the manifest."""
    settings = settings or get_settings()
    url = url or db.database_url(settings=settings)
    home = _home(settings)
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise BackupError(f"{path} is a directory; give the archive's file name")
    if path.exists() and not overwrite:
        raise BackupError(f"{path} exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise BackupError(f"directory {path.parent} does not exist")
    pg_dump = _pg_tool("pg_dump")
    work = Path(tempfile.mkdtemp(prefix=".netzatlas-backup-", dir=path.parent))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        dump = work / DUMP
        # One snapshot for pg_dump and the row counts: the counts describe exactly the rows in the dump.
        with _connect(url, autocommit=False) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute("SELECT pg_export_snapshot() AS s").fetchone()["s"]
            info = conn.execute(
                "SELECT current_database() AS db, current_setting('server_version') AS server, "
                "(SELECT extversion FROM pg_extension WHERE extname = 'postgis') AS postgis"
            ).fetchone()
            revision = (
                conn.execute(schema.REVISION_SQL).fetchone()["version_num"]
                if conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL AS m").fetchone()["m"]
                else None
            )
            if revision is None:
                raise BackupError("the database has no Netzatlas schema (run `netzatlas db up`); nothing to back up")
            counts = _counts(conn)
            roles = _roles(conn)
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", f"--dbname={url}"], "pg_dump")
            conn.rollback()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "netzatlas": __version__,
            "database": info["db"],
            "server_version": info["server"],
            "postgis": info["postgis"],
            "schema_revision": revision,
            "tables": counts,
            "roles": roles,
            "dump": {"name": DUMP, "size": dump.stat().st_size, "sha256": _sha256(dump)},
            "files": [],
        }
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            fd = -1
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                entry = tar.gettarinfo(dump, arcname=DUMP)
                entry.mode = FILE_MODE
                with dump.open("rb") as f:
                    tar.addfile(entry, f)
                for name, file in _kept_files(home):
                    entry = tar.gettarinfo(file, arcname=name)
                    entry.mode = FILE_MODE
                    with file.open("rb") as f:
                        reader = _Hashing(f)
                        tar.addfile(entry, reader)  # type: ignore[arg-type]
                    manifest["files"].append({"path": name, "size": entry.size, "sha256": reader.h.hexdigest()})
                body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
                entry = tarfile.TarInfo(MANIFEST)
                entry.size, entry.mode, entry.mtime = len(body), FILE_MODE, int(dt.datetime.now().timestamp())
                tar.addfile(entry, _bytes_io(body))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return manifest
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def _bytes_io(data: bytes) -> IO[bytes]:
    import io

    return io.BytesIO(data)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- reading an archive


def _allowed(name: str) -> bool:
    if name in (DUMP, MANIFEST):
        return True
    parts = name.split("/")
    return len(parts) >= 4 and parts[0] == FILES and parts[1] in FILE_DIRS and ".." not in parts and "" not in parts


@contextmanager
def _open(path: Path) -> Iterator[tuple[tarfile.TarFile, dict[str, Any]]]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as e:
        raise BackupError(f"{path} is not a Netzatlas backup ({e})") from None
    with tar:
        try:
            members = tar.getmembers()
        except tarfile.TarError as e:
            raise BackupError(f"{path} is damaged ({e})") from None
        names = {m.name for m in members}
        if MANIFEST not in names or DUMP not in names:
            raise BackupError(f"{path} is not a Netzatlas backup (no {MANIFEST} or {DUMP})")
        for m in members:
            if not _allowed(m.name) or not m.isfile():
                raise BackupError(f"{path} holds an unexpected entry {m.name!r}; refusing to restore it")
        try:
            manifest = orjson.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
        except orjson.JSONDecodeError as e:
            raise BackupError(f"{path}: the manifest is not JSON ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not a Netzatlas backup (manifest format {manifest.get('format')!r})")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"{path} is a backup of format version {manifest.get('format_version')}; this Netzatlas reads "
                f"version {FORMAT_VERSION}"
            )
        listed = {f["path"] for f in manifest["files"]} | {DUMP, MANIFEST}
        if listed != names:
            raise BackupError(f"{path} is damaged: its entries differ from its manifest")
        yield tar, manifest


def read_manifest(path: Path) -> dict[str, Any]:
    with _open(path) as (_, manifest):
        return manifest


def _extract(tar: tarfile.TarFile, manifest: dict[str, Any], into: Path) -> None:
    """Extract every entry and check it against the manifest's size and SHA-256."""
    expected = {f["path"]: f for f in manifest["files"]} | {DUMP: manifest["dump"]}
    for m in tar.getmembers():
        if m.name == MANIFEST:
            continue
        target = into / m.name
        target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        h = hashlib.sha256()
        src = tar.extractfile(m)
        assert src is not None
        with target.open("wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        target.chmod(FILE_MODE)
        want = expected[m.name]
        if h.hexdigest() != want["sha256"] or m.size != want["size"]:
            raise BackupError(f"the backup is damaged: {m.name} does not match its checksum")


# ---------------------------------------------------------------- restore


def _create_roles(conn: psycopg.Connection, roles: list[dict[str, Any]]) -> list[str]:
    """Create the roles the dump refers to that the cluster lacks (never a superuser; existing ones are kept)."""
    created = []
    for r in roles:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r["name"],)).fetchone():
            continue
        flags = " ".join(
            ("" if r[k] else "NO") + k.upper() for k in ("login", "inherit", "createdb", "createrole", "bypassrls")
        )
        stmt = sql.SQL("CREATE ROLE {} NOSUPERUSER " + flags).format(sql.Identifier(r["name"]))
        if r.get("password"):
            stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(r["password"]))
        conn.execute(stmt)
        for setting in r.get("config") or []:
            key, _, value = setting.partition("=")
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(sql.Identifier(r["name"]), sql.SQL(key), sql.Literal(value))
            )
        created.append(r["name"])
    return created


def _contents(conn: psycopg.Connection) -> str | None:
    """What the database holds besides extensions, or None when it is empty."""
    found = conn.execute(OBJECTS_SQL).fetchone()
    if not found["relations"] and not found["functions"]:
        return None
    what = f"{found['relations']} tables or views and {found['functions']} functions"
    if found["migrated"]:
        rev = conn.execute(schema.REVISION_SQL).fetchone()
        what += f", schema revision {rev['version_num'] if rev else 'none'}"
    return what


def _clear(conn: psycopg.Connection) -> None:
    """Drop every user schema with what is in it (PostGIS too: the dump creates it again)."""
    schemas = conn.execute(
        "SELECT n.nspname FROM pg_namespace n WHERE "
        + SYSTEM_SCHEMAS
        + " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass "
        "AND d.objid = n.oid AND d.deptype = 'e')"
    ).fetchall()
    with conn.transaction():
        for s in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(s["nspname"])))
        # public as initdb makes it in PostgreSQL 15
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")


def _prepare_database(settings: Settings, url: str | None) -> str:
    """The target database exists (the embedded cluster started and the database created when needed)."""
    if url:
        return url
    try:
        db.up(settings)
    except psycopg.Error as e:
        raise BackupError(f"cannot create the database: {str(e).strip().splitlines()[0]}") from None
    return db.database_url(settings=settings)


def restore(path: Path, *, url: str | None = None, settings: Settings | None = None, force: bool = False) -> dict:
    """Restore the archive at `path` into the (empty) registry database and the home directory."""
    settings = settings or get_settings()
    home = _home(settings)
    pg_restore = _pg_tool("pg_restore")
    with _open(path) as (tar, manifest):
        revision = manifest["schema_revision"]
        head = migrate.head_revision()
        known = _known_revisions()
        if revision not in known:
            raise BackupError(
                f"the backup is at schema revision {revision}, which this version of Netzatlas does not know "
                f"(head {head}); restore it with Netzatlas {manifest.get('netzatlas', '?')} or newer"
            )
        home.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".restore-", dir=home))
        try:
            _extract(tar, manifest, work)  # the whole archive is checked before anything is created or replaced
            url = _prepare_database(settings, url)
            with _connect(url) as conn:
                dbname = conn.info.dbname
                contents = _contents(conn)
            if contents and not force:
                raise BackupError(
                    f"database {dbname} is not empty ({contents}); restore into an empty database, or pass "
                    "--force to replace everything in it"
                )
            with _connect(url) as conn:
                if contents:
                    _clear(conn)
                created_roles = _create_roles(conn, manifest.get("roles", []))
            # One transaction: a restore that fails leaves the database as empty as it was.
            _run(
                [pg_restore, "--exit-on-error", "--single-transaction", f"--dbname={url}", str(work / DUMP)],
                "pg_restore",
            )
            with _connect(url) as conn:
                conn.execute("ANALYZE")  # statistics are not in a dump; without them the first plans are poor
                counts = _counts(conn)
            lost = {t: (counts.get(t), n) for t, n in manifest["tables"].items() if counts.get(t) != n}
            if lost:
                t, (got, want) = next(iter(lost.items()))
                raise BackupError(
                    f"the restored database differs from the backup: {t} has {got} rows, the backup {want}"
                    + (f" (and {len(lost) - 1} more tables)" if len(lost) > 1 else "")
                )
            # to head if older; always: the LEAKPROOF marks of PostGIS's box operators, which a dump does not carry
            migrate.upgrade(url)
            with _connect(url) as conn:
                problems = schema.check(conn, head)
            if problems:
                raise BackupError("the restored schema is not whole: " + "; ".join(problems))
            _place_files(work, home, bool(contents))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "database": dbname,
        "schema_revision": revision,
        "migrated_to": head if revision != head else None,
        "tables": len(manifest["tables"]),
        "rows": sum(manifest["tables"].values()),
        "files": len(manifest["files"]),
        "roles_created": created_roles,
        "created_at": manifest["created_at"],
    }


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x@/x"))
    return {s.revision for s in scripts.walk_revisions()}


def _place_files(work: Path, home: Path, force: bool) -> None:
    """Move the extracted files into home, 0700 directories and 0600 files (the server's own)."""
    for top in FILE_DIRS:
        src = work / FILES / top
        dest = home / top
        if force and dest.exists():
            shutil.rmtree(dest)  # they belonged to the database just replaced
        if not src.is_dir():
            continue
        for dirpath, _, filenames in os.walk(src):
            rel = Path(dirpath).relative_to(src)
            target_dir = dest / rel
            target_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            target_dir.chmod(DIR_MODE)
            for name in filenames:
                os.replace(Path(dirpath) / name, target_dir / name)
        dest.chmod(DIR_MODE)
