"""A delivery from file to registry: submission row, kept file, validation report, atomic load.

The submission row and the kept file are committed first (so a failed load is still on record); the
registry changes in one transaction that either loads everything or nothing. A dry run does all of it in
one transaction that is rolled back, so its counts say exactly what a real run would change. Everything
runs on one connection (one backend to start, PostGIS loaded into it once).

While it imports, the process holds a session advisory lock on its submission (netzatlas.liveness): a submission
left `received` whose lock is free belongs to a process that died, and the next process that looks (an import,
`submissions list|show`, the API) marks it failed. Its load was one transaction, so nothing of it was written.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from shapely import wkb as shapely_wkb

from netzatlas import db, liveness
from netzatlas.importers.files import DeliveryError, open_delivery
from netzatlas.importers.load import load_assets, load_reference
from netzatlas.importers.profiles import Profile, ProfileError, load_profile
from netzatlas.importers.readers import read_layers
from netzatlas.importers.report import Report
from netzatlas.importers.validate import Municipality, Options, validate
from netzatlas.private import private_copy, private_dir
from netzatlas.registry import access

Progress = Callable[[str, int, int], None]


class ImportError_(ValueError):
    """The import cannot start (unknown operator, municipality or profile)."""


def _areas(conn: psycopg.Connection, municipality: str | None) -> list[Municipality]:
    rows = conn.execute(
        "SELECT ags, ST_AsBinary(boundary) AS b FROM municipalities WHERE boundary IS NOT NULL "
        "AND (%(m)s::text IS NULL OR ags = %(m)s) ORDER BY ags",
        {"m": municipality},
    ).fetchall()
    if municipality and not rows:
        known = [r["ags"] for r in conn.execute("SELECT ags FROM municipalities ORDER BY ags").fetchall()]
        raise ImportError_(
            f"unknown municipality {municipality!r} (or it has no boundary); registered: {', '.join(known) or 'none'}"
        )
    districts: dict[str, list[dict]] = {}
    for d in conn.execute(
        "SELECT municipality, id, name, key FROM districts WHERE %(m)s::text IS NULL OR municipality = %(m)s "
        "ORDER BY municipality, name",
        {"m": municipality},
    ).fetchall():
        districts.setdefault(d["municipality"], []).append(d)
    return [Municipality(r["ags"], shapely_wkb.loads(bytes(r["b"])), districts.get(r["ags"], [])) for r in rows]


# Targets a delivery may load without an operator: the city's reference data, not anybody's assets.
OPERATOR_FREE = ("districts", "population-cells", "district-population")


def _needs_operator(prof: Profile, kind: str | None) -> list[str]:
    """The targets of a profile that belong to an operator (assets; buildings without a `source`)."""
    if kind:
        return [kind]
    return sorted(
        {
            lm.target
            for lm in prof.layers
            if lm.target not in OPERATOR_FREE and not (lm.target == "buildings" and lm.spec.get("source"))
        }
    )


def _finish(conn: psycopg.Connection, sid: Any, status: str, report: Report, sha: str | None) -> None:
    conn.execute(
        """UPDATE submissions SET status = %s, counts = %s, report = %s, sha256 = coalesce(%s, sha256),
                  finished_at = now() WHERE id = %s""",
        (status, Jsonb(report.counts), Jsonb(report.to_json()), sha, sid),
    )


_gc_lock = threading.Lock()
_gc_pause = {"holders": 0, "was_enabled": True}


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a delivery is read, validated and loaded. A delivery is
    hundreds of thousands of small objects (values, rows, geometries) that live until the load ends and hold no
    cycles; with the collector on, every few thousand new ones make it walk them all again (4 full passes and
    over a third of the CPU time for 100,000 address points). Reference counting still frees everything, and
    the collector takes up what is left when it runs next. Imports in several threads share the pause; the last
    one ends it."""
    with _gc_lock:
        _gc_pause["holders"] += 1
        if _gc_pause["holders"] == 1:
            _gc_pause["was_enabled"] = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pause["holders"] -= 1
            if _gc_pause["holders"] == 0 and _gc_pause["was_enabled"]:
                gc.enable()


@_no_cyclic_gc()
def run_import(
    path: Path,
    operator: str | None,
    profile: str | None = None,
    *,
    url: str | None = None,
    home: Path | None = None,
    actor: str | None = None,
    dry_run: bool = False,
    repair: bool = False,
    municipality: str | None = None,
    kind: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[UUID | None, str, Report]:
    """Import one delivery (with the cyclic garbage collector paused). Returns (submission id or None for a dry
    run, status, report)."""
    step = progress or (lambda s, d, t: None)
    path = Path(path)
    name = Path(filename or path.name).name
    report = Report(file=name)
    try:
        prof = load_profile(profile)
    except ProfileError as e:
        raise ImportError_(str(e)) from None
    report.profile = prof.name
    actor = actor or db.default_actor()
    with db.connect(url, autocommit=True) as conn:
        reap(conn)
        operators = [r["id"] for r in conn.execute("SELECT id FROM operators ORDER BY id").fetchall()]
        if operator is None:
            needs = _needs_operator(prof, kind)
            if needs:
                raise ImportError_(
                    f"profile {prof.name!r} loads {', '.join(needs)}: give --operator; registered: "
                    f"{', '.join(operators) or '(none)'}"
                )
        elif operator not in operators:
            raise ImportError_(f"unknown operator {operator!r}; registered: {', '.join(operators) or '(none)'}")
        areas = _areas(conn, municipality)
        sid = None
        if not dry_run:
            with conn.transaction():
                sid = conn.execute(
                    "INSERT INTO submissions (operator, filename, profile, actor) VALUES (%s, %s, %s, %s) RETURNING id",
                    (operator, name, prof.name, actor),
                ).fetchone()["id"]
                # held by this session until the import ends (the connection closes): visible as `received` only
                # with the lock taken, so a free lock on a received submission means its process is gone
                liveness.hold(conn, liveness.SUBMISSION, sid)
            root = (home or db.get_settings().home).expanduser()
            keep = private_dir(root / "submissions" / str(sid), root)  # a partner's delivery: 0700/0600
            if path.exists():
                private_copy(path, keep / name)
        sha = None
        try:
            step("reading", 0, 1)
            limits = {"max_bytes": max_bytes} if max_bytes else {}
            with open_delivery(path, **limits) as delivery:
                sha = delivery.sha256
                report.format = delivery.format
                report.ignored = list(delivery.ignored)
                layers = read_layers(delivery, encoding, delimiter)
                step("reading", 1, 1)
                # an operator column may name any registered operator for the CLI, planners and admins; a partner
                # key writes only its own operator's assets
                may_write_any = access.current().role in access.SEES_ALL
                opts = Options(
                    operator,
                    areas,
                    municipality,
                    repair,
                    kind,
                    fmt=delivery.format,
                    operators=tuple(operators),
                    any_operator=may_write_any,
                )
                step("validating", 0, 1)
                plan = validate(layers, prof, opts, report)
                step("validating", 1, 1)
        except DeliveryError as e:
            report.error = str(e)
            if sid:
                _finish(conn, sid, "rejected", report, sha)
            return sid, "rejected", report
        except Exception as e:
            report.error = f"{type(e).__name__}: {e}"
            if sid:
                _finish(conn, sid, "failed", report, sha)
            raise
        if not report.valid:
            if sid:
                _finish(conn, sid, "rejected", report, sha)
            return sid, "rejected", report
        status = "loaded"
        try:
            # the load is one transaction on the same session (one backend, whose PostGIS is loaded already)
            with conn.transaction():
                tx = conn
                db.set_actor(tx, actor)
                if dry_run:
                    sid_tx = tx.execute(
                        "INSERT INTO submissions (operator, filename, profile, actor, status) "
                        "VALUES (%s, %s, %s, %s, 'validated') RETURNING id",
                        (operator, name, prof.name, actor),
                    ).fetchone()["id"]
                else:
                    sid_tx = sid
                ok = load_assets(tx, plan, sid_tx, report, step)
                if ok:
                    load_reference(tx, plan, report)
                if dry_run or not ok:
                    raise _Rollback
        except _Rollback:
            status = "validated" if report.valid else "rejected"
        except Exception as e:
            report.error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            if sid:
                _finish(conn, sid, "failed", report, sha)
            raise
        if dry_run:
            report.notes.append("dry run: nothing was written; the counts say what a real import would change")
        if sid:
            _finish(conn, sid, status, report, sha)
        return sid, status, report


class _Rollback(Exception):
    pass


def reap(conn: psycopg.Connection) -> int:
    """Mark failed the submissions left `received` by an import whose process is gone; returns how many."""
    ids = [r["id"] for r in conn.execute("SELECT id FROM submissions WHERE status = 'received'").fetchall()]
    gone = liveness.orphans(conn, liveness.SUBMISSION, ids)
    if gone:
        conn.execute(
            """UPDATE submissions SET status = 'failed', finished_at = now(),
                      report = report || jsonb_build_object('error',
                          'the import process stopped before it finished; nothing of this delivery was loaded')
               WHERE id = ANY(%s::uuid[]) AND status = 'received'""",
            (gone,),
        )
    return len(gone)


def list_submissions(conn: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    reap(conn)
    return conn.execute(
        """SELECT id, operator, filename, profile, status, counts, actor, created_at, finished_at
           FROM submissions ORDER BY created_at DESC LIMIT %s""",
        (limit,),
    ).fetchall()


def get_submission(conn: psycopg.Connection, sid: str) -> dict[str, Any] | None:
    try:
        UUID(str(sid))
    except ValueError:
        return None
    reap(conn)
    return conn.execute("SELECT * FROM submissions WHERE id = %s", (sid,)).fetchone()
