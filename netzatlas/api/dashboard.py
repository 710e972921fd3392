"""The planner's dashboard at /dashboard: coverage per district and for the municipality.

Every number comes from the stored coverage runs (statistics of the run, `coverage_districts` of the run,
`coverage_devices`), so the dashboard shows exactly what `/jobs/{id}/results` and the coverage collections
report. The same summary is served as JSON (`f=json`), CSV and GeoPackage. It is of one municipality (the first
by AGS, or `?municipality=AGS`) and of that municipality's runs only; row-level security decides which runs exist
for the caller.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Request, Response
from pyogrio.raw import write
from shapely import from_wkb, to_wkb
from starlette.concurrency import run_in_threadpool

from netzatlas.api.errors import ApiError, bad_request, not_found
from netzatlas.api.html import render
from netzatlas.api.negotiation import json_response, wants_html
from netzatlas.api.pages import choose, html_error, municipalities
from netzatlas.coverage import runs
from netzatlas.registry import access

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
# District columns weighted by population: without population they are unknown (never 0).
POPULATION_KEYS = ("mobile_share_population", "white_share_population", "grey_share_population")
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
    cols = (
        "id::text, analysis, status, statistics, parameters, created_at, finished_at, sensitivity, "
        "model->'validity' AS validity"
    )
    if run_id:
        rows = await _fetch(
            request, f"SELECT {cols} FROM coverage_runs WHERE id::text = %s AND municipality = %s", (run_id, ags)
        )
        if not rows or rows[0]["analysis"] != analysis or rows[0]["status"] != "succeeded":
            raise bad_request(f"{analysis}: {run_id[:40]!r} is no succeeded {analysis} run of municipality {ags}")
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


# The path-loss models a run may use, as the run's model sentence names them, and the quantities flagged.
MODEL_NAMES = {"uma": "3GPP TR 38.901 UMa", "umi": "3GPP TR 38.901 UMi street canyon", "hata": "COST-231 Hata"}
QUANTITIES = {
    "frequency": ("frequency", "frequency_mhz", "MHz"),
    "distance": ("distance", "distance_m", "m"),
    "bs_height": ("antenna height", "bs_height_m", "m"),
    "ue_height": ("receiver height", "ue_height_m", "m"),
}


def _transmitter_name(f: dict[str, Any]) -> str:
    """A flagged transmitter as the run's messages name it: site S (operator) antenna A cell C, layer; gateway G."""
    if f.get("gateway") is not None:
        name = f"gateway {f['gateway']}"
    else:
        name = f"site {f.get('site')}" + (f" ({f['operator']})" if f.get("operator") else "")
        name += "".join(f" {k} {f[k]}" for k in ("antenna", "cell", "sector") if f.get(k) not in (None, ""))
        if f.get("layer"):
            name += f", {f['layer']}"
    if f.get("technology") and f.get("link"):
        name += f" ({f['technology']}, {f['link']})"
    return name


def _validity(analysis: str, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """How many of a mobile or IoT run's transmitters its path-loss model was used for outside its validity range,
    per quantity (frequency, distance, heights), and which they were.

    The counts are aggregates of the run and shown to whoever sees the run (row-level security, publication), like
    the dashboard's other figures; the flagged transmitters name sites, antennas and gateways, so they are listed
    only to a caller who sees the run's details (access.sees_run_details), as its rasters are. None for a run
    recorded before validity flags existed."""
    v = (run or {}).get("validity")
    if not isinstance(v, dict):
        return None
    if analysis == "mobile":
        # radio cells since the antenna/cell model; a run recorded before it counted sectors
        key = "cells" if "cells_evaluated" in v else "sectors"
        unit = "radio cells" if key == "cells" else "sectors"
        evaluated, outside = v.get(f"{key}_evaluated"), v.get(f"{key}_outside")
        by_quantity, flagged = v.get(f"{key}_outside_by_quantity") or {}, v.get(key) or []
        parts = None
    else:
        unit = "transmitters"
        gw, lte = v.get("gateways_evaluated"), v.get("lte_cells_evaluated")
        evaluated = gw + lte if isinstance(gw, int) and isinstance(lte, int) else None
        outside = v.get("transmitters_outside")
        by_quantity, flagged = v.get("transmitters_outside_by_quantity") or {}, v.get("transmitters") or []
        parts = {
            "lorawan_gateways": {"evaluated": gw, "outside": v.get("gateways_outside")},
            "lte_cells": {"evaluated": lte, "outside": v.get("lte_cells_outside")},
        }
    if not isinstance(outside, int):
        return None
    model = (run or {}).get("parameters", {}).get("model") or "uma"
    ranges = v.get("ranges") or {}
    quantities = []
    # in the order frequency, distance, antenna height, receiver height (jsonb keeps keys in its own order)
    for q, n in sorted(by_quantity.items(), key=lambda kv: list(QUANTITIES).index(kv[0]) if kv[0] in QUANTITIES else 9):
        label, range_key, unit_q = QUANTITIES.get(q, (q, q, ""))
        lo_hi = ranges.get(range_key)
        quantities.append(
            {
                "quantity": q,
                "label": label,
                "outside": n,
                "range": f"{lo_hi[0]:g}-{lo_hi[1]:g} {unit_q}".strip() if lo_hi else None,
            }
        )
    details = access.sees_run_details((run or {}).get("sensitivity") or "")
    listed = None
    if details:
        listed = [
            {
                "name": _transmitter_name(f),
                "outside": f.get("outside") or {},
                "text": "; ".join(f"{QUANTITIES.get(k, (k,))[0]} {t}" for k, t in (f.get("outside") or {}).items()),
            }
            for f in flagged
        ]
    return {
        "model": model,
        "model_name": MODEL_NAMES.get(model, model),
        "unit": unit,
        # the run's statistic with the same count
        "statistic": {"radio cells": "radio_cells", "sectors": "sectors"}.get(unit, unit) + "_outside_validity",
        "evaluated": evaluated,
        "outside": outside,
        "by_quantity": quantities,
        **({"parts": parts} if parts else {}),
        # None: withheld from this caller (the run's details keep its sensitivity), not "none flagged"
        "flagged": listed,
    }


def _population(mobile: dict[str, Any] | None) -> float | None:
    """The population the latest mobile run weighted its shares with; None (unknown) when it found none: a
    municipality has people, so 0 means no population is registered for it."""
    value = (mobile or {}).get("population")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


async def summary(request: Request) -> dict[str, Any]:
    """Municipality totals and the district table of the chosen (default: latest) runs."""
    q = request.query_params
    known = await municipalities(request)
    municipality = choose(request, known)
    if municipality is None:
        raise not_found("no municipality is registered")
    ags = municipality["ags"]
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
    if chosen["mobile"]:
        # a mobile run without population for a district (no population registered there): "unknown", not 0
        for row in rows.values():
            row["_unknown"] = [k for k in POPULATION_KEYS if row.get(k) is None]
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
        "municipality": {"ags": ags, "name": municipality["name"]},
        "municipalities": [{"ags": m["ags"], "name": m["name"]} for m in known],
        "runs": {
            a: ({"id": r["id"], "finished_at": r["finished_at"].isoformat()} if r else None) for a, r in chosen.items()
        },
        "statistics": stats,
        "population": _population(stats["mobile"]),
        "validity": {a: _validity(a, chosen[a]) for a in ("mobile", "iot")},
        "technologies": technologies,
        "unconnected": unconnected,
        "districts": [{k: v for k, v in row.items()} for row in rows.values()],
    }


def _public(s: dict[str, Any]) -> dict[str, Any]:
    return {**s, "districts": [{k: v for k, v in d.items() if not k.startswith("_")} for d in s["districts"]]}


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request) -> Response:
    html = wants_html(request)
    try:
        s = await summary(request)
        comparison = await _comparison(request, s["municipality"]["ags"])
    except ApiError as e:
        if html:  # a browser gets the error as a page, with the same status and description
            return html_error(request, e)
        raise
    if not html:
        return json_response(
            {**_public(s), "comparison": comparison},
        )
    recent = await _fetch(
        request,
        """SELECT id::text, analysis, finished_at FROM coverage_runs
           WHERE municipality = %s AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 30""",
        (s["municipality"]["ags"],),
    )
    # the downloads and the JSON link name the municipality shown, also when it was the default
    query = urlencode(
        [
            *((k, v) for k, v in request.query_params.multi_items() if k != "municipality"),
            ("municipality", s["municipality"]["ags"]),
        ]
    )
    return render(
        request,
        "dashboard.html",
        s=s,
        columns=DISTRICT_COLUMNS,
        charts=CHARTS,
        recent=recent,
        comparison=comparison,
        query=query,
    )


async def _comparison(request: Request, ags: str) -> dict[str, Any] | None:
    """Runs `a` and `b` compared; both must be runs of the municipality shown."""
    q = request.query_params
    if not (q.get("a") and q.get("b")):
        return None
    ids = [q["a"], q["b"]]
    found = {
        r["id"]
        for r in await _fetch(
            request, "SELECT id::text FROM coverage_runs WHERE id::text = ANY(%s) AND municipality = %s", (ids, ags)
        )
    }
    for run_id in ids:
        if run_id not in found:
            raise bad_request(f"compare: {run_id[:40]!r} is no run of municipality {ags}")
    try:
        return await run_in_threadpool(runs.compare, request.app.state.database_url, q["a"], q["b"])
    except (runs.RunError, LookupError, ValueError) as e:
        raise bad_request(f"compare: {e}") from None


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
