"""Coverage runs: create (validated), execute (status, progress, timings), read, compare.

A run row holds everything needed to read a result: parameters, the model description with its
assumptions, the input counts, statistics, timings and the output files. The engines (fiber, mobile,
iot) compute; this module keeps the lifecycle: queued -> running -> succeeded | failed. Whatever
happens inside an engine, the run ends succeeded or failed, never left running.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import shapely
from psycopg.types.json import Jsonb

from netzatlas import db
from netzatlas.config import get_settings
from netzatlas.coverage.parameters import ANALYSES, ParameterError, validate

RUN_COLUMNS = """id, analysis, municipality, status, progress, message, parameters, model, input_counts, statistics,
    timings, outputs, error, actor, created_at, started_at, finished_at"""


class RunError(Exception):
    """A run cannot be created or found; the message says why."""


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
) -> dict[str, Any]:
    """Validate and store a queued run. Bad parameters raise ParameterError and store nothing. `dem_root`
    confines a DEM to that directory (runs requested through the API)."""
    if analysis not in ANALYSES:
        raise ParameterError(f"unknown analysis {analysis!r}; known: {', '.join(ANALYSES)}")
    params = validate(analysis, given, dem_root)
    with db.connect(url, autocommit=True) as conn:
        ags = municipality or default_municipality(conn)
        _boundary(conn, ags)
        row = conn.execute(
            f"""INSERT INTO coverage_runs (analysis, municipality, parameters, actor)
                VALUES (%s, %s, %s, %s) RETURNING {RUN_COLUMNS}""",
            (analysis, ags, Jsonb(params), actor),
        ).fetchone()
    return row


def _engine(analysis: str) -> Callable[[Context], dict[str, Any]]:
    if analysis == "fiber":
        from netzatlas.coverage.fiber import run
    elif analysis == "mobile":
        from netzatlas.coverage.mobile import run
    else:
        from netzatlas.coverage.iot import run
    return run


def execute(url: str, run_id: UUID | str, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Run a queued run to its end. Never raises for a failing engine: the run is marked failed."""
    started = time.perf_counter()
    with db.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"""UPDATE coverage_runs SET status = 'running', started_at = now(), progress = 0, worker = %s,
                       message = 'started'
                WHERE id = %s AND status = 'queued' RETURNING {RUN_COLUMNS}""",
            (worker_id(), str(run_id)),
        ).fetchone()
        if row is None:
            raise RunError(f"run {run_id} does not exist or is not queued")
        last = [0.0]

        def report(fraction: float, message: str) -> None:
            fraction = min(max(fraction, 0.0), 1.0)
            now = time.monotonic()
            if progress:
                progress(fraction, message)
            if now - last[0] >= 0.25 or fraction >= 1.0:  # at most four progress writes a second
                last[0] = now
                conn.execute(
                    "UPDATE coverage_runs SET progress = %s, message = %s WHERE id = %s",
                    (fraction, message, str(run_id)),
                )

        try:
            boundary = _boundary(conn, row["municipality"])
            ctx = Context(url, str(run_id), row["analysis"], row["municipality"], row["parameters"], boundary, report)
            result = _engine(row["analysis"])(ctx)
            ctx.timings["total"] = round(time.perf_counter() - started, 3)
            return conn.execute(
                f"""UPDATE coverage_runs SET status = 'succeeded', progress = 1, message = 'done', finished_at = now(),
                           model = %s, input_counts = %s, statistics = %s, outputs = %s, timings = %s
                    WHERE id = %s RETURNING {RUN_COLUMNS}""",
                (
                    Jsonb(result["model"]),
                    Jsonb(result["input_counts"]),
                    Jsonb(result["statistics"]),
                    Jsonb(result.get("outputs", {})),
                    Jsonb(ctx.timings),
                    str(run_id),
                ),
            ).fetchone()
        except BaseException as e:
            fail(url, run_id, e)
            if not isinstance(e, Exception):
                raise
            return get(url, run_id)


def fail(url: str, run_id: UUID | str, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}".strip()
    detail = "".join(traceback.format_exception(exc))[-4000:]
    with db.connect(url, autocommit=True) as conn:
        conn.execute(
            """UPDATE coverage_runs SET status = 'failed', finished_at = now(), message = %s, error = %s
               WHERE id = %s AND status IN ('queued', 'running')""",
            (message.splitlines()[0][:500], detail, str(run_id)),
        )
        # partial results of a failed run (written by parts committed separately) are removed
        for table in (
            "coverage_buildings",
            "coverage_devices",
            "coverage_cells",
            "coverage_districts",
            "coverage_gaps",
        ):
            conn.execute(f"DELETE FROM {table} WHERE run_id = %s", (str(run_id),))


def reap_orphans(url: str) -> int:
    """Mark runs failed whose worker process on this host is gone (a crash or a stop mid-run)."""
    host = socket.gethostname()
    with db.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, worker FROM coverage_runs WHERE status = 'running' AND worker LIKE %s", (f"{host}:%",)
        ).fetchall()
        dead = []
        for r in rows:
            pid = int(r["worker"].rsplit(":", 1)[1])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(r["id"])
            except PermissionError:
                pass
        if dead:
            conn.execute(
                """UPDATE coverage_runs SET status = 'failed', finished_at = now(),
                          message = 'the process running it stopped', error = 'worker process ended mid-run'
                   WHERE id = ANY(%s)""",
                (dead,),
            )
    return len(dead)


def get(url: str, run_id: UUID | str) -> dict[str, Any]:
    try:
        UUID(str(run_id))
    except ValueError:
        raise RunError(f"no run {run_id!r}") from None
    with db.connect(url) as conn:
        row = conn.execute(f"SELECT {RUN_COLUMNS} FROM coverage_runs WHERE id = %s", (str(run_id),)).fetchone()
    if row is None:
        raise RunError(f"no run {run_id!r}")
    return row


def list_runs(url: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return conn.execute(
            f"SELECT {RUN_COLUMNS} FROM coverage_runs ORDER BY created_at DESC, id LIMIT %s OFFSET %s", (limit, offset)
        ).fetchall()


def latest(conn: psycopg.Connection, analysis: str, municipality: str) -> dict[str, Any] | None:
    return conn.execute(
        f"""SELECT {RUN_COLUMNS} FROM coverage_runs WHERE analysis = %s AND municipality = %s AND status = 'succeeded'
            ORDER BY finished_at DESC LIMIT 1""",
        (analysis, municipality),
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
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Create and execute a run in this process."""
    row = create(url, analysis, municipality, given, actor)
    return execute(url, row["id"], progress)
