"""The planner's dashboard at /dashboard: coverage per district and for the municipality.

Every number comes from the stored coverage runs (statistics of the run, `coverage_districts` of the run,
`coverage_devices`), so the dashboard shows exactly what `/jobs/{id}/results` and the coverage collections
report. The same summary is served as JSON (`f=json`), CSV and GeoPackage.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from pyogrio.raw import write
from shapely import from_wkb, to_wkb
from starlette.concurrency import run_in_threadpool

from netzatlas.api.errors import ApiError, bad_request, not_found
from netzatlas.api.html import render
from netzatlas.api.negotiation import json_response, wants_html
from netzatlas.coverage import runs

router = APIRouter()
ANALYSES = ("fiber", "mobile", "iot")
# Columns of the district table: (key, title, kind); kind "share" is a fraction shown as percent.
DISTRICT_COLUMNS = (
    ("name", "District", "text"),
    ("buildings", "Buildings", "int"),
    ("fiber_households_passed", "Homes passed (households)", "int"),
    ("fiber_share_households_passed", "Homes passed (households)", "share"),
    ("fiber_passed", "Buildings passed", "int"),
    ("fiber_share_passed", "Buildings passed", "share"),
    ("fiber_prepared", "Buildings prepared (empty duct or trench)", "int"),
    ("fiber_connected", "Connected", "int"),
    ("fiber_planned", "Passed once planned is built", "int"),
    ("mobile_share_population", "Mobile coverage (population)", "share"),
    ("mobile_share_area", "Mobile coverage (area)", "share"),
    ("white_share_population", "White spot (population)", "share"),
    ("grey_share_population", "Grey spot (population)", "share"),
    ("devices", "Sensors and actuators", "int"),
    ("devices_unavailable", "Without their connectivity", "int"),
)
CHARTS = (
    ("fiber_share_households_passed", "Homes (households) passed by fiber"),
    ("mobile_share_population", "Population with mobile coverage"),
    ("white_share_population", "Population in white spots"),
)


async def _fetch(request: Request, sql: str, params: Any = None) -> list[dict[str, Any]]:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def _run(request: Request, analysis: str, ags: str, run_id: str | None) -> dict[str, Any] | None:
    cols = "id::text, analysis, status, statistics, parameters, created_at, finished_at"
    if run_id:
        rows = await _fetch(request, f"SELECT {cols} FROM coverage_runs WHERE id::text = %s", (run_id,))
        if not rows or rows[0]["analysis"] != analysis or rows[0]["status"] != "succeeded":
            raise bad_request(f"{analysis}: {run_id!r} is no succeeded {analysis} run")
        return rows[0]
    rows = await _fetch(
        request,
        f"""SELECT {cols} FROM coverage_runs WHERE analysis = %s AND municipality = %s AND status = 'succeeded'
            ORDER BY finished_at DESC LIMIT 1""",
        (analysis, ags),
    )
    return rows[0] if rows else None


def _share(metrics: dict[str, Any], key: str, weight: str) -> float | None:
    value = (metrics.get(key) or {}).get(weight)
    return float(value) if value is not None else None


async def summary(request: Request) -> dict[str, Any]:
    """Municipality totals and the district table of the chosen (default: latest) runs."""
    q = request.query_params
    municipalities = await _fetch(request, "SELECT ags, name FROM municipalities ORDER BY ags")
    if not municipalities:
        raise not_found("no municipality is registered")
    ags = q.get("municipality") or municipalities[0]["ags"]
    if ags not in {m["ags"] for m in municipalities}:
        raise not_found(f"no municipality {ags!r}")
    chosen = {a: await _run(request, a, ags, q.get(a)) for a in ANALYSES}
    districts = await _fetch(
        request,
        """SELECT d.id, d.name, ST_AsBinary(d.boundary) AS wkb,
                  (SELECT count(*) FROM buildings b WHERE b.district_id = d.id) AS buildings
           FROM districts d WHERE d.municipality = %s ORDER BY d.name""",
        (ags,),
    )
    rows = {d["id"]: {"name": d["name"], "buildings": d["buildings"], "_wkb": bytes(d["wkb"])} for d in districts}
    for analysis, run in chosen.items():
        if run is None:
            continue
        for r in await _fetch(
            request,
            "SELECT district_id, share_covered, metrics FROM coverage_districts WHERE run_id = %s",
            (run["id"],),
        ):
            row = rows.get(r["district_id"])
            if row is None:
                continue
            m = r["metrics"]
            if analysis == "fiber":
                row.update(
                    fiber_passed=m.get("passed"),
                    fiber_households_passed=m.get("households_passed"),
                    fiber_share_households_passed=(
                        m["households_passed"] / m["households"] if m.get("households") else None
                    ),
                    fiber_prepared=m.get("prepared"),
                    fiber_connected=m.get("connected"),
                    fiber_planned=m.get("planned"),
                    fiber_share_passed=r["share_covered"],
                )
            elif analysis == "mobile":
                row.update(
                    mobile_share_population=_share(m, "covered", "share_population"),
                    mobile_share_area=_share(m, "covered", "share_area"),
                    white_share_population=_share(m, "white", "share_population"),
                    grey_share_population=_share(m, "grey", "share_population"),
                )
            else:
                row.update(devices=m.get("devices"), devices_unavailable=m.get("devices_unavailable"))
    stats = {a: (r["statistics"] if r else None) for a, r in chosen.items()}
    unconnected: list[dict[str, Any]] = []
    if chosen["iot"]:
        unconnected = await _fetch(
            request,
            """SELECT kind, connectivity, count(*) AS devices FROM coverage_devices
               WHERE run_id = %s AND available = false GROUP BY kind, connectivity ORDER BY kind, connectivity""",
            (chosen["iot"]["id"],),
        )
    mobile = (stats["mobile"] or {}).get("coverage", {})
    technologies = {
        k: v
        for k, v in mobile.items()
        if isinstance(v, dict) and (k[:3] in ("LTE", "NR ") or k.startswith("operator "))
    }
    return {
        "municipality": next(m for m in municipalities if m["ags"] == ags),
        "municipalities": municipalities,
        "runs": {
            a: ({"id": r["id"], "finished_at": r["finished_at"].isoformat()} if r else None) for a, r in chosen.items()
        },
        "statistics": stats,
        "technologies": technologies,
        "unconnected": unconnected,
        "districts": [{k: v for k, v in row.items()} for row in rows.values()],
    }


def _public(s: dict[str, Any]) -> dict[str, Any]:
    return {**s, "districts": [{k: v for k, v in d.items() if not k.startswith("_")} for d in s["districts"]]}


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request) -> Response:
    s = await summary(request)
    q = request.query_params
    comparison = None
    if q.get("a") and q.get("b"):
        try:
            comparison = await run_in_threadpool(runs.compare, request.app.state.database_url, q["a"], q["b"])
        except (runs.RunError, LookupError, ValueError) as e:
            raise bad_request(f"compare: {e}") from None
    if not wants_html(request):
        return json_response(
            {**_public(s), "comparison": comparison},
        )
    recent = await _fetch(
        request,
        """SELECT id::text, analysis, finished_at FROM coverage_runs
           WHERE municipality = %s AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 30""",
        (s["municipality"]["ags"],),
    )
    return render(
        request,
        "dashboard.html",
        s=s,
        columns=DISTRICT_COLUMNS,
        charts=CHARTS,
        recent=recent,
        comparison=comparison,
        query=str(request.url.query),
    )


@router.get("/dashboard/districts.csv", include_in_schema=False)
async def districts_csv(request: Request) -> Response:
    s = await summary(request)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([k for k, _, _ in DISTRICT_COLUMNS])
    for d in s["districts"]:
        w.writerow(["" if d.get(k) is None else d.get(k) for k, _, _ in DISTRICT_COLUMNS])
    name = f"netzatlas-{s['municipality']['ags']}-districts.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/dashboard/districts.gpkg", include_in_schema=False)
async def districts_gpkg(request: Request) -> Response:
    s = await summary(request)
    if not s["districts"]:
        raise ApiError(404, "NotFound", "no districts to export")
    geoms = np.array([to_wkb(from_wkb(d["_wkb"])) for d in s["districts"]], dtype=object)
    fields, data = [], []
    for key, _, kind in DISTRICT_COLUMNS:
        values = [d.get(key) for d in s["districts"]]
        if kind == "text":
            data.append(np.array(values, dtype=object))
        else:  # missing numbers as NaN (GeoPackage REAL): a run may be absent
            data.append(np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64))
        fields.append(key)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "districts.gpkg"
        await run_in_threadpool(
            write,
            str(path),
            geometry=geoms,
            field_data=data,
            fields=fields,
            crs="EPSG:25832",
            driver="GPKG",
            geometry_type="MultiPolygon",
            layer="districts",
        )
        body = path.read_bytes()
    name = f"netzatlas-{s['municipality']['ags']}-districts.gpkg"
    return Response(
        body,
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
