"""The map and the dashboard with several municipalities, in Chromium: Worms (the demo), an invented second
municipality with districts, sensors and runs but no population, and an invented third one with only its
boundary. Each page shows one municipality: zoomed to it, its districts only, its runs only."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page
from shapely.geometry import Point, Polygon

from netzatlas import db, migrate
from netzatlas.coverage import runs
from netzatlas.demo import load as demo
from netzatlas.registry import keys, reference, service

from .conftest import ARTIFACTS, make_database, serve_database, wait_until

WORMS = "07319000"
SECOND = "07999002"  # invented: districts, sensors, a gateway, runs; no population registered
EMPTY = "07999003"  # invented: a boundary only (no districts, no assets, no runs)
READY = "window.netzatlasMap && window.netzatlasMap.loaded() && window.netzatlasMap.areTilesLoaded()"

# An irregular town some 30 km west of Worms (EPSG:25832), cut by a brook into two districts, the way a town's
# boundary file has it. "Innenstadt" is also a district of Worms: names repeat between municipalities.
SECOND_BOUNDARY = Polygon(
    [(416200, 5476100), (421900, 5475400), (424800, 5478300), (424100, 5483600), (419700, 5484900),
     (415600, 5482200), (414900, 5478700)]
)  # fmt: skip
BROOK = [(419300, 5475000), (419800, 5480000), (420400, 5485500)]
EMPTY_BOUNDARY = Polygon(
    [(402100, 5467300), (405600, 5466800), (406900, 5469900), (404300, 5472400), (401500, 5470600)]
)  # fmt: skip


@dataclass
class Towns:
    url: str
    db_url: str
    planner: str
    runs: dict[str, str]  # "second-coarse" and "second-mobile" (the latest), "second-iot", "worms-mobile"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.planner}"}


def _districts() -> list[dict]:
    from shapely.geometry import LineString
    from shapely.ops import split

    west, east = sorted(split(SECOND_BOUNDARY, LineString(BROOK)).geoms, key=lambda g: g.centroid.x)
    return [{"name": "Innenstadt", "boundary": east}, {"name": "Oberdorf", "boundary": west}]


@pytest.fixture(scope="module")
def towns() -> Iterator[Towns]:
    name = f"netzatlas_test_towns_{os.getpid()}"
    db_url = make_database(name)
    migrate.upgrade(db_url)
    with db.transaction(db_url, actor=demo.DEMO_ACTOR) as c:
        demo.load(c)
        reference.upsert_municipality(c, SECOND, "Neuweiler", SECOND_BOUNDARY, "invented for tests")
        reference.upsert_municipality(c, EMPTY, "Leerbach", EMPTY_BOUNDARY, "invented for tests")
        reference.upsert_districts(c, SECOND, _districts())
        reference.upsert_operator(c, "gemeinde-neuweiler", "Gemeinde Neuweiler", "city")
        for i, (x, y, kind) in enumerate(
            [(418200, 5479100, "air_quality"), (421500, 5478800, "noise"), (422900, 5481700, "parking")]
        ):
            service.create(
                c,
                service.AssetInput(
                    kind="sensors",
                    operator="gemeinde-neuweiler",
                    external_id=f"NW-S-{i + 1:03d}",
                    geometry=Point(x, y),
                    name=f"Neuweiler {kind}",
                    status="in_service",
                    attributes={"sensor_type": kind, "connectivity": "lorawan"},
                ),
            )
        service.create(
            c,
            service.AssetInput(
                kind="iot-gateways",
                operator="gemeinde-neuweiler",
                external_id="NW-GW-001",
                geometry=Point(419900, 5479600),
                status="in_service",
                attributes={"technology": "lorawan", "height_m": 18},
            ),
        )
        planner = keys.create_key(c, "planner", label="towns")
        c.execute("ANALYZE")
    made = {}
    for label, analysis, ags, params in (
        ("second-coarse", "mobile", SECOND, {"resolution_m": 200}),
        ("second-mobile", "mobile", SECOND, {"resolution_m": 100}),
        ("worms-mobile", "mobile", WORMS, {"resolution_m": 100}),
        # its latest mobile run found no site, so it has no level raster: devices have no mobile level
        ("second-iot", "iot", SECOND, {"resolution_m": 100}),
    ):
        run = runs.start(db_url, analysis, ags, params)
        assert run["status"] == "succeeded", (label, run.get("message"))
        made[label] = str(run["id"])
    with serve_database(db_url, "towns") as base:
        yield Towns(base, db_url, planner, made)
    db.drop_database(name)


def _bbox(ags: str, db_url: str) -> tuple[float, float, float, float]:
    with db.connect(db_url) as c:
        r = c.execute(
            """SELECT ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2
               FROM (SELECT ST_Transform(boundary, 4326) AS e FROM municipalities WHERE ags = %s) s""",
            (ags,),
        ).fetchone()
    return r["x1"], r["y1"], r["x2"], r["y2"]


def _district_names(ags: str, db_url: str) -> list[str]:
    with db.connect(db_url) as c:
        return [
            r["name"]
            for r in c.execute("SELECT name FROM districts WHERE municipality = %s ORDER BY name", (ags,)).fetchall()
        ]


def _page(browser: Browser, towns: Towns | None = None) -> tuple[Page, list[str]]:
    headers = towns.headers() if towns else {}
    page = browser.new_page(viewport={"width": 1200, "height": 800}, extra_http_headers=headers)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _view(page: Page) -> dict:
    wait_until(page, READY)
    return page.evaluate(
        """() => { const m = window.netzatlasMap, b = m.getBounds(), c = m.getCenter();
                   return {w: b.getWest(), s: b.getSouth(), e: b.getEast(), n: b.getNorth(), x: c.lng, y: c.lat}; }"""
    )


def _district_options(page: Page) -> list[str]:
    return page.eval_on_selector_all("#district option", "os => os.filter(o => o.value).map(o => o.textContent)")


def test_map_selects_each_municipality(browser: Browser, towns: Towns):
    page, errors = _page(browser)
    page.goto(f"{towns.url}/map")
    wait_until(page, READY)
    assert page.input_value("#municipality") == WORMS  # the first by AGS
    assert _district_options(page) == _district_names(WORMS, towns.db_url)
    centers = {}
    for ags in (SECOND, EMPTY, WORMS):
        with page.expect_navigation():
            page.select_option("#municipality", ags)
        view = _view(page)
        x1, y1, x2, y2 = _bbox(ags, towns.db_url)
        centers[ags] = ((x1 + x2) / 2, (y1 + y2) / 2)
        # zoomed to the municipality: the view holds its boundary's box and is centred in it, not on all of them
        assert x1 <= view["x"] <= x2 and y1 <= view["y"] <= y2, ags
        assert view["w"] <= x1 and view["e"] >= x2 and view["s"] <= y1 and view["n"] >= y2, ags
        assert (view["n"] - view["s"]) < 3 * (y2 - y1) or (view["e"] - view["w"]) < 3 * (x2 - x1), ags
        assert page.input_value("#municipality") == ags
        assert page.url.endswith(f"municipality={ags}")
        assert _district_options(page) == _district_names(ags, towns.db_url), ags
        page.screenshot(path=str(ARTIFACTS / f"map-{ags}.png"))
    assert _district_options(page) and len(_district_names(SECOND, towns.db_url)) == 2
    assert errors == []
    page.close()


def test_map_outlines_the_district_of_the_chosen_municipality(browser: Browser, towns: Towns):
    """Worms has an Innenstadt too: the outline is the chosen municipality's district only."""
    page, errors = _page(browser)
    page.goto(f"{towns.url}/map?municipality={SECOND}")
    wait_until(page, READY)
    page.select_option("#district", label="Innenstadt")
    wait_until(page, READY)
    page.evaluate("() => new Promise(r => { const m = window.netzatlasMap; m.once('idle', r); m.triggerRepaint(); })")
    outlined = page.evaluate(
        "window.netzatlasMap.queryRenderedFeatures({layers: ['district-selected']}).map(f => f.properties)"
    )
    assert outlined and {(p["name"], p["municipality"]) for p in outlined} == {("Innenstadt", SECOND)}
    assert errors == []
    page.close()


def test_dashboard_of_a_municipality_without_population(browser: Browser, towns: Towns):
    page, errors = _page(browser, towns)
    response = page.goto(f"{towns.url}/dashboard?municipality={SECOND}")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{SECOND}.png"), full_page=True)
    assert response.status == 200 and errors == []
    assert "Neuweiler" in page.inner_text("h1")
    assert page.inner_text("#population").startswith("unknown")
    assert "unknown of the population" in page.inner_text("#totals")
    shown = {e.get_attribute("data-run"): e.get_attribute("data-run-id") for e in page.query_selector_all("[data-run]")}
    assert shown == {"mobile": towns.runs["second-mobile"], "iot": towns.runs["second-iot"]}
    districts = [e.get_attribute("data-district") for e in page.query_selector_all("#districts tr[data-district]")]
    assert districts == ["Innenstadt", "Oberdorf"]
    for d in districts:
        row = f"#districts tr[data-district='{d}']"
        assert page.inner_text(f"{row} [data-key=mobile_share_population]") == "unknown"
        assert page.inner_text(f"{row} [data-key=white_share_population]") == "unknown"
        # the area share is known: no mobile site stands in Neuweiler, so nothing of it is covered
        assert float(page.get_attribute(f"{row} [data-key=mobile_share_area]", "data-value")) == 0.0
    assert "0.0 %" not in page.inner_text("#totals tr:has(#population)")
    # the run comparison offers Neuweiler's runs only
    offered = set(page.eval_on_selector_all("select[name=a] option", "os => os.map(o => o.value)"))
    assert offered == {towns.runs["second-mobile"], towns.runs["second-coarse"], towns.runs["second-iot"]}
    # links carry the municipality shown
    assert f"municipality={SECOND}" in page.get_attribute("a[href*='districts.csv']", "href")
    assert errors == []
    page.close()


def test_dashboard_select_switches_to_a_municipality_without_anything(browser: Browser, towns: Towns):
    page, errors = _page(browser, towns)
    page.goto(f"{towns.url}/dashboard")
    assert "Worms" in page.inner_text("h1")
    with page.expect_navigation():
        page.select_option("select[name=municipality]", EMPTY)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{EMPTY}.png"), full_page=True)
    assert "Leerbach" in page.inner_text("h1") and f"municipality={EMPTY}" in page.url
    assert page.query_selector("[data-run]") is None and page.inner_text("form").count("none yet") == 3
    assert page.query_selector("#no-districts") and page.query_selector("#no-runs")
    assert page.inner_text("#population").startswith("unknown")
    assert errors == []
    page.close()


def test_anonymous_pages_of_every_municipality_render(browser: Browser, towns: Towns):
    for ags in (WORMS, SECOND, EMPTY):
        page, errors = _page(browser)
        for path in (f"/dashboard?municipality={ags}", f"/map?municipality={ags}"):
            response = page.goto(towns.url + path)
            if path.startswith("/map"):
                wait_until(page, READY)
            assert response.status == 200 and errors == [], path
        page.close()


def test_json_and_downloads_are_of_the_chosen_municipality(towns: Towns):
    h = towns.headers()
    second = httpx.get(f"{towns.url}/dashboard", params={"municipality": SECOND, "f": "json"}, headers=h).json()
    assert second["municipality"] == {"ags": SECOND, "name": "Neuweiler"}
    assert second["population"] is None
    assert [d["name"] for d in second["districts"]] == ["Innenstadt", "Oberdorf"]
    assert all(d["mobile_share_population"] is None and d["mobile_share_area"] == 0.0 for d in second["districts"])
    assert {m["ags"] for m in second["municipalities"]} == {WORMS, SECOND, EMPTY}
    worms = httpx.get(f"{towns.url}/dashboard", params={"f": "json"}, headers=h).json()
    assert worms["municipality"]["ags"] == WORMS and worms["runs"]["mobile"]["id"] == towns.runs["worms-mobile"]
    assert worms["population"] > 0
    assert not {"Oberdorf"} & {d["name"] for d in worms["districts"]}
    text = httpx.get(f"{towns.url}/dashboard/districts.csv", params={"municipality": SECOND}, headers=h).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["Innenstadt", "Oberdorf"] and {r["mobile_share_population"] for r in rows} == {
        ""
    }
    empty = httpx.get(f"{towns.url}/dashboard/districts.csv", params={"municipality": EMPTY}, headers=h)
    assert empty.status_code == 200 and len(empty.text.strip().splitlines()) == 1
    gpkg = httpx.get(f"{towns.url}/dashboard/districts.gpkg", params={"municipality": EMPTY}, headers=h)
    assert gpkg.status_code == 404 and gpkg.json()["description"] == "no districts to export"


def test_runs_of_another_municipality_are_refused(towns: Towns):
    h = towns.headers()
    worms_run, second_run = towns.runs["worms-mobile"], towns.runs["second-mobile"]
    q = {"municipality": SECOND, "f": "json"}
    r = httpx.get(f"{towns.url}/dashboard", params={**q, "mobile": worms_run}, headers=h)
    assert r.status_code == 400 and worms_run in r.json()["description"] and SECOND in r.json()["description"]
    r = httpx.get(f"{towns.url}/dashboard", params={**q, "a": worms_run, "b": second_run}, headers=h)
    assert r.status_code == 400 and r.json()["description"].startswith(f"compare: {worms_run!r}")
    # two runs of the municipality shown compare; an older run of it can be shown
    r = httpx.get(f"{towns.url}/dashboard", params={**q, "a": towns.runs["second-coarse"], "b": second_run}, headers=h)
    assert r.status_code == 200 and r.json()["comparison"]["parameters"]["resolution_m"] == {"a": 200, "b": 100}
    r = httpx.get(f"{towns.url}/dashboard", params={**q, "mobile": towns.runs["second-coarse"]}, headers=h)
    assert r.status_code == 200 and r.json()["runs"]["mobile"]["id"] == towns.runs["second-coarse"]


def test_unknown_municipality_is_a_404_naming_the_known_ones(towns: Towns):
    r = httpx.get(f"{towns.url}/dashboard", params={"municipality": "99999999", "f": "json"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    description = r.json()["description"]
    assert "'99999999'" in description
    assert all(s in description for s in (f"{WORMS} (Worms)", f"{SECOND} (Neuweiler)", f"{EMPTY} (Leerbach)"))
    for path in ("/map", "/dashboard"):
        r = httpx.get(f"{towns.url}{path}", params={"municipality": "99999999"}, headers={"Accept": "text/html"})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert f"{SECOND} (Neuweiler)" in r.text, path
    r = httpx.get(f"{towns.url}/dashboard/districts.csv", params={"municipality": "99999999"})
    assert r.status_code == 404 and "Neuweiler" in r.json()["description"]
