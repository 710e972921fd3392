"""OGC API Processes: coverage runs as processes, executed as jobs from a queue in the database.

A job is a coverage run (netzatlas.coverage.runs): its row holds status, progress and timings, so any
worker process of the server answers /jobs/{id}. Execution enqueues the run (within the caps per key and
overall, else 429) and a worker (netzatlas.coverage.worker, in this server or `netzatlas worker`) executes it;
`Prefer: respond-sync` waits for it. Runs left running by a process that died are marked failed by the next
process that looks; queued runs survive restarts.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from netzatlas.api.auth import principal
from netzatlas.api.errors import ApiError, bad_request, not_found
from netzatlas.api.negotiation import JSON, json_response, link, url
from netzatlas.config import get_settings
from netzatlas.coverage import parameters, runs
from netzatlas.coverage.worker import Worker, sweep
from netzatlas.registry import access

router = APIRouter()
log = logging.getLogger("netzatlas.api.processes")
PROCESSES = {"coverage-fiber": "fiber", "coverage-mobile": "mobile", "coverage-iot": "iot"}
TITLES = {
    "fiber": "Fiber homes passed",
    "mobile": "Mobile coverage (LTE/NR)",
    "iot": "IoT connectivity",
}
DESCRIPTIONS = {
    "fiber": "Buildings within the drop distance of in-service fiber routes and distribution nodes; per building, "
    "INSPIRE 100 m cell and district; gap polygons; planned routes counted separately.",
    "mobile": "Best-server RSRP per operator, technology and band (3GPP TR 38.901 UMa/UMi or COST-231 Hata with "
    "the 38.901 sector pattern) as a COG; coverage per cell and district by area, population and buildings; "
    "white and grey spots.",
    "iot": "Sensors and actuators whose stated connectivity is unavailable where they stand (LoRaWAN gateways at "
    "868 MHz, the latest mobile run, fiber); density gaps per sensor type.",
}
STATUS = {"queued": "accepted", "running": "running", "succeeded": "successful", "failed": "failed"}
RUN_STATUS = {v: k for k, v in STATUS.items()}
JOBS_LIMIT_MAX = 1000
JOBS_OFFSET_MAX = 1_000_000
JOBS_PARAMETERS = ("limit", "offset", "status", "processID", "f")
SYNC_MIN_RESOLUTION_M = 10.0  # finer raster runs asked for synchronously run as jobs instead
RESULT_LAYERS = ("coverage-cells", "coverage-districts", "coverage-gaps")


def _pid(process_id: str) -> str:
    if process_id not in PROCESSES:
        raise not_found(f"no process {process_id!r}; see /processes")
    return PROCESSES[process_id]


def _inputs(analysis: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "municipality": {
            "title": "Municipality key (AGS)",
            "description": "Default: the only registered municipality.",
            "minOccurs": 0,
            "schema": {"type": "string", "pattern": "^[0-9]{8}$"},
        }
    }
    for p in parameters.PARAMETERS[analysis]:
        out[p.name] = {"title": p.description, "minOccurs": 0, "schema": p.schema()}
    return out


def _outputs(analysis: str) -> dict[str, Any]:
    out = {
        "statistics": {"title": "Statistics of the run", "schema": {"type": "object"}},
        "model": {"title": "Model, parameters and assumptions", "schema": {"type": "object"}},
        "cells": {"title": "Per INSPIRE 100 m cell (collection coverage-cells)", "schema": {"type": "object"}},
        "districts": {"title": "Per district (collection coverage-districts, CSV)", "schema": {"type": "object"}},
        "gaps": {"title": "Gap polygons (collection coverage-gaps)", "schema": {"type": "object"}},
    }
    cog = {"type": "string", "contentMediaType": "image/tiff; application=geotiff; profile=cloud-optimized"}
    if analysis == "mobile":
        out["rsrp"] = {"title": "Best-server RSRP per operator and band (COG)", "schema": cog}
        out["classes"] = {"title": "White/grey spot classes and operator count (COG)", "schema": cog}
    if analysis == "iot":
        out["lorawan"] = {"title": "Best LoRaWAN gateway level (COG)", "schema": cog}
    return out


def _summary(request: Request, pid: str) -> dict[str, Any]:
    analysis = PROCESSES[pid]
    return {
        "id": pid,
        "title": TITLES[analysis],
        "description": DESCRIPTIONS[analysis],
        "version": "1.0.0",
        "jobControlOptions": ["async-execute", "sync-execute"],
        "outputTransmission": ["value", "reference"],
        "links": [
            link(url(request, f"/processes/{pid}"), "self", JSON, "process description"),
            link(
                url(request, f"/processes/{pid}/execution"),
                "http://www.opengis.net/def/rel/ogc/1.0/execute",
                JSON,
                "execute",
            ),
        ],
    }


@router.get("/processes", tags=["processes"])
async def process_list(request: Request) -> Response:
    return json_response(
        {
            "processes": [_summary(request, pid) for pid in PROCESSES],
            "links": [link(url(request, "/processes"), "self", JSON, "processes")],
        }
    )


@router.get("/processes/{process_id}", tags=["processes"])
async def process_description(request: Request, process_id: str) -> Response:
    analysis = _pid(process_id)
    return json_response({**_summary(request, process_id), "inputs": _inputs(analysis), "outputs": _outputs(analysis)})


def status_info(request: Request, run: dict[str, Any]) -> dict[str, Any]:
    jid = str(run["id"])
    links = [link(url(request, f"/jobs/{jid}"), "self", JSON, "job status")]
    if run["status"] == "succeeded":
        links.append(link(url(request, f"/jobs/{jid}/results"), "http://www.opengis.net/def/rel/ogc/1.0/results", JSON))
    return {
        "type": "process",
        "processID": f"coverage-{run['analysis']}",
        "jobID": jid,
        "status": STATUS[run["status"]],
        "message": run["message"] or "",
        "created": _ts(run["created_at"]),
        "started": _ts(run["started_at"]),
        "finished": _ts(run["finished_at"]),
        "updated": _ts(run["finished_at"] or run["started_at"] or run["created_at"]),
        "progress": round(100 * float(run["progress"])),
        "municipality": run["municipality"],
        "timings": run["timings"],
        "links": links,
    }


def _ts(v: Any) -> str | None:
    return v.isoformat() if v else None


async def _may_run(request: Request) -> str:
    who = await principal(request)
    if who.role not in ("planner", "admin"):
        if who.role == "anonymous":
            raise ApiError(401, "Unauthorized", "coverage runs need a planner key", {"WWW-Authenticate": "Bearer"})
        raise ApiError(403, "Forbidden", "coverage runs need a planner or admin key")
    return f"api:{who.role}:{who.key_prefix}"


async def _wait(request: Request, run_id: str, seconds: float) -> dict[str, Any]:
    """The run once it has finished, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        run = await run_in_threadpool(runs.get, request.app.state.database_url, run_id)
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return run
        if await request.is_disconnected():  # the job goes on; nobody is waiting for the answer any more
            return run
        await asyncio.sleep(0.25)


@router.post("/processes/{process_id}/execution", tags=["processes"])
async def execute(request: Request, process_id: str) -> Response:
    analysis = _pid(process_id)
    actor = await _may_run(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request('the body must be JSON: {"inputs": {...}}') from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
        raise bad_request("the body must be a JSON object with an object 'inputs'")
    inputs = dict(body.get("inputs", {}))
    municipality = inputs.pop("municipality", None)
    db_url = request.app.state.database_url
    settings = get_settings()
    try:
        run = await run_in_threadpool(
            lambda: runs.create(
                db_url,
                analysis,
                municipality,
                inputs,
                actor,
                settings.dem_root,
                per_actor=settings.jobs_per_key,
                total=settings.jobs_total,
                retry_after=settings.jobs_retry_after_s,
            )
        )
    except parameters.ParameterError as e:
        raise bad_request(str(e)) from None
    except runs.QueueFull as e:
        raise ApiError(429, "TooManyJobs", str(e), {"Retry-After": str(e.retry_after)}) from None
    worker = getattr(request.app.state, "jobs", None)
    if worker is not None:
        worker.wake()
    prefer = request.headers.get("prefer", "").lower()
    res = run["parameters"].get("resolution_m")
    small = res is None or res >= SYNC_MIN_RESOLUTION_M
    if "respond-sync" in prefer and small:
        # through the queue like any job (its caps and concurrency limit hold), answered when it has finished
        done = await _wait(request, str(run["id"]), settings.jobs_sync_wait_s)
        if done["status"] == "failed":
            raise ApiError(500, "ServerError", f"run {done['id']} failed: {done['message']}")
        if done["status"] == "succeeded":
            return json_response(
                results_doc(request, done),
                headers={"Preference-Applied": "respond-sync", "Location": _loc(request, done)},
            )
        run = done  # not finished in time: answered as the async job it is
    headers = {"Location": _loc(request, run)}
    if "respond-async" in prefer:
        headers["Preference-Applied"] = "respond-async"
    return json_response(status_info(request, run), status=201, headers=headers)


def _loc(request: Request, run: dict[str, Any]) -> str:
    return url(request, f"/jobs/{run['id']}")


async def _run_or_404(request: Request, job_id: str) -> dict[str, Any]:
    try:
        return await run_in_threadpool(runs.get, request.app.state.database_url, job_id)
    except runs.RunError:
        raise ApiError(
            404, "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job", f"no job {job_id!r}"
        ) from None


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        n = None
    if n is None or not low <= n <= high:
        raise bad_request(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return n


@router.get("/jobs", tags=["processes"])
async def jobs(request: Request) -> Response:
    """Jobs, newest first, paged by limit/offset; status (accepted, running, successful, failed) and processID
    filter them. Bad or unknown parameters are a 400."""
    q = request.query_params
    unknown = sorted(set(q) - set(JOBS_PARAMETERS))
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r}; /jobs takes {', '.join(JOBS_PARAMETERS)}")
    if q.get("f", "json") != "json":
        raise bad_request(f"f must be json, got {q['f']!r}")
    limit = _int(request, "limit", 100, 1, JOBS_LIMIT_MAX)
    offset = _int(request, "offset", 0, 0, JOBS_OFFSET_MAX)
    status = q.get("status")
    if status is not None and status not in RUN_STATUS:
        raise bad_request(f"status must be one of {', '.join(RUN_STATUS)}, got {status!r}")
    process = q.get("processID")
    if process is not None and process not in PROCESSES:
        raise bad_request(f"processID must be one of {', '.join(PROCESSES)}, got {process!r}")
    rows = await run_in_threadpool(
        runs.list_runs,
        request.app.state.database_url,
        limit + 1,  # one more tells whether there is a next page
        offset,
        RUN_STATUS.get(status or ""),
        PROCESSES.get(process or ""),
    )
    page = {"limit": limit, "status": status, "processID": process}
    links = [link(url(request, "/jobs", offset=offset or None, **page), "self", JSON)]
    if len(rows) > limit:
        links.append(link(url(request, "/jobs", offset=offset + limit, **page), "next", JSON))
    if offset:
        links.append(link(url(request, "/jobs", offset=max(offset - limit, 0) or None, **page), "prev", JSON))
    return json_response({"jobs": [status_info(request, r) for r in rows[:limit]], "links": links})


@router.get("/jobs/{job_id}", tags=["processes"])
async def job(request: Request, job_id: str) -> Response:
    return json_response(status_info(request, await _run_or_404(request, job_id)))


def visible_model(run: dict[str, Any]) -> dict[str, Any]:
    """A run's model as the caller may read it. The lists of transmitters flagged outside their model's validity
    name sites, antennas and gateways: a caller who does not see the run's details (a published run that is not
    public) gets the counts without them, as it gets no rasters."""
    model = run["model"] or {}
    validity = model.get("validity")
    if access.sees_run_details(run["sensitivity"]) or not isinstance(validity, dict):
        return model
    kept = {k: v for k, v in validity.items() if not isinstance(v, list)}
    kept["withheld"] = "the flagged transmitters are kept with the run's sensitivity"
    return {**model, "validity": kept}


def results_doc(request: Request, run: dict[str, Any]) -> dict[str, Any]:
    jid = str(run["id"])
    outputs = {
        name: {
            "href": url(request, f"/jobs/{jid}/outputs/{o['file']}"),
            "type": o["media_type"],
            "bands": o["bands"],
            "sha256": o["sha256"],
        }
        for name, o in run["outputs"].items()
    }
    for layer in RESULT_LAYERS:
        outputs[layer.removeprefix("coverage-")] = {
            "href": url(request, f"/collections/{layer}/items", run_id=jid, limit=1000),
            "type": "application/geo+json",
        }
    outputs["districts_csv"] = {"href": url(request, f"/jobs/{jid}/results/districts.csv"), "type": "text/csv"}
    outputs["cells_csv"] = {"href": url(request, f"/jobs/{jid}/results/cells.csv"), "type": "text/csv"}
    return {
        "jobID": jid,
        "processID": f"coverage-{run['analysis']}",
        "municipality": run["municipality"],
        "parameters": run["parameters"],
        "model": visible_model(run),
        "input_counts": run["input_counts"],
        "statistics": run["statistics"],
        "timings": run["timings"],
        "outputs": outputs,
    }


async def _finished(request: Request, job_id: str) -> dict[str, Any]:
    run = await _run_or_404(request, job_id)
    if run["status"] == "failed":
        raise ApiError(500, "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/failed", run["message"] or "")
    if run["status"] != "succeeded":
        raise ApiError(
            404,
            "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/result-not-ready",
            f"job {job_id} is {STATUS[run['status']]}",
        )
    return run


@router.get("/jobs/{job_id}/results", tags=["processes"])
async def results(request: Request, job_id: str) -> Response:
    return json_response(results_doc(request, await _finished(request, job_id)))


@router.get("/jobs/{job_id}/outputs/{name}", tags=["processes"])
async def output_file(request: Request, job_id: str, name: str) -> Response:
    """A raster output: a COG served with HTTP range requests (GDAL /vsicurl/, QGIS)."""
    run = await _finished(request, job_id)
    # a published run opens its aggregates only: a raster shows where its non-public sites are
    files = {o["file"] for o in run["outputs"].values()} if access.sees_run_details(run["sensitivity"]) else set()
    if name not in files:
        raise not_found(f"job {job_id} has no output {name!r}; it has {', '.join(sorted(files)) or 'none'}")
    path = runs.output_dir(run["id"]) / name
    if not path.is_file():
        raise not_found(f"the file of output {name!r} is missing on this server")
    return FileResponse(path, media_type="image/tiff; application=geotiff; profile=cloud-optimized", filename=name)


def _flat(prefix: str, v: Any, out: dict[str, Any]) -> None:
    if isinstance(v, dict):
        for k, x in v.items():
            _flat(f"{prefix}.{k}" if prefix else k, x, out)
    else:
        out[prefix] = v


CSV_TABLES = {
    "districts.csv": ("coverage_districts", "district_id, name", "district_id"),
    "cells.csv": ("coverage_cells", "cell_id", "cell_id"),
}


@router.get("/jobs/{job_id}/results/{name}", tags=["processes"])
async def results_csv(request: Request, job_id: str, name: str) -> Response:
    """Statistics per district or cell as CSV (metrics flattened to columns like covered.share_area)."""
    if name not in CSV_TABLES:
        raise not_found(f"no result {name!r}; available: {', '.join(CSV_TABLES)}")
    run = await _finished(request, job_id)
    table, key_cols, order = CSV_TABLES[name]
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {key_cols}, buildings, population, share_covered, metrics FROM {table} "
            f"WHERE run_id = %s ORDER BY {order}",
            (str(run["id"]),),
        )
        rows = await cur.fetchall()
    flat = []
    for r in rows:
        f: dict[str, Any] = {k: v for k, v in r.items() if k != "metrics"}
        _flat("", r["metrics"], f)
        flat.append(f)
    columns: list[str] = []
    for f in flat:
        columns += [c for c in f if c not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(flat)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{run["analysis"]}-{job_id}-{name}"'},
    )


def install(app: FastAPI) -> None:
    app.include_router(router)


async def start_jobs(app: FastAPI) -> None:
    """At server start: mark failed what dead processes left running, then start this server's job worker."""
    settings = get_settings()
    try:
        await run_in_threadpool(sweep, app.state.database_url)
    except Exception as e:  # the database may not be reachable yet; /health reports that, the worker retries
        log.warning("could not check for orphaned coverage runs: %s", e)
    app.state.jobs = None
    if settings.jobs_in_server:
        app.state.jobs = Worker(
            app.state.database_url, settings.jobs_concurrency, settings.jobs_concurrency, settings.jobs_poll_s
        ).start()


async def stop_jobs(app: FastAPI) -> None:
    """At shutdown: the run in progress goes back to the queue (a later worker runs it again)."""
    worker = getattr(app.state, "jobs", None)
    if worker is not None:
        await run_in_threadpool(worker.stop)
