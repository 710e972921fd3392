"""The coverage dashboard in Chromium: its numbers equal the API's statistics; comparison; downloads."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from playwright.sync_api import Browser
from pyogrio import read_info

from netzatlas.coverage import runs

from .conftest import ARTIFACTS, Served


@pytest.fixture(scope="module")
def coverage(served: Served) -> dict[str, str]:
    """Runs of each analysis over the demo; the last fiber run with a shorter drop distance. Mobile and IoT runs
    under COST-231 Hata come first (the defaults stay the latest): the demo's 800 MHz, 3.5 GHz and 868 MHz carriers,
    its masts and short distances lie outside Hata's ranges, so they have validity flags to show."""
    ids = {}
    for analysis in ("mobile", "iot"):
        ids[f"{analysis}_hata"] = str(runs.start(served.db_url, analysis, None, {"model": "hata"})["id"])
    for analysis in ("mobile", "iot", "fiber"):
        ids[analysis] = str(runs.start(served.db_url, analysis, None, {})["id"])
    ids["fiber_short"] = str(runs.start(served.db_url, "fiber", None, {"drop_distance_m": 20})["id"])
    return ids


def _planner(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.planner_key}"}


def _lookup(stats: dict, path: str):
    for part in path.split("."):
        stats = stats[part]
    return stats


def test_dashboard_numbers_equal_the_api(browser: Browser, served: Served, coverage: dict[str, str]):
    page = browser.new_page(viewport={"width": 1300, "height": 1000}, extra_http_headers=_planner(served))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # the latest fiber run is the short-drop one; show the default one explicitly
    page.goto(f"{served.url}/dashboard?fiber={coverage['fiber']}")
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []
    shown_runs = {
        e.get_attribute("data-run"): e.get_attribute("data-run-id") for e in page.query_selector_all("[data-run]")
    }
    assert shown_runs == {"fiber": coverage["fiber"], "mobile": coverage["mobile"], "iot": coverage["iot"]}
    results = {
        a: httpx.get(f"{served.url}/jobs/{coverage[a]}/results", headers=_planner(served)).json()
        for a in ("fiber", "mobile", "iot")
    }
    stats = page.query_selector_all("#totals [data-stat]")
    assert len(stats) >= 7
    for e in stats:
        key = e.get_attribute("data-stat")
        analysis, path = key.split(".", 1)
        if key == "iot.unavailable":
            expected = sum(v["unavailable"] for v in results["iot"]["statistics"]["by_connectivity"].values())
        else:
            expected = _lookup(results[analysis]["statistics"], path)
        assert float(e.get_attribute("data-value")) == pytest.approx(expected), key
    # per district: the same numbers as the coverage-districts collection of each run
    for analysis, key, prop in (
        ("fiber", "fiber_share_passed", "share_covered"),
        ("mobile", "mobile_share_area", "share_covered"),
    ):
        items = httpx.get(
            f"{served.url}/collections/coverage-districts/items",
            params={"run_id": coverage[analysis], "limit": 100},
            headers=_planner(served),
        ).json()["features"]
        by_name = {f["properties"]["name"]: f["properties"][prop] for f in items}
        assert len(by_name) == 14
        for name, expected in by_name.items():
            value = page.get_attribute(f"tr[data-district='{name}'] [data-key={key}]", "data-value")
            assert float(value) == pytest.approx(expected), (analysis, name)
    page.close()


def test_comparing_two_runs(browser: Browser, served: Served, coverage: dict[str, str]):
    page = browser.new_page(extra_http_headers=_planner(served))
    page.goto(f"{served.url}/dashboard")
    page.select_option("select[name=a]", coverage["fiber"])
    page.select_option("select[name=b]", coverage["fiber_short"])
    page.click("button:has-text('compare')")
    page.wait_for_selector("#comparison")
    text = page.inner_text("#comparison")
    comparison = httpx.get(
        f"{served.url}/dashboard",
        params={"a": coverage["fiber"], "b": coverage["fiber_short"], "f": "json"},
        headers=_planner(served),
    ).json()["comparison"]
    assert comparison["parameters"]["drop_distance_m"] == {"a": 50.0, "b": 20.0}
    diff = comparison["statistics"]["passed"]["difference"]
    assert diff < 0 and str(diff) in text
    page.screenshot(path=str(ARTIFACTS / "dashboard-compare.png"), full_page=True)
    page.close()


def test_downloads_of_what_is_shown(served: Served, coverage: dict[str, str], tmp_path):
    q = {"fiber": coverage["fiber"]}
    planner = _planner(served)
    shown = httpx.get(f"{served.url}/dashboard", params={**q, "f": "json"}, headers=planner).json()["districts"]
    csv_text = httpx.get(f"{served.url}/dashboard/districts.csv", params=q, headers=planner).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["name"] for r in rows] == [d["name"] for d in shown]
    assert [float(r["fiber_share_passed"]) for r in rows] == pytest.approx([d["fiber_share_passed"] for d in shown])
    gpkg = tmp_path / "d.gpkg"
    gpkg.write_bytes(httpx.get(f"{served.url}/dashboard/districts.gpkg", params=q, headers=planner).content)
    info = read_info(gpkg)
    assert info["features"] == len(shown) == 14 and info["crs"] == "EPSG:25832"


def test_bad_dashboard_parameters(served: Served):
    r = httpx.get(f"{served.url}/dashboard", params={"fiber": "not-a-run", "f": "json"})
    assert r.status_code == 400 and "fiber" in r.json()["description"]
    r = httpx.get(f"{served.url}/dashboard", params={"municipality": "99999999"})
    assert r.status_code == 404


def test_anonymous_dashboard_shows_no_run_of_internal_inputs(served: Served, coverage: dict[str, str]):
    """The demo's routes and some devices are internal or critical: fiber and IoT runs are the planner's until
    published; its mobile sites are public, and so is the mobile run."""
    text = str(httpx.get(f"{served.url}/dashboard", params={"f": "json"}).json())
    assert coverage["fiber"] not in text and coverage["fiber_short"] not in text and coverage["iot"] not in text
    assert coverage["mobile"] in text
    r = httpx.get(f"{served.url}/dashboard", params={"fiber": coverage["fiber"], "f": "json"})
    assert r.status_code in (400, 404) and coverage["fiber"] not in r.text.replace(f"{coverage['fiber']!r}", "")


QUANTITY_LABELS = {"frequency": "frequency", "distance": "distance", "bs_height": "antenna height"}


def test_validity_flags_on_the_dashboard(browser: Browser, served: Served, coverage: dict[str, str]):
    """ "N of M radio cells (transmitters) outside the validity range of <model>" for the mobile and IoT runs shown,
    the quantities as a tooltip and a list, the flagged transmitters named; the JSON form has the same."""
    q = {"mobile": coverage["mobile_hata"], "iot": coverage["iot_hata"]}
    planner = _planner(served)
    models = {
        a: httpx.get(f"{served.url}/jobs/{q[a]}/results", headers=planner).json()["model"]["validity"]
        for a in ("mobile", "iot")
    }
    mv, iv = models["mobile"], models["iot"]
    assert mv["cells_outside"] > 0 and iv["transmitters_outside"] > 0  # the test shows something
    page = browser.new_page(viewport={"width": 1300, "height": 1000}, extra_http_headers=planner)
    page.goto(f"{served.url}/dashboard?mobile={q['mobile']}&iot={q['iot']}")
    row = page.locator("#validity-mobile")
    assert (
        f"{mv['cells_outside']} of {mv['cells_evaluated']} radio cells outside the validity range of COST-231 Hata"
        in row.inner_text()
    )
    title = row.locator("th").get_attribute("title")
    for quantity, n in mv["cells_outside_by_quantity"].items():
        assert f"{QUANTITY_LABELS[quantity]} {n}" in title
    row.locator("summary").click()
    shown = {
        e.get_attribute("data-quantity"): int(e.get_attribute("data-value"))
        for e in row.locator("[data-quantity]").element_handles()
    }
    assert shown == mv["cells_outside_by_quantity"]
    assert "frequency: " in row.inner_text() and "outside 1500-2000 MHz" in row.inner_text()
    flagged = row.locator(".validity-flagged li")
    assert flagged.count() == len(mv["cells"])
    first = mv["cells"][0]
    assert f"site {first['site']} ({first['operator']}) antenna {first['antenna']}" in flagged.first.inner_text()
    for quantity, what in first["outside"].items():
        assert f"{QUANTITY_LABELS[quantity]} {what}" in flagged.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-validity.png"), full_page=True)

    evaluated = iv["gateways_evaluated"] + iv["lte_cells_evaluated"]
    iot_row = page.locator("#validity-iot")
    assert (
        f"{iv['transmitters_outside']} of {evaluated} transmitters outside the validity range of COST-231 Hata"
        in iot_row.inner_text()
    )
    iot_row.locator("summary").click()
    names = iot_row.locator(".validity-flagged li").all_inner_texts()
    assert len(names) == len(iv["transmitters"])
    gateways = [t["gateway"] for t in iv["transmitters"] if "gateway" in t]
    assert gateways and all(any(f"gateway {g} (lorawan, uplink)" in n for n in names) for g in gateways)
    page.close()

    shown_json = httpx.get(f"{served.url}/dashboard", params={**q, "f": "json"}, headers=planner).json()["validity"]
    m, i = shown_json["mobile"], shown_json["iot"]
    assert (m["model"], m["model_name"], m["unit"]) == ("hata", "COST-231 Hata", "radio cells")
    assert (m["outside"], m["evaluated"]) == (mv["cells_outside"], mv["cells_evaluated"])
    assert {x["quantity"]: x["outside"] for x in m["by_quantity"]} == mv["cells_outside_by_quantity"]
    assert len(m["flagged"]) == len(mv["cells"])
    assert (i["outside"], i["evaluated"], i["unit"]) == (iv["transmitters_outside"], evaluated, "transmitters")
    assert i["parts"]["lorawan_gateways"] == {"evaluated": iv["gateways_evaluated"], "outside": iv["gateways_outside"]}
    # the default (38.901 UMa) runs: the demo's cells inside every range, a LoRaWAN gateway's reach beyond 5 km
    latest = httpx.get(f"{served.url}/dashboard", params={"f": "json"}, headers=planner).json()["validity"]
    assert latest["mobile"]["model_name"] == "3GPP TR 38.901 UMa" and latest["mobile"]["outside"] == 0
    assert latest["iot"]["outside"] == len(latest["iot"]["flagged"]) == 1


def test_validity_flags_follow_the_runs_visibility(served: Served, coverage: dict[str, str]):
    """Anonymous callers get no flags of a run they do not see; of a published run the counts (aggregates) but not
    which gateways and sites were flagged, which keep the run's sensitivity like its rasters."""
    iot = coverage["iot_hata"]
    planner = _planner(served)
    flagged = httpx.get(f"{served.url}/jobs/{iot}/results", headers=planner).json()["model"]["validity"]
    names = [t.get("gateway") or t["site"] for t in flagged["transmitters"]]
    anonymous = httpx.get(f"{served.url}/dashboard", params={"f": "json"}).json()
    assert anonymous["validity"]["iot"] is None  # the demo's IoT runs are internal
    assert anonymous["validity"]["mobile"]["outside"] == 0  # its mobile run is public, flags and all
    assert anonymous["validity"]["mobile"]["flagged"] == []
    r = httpx.post(f"{served.url}/jobs/{iot}/publication", headers=planner)
    assert r.status_code == 200, r.text
    try:
        shown = httpx.get(f"{served.url}/dashboard", params={"iot": iot, "f": "json"}).json()["validity"]["iot"]
        assert shown["outside"] == flagged["transmitters_outside"] and shown["flagged"] is None
        assert {x["quantity"]: x["outside"] for x in shown["by_quantity"]} == flagged[
            "transmitters_outside_by_quantity"
        ]
        page = httpx.get(f"{served.url}/dashboard", params={"iot": iot}, headers={"Accept": "text/html"}).text
        assert f"{flagged['transmitters_outside']} of " in page and "kept with the run's sensitivity" in page
        for name in names:
            assert f"gateway {name}" not in page and f"site {name}" not in page
        assert all(f"gateway {n}" not in str(shown) and f"site {n}" not in str(shown) for n in names)
        # the job's results likewise: the counts, not the flagged transmitters
        results = httpx.get(f"{served.url}/jobs/{iot}/results")
        assert results.status_code == 200, results.text
        public = results.json()["model"]["validity"]
        assert public["transmitters_outside"] == flagged["transmitters_outside"] and "transmitters" not in public
        assert names and all(n not in results.text for n in names)
    finally:
        assert httpx.delete(f"{served.url}/jobs/{iot}/publication", headers=planner).status_code == 200
    r = httpx.get(f"{served.url}/dashboard", params={"iot": iot, "f": "json"})
    assert r.status_code in (400, 404)
