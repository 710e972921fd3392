"""The access matrix: every route of the application, for anonymous, two partners, a planner and an admin,
over a registry with internal and critical assets, their history and runs derived from them.

Row-level security (migration 0006) decides what exists for a caller; this test reads every route as each
caller and looks for anything of non-public origin in the answer: the ids and names of hidden assets and the
ids of runs derived from them, in JSON, HTML, CSV, GeoPackage and vector tiles alike. It fails when the app
grows a route that is not in the matrix.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import pytest

from netzatlas import db, migrate
from netzatlas.api.app import create_app
from netzatlas.coverage import runs
from netzatlas.demo import load as demo
from netzatlas.registry import keys

from .conftest import make_database, serve_database

CALLERS = ("anonymous", "partner", "other_partner", "planner", "admin")
PARTNER_OP = "funknetz-nord"  # owns the critical site
OTHER_OP = "rheinfaser"


@dataclass
class World:
    url: str
    db_url: str
    keys: dict[str, str]
    secret_assets: dict[str, tuple[str, str, str]]  # id -> (collection, operator, name)
    critical_site: str
    public_then: tuple[str, str]  # a sensor critical now, public at this time (ISO)
    runs: dict[str, str]  # "mobile" (critical inputs), "public" (inputs=public), "fiber" (internal inputs)
    submission: str  # a delivery of PARTNER_OP

    def headers(self, caller: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[caller]}"} if caller in self.keys else {}

    def forbidden(self, caller: str) -> set[str]:
        """Strings that must not reach this caller: ids and names of assets and runs it may not see."""
        if caller in ("planner", "admin"):
            return set()
        out: set[str] = set()
        own = {"partner": PARTNER_OP, "other_partner": OTHER_OP}.get(caller)
        for aid, (_, operator, name) in self.secret_assets.items():
            if operator == own:  # a partner sees its own operator's assets
                continue
            out |= {aid, name}
        return out | {self.runs["mobile"], self.runs["fiber"]}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    name = f"netzatlas_test_matrix_{os.getpid()}"
    db_url = make_database(name)
    migrate.upgrade(db_url)
    with db.transaction(db_url, actor=demo.DEMO_ACTOR) as c:
        demo.load(c)
        # one mobile site of PARTNER_OP critical, with a name to look for
        site = c.execute(
            "SELECT id::text FROM assets_mobile_sites WHERE operator = %s ORDER BY external_id LIMIT 1", (PARTNER_OP,)
        ).fetchone()["id"]
        c.execute(
            "UPDATE assets SET sensitivity = 'critical', name = 'SECRET site', version = version + 1 WHERE id = %s",
            (site,),
        )
        # a sensor that was public and is critical now
        sensor = c.execute(
            "SELECT id::text, updated_at FROM assets_sensors WHERE sensitivity = 'public' ORDER BY external_id LIMIT 1"
        ).fetchone()
        c.execute("SELECT pg_sleep(0.05)")
        sub = c.execute(
            "INSERT INTO submissions (operator, filename, status) VALUES (%s, 'SECRET-delivery.gpkg', 'loaded') "
            "RETURNING id::text",
            (PARTNER_OP,),
        ).fetchone()["id"]
        made = {
            "partner": keys.create_key(c, "partner", PARTNER_OP, label="matrix"),
            "other_partner": keys.create_key(c, "partner", OTHER_OP, label="matrix"),
            "planner": keys.create_key(c, "planner", label="matrix"),
            "admin": keys.create_key(c, "admin", label="matrix"),
        }
    then = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.05)
    with db.transaction(db_url, actor=demo.DEMO_ACTOR) as c:
        c.execute(
            "UPDATE assets SET sensitivity = 'critical', name = 'SECRET sensor', version = version + 1 WHERE id = %s",
            (sensor["id"],),
        )
        secret = {
            r["id"]: (r["kind"], r["operator"], r["name"] or r["id"])
            for r in c.execute(
                "SELECT id::text, kind, operator, name FROM assets WHERE sensitivity <> 'public'"
            ).fetchall()
        }
        c.execute("ANALYZE")
    made_runs = {
        "mobile": str(runs.start(db_url, "mobile", None, {"resolution_m": 100})["id"]),
        "public": str(runs.start(db_url, "mobile", None, {"resolution_m": 100, "inputs": "public"})["id"]),
        "fiber": str(runs.start(db_url, "fiber", None, {})["id"]),
    }
    with serve_database(db_url, "matrix") as base:
        yield World(base, db_url, made, secret, site, (sensor["id"], then), made_runs, sub)
    db.drop_database(name)


def _routes() -> set[tuple[str, str]]:
    app = create_app("postgresql://nobody@/none?host=/nonexistent")

    def walk(routes):  # FastAPI wraps included routers
        for r in routes:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)
            elif hasattr(r, "path"):
                for m in getattr(r, "methods", None) or {"MOUNT"}:
                    if m != "HEAD":
                        yield m, r.path

    return set(walk(app.routes))


def _tile(w: World) -> str:
    with db.connect(w.db_url) as c:
        p = c.execute(
            "SELECT ST_X(g) AS x, ST_Y(g) AS y FROM (SELECT ST_Transform(geom, 4326) AS g FROM assets WHERE id = %s) s",
            (w.critical_site,),
        ).fetchone()
    t = morecantile.tms.get("WebMercatorQuad").tile(p["x"], p["y"], 14)
    return f"14/{t.y}/{t.x}"


def _reads(w: World) -> dict[tuple[str, str], list[str]]:
    """Concrete GET requests per route of the table."""
    tile = _tile(w)
    colls = [
        "fiber-routes",
        "network-nodes",
        "mobile-sites",
        "sensors",
        "actuators",
        "iot-gateways",
        "coverage-cells",
        "coverage-districts",
        "coverage-gaps",
        "buildings",
    ]
    secret_items = [f"/collections/{k}/items/{i}" for i, (k, _, _) in w.secret_assets.items()][:40]
    sensor, then = w.public_then
    job_paths = [w.runs["mobile"], w.runs["fiber"], w.runs["public"]]
    return {
        ("GET", "/"): ["/"],
        ("GET", "/conformance"): ["/conformance"],
        ("GET", "/collections"): ["/collections", "/collections?f=html"],
        ("GET", "/collections/{collection_id}"): [f"/collections/{c}" for c in colls],
        ("GET", "/collections/{collection_id}/queryables"): ["/collections/sensors/queryables"],
        ("GET", "/collections/{collection_id}/items"): [
            *(f"/collections/{c}/items?limit=10000" for c in colls),
            "/collections/mobile-sites/items?f=html&limit=1000",
            f"/collections/sensors/items?limit=10000&asOf={then}",
            f"/collections/coverage-cells/items?limit=10000&run_id={w.runs['mobile']}",
        ],
        ("GET", "/collections/{collection_id}/items/{feature_id}"): [
            *secret_items,
            f"/collections/sensors/items/{sensor}?asOf={then}",
        ],
        ("GET", "/collections/{collection_id}/items/{feature_id}/history"): [f"{p}/history" for p in secret_items],
        ("GET", "/submissions/{submission_id}"): [f"/submissions/{w.submission}"],
        ("GET", "/collections/{collection_id}/template"): ["/collections/sensors/template"],
        ("GET", "/tileMatrixSets"): ["/tileMatrixSets"],
        ("GET", "/tileMatrixSets/{tms_id}"): ["/tileMatrixSets/WebMercatorQuad"],
        ("GET", "/collections/{collection_id}/tiles"): ["/collections/mobile-sites/tiles"],
        ("GET", "/collections/{collection_id}/tiles/{tms_id}"): ["/collections/mobile-sites/tiles/WebMercatorQuad"],
        ("GET", "/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}"): [
            f"/collections/{c}/tiles/WebMercatorQuad/{tile}" for c in colls
        ],
        ("GET", "/tiles"): ["/tiles"],
        ("GET", "/tiles/{tms_id}"): ["/tiles/WebMercatorQuad"],
        ("GET", "/tiles/{tms_id}/{z}/{y}/{x}"): [f"/tiles/WebMercatorQuad/{tile}"],
        ("GET", "/map"): ["/map"],
        ("GET", "/dashboard"): ["/dashboard", "/dashboard?f=json"],
        ("GET", "/dashboard/districts.csv"): ["/dashboard/districts.csv"],
        ("GET", "/dashboard/districts.gpkg"): ["/dashboard/districts.gpkg"],
        ("GET", "/jobs/{job_id}/outputs/{name}/preview.png"): [
            f"/jobs/{j}/outputs/rsrp.tif/preview.png" for j in job_paths
        ],
        ("GET", "/processes"): ["/processes"],
        ("GET", "/processes/{process_id}"): ["/processes/coverage-mobile"],
        ("GET", "/jobs"): ["/jobs?limit=1000"],
        ("GET", "/jobs/{job_id}"): [f"/jobs/{j}" for j in job_paths],
        ("GET", "/jobs/{job_id}/results"): [f"/jobs/{j}/results" for j in job_paths],
        ("GET", "/jobs/{job_id}/outputs/{name}"): [f"/jobs/{j}/outputs/rsrp.tif" for j in job_paths],
        ("GET", "/jobs/{job_id}/results/{name}"): [f"/jobs/{j}/results/districts" for j in job_paths],
        ("GET", "/api"): ["/api"],
        ("GET", "/health"): ["/health"],
        ("GET", "/signin"): ["/signin?next=/dashboard"],
        ("MOUNT", "/static"): ["/static/map.js"],
        # admin only (401/403 for the others); tests/test_municipalities.py tests what they answer
        ("GET", "/municipalities"): ["/municipalities"],
        ("GET", "/municipalities/{ags}"): ["/municipalities/07319000"],
        ("GET", "/operators"): ["/operators"],
        ("GET", "/operators/{operator_id}"): [f"/operators/{PARTNER_OP}"],
        # the open-data catalogue: always the anonymous view (tests/test_catalog.py validates it)
        ("GET", "/catalog"): ["/catalog", "/catalog?f=ttl", "/catalog?f=jsonld"],
        # the same catalogue as OGC API Records (tests/test_catalog.py compares it with /catalog)
        ("GET", "/collections/catalog"): ["/collections/catalog", "/collections/catalog?f=html"],
        ("GET", "/collections/catalog/items"): [
            "/collections/catalog/items?limit=10000",
            "/collections/catalog/items?limit=10000&f=html",
        ],
        ("GET", "/collections/catalog/items/{record_id}"): [
            "/collections/catalog/items/registry-sensors-07319000",
            "/collections/catalog/items/registry-mobile-sites-07319000",
        ],
        # the data inventory: everything for planners and admins, the public rows for the others
        ("GET", "/inventory"): ["/inventory", "/inventory?f=csv", "/inventory?f=html"],
        # open-data downloads (tests/test_catalog.py builds them and searches them for non-public rows)
        ("GET", "/opendata/{ags}/{file}"): ["/opendata/07319000/manifest.json"],
    }


# Writes: who may (beyond these, 401 for anonymous, 403/404 for the others); tests/test_api_transactions.py,
# test_coverage_api.py and test_jobs.py test what they do.
WRITES = {
    ("POST", "/collections/{collection_id}/items"),
    ("PUT", "/collections/{collection_id}/items/{feature_id}"),
    ("PATCH", "/collections/{collection_id}/items/{feature_id}"),
    ("DELETE", "/collections/{collection_id}/items/{feature_id}"),
    ("OPTIONS", "/collections/{collection_id}/items"),
    ("OPTIONS", "/collections/{collection_id}/items/{feature_id}"),
    ("POST", "/submissions"),
    ("POST", "/processes/{process_id}/execution"),
    ("POST", "/jobs/{job_id}/publication"),
    ("DELETE", "/jobs/{job_id}/publication"),
    ("POST", "/municipalities"),
    ("DELETE", "/municipalities/{ags}"),
    ("POST", "/operators"),
}


def test_every_route_is_in_the_matrix(world: World):
    listed = set(_reads(world)) | WRITES
    assert _routes() == listed


@pytest.mark.parametrize("caller", CALLERS)
def test_nothing_of_non_public_origin_reaches_a_caller(world: World, caller: str):
    forbidden = world.forbidden(caller)
    leaks = []
    with httpx.Client(base_url=world.url, headers=world.headers(caller), timeout=60) as client:
        for route, paths in _reads(world).items():
            for path in paths:
                r = client.get(path)
                assert r.status_code < 500, (caller, path, r.text[:300])
                body = r.content
                # what the request itself names may come back in links and error messages
                found = sorted(s for s in forbidden if s.encode() in body and s not in path)
                if found:
                    leaks.append((route[1], path, found[:3]))
    assert leaks == []


def test_planner_sees_what_others_do_not(world: World):
    """The matrix above must be able to fail: the planner's answers hold the secrets."""
    with httpx.Client(base_url=world.url, headers=world.headers("planner"), timeout=60) as client:
        assert "SECRET site" in client.get("/collections/mobile-sites/items?limit=10000").text
        assert client.get(f"/jobs/{world.runs['mobile']}/outputs/rsrp.tif/preview.png").status_code == 200
        history = client.get(f"/collections/sensors/items/{world.public_then[0]}/history").json()
        assert [v["properties"]["sensitivity"] for v in history["versions"]][-2:] == ["public", "critical"]
    partner = httpx.get(
        f"{world.url}/collections/mobile-sites/items/{world.critical_site}", headers=world.headers("partner")
    )
    assert partner.status_code == 200  # its own operator's critical site


def test_as_of_applies_the_stricter_sensitivity(world: World):
    sensor, then = world.public_then
    anonymous = httpx.get(f"{world.url}/collections/sensors/items/{sensor}", params={"asOf": then})
    planner = httpx.get(
        f"{world.url}/collections/sensors/items/{sensor}", params={"asOf": then}, headers=world.headers("planner")
    )
    assert anonymous.status_code == 404 and planner.status_code == 200
    assert planner.json()["properties"]["sensitivity"] == "public"


def test_runs_carry_the_sensitivity_of_their_inputs(world: World):
    planner = world.headers("planner")
    states = {k: httpx.get(f"{world.url}/jobs/{v}", headers=planner).json() for k, v in world.runs.items()}
    assert all(s["status"] == "successful" for s in states.values()), states
    with db.connect(world.db_url) as c:
        rows = c.execute("SELECT id::text, sensitivity FROM coverage_runs").fetchall()
    level = {r["id"]: r["sensitivity"] for r in rows}
    assert level[world.runs["mobile"]] == "critical"
    assert level[world.runs["fiber"]] == "critical"  # the demo has critical routes
    assert level[world.runs["public"]] == "public"
    # the public run was computed without the critical site: its raster and cells are everyone's
    anonymous = httpx.get(f"{world.url}/jobs/{world.runs['public']}/outputs/rsrp.tif/preview.png")
    assert anonymous.status_code == 200
    assert httpx.get(f"{world.url}/jobs/{world.runs['mobile']}").status_code == 404


def test_collection_extents_are_per_visibility(world: World):
    def bbox(caller: str) -> list[float]:
        doc = httpx.get(f"{world.url}/collections/fiber-routes", headers=world.headers(caller)).json()
        return doc["extent"]["spatial"]["bbox"][0]

    assert bbox("planner") != bbox("anonymous")  # every demo route is internal or critical


def test_publishing_opens_aggregates_never_rasters(world: World):
    run = world.runs["mobile"]
    planner = world.headers("planner")
    assert httpx.post(f"{world.url}/jobs/{run}/publication").status_code == 401
    assert httpx.post(f"{world.url}/jobs/{run}/publication", headers=world.headers("partner")).status_code == 403
    r = httpx.post(f"{world.url}/jobs/{run}/publication", headers=planner)
    assert r.status_code == 200 and r.json()["published"], r.text
    try:
        cells = httpx.get(f"{world.url}/collections/coverage-cells/items", params={"run_id": run, "limit": 10})
        assert cells.status_code == 200 and cells.json()["features"]
        assert httpx.get(f"{world.url}/jobs/{run}").status_code == 200
        assert httpx.get(f"{world.url}/jobs/{run}/outputs/rsrp.tif").status_code == 404
        assert httpx.get(f"{world.url}/jobs/{run}/outputs/rsrp.tif/preview.png").status_code == 404
        gaps = httpx.get(f"{world.url}/collections/coverage-gaps/items", params={"run_id": run}).json()
        assert gaps["features"] == []
    finally:
        r = httpx.delete(f"{world.url}/jobs/{run}/publication", headers=planner)
        assert r.status_code == 200 and r.json()["published"] is None
    assert httpx.get(f"{world.url}/jobs/{run}").status_code == 404


def test_sensitivity_left_out_is_kept_and_lowering_needs_a_planner(world: World):
    site = world.critical_site
    partner = world.headers("partner")
    url = f"{world.url}/collections/mobile-sites/items/{site}"
    current = httpx.get(url, headers=partner)
    props = {k: v for k, v in current.json()["properties"].items() if k != "sensitivity"}
    doc = {"type": "Feature", "geometry": current.json()["geometry"], "properties": props}
    r = httpx.put(url, json=doc, headers={**partner, "If-Match": current.headers["etag"]})
    assert r.status_code == 204, r.text
    assert httpx.get(url).status_code == 404  # still critical: anonymous callers do not see it
    again = httpx.get(url, headers=partner)
    assert again.json()["properties"]["sensitivity"] == "critical"
    lowered = {**doc, "properties": {**props, "sensitivity": "public"}}
    r = httpx.put(url, json=lowered, headers={**partner, "If-Match": again.headers["etag"]})
    assert r.status_code == 403 and "lowered" in r.json()["description"]
    assert httpx.get(url).status_code == 404


def test_publishing_from_the_command_line(world: World):
    import subprocess

    cli = [str(Path(sys.executable).parent / "netzatlas"), "coverage", "publish", world.runs["fiber"]]
    env = {**os.environ, "NETZATLAS_DATABASE_URL": world.db_url}
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    try:
        assert httpx.get(f"{world.url}/jobs/{world.runs['fiber']}").status_code == 200
    finally:
        done = subprocess.run([*cli, "--withdraw"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and httpx.get(f"{world.url}/jobs/{world.runs['fiber']}").status_code == 404
    bad = subprocess.run([*cli[:-1], "nope"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no run 'nope'" in bad.stderr


def test_signing_in_from_a_browser(world: World, browser):
    """/signin challenges for Basic credentials; the browser then sends the key on every request of the page."""
    r = httpx.get(f"{world.url}/signin", params={"next": "/dashboard"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.get(f"{world.url}/signin", auth=("planner", "nz_00000000_wrong"))
    assert wrong.status_code == 401
    for target, landed in (("/dashboard", "/dashboard"), ("https://elsewhere.example/", "/dashboard")):
        r = httpx.get(f"{world.url}/signin", params={"next": target}, auth=("planner", world.keys["planner"]))
        assert r.status_code == 303 and r.headers["location"] == landed
    context = browser.new_context(http_credentials={"username": "planner", "password": world.keys["planner"]})
    page = context.new_page()
    page.goto(f"{world.url}/signin?next=/dashboard")
    assert page.url.endswith("/dashboard")
    shown = {e.get_attribute("data-run-id") for e in page.query_selector_all("[data-run]")}
    assert world.runs["fiber"] in shown  # the planner's view: a run of internal inputs
    context.close()
