"""Coverage runs: create (validated), execute (status, progress, timings), read, compare.

A run row holds everything needed to read a result: parameters, the model description with its
assumptions, the input counts, statistics, timings and the output files. The engines (fiber, mobile,
iot) compute; this module keeps the lifecycle: queued -> running -> succeeded | failed. Whatever
happens inside an engine, the run ends succeeded or failed, never left running.

The table is also the job queue. A worker claims a queued run with `FOR UPDATE SKIP LOCKED` and holds a
session advisory lock on it while it runs (netzatlas.liveness), so any process can tell a live run from one
whose process died: those are marked failed by whoever looks next (reap). A worker stopping gracefully puts
its run back in the queue.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import shapely
from psycopg.types.json import Jsonb

from netzatlas import db, liveness
from netzatlas.config import get_settings
from netzatlas.coverage.parameters import ANALYSES, ParameterError, validate
from netzatlas.registry import access

RUN_COLUMNS = """id, analysis, municipality, status, progress, message, parameters, model, input_counts, statistics,
    timings, outputs, error, actor, worker, created_at, started_at, finished_at, sensitivity, published_at,
    published_by"""


RESULT_TABLES = ("coverage_buildings", "coverage_devices", "coverage_cells", "coverage_districts", "coverage_gaps")


class RunError(Exception):
    """A run cannot be created or found; the message says why."""


class QueueFull(RunError):
    """The job queue is at its cap (per caller or overall); try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Interrupted(Exception):
    """Raised from progress reports when the worker is stopping: the run goes back to the queue."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def output_dir(run_id: UUID | str) -> Path:
    return (get_settings().home.expanduser().absolute() / "coverage" / str(run_id)).resolve()


@dataclass
class Context:
    """What an engine gets: the run, its parameters, the municipality, and a progress reporter."""

    url: str
    run_id: str
    analysis: str
    municipality: str
    params: dict[str, Any]
    boundary: Any  # shapely geometry in EPSG:25832
    report: Callable[[float, str], None]
    timings: dict[str, float] = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)

    @property
    def out_dir(self) -> Path:
        d = output_dir(self.run_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._t, 3)
        self._t = now


def _boundary(conn: psycopg.Connection, ags: str) -> Any:
    row = conn.execute("SELECT ags, ST_AsBinary(boundary) AS b FROM municipalities WHERE ags = %s", (ags,)).fetchone()
    if row is None:
        raise ParameterError(f"municipality {ags!r} is not registered")
    if row["b"] is None:
        raise ParameterError(f"municipality {ags!r} has no boundary; load one before running coverage")
    return shapely.from_wkb(bytes(row["b"]))


def default_municipality(conn: psycopg.Connection) -> str:
    rows = conn.execute("SELECT ags FROM municipalities ORDER BY ags LIMIT 2").fetchall()
    if len(rows) != 1:
        raise ParameterError(
            "name the municipality (AGS): " + ("none is registered" if not rows else "there are several")
        )
    return rows[0]["ags"]


def create(
    url: str,
    analysis: str,
    municipality: str | None,
    given: Mapping[str, Any],
    actor: str | None = None,
    dem_root: Path | None = None,
    *,
    per_actor: int | None = None,
    total: int | None = None,
    retry_after: int = 30,
) -> dict[str, Any]:
    """Validate and store a queued run. Bad parameters raise ParameterError and store nothing. `dem_root`
    confines a DEM to that directory (runs requested through the API). With `per_actor` / `total`, QueueFull is
    raised when that many runs of this actor / of anyone are already queued or running."""
    with db.connect(url, autocommit=True) as conn:
        if per_actor is not None or total is not None:
            _reap(conn)  # runs of dead processes must not hold places in the queue
        with conn.transaction():
            if per_actor is not None or total is not None:
                # count-then-insert under one lock, so concurrent requests cannot all slip under the cap
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (liveness.ENQUEUE,))
                n = conn.execute(
                    """SELECT count(*) AS total, count(*) FILTER (WHERE actor IS NOT DISTINCT FROM %s) AS mine
                       FROM coverage_runs WHERE status IN ('queued', 'running')""",
                    (actor,),
                ).fetchone()
                if per_actor is not None and n["mine"] >= per_actor:
                    raise QueueFull(
                        f"{n['mine']} coverage jobs of this key are queued or running, the most allowed per key is "
                        f"{per_actor}; retry when one has finished",
                        retry_after,
                    )
                if total is not None and n["total"] >= total:
                    raise QueueFull(
                        f"{n['total']} coverage jobs are queued or running, the most this server accepts; retry later",
                        retry_after,
                    )
            return _insert(conn, analysis, municipality, given, actor, dem_root, claim=False)


def _insert(
    conn: psycopg.Connection,
    analysis: str,
    municipality: str | None,
    given: Mapping[str, Any],
    actor: str | None,
    dem_root: Path | None,
    *,
    claim: bool,
) -> dict[str, Any]:
    """Validate and insert a run, queued, or (claim) running and locked by this session. Call in a transaction:
    the lock is taken before the running row becomes visible."""
    if analysis not in ANALYSES:
        raise ParameterError(f"unknown analysis {analysis!r}; known: {', '.join(ANALYSES)}")
    params = validate(analysis, given, dem_root)
    ags = municipality or default_municipality(conn)
    _boundary(conn, ags)
    row = conn.execute(
        f"""INSERT INTO coverage_runs (analysis, municipality, parameters, actor)
            VALUES (%s, %s, %s, %s) RETURNING {RUN_COLUMNS}""",
        (analysis, ags, Jsonb(params), actor),
    ).fetchone()
    if not claim:
        return row
    liveness.hold(conn, liveness.COVERAGE_RUN, row["id"])  # a new id: nobody else can hold it
    return _mark_running(conn, row["id"])


def _mark_running(conn: psycopg.Connection, run_id: Any) -> dict[str, Any]:
    """The run, held by this session, marked running by this worker."""
    return conn.execute(
        f"""UPDATE coverage_runs SET status = 'running', started_at = now(), progress = 0, worker = %s,
                   message = 'started'
            WHERE id = %s RETURNING {RUN_COLUMNS}""",
        (worker_id(), run_id),
    ).fetchone()


def _claim(conn: psycopg.Connection, run_id: UUID | str | None = None) -> dict[str, Any] | None:
    """Take a queued run (this one, or the oldest) for this session: lock it and mark it running. None if
    there is none, or another worker took it first (SKIP LOCKED passes over runs being claimed)."""
    with conn.transaction():
        row = conn.execute(
            """SELECT id FROM coverage_runs WHERE status = 'queued' AND (%(id)s::uuid IS NULL OR id = %(id)s::uuid)
               ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED""",
            {"id": str(run_id) if run_id else None},
        ).fetchone()
        # the lock is taken before the row says running: whoever sees it running finds the lock held
        if row is None or not liveness.hold(conn, liveness.COVERAGE_RUN, row["id"]):
            return None
        return _mark_running(conn, row["id"])


def _engine(analysis: str) -> Callable[[Context], dict[str, Any]]:
    if analysis == "fiber":
        from netzatlas.coverage.fiber import run
    elif analysis == "mobile":
        from netzatlas.coverage.mobile import run
    else:
        from netzatlas.coverage.iot import run
    return run


Progress = Callable[[float, str], None]


def execute(
    url: str, run_id: UUID | str, progress: Progress | None = None, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Claim a queued run and run it to its end in this process. Never raises for a failing engine: the run is
    marked failed."""
    with db.connect(url, autocommit=True) as conn:
        row = _claim(conn, run_id)
        if row is None:
            raise RunError(f"run {run_id} does not exist or is not queued")
        return _run(url, conn, row, progress, stop)


def execute_next(url: str, slots: int, stop: threading.Event | None = None) -> dict[str, Any] | None:
    """Run the oldest queued run if one of the `slots` execution slots (shared by every process on the database)
    is free. Returns the finished run, or None when there was nothing to do or no free slot."""
    with db.connect(url, autocommit=True) as conn:
        slot = liveness.take_slot(conn, slots)
        if slot is None:
            return None
        try:
            row = _claim(conn)
            return _run(url, conn, row, None, stop) if row else None
        finally:
            if not conn.closed:
                liveness.release_slot(conn, slot)


def _run(
    url: str, conn: psycopg.Connection, row: dict[str, Any], progress: Progress | None, stop: threading.Event | None
) -> dict[str, Any]:
    """Execute a run this session has claimed (and holds the lock of); release the lock at the end."""
    started = time.perf_counter()
    run_id = str(row["id"])
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        if stop is not None and stop.is_set():
            raise Interrupted("the worker is stopping")
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        if progress:
            progress(fraction, message)
        if now - last[0] >= 0.25 or fraction >= 1.0:  # at most four progress writes a second
            last[0] = now
            conn.execute(
                "UPDATE coverage_runs SET progress = %s, message = %s WHERE id = %s",
                (fraction, message, run_id),
            )

    try:
        boundary = _boundary(conn, row["municipality"])
        ctx = Context(url, run_id, row["analysis"], row["municipality"], row["parameters"], boundary, report)
        # the engine reads every input (the run then carries their highest sensitivity, migration 0006), or with
        # inputs=public only what anonymous callers see, so that the run is public
        public_only = row["parameters"].get("inputs") == "public"
        with access.acting_as(access.SYSTEM_PUBLIC if public_only else access.SYSTEM):
            result = _engine(row["analysis"])(ctx)
        ctx.timings["total"] = round(time.perf_counter() - started, 3)
        done = conn.execute(
            f"""UPDATE coverage_runs SET status = 'succeeded', progress = 1, message = 'done', finished_at = now(),
                       model = %s, input_counts = %s, statistics = %s, outputs = %s, timings = %s,
                       cells_extent = (SELECT ST_Extent(g.geom) FROM coverage_cells c
                                       JOIN inspire_cells g ON g.id = c.cell_id WHERE c.run_id = %s)
                WHERE id = %s AND status = 'running' RETURNING {RUN_COLUMNS}""",
            (
                Jsonb(result["model"]),
                Jsonb(result["input_counts"]),
                Jsonb(result["statistics"]),
                Jsonb(result.get("outputs", {})),
                Jsonb(ctx.timings),
                run_id,
                run_id,
            ),
        ).fetchone()
        return done or get(url, run_id)  # None: another process found it orphaned (this session had broken)
    except Interrupted:
        _requeue(url, run_id)
        return get(url, run_id)
    except BaseException as e:
        fail(url, run_id, e)
        if not isinstance(e, Exception):
            raise
        return get(url, run_id)
    finally:
        if not conn.closed and not conn.broken:
            liveness.release(conn, liveness.COVERAGE_RUN, run_id)


def _requeue(url: str, run_id: str) -> None:
    with db.connect(url, autocommit=True) as conn:
        _delete_results(conn, [run_id])
        conn.execute(
            """UPDATE coverage_runs SET status = 'queued', started_at = NULL, progress = 0, worker = NULL,
                      message = 'back in the queue: the worker running it stopped'
               WHERE id = %s AND status = 'running'""",
            (run_id,),
        )


def _delete_results(conn: psycopg.Connection, run_ids: list[str]) -> None:
    """Partial results of a run that did not finish (written by parts committed separately)."""
    for table in RESULT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE run_id = ANY(%s::uuid[])", (run_ids,))


def fail(url: str, run_id: UUID | str, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}".strip()
    detail = "".join(traceback.format_exception(exc))[-4000:]
    with db.connect(url, autocommit=True) as conn:
        conn.execute(
            """UPDATE coverage_runs SET status = 'failed', finished_at = now(), message = %s, error = %s
               WHERE id = %s AND status IN ('queued', 'running')""",
            (message.splitlines()[0][:500], detail, str(run_id)),
        )
        _delete_results(conn, [str(run_id)])


def reap(url: str) -> int:
    """Mark failed the running runs whose process is gone (killed, crashed, lost its connection). Returns how
    many. Failed rather than re-queued: a run that took its process down would take the next one down too."""
    with db.connect(url, autocommit=True) as conn:
        return _reap(conn)


def _reap(conn: psycopg.Connection, ids: Iterable[Any] | None = None) -> int:
    if ids is None:
        ids = [r["id"] for r in conn.execute("SELECT id FROM coverage_runs WHERE status = 'running'").fetchall()]
    gone = liveness.orphans(conn, liveness.COVERAGE_RUN, ids)
    if gone:
        conn.execute(
            """UPDATE coverage_runs SET status = 'failed', finished_at = now(),
                      message = 'the process running it stopped before it finished (' || coalesce(worker, '?')
                                || '); run it again',
                      error = 'worker process ended mid-run'
               WHERE id = ANY(%s::uuid[]) AND status = 'running'""",
            (gone,),
        )
        _delete_results(conn, gone)
    return len(gone)


def get(url: str, run_id: UUID | str) -> dict[str, Any]:
    """A run; one left running by a process that is gone is marked failed first."""
    try:
        UUID(str(run_id))
    except ValueError:
        raise RunError(f"no run {run_id!r}") from None
    sql = f"SELECT {RUN_COLUMNS} FROM coverage_runs WHERE id = %s"
    with db.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, (str(run_id),)).fetchone()
        if row is not None and row["status"] == "running" and _reap(conn, [row["id"]]):
            row = conn.execute(sql, (str(run_id),)).fetchone()
    if row is None:
        raise RunError(f"no run {run_id!r}")
    return row


def list_runs(
    url: str, limit: int = 100, offset: int = 0, status: str | None = None, analysis: str | None = None
) -> list[dict[str, Any]]:
    """Runs, newest first; runs left running by a process that is gone are marked failed first."""
    sql = f"""SELECT {RUN_COLUMNS} FROM coverage_runs
              WHERE (%(status)s::text IS NULL OR status = %(status)s) AND (%(a)s::text IS NULL OR analysis = %(a)s)
              ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s"""
    args = {"status": status, "a": analysis, "limit": limit, "offset": offset}
    with db.connect(url, autocommit=True) as conn:
        rows = conn.execute(sql, args).fetchall()
        running = [r["id"] for r in rows if r["status"] == "running"]
        if running and _reap(conn, running):
            rows = conn.execute(sql, args).fetchall()
    return rows


# The latest succeeded run of each analysis and municipality that the caller sees (row-level security): what the
# map and the coverage layers' tiles show.
LATEST_RUNS_SQL = """SELECT DISTINCT ON (analysis, municipality) id FROM coverage_runs WHERE status = 'succeeded'
                     ORDER BY analysis, municipality, finished_at DESC"""


def latest(
    conn: psycopg.Connection, analysis: str, municipality: str, public_only: bool = False
) -> dict[str, Any] | None:
    """The latest succeeded run the connection's caller sees; public_only: of public sensitivity."""
    return conn.execute(
        f"""SELECT {RUN_COLUMNS} FROM coverage_runs WHERE analysis = %s AND municipality = %s AND status = 'succeeded'
              AND (sensitivity = 'public' OR NOT %s)
            ORDER BY finished_at DESC LIMIT 1""",
        (analysis, municipality, public_only),
    ).fetchone()


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def compare(url: str, a: UUID | str, b: UUID | str) -> dict[str, Any]:
    """Parameters that differ, and every statistic of both runs with the difference b - a."""
    ra, rb = get(url, a), get(url, b)
    if ra["analysis"] != rb["analysis"]:
        raise RunError(f"runs of different analyses ({ra['analysis']} and {rb['analysis']}) cannot be compared")
    pa, pb = _flatten(ra["parameters"]), _flatten(rb["parameters"])
    params = {k: {"a": pa.get(k), "b": pb.get(k)} for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)}
    sa, sb = _flatten(ra["statistics"]), _flatten(rb["statistics"])
    stats = {}
    for k in sorted(set(sa) | set(sb)):
        va, vb = sa.get(k), sb.get(k)
        entry: dict[str, Any] = {"a": va, "b": vb}
        if isinstance(va, int | float) and isinstance(vb, int | float) and not isinstance(va, bool):
            entry["difference"] = round(vb - va, 6)
        stats[k] = entry
    with db.connect(url) as conn:
        changed = None
        if ra["analysis"] == "fiber":
            # one scan of both runs' rows, grouped by building: no join plan to go wrong on fresh statistics
            changed = conn.execute(
                """SELECT count(*) FILTER (WHERE NOT pa AND pb) AS newly_passed,
                          count(*) FILTER (WHERE pa AND NOT pb) AS no_longer_passed
                   FROM (SELECT bool_or(passed) FILTER (WHERE run_id = %(a)s) AS pa,
                                bool_or(passed) FILTER (WHERE run_id = %(b)s) AS pb
                         FROM coverage_buildings WHERE run_id IN (%(a)s, %(b)s)
                         GROUP BY building_id) s
                   WHERE pa IS NOT NULL AND pb IS NOT NULL""",
                {"a": str(a), "b": str(b)},
            ).fetchone()
    return {
        "a": {"id": str(ra["id"]), "created_at": ra["created_at"], "status": ra["status"]},
        "b": {"id": str(rb["id"]), "created_at": rb["created_at"], "status": rb["status"]},
        "analysis": ra["analysis"],
        "parameters": params,
        "statistics": stats,
        **({"buildings": changed} if changed else {}),
    }


def start(
    url: str,
    analysis: str,
    municipality: str | None,
    given: Mapping[str, Any],
    actor: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create and execute a run in this process. It is created running and locked by this process, so that no
    queue worker takes it, and a kill of this process shows as a failed run to the next process that looks."""
    with db.connect(url, autocommit=True) as conn:
        with conn.transaction():
            row = _insert(conn, analysis, municipality, given, actor, None, claim=True)
        return _run(url, conn, row, progress, None)
