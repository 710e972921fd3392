"""The web map in a real browser: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import base64

from playwright.sync_api import Browser, Page

from .conftest import ARTIFACTS, Served, wait_until

READY = "window.netzatlasMap && window.netzatlasMap.loaded() && window.netzatlasMap.areTilesLoaded()"


def open_map(browser: Browser, served: Served, key: str | None = None) -> tuple[Page, list[str]]:
    """The map in a new page; with a key, as a browser signed in with it (Basic auth) sends it on every request."""
    headers = {"Authorization": f"Basic {base64.b64encode(f'planner:{key}'.encode()).decode()}"} if key else {}
    page = browser.new_page(viewport={"width": 1200, "height": 800}, extra_http_headers=headers)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served.url}/map")
    wait_until(page, READY)
    return page, errors


def settle(page: Page) -> None:
    """Wait until the map has drawn what the last change asked for."""
    wait_until(page, READY)
    page.evaluate("() => new Promise(r => { const m = window.netzatlasMap; m.once('idle', r); m.triggerRepaint(); })")


def rendered(page: Page, layer: str) -> int:
    settle(page)
    return page.evaluate(f"window.netzatlasMap.queryRenderedFeatures({{layers: ['{layer}']}}).length")


def test_map_loads_without_errors_and_draws_the_demo_layers(browser: Browser, served: Served):
    page, errors = open_map(browser, served)
    page.screenshot(path=str(ARTIFACTS / "map.png"))
    assert errors == []
    for layer in ("districts-fill", "districts-line", "sensors", "mobile-sites", "actuators"):
        assert rendered(page, layer) > 0, layer
    # anonymous: fiber routes and network nodes are internal in the demo, so nothing is drawn
    assert rendered(page, "fiber-routes") == 0
    page.close()


def test_toggling_a_layer_changes_what_is_drawn(browser: Browser, served: Served):
    page, errors = open_map(browser, served)
    before = rendered(page, "sensors")
    page.uncheck("input[data-layer=sensors]")
    assert rendered(page, "sensors") == 0 and before > 0
    page.check("input[data-layer=sensors]")
    assert rendered(page, "sensors") == before
    # the operator filter narrows the asset layers
    page.select_option("#operator", "funknetz-nord")
    settle(page)
    sites = page.evaluate(
        "window.netzatlasMap.queryRenderedFeatures({layers: ['mobile-sites']}).map(f => f.properties.operator)"
    )
    assert sites and set(sites) == {"funknetz-nord"}
    page.screenshot(path=str(ARTIFACTS / "map-filtered.png"))
    assert errors == []
    page.close()


def test_clicking_a_feature_opens_its_popup(browser: Browser, served: Served):
    page, errors = open_map(browser, served)
    page.select_option("#district", label="Innenstadt")
    settle(page)
    x, y, fid = page.evaluate(
        """() => { const m = window.netzatlasMap;
                   const f = m.queryRenderedFeatures({layers: ['mobile-sites']})[0];
                   const p = m.project(f.geometry.coordinates);
                   const r = m.getCanvas().getBoundingClientRect();
                   return [r.left + p.x, r.top + p.y, f.properties.id]; }"""
    )
    page.mouse.click(x, y)
    popup = page.wait_for_selector(".maplibregl-popup", timeout=10_000)
    assert fid in popup.inner_html()
    history = page.get_attribute(".maplibregl-popup a.history", "href")
    assert history.endswith(f"/items/{fid}/history?f=html")
    page.screenshot(path=str(ARTIFACTS / "map-popup.png"))
    page.goto(history)
    assert "History of" in page.content()
    assert errors == []
    page.close()


def test_planner_key_shows_internal_layers(browser: Browser, served: Served):
    page, _ = open_map(browser, served)
    page.fill("#apikey", served.planner_key)
    page.dispatch_event("#apikey", "change")
    assert rendered(page, "fiber-routes") > 0
    page.close()


def test_coverage_gaps_and_rasters_of_the_latest_runs(browser: Browser, served: Served):
    from netzatlas.coverage import runs

    runs.start(served.db_url, "mobile", None, {"resolution_m": 100})
    page, errors = open_map(browser, served, served.planner_key)
    raster = page.get_attribute("input[data-layer^='raster-mobile']", "data-layer")
    assert page.evaluate(f"window.netzatlasMap.getLayoutProperty('{raster}', 'visibility')") == "none"
    page.check("input[data-layer='coverage-gaps']")
    page.check(f"input[data-layer='{raster}']")
    assert rendered(page, "coverage-gaps") > 0
    gaps = page.evaluate(
        "window.netzatlasMap.queryRenderedFeatures({layers: ['coverage-gaps']}).map(f => f.properties.gap)"
    )
    assert {"white_spot", "grey_spot"} & set(gaps)
    assert page.evaluate(f"window.netzatlasMap.getLayoutProperty('{raster}', 'visibility')") == "visible"
    page.screenshot(path=str(ARTIFACTS / "map-coverage.png"))
    assert errors == []
    page.close()


def test_preview_of_unknown_or_class_outputs_is_404(served: Served):
    import httpx

    assert httpx.get(f"{served.url}/jobs/nope/outputs/rsrp.tif/preview.png").status_code == 404
    from netzatlas.coverage import runs

    mobile = runs.start(served.db_url, "mobile", None, {"resolution_m": 100})
    planner = {"Authorization": f"Bearer {served.planner_key}"}
    r = httpx.get(f"{served.url}/jobs/{mobile['id']}/outputs/rsrp.tif/preview.png", headers=planner)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    r = httpx.get(f"{served.url}/jobs/{mobile['id']}/outputs/classes.tif/preview.png", headers=planner)
    assert r.status_code == 404 and "received-level" in r.json()["description"]
