"""OGC API Processes for coverage runs, and their results as collections, CSV and COG (range requests)."""

from __future__ import annotations

import subprocess
import time

import httpx
import mapbox_vector_tile
import morecantile

from .conftest import Served


def _auth(s: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {s.planner_key}"}


def wait(s: Served, location: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(location, headers=_auth(s), timeout=30).json()
        if job["status"] in ("successful", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def _running(s: Served) -> int:
    return sum(
        j["status"] in ("accepted", "running")
        for j in httpx.get(f"{s.url}/jobs", headers=_auth(s), timeout=30).json()["jobs"]
    )


def test_processes_describe_inputs_and_outputs(served: Served):
    procs = httpx.get(f"{served.url}/processes").json()["processes"]
    assert {p["id"] for p in procs} == {"coverage-fiber", "coverage-mobile", "coverage-iot"}
    d = httpx.get(f"{served.url}/processes/coverage-mobile").json()
    assert d["inputs"]["resolution_m"]["schema"]["default"] == 25.0
    assert d["inputs"]["model"]["schema"]["enum"] == ["uma", "umi", "hata"]
    assert "rsrp" in d["outputs"] and "async-execute" in d["jobControlOptions"]
    assert httpx.get(f"{served.url}/processes/nope").status_code == 404


def test_async_execution_job_and_results(served: Served):
    r = httpx.post(
        f"{served.url}/processes/coverage-fiber/execution",
        json={"inputs": {"drop_distance_m": 40}},
        headers=_auth(served),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location.startswith(served.url + "/jobs/") and r.json()["status"] in ("accepted", "running", "successful")
    job = wait(served, location)
    assert job["status"] == "successful" and job["progress"] == 100 and job["finished"]
    assert "total" in job["timings"]
    res = httpx.get(f"{location}/results", headers=_auth(served), timeout=30).json()
    assert res["parameters"]["drop_distance_m"] == 40 and res["statistics"]["buildings"] == 17729
    assert 0 < res["statistics"]["passed"] < 17729 and "40 m" in res["model"]["description"]
    ids = {j["jobID"] for j in httpx.get(f"{served.url}/jobs", headers=_auth(served)).json()["jobs"]}
    assert job["jobID"] in ids
    # results as collections filtered by run, and as CSV
    cells = httpx.get(res["outputs"]["cells"]["href"], headers=_auth(served), timeout=30).json()
    assert cells["features"] and all(f["properties"]["run_id"] == job["jobID"] for f in cells["features"])
    gaps = httpx.get(
        f"{served.url}/collections/coverage-gaps/items",
        params={"run_id": job["jobID"], "gap": "unpassed"},
        headers=_auth(served),
        timeout=30,
    ).json()
    assert gaps["features"] and gaps["features"][0]["geometry"]["type"] == "MultiPolygon"
    districts = httpx.get(res["outputs"]["districts_csv"]["href"], headers=_auth(served), timeout=30)
    assert districts.headers["content-type"].startswith("text/csv")
    lines = districts.text.splitlines()
    assert lines[0].startswith("district_id,name,buildings,population,share_covered") and len(lines) == 15


def test_sync_execution_and_cog_over_http(served: Served):
    r = httpx.post(
        f"{served.url}/processes/coverage-mobile/execution",
        json={"inputs": {"resolution_m": 25}},
        headers={**_auth(served), "Prefer": "respond-sync"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    assert r.headers["preference-applied"] == "respond-sync"
    res = r.json()
    assert res["statistics"]["radio_cells"] > 100 and res["model"]["assumptions"]["receiver_height_m"] == 1.5
    href = res["outputs"]["rsrp"]["href"]
    part = httpx.get(href, headers={**_auth(served), "Range": "bytes=0-1023"}, timeout=30)
    assert part.status_code == 206 and len(part.content) == 1024 and part.content[:2] in (b"II", b"MM")
    info = subprocess.run(["gdalinfo", f"/vsicurl/{href}"], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "LAYOUT=COG" in info.stdout and "any operator" in info.stdout and "Overviews" in info.stdout


def test_bad_parameters_400_and_nothing_running(served: Served):
    before = len(httpx.get(f"{served.url}/jobs", headers=_auth(served)).json()["jobs"])
    for inputs in (
        {"resolution_m": -1},
        {"model": "okumura"},
        {"threshold_dbm": 5},
        {"municipality": "00000000"},
        {"dem": "/etc/passwd"},  # through the API a DEM is a file in the server's DEM directory, never a path
        {"dem": "../../../../etc/passwd"},
        {"dem": "missing.tif"},
    ):
        r = httpx.post(
            f"{served.url}/processes/coverage-mobile/execution",
            json={"inputs": inputs},
            headers=_auth(served),
            timeout=30,
        )
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameterValue", r.text
    r = httpx.post(
        f"{served.url}/processes/coverage-mobile/execution", content=b"{not json", headers=_auth(served), timeout=30
    )
    assert r.status_code == 400
    assert len(httpx.get(f"{served.url}/jobs", headers=_auth(served)).json()["jobs"]) == before
    assert httpx.post(f"{served.url}/processes/coverage-fiber/execution", json={}).status_code == 401
    assert httpx.get(f"{served.url}/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert httpx.get(f"{served.url}/jobs/nope/results").status_code == 404


def _fiber_run(s: Served, drop: int) -> str:
    r = httpx.post(
        f"{s.url}/processes/coverage-fiber/execution",
        json={"inputs": {"drop_distance_m": drop}},
        headers={**_auth(s), "Prefer": "respond-sync"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    return r.json()["jobID"]


def test_coverage_tiles_hold_the_latest_runs_and_items_every_run(served: Served):
    older, latest = _fiber_run(served, 30), _fiber_run(served, 35)
    # a z12 tile over the city centre (Worms): cells of the latest fiber run only, without the metrics JSON
    tile = morecantile.tms.get("WebMercatorQuad").tile(8.36, 49.63, 12)
    r = httpx.get(
        f"{served.url}/collections/coverage-cells/tiles/WebMercatorQuad/12/{tile.y}/{tile.x}",
        headers=_auth(served),
        timeout=60,
    )
    assert r.status_code == 200, r.text
    props = [f["properties"] for f in mapbox_vector_tile.decode(r.content)["coverage-cells"]["features"]]
    fiber = {p["run_id"] for p in props if p["analysis"] == "fiber"}
    assert fiber == {latest}
    assert all("metrics" not in p for p in props)
    # every run's cells remain items; run_id compares as a uuid, and a value that is no uuid matches nothing
    for run in (older, latest):
        page = httpx.get(
            f"{served.url}/collections/coverage-cells/items",
            params={"run_id": run.upper(), "limit": 5},
            headers=_auth(served),
            timeout=30,
        ).json()
        assert page["features"] and {f["properties"]["run_id"] for f in page["features"]} == {run}
    nothing = httpx.get(f"{served.url}/collections/coverage-cells/items", params={"run_id": "x' OR 1=1"}, timeout=30)
    assert nothing.status_code == 200 and nothing.json()["features"] == []
    nul = httpx.get(f"{served.url}/collections/coverage-cells/items", params={"run_id": "\x00"}, timeout=30)
    assert nul.status_code == 400 and "NUL" in nul.json()["description"]
