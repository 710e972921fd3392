"""The `netzatlas` command line: thin commands that call into the package and print the outcome."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from netzatlas import admin_cli, db
from netzatlas.catalog import cli as catalog_cli
from netzatlas.config import get_settings
from netzatlas.coverage import cli as coverage_cli
from netzatlas.importers import cli as importers_cli
from netzatlas.progress import progress, reporter
from netzatlas.registry import kinds as kinds_mod
from netzatlas.registry.service import RegistryError
from netzatlas.registry.validation import ValidationError

app = typer.Typer(
    help="Netzatlas: city infrastructure asset and network coverage registry on PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The database: embedded local cluster or the server in NETZATLAS_DATABASE_URL.", no_args_is_help=True
)
demo_app = typer.Typer(help="The synthetic Worms demo.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed; the key is printed once).", no_args_is_help=True)
assets_app = typer.Typer(help="Read assets and their history.", no_args_is_help=True)
sites_app = typer.Typer(
    help="Mobile sites shared by several operators: find the ones delivered twice, merge them.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(assets_app, name="assets")
app.add_typer(sites_app, name="sites")
importers_cli.register(app)
admin_cli.register(app)
app.add_typer(coverage_cli.app, name="coverage")
catalog_cli.register(app)

console = Console()
err = Console(stderr=True)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# ---------------------------------------------------------------- db


@db_app.command("up")
def db_up() -> None:
    """Install (root on Debian), initialise and start the embedded cluster if needed, then migrate to head."""
    from netzatlas import migrate, schema

    with err.status("bringing the database up"):
        done = db.up()
        migrate.upgrade()
        with db.connect() as conn:
            problems = schema.check(conn, migrate.head_revision())
    if problems:  # e.g. row-level security switched off by hand: every caller would see every row
        raise CLIError("the database schema is not whole: " + "; ".join(problems))
    steps = [k for k, v in done.items() if v]
    console.print(
        f"database up ({', '.join(steps) if steps else 'already running, nothing to do'}); "
        f"schema at {migrate.current_revision()}"
    )


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded cluster (does nothing for an external server)."""
    if not db.embedded():
        console.print("using NETZATLAS_DATABASE_URL: nothing to stop")
        return
    stopped = db.Cluster.for_settings().stop()
    console.print("database stopped" if stopped else "database was not running")


@db_app.command("status")
def db_status() -> None:
    """Say what runs where: mode, data directory, socket, server and PostGIS versions, schema revision."""
    from netzatlas import migrate

    settings = get_settings()
    table = Table(show_header=False)
    if db.embedded(settings):
        cluster = db.Cluster.for_settings(settings)
        table.add_row("mode", "embedded (managed by netzatlas)")
        table.add_row("data directory", str(cluster.data_dir))
        table.add_row("socket directory", str(cluster.socket_dir) + " (no TCP port)")
        table.add_row("server runs as", cluster.owner or os.environ.get("USER", "current user"))
        table.add_row("running", "yes" if cluster.running() else "no")
        if not cluster.running():
            console.print(table)
            console.print("start it with `netzatlas db up`")
            raise typer.Exit(3)
    else:
        table.add_row("mode", "external (NETZATLAS_DATABASE_URL)")
    table.add_row("database", settings.database_name if db.embedded(settings) else "from URL")
    table.add_row("url (migrations, backups)", db.database_url())
    with db.connect() as conn:
        row = conn.execute(
            "SELECT version() AS pg, postgis_full_version() AS gis, current_user AS role, "
            "(SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS unrestricted"
        ).fetchone()
    unrestricted = " (superuser or BYPASSRLS: row-level security does not apply!)" if row["unrestricted"] else ""
    table.add_row("application role", f"{row['role']}{unrestricted}")
    table.add_row("server", row["pg"].split(",")[0])
    table.add_row("postgis", row["gis"].split('"')[1])
    table.add_row("schema revision", f"{migrate.current_revision()} (head {migrate.head_revision()})")
    console.print(table)


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Upgrade the schema (Alembic) to a revision, head by default."""
    from netzatlas import migrate

    migrate.upgrade(revision=revision)
    console.print(f"schema at {migrate.current_revision()}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision; base removes everything")]) -> None:
    """Downgrade the schema to a revision."""
    from netzatlas import migrate

    migrate.downgrade(revision=revision)
    console.print(f"schema at {migrate.current_revision()}")


@db_app.command("backup")
def db_backup(
    file: Annotated[str, typer.Argument(help="the archive to write (a tar, mode 0600)")],
    force: Annotated[bool, typer.Option("--force", help="replace FILE if it exists")] = False,
) -> None:
    """Back up the database (pg_dump) and the kept deliveries and coverage run files into one archive."""
    from netzatlas import backup

    try:
        with err.status("backing up"):
            m = backup.backup(file, overwrite=force)
    except backup.BackupError as e:
        raise CLIError(str(e)) from None
    size = os.path.getsize(file)
    console.print(
        f"backup written to {file} ({size / 1e6:.1f} MB): schema {m['schema_revision']}, {len(m['tables'])} tables "
        f"with {sum(m['tables'].values()):,} rows, {len(m['files'])} files"
    )


@db_app.command("restore")
def db_restore(
    file: Annotated[str, typer.Argument(help="an archive written by `netzatlas db backup`")],
    force: Annotated[bool, typer.Option("--force", help="replace everything in a database that is not empty")] = False,
) -> None:
    """Restore a backup into an empty database (created when missing), then its files into the home directory."""
    from netzatlas import backup

    try:
        with err.status("restoring"):
            r = backup.restore(file, force=force)
    except backup.BackupError as e:
        raise CLIError(str(e)) from None
    migrated = f", migrated to {r['migrated_to']}" if r["migrated_to"] else ""
    console.print(
        f"restored the backup of {r['created_at']} into {r['database']}: schema {r['schema_revision']}{migrated}, "
        f"{r['tables']} tables with {r['rows']:,} rows, {r['files']} files"
    )


@db_app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def db_psql(ctx: typer.Context) -> None:
    """Open psql on the registry database (extra arguments are passed to psql)."""
    import shutil

    psql = shutil.which("psql") or (str(db.find_pg_bin() / "psql") if db.find_pg_bin() else None)
    if not psql:
        raise CLIError("psql is not installed")
    os.execvp(psql, [psql, db.database_url(), *ctx.args])


# ---------------------------------------------------------------- demo


@demo_app.command("load")
def demo_load() -> None:
    """Load the synthetic Worms demo (real Zensus 2011 grid, synthetic network); safe to run again."""
    from netzatlas.demo import load as demo

    with progress() as bar:
        report = reporter(bar)

        with db.transaction(actor=demo.DEMO_ACTOR) as conn:
            changes = demo.load(conn, progress=report)
            sums = demo.checksum(conn)
    table = Table("layer", "count", "md5")
    for layer, s in sums.items():
        table.add_row(layer, str(s["count"]), s["md5"])
    console.print(table)
    console.print(f"changes: {changes}")


# ---------------------------------------------------------------- serve


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: debug, info, warning, error")] = "info",
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Serve the web application and APIs (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "netzatlas.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        # requests uvicorn refuses before the app sees them are answered with the JSON error body too
        http="netzatlas.api.server:JsonHttpProtocol",
    )


@app.command("worker")
def worker(
    threads: Annotated[int | None, typer.Option(help="threads (default: NETZATLAS_JOBS_CONCURRENCY)")] = None,
) -> None:
    """Execute queued coverage jobs until stopped (Ctrl-C or SIGTERM put the run in progress back in the queue)."""
    import signal
    import threading

    from netzatlas.coverage.worker import Worker, sweep

    settings = get_settings()
    url = db.app_url()
    sweep(url)
    n = threads or settings.jobs_concurrency
    w = Worker(url, n, settings.jobs_concurrency, settings.jobs_poll_s).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"coverage worker {os.getpid()}: up to {n} runs at once; Ctrl-C to stop")
    while not stop.wait(1.0):
        pass
    w.stop()


# ---------------------------------------------------------------- keys


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="planner, partner or admin")],
    operator: Annotated[str | None, typer.Option(help="operator id (required for partner keys)")] = None,
    label: Annotated[str | None, typer.Option(help="a note on who holds the key")] = None,
) -> None:
    """Create an API key and print it once."""
    from netzatlas.registry import keys

    try:
        with db.transaction() as conn:
            key = keys.create_key(conn, role, operator, label)
    except ValueError as e:
        raise CLIError(str(e)) from None
    console.print(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, role, operator; never the key itself)."""
    from netzatlas.registry import keys

    with db.connect() as conn:
        rows = keys.list_keys(conn)
    table = Table("prefix", "role", "operator", "label", "created", "revoked")
    for r in rows:
        table.add_row(
            r["prefix"],
            r["role"],
            r["operator"] or "",
            r["label"] or "",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix as shown by `keys list`")]) -> None:
    """Revoke a key."""
    from netzatlas.registry import keys

    with db.transaction() as conn:
        if not keys.revoke(conn, prefix):
            raise CLIError(f"no active key with prefix {prefix!r}")
    console.print(f"key {prefix} revoked")


# ---------------------------------------------------------------- assets


@app.command("kinds")
def kinds_list() -> None:
    """List the asset kinds with their geometry, default sensitivity and attributes."""
    table = Table("kind", "geometry", "default sensitivity", "attributes")
    for k in kinds_mod.KINDS:
        attrs = ", ".join(a.name + ("*" if a.required else "") for a in k.attributes)
        table.add_row(
            k.id,
            k.geometry,
            k.default_sensitivity,
            attrs + (", operators[], antennas[].cells[]" if k.has_antennas else ""),
        )
    console.print(table)
    console.print("* required")


def _print_json(obj: object) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


@assets_app.command("show")
def assets_show(
    asset_id: Annotated[str, typer.Argument(help="asset uuid")],
    as_of: Annotated[dt.datetime | None, typer.Option("--as-of", help="state at this time (ISO 8601)")] = None,
) -> None:
    """Show one asset as JSON, now or as it was at a past time."""
    from netzatlas.registry import service

    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.astimezone()
    with db.connect() as conn:
        _print_json(service.get(conn, asset_id, as_of))


@assets_app.command("history")
def assets_history(asset_id: Annotated[str, typer.Argument(help="asset uuid")]) -> None:
    """Every version of an asset with actor and time."""
    from netzatlas.registry import service

    with db.connect() as conn:
        rows = service.history(conn, asset_id)
    table = Table("version", "operation", "actor", "valid from", "valid to", "status", "name")
    for r in rows:
        table.add_row(
            str(r["version"]),
            r["operation"],
            r["actor"],
            f"{r['valid_from']:%Y-%m-%d %H:%M:%S}",
            f"{r['valid_to']:%Y-%m-%d %H:%M:%S}" if r["valid_to"] else "",
            r["status"],
            r["name"] or "",
        )
    console.print(table)


# ---------------------------------------------------------------- sites


@sites_app.command("colocated")
def sites_colocated(
    municipality: Annotated[str | None, typer.Option(help="AGS of a municipality (default: every one)")] = None,
    within: Annotated[float, typer.Option(help="distance in metres (EPSG:25832)")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="the pairs as JSON on stdout")] = False,
) -> None:
    """Current mobile sites of different operators within a few metres of each other: one mast delivered twice."""
    from netzatlas.registry import sites

    if not within >= 0:
        raise CLIError("--within must be 0 m or more")
    with db.connect() as conn:
        pairs = sites.colocated(conn, municipality, within)
    if as_json:
        _print_json(pairs)
        return
    if not pairs:
        console.print(f"no mobile sites of different operators within {within:g} m of each other")
        return
    table = Table(
        "group", "metres", "site", "operator", "external id", "name", "site", "operator", "external id", "name"
    )
    for p in pairs:
        a, b = p["a"], p["b"]
        table.add_row(
            str(p["group"]),
            f"{p['distance_m']:.1f}",
            a["id"],
            a["operator"],
            a["external_id"],
            a["name"] or "",
            b["id"],
            b["operator"],
            b["external_id"],
            b["name"] or "",
        )
    console.print(table)
    console.print("merge one into the other with `netzatlas sites merge SOURCE_ID --into TARGET_ID`")


@sites_app.command("merge")
def sites_merge(
    source: Annotated[str, typer.Argument(help="id of the site that goes into the other (it is retired)")],
    into: Annotated[str, typer.Option("--into", help="id of the site that stays")],
    force: Annotated[bool, typer.Option("--force", help="merge sites more than 50 m apart")] = False,
) -> None:
    """Merge a mobile site into another: its antennas, cells and operators move, the source is retired."""
    from netzatlas.registry import sites

    with db.transaction(actor=db.default_actor()) as conn:
        out = sites.merge(conn, source, into, force=force)
    t = out["target"]
    console.print(
        f"merged {out['source']['id']} ({out['source']['operator']} {out['source']['external_id']!r}) into "
        f"{t['id']} ({t['operator']} {t['external_id']!r}), {out['distance_m']:g} m apart: "
        f"{out['antennas']} antenna(s) moved; operators {', '.join(out['operators'])}; "
        f"site at version {t['version']}, source retired",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    """Entry point: domain errors become one line on stderr and exit status 1."""
    import psycopg

    try:
        app()
    except (CLIError, db.ClusterError, RegistryError, ValidationError, kinds_mod.UnknownKind) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except psycopg.Error as e:
        err.print(f"[red]database error:[/red] {str(e).strip().splitlines()[0]}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
