"""Authentication as real clients send it, revocation, exposure (CORS, headers, caching, file modes), rate limit."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser

from netzatlas import db
from netzatlas.api.app import create_app
from netzatlas.api.security import TokenBuckets, _private
from netzatlas.config import get_settings
from netzatlas.registry import keys

from . import import_helpers as h
from .conftest import Served, wait_until

with warnings.catch_warnings():  # Starlette's note about a future httpx; its TestClient works with today's
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

OGRINFO = shutil.which("ogrinfo")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def hidden_item(served: Served) -> dict:
    with db.connect(served.db_url) as conn:
        return conn.execute(
            "SELECT id::text, kind FROM assets WHERE sensitivity = 'critical' AND retired_at IS NULL LIMIT 1"
        ).fetchone()


def new_key(served: Served, role: str = "planner") -> str:
    with db.connect(served.db_url, autocommit=True) as conn:
        return keys.create_key(conn, role, label="test_api_security")


def revoke(served: Served, key: str) -> None:
    with db.connect(served.db_url, autocommit=True) as conn:
        assert keys.revoke(conn, keys.prefix_of(key))


# ---------------------------------------------------------------- authentication


def test_basic_auth_carries_the_key_as_password_with_any_user(served: Served):
    item = hidden_item(served)
    url = f"{served.url}/collections/{item['kind']}/items/{item['id']}"
    assert httpx.get(url).status_code == 404  # anonymous: hidden
    for user in ("qgis", "", "planner@stadt-worms.de"):
        r = httpx.get(url, headers=basic(user, served.planner_key))
        assert r.status_code == 200, (user, r.text)
        assert r.json()["properties"]["sensitivity"] == "critical"
    # httpx's own Basic auth, and curl's `-u KEY:` (key as user name, empty password)
    assert httpx.get(url, auth=("gdal", served.planner_key)).status_code == 200
    assert httpx.get(url, headers=basic(served.planner_key, "")).status_code == 200
    # the other schemes still work
    assert httpx.get(url, headers={"Authorization": f"Bearer {served.planner_key}"}).status_code == 200
    assert httpx.get(url, headers={"X-API-Key": served.planner_key}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no colon here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b":").decode(),
        "Basic",
        "Bearer",
        "Token abc",
        "Digest username=x",
    ],
)
def test_malformed_authorization_is_401_json_offering_basic_and_bearer(served: Served, header: str):
    r = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 1}, headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "Unauthorized" and "Authorization" in r.json()["description"]
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Basic realm=") and "Bearer realm=" in challenge


def test_unknown_key_is_401_with_the_scheme_used(served: Served):
    url = f"{served.url}/collections/sensors/items"
    fake = keys.prefix_of(served.planner_key)
    wrong = f"nz_{fake}_{'x' * 43}"  # a real prefix with a wrong secret
    r = httpx.get(url, headers=basic("qgis", wrong))
    assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
    assert r.headers["www-authenticate"].startswith("Basic ")
    r = httpx.get(url, headers={"Authorization": "Bearer nz_00000000_nothing"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer ")


def test_revocation_takes_effect_on_the_next_request(served: Served):
    item = hidden_item(served)
    url = f"{served.url}/collections/{item['kind']}/items/{item['id']}"
    key = new_key(served)
    ways = [basic("qgis", key), {"Authorization": f"Bearer {key}"}, {"X-API-Key": key}]
    with httpx.Client() as client:  # one kept-alive connection, as a GIS client holds it
        for headers in ways:
            assert client.get(url, headers=headers).status_code == 200
        revoke(served, key)
        for headers in ways:
            r = client.get(url, headers=headers)
            assert r.status_code == 401 and r.json()["description"] == "unknown or revoked API key"
        # tiles and items lists too: nothing is answered from an earlier lookup
        r = client.get(f"{served.url}/tiles/WebMercatorQuad/14/5604/8600", headers={"X-API-Key": key})
        assert r.status_code == 401


def ogrinfo(served: Served, userpwd: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GDAL_HTTP_AUTH": "BASIC"} if userpwd else dict(os.environ)
    if userpwd:
        env["GDAL_HTTP_USERPWD"] = userpwd
    return subprocess.run(
        [OGRINFO, "-ro", f"OAPIF:{served.url}", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(OGRINFO is None, reason="GDAL's ogrinfo is not installed (scripts/test-deps.sh)")
def test_gdal_reads_an_internal_layer_with_basic_auth_and_stops_after_revocation(served: Served):
    with db.connect(served.db_url) as conn:
        n = conn.execute(
            "SELECT count(*) AS n FROM assets WHERE kind = 'fiber-routes' AND retired_at IS NULL"
        ).fetchone()["n"]
        internal = conn.execute(
            "SELECT count(*) AS n FROM assets WHERE kind = 'fiber-routes' AND retired_at IS NULL"
            " AND sensitivity <> 'public'"
        ).fetchone()["n"]
    assert internal > 0
    query = ["-sql", "SELECT sensitivity FROM \"fiber-routes\" WHERE sensitivity <> 'public'"]
    key = new_key(served)
    ok = ogrinfo(served, f"qgis:{key}", "fiber-routes", "-so")
    assert ok.returncode == 0, ok.stderr
    assert f"Feature Count: {n}" in ok.stdout
    rows = ogrinfo(served, f"qgis:{key}", *query)
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.count("sensitivity (String) = ") == internal
    anonymous = ogrinfo(served, None, *query)
    assert anonymous.returncode == 0 and "sensitivity (String) = " not in anonymous.stdout
    revoke(served, key)
    refused = ogrinfo(served, f"qgis:{key}", "fiber-routes", "-so")
    assert refused.returncode != 0 and "401" in refused.stderr


# ---------------------------------------------------------------- headers, caching, CORS


def test_pages_carry_a_csp_and_every_response_the_security_headers(served: Served):
    page = httpx.get(f"{served.url}/map")
    csp = page.headers["content-security-policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "worker-src 'self' blob:", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script>" not in page.text and "<style>" not in page.text and "onsubmit" not in page.text
    for path in ("/collections?f=html", "/collections/sensors/items?f=html&limit=5", "/api?f=html"):
        r = httpx.get(f"{served.url}{path}")
        assert r.headers["content-security-policy"] == csp, path
        assert "<style>" not in r.text and "<script>" not in r.text, path
    for path in (
        "/collections/sensors/items?limit=1",
        "/static/map.js",
        "/nowhere",
        "/tiles/WebMercatorQuad/14/5604/8600",
    ):
        r = httpx.get(f"{served.url}{path}")
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path


def vary(r: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in r.headers.get("vary", "").split(",") if v.strip()}


def test_keyed_responses_are_private_and_every_caller_dependent_one_varies(served: Served):
    url = f"{served.url}/collections/sensors/items"
    anonymous = httpx.get(url, params={"limit": 2}, headers={"Accept-Encoding": "gzip"})
    assert {"authorization", "x-api-key"} <= vary(anonymous)
    assert "private" not in anonymous.headers.get("cache-control", "")
    for headers in ({"X-API-Key": served.planner_key}, basic("qgis", served.planner_key)):
        r = httpx.get(url, params={"limit": 2}, headers=headers)
        assert r.status_code == 200
        assert r.headers["cache-control"].startswith("private")
        assert {"authorization", "x-api-key"} <= vary(r)
    tile = httpx.get(f"{served.url}/tiles/WebMercatorQuad/14/5604/8600", headers={"X-API-Key": served.planner_key})
    assert "private" in tile.headers["cache-control"] and {"authorization", "x-api-key"} <= vary(tile)
    # a refused key is private too: nothing about it may be stored by a shared cache
    refused = httpx.get(url, headers={"X-API-Key": "nz_00000000_nothing"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "private"
    # files that are the same for everybody are not varied by caller
    assert "x-api-key" not in vary(httpx.get(f"{served.url}/static/map.js"))


def test_public_cache_directive_becomes_private():
    assert _private("public, max-age=3600") == "private, max-age=3600"
    assert _private(None) == "private"
    assert _private("no-store") == "private, no-store"
    assert _private("private, max-age=5") == "private, max-age=5"


def test_cors_is_same_origin_by_default(served: Served):
    r = httpx.get(f"{served.url}/collections/sensors/items", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        f"{served.url}/collections/sensors/items",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert "access-control-allow-origin" not in pre.headers and "access-control-allow-methods" not in pre.headers


@pytest.fixture
def app_with(served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An in-process app on the served database with the given NETZATLAS_* settings."""
    clients: list[TestClient] = []

    def make(**env: str) -> TestClient:
        monkeypatch.setenv("NETZATLAS_HOME", str(tmp_path / "home"))
        for k, v in env.items():
            monkeypatch.setenv(f"NETZATLAS_{k.upper()}", v)
        get_settings.cache_clear()
        client = TestClient(create_app(served.db_url), base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
    monkeypatch.undo()
    get_settings.cache_clear()


def test_cors_allows_only_the_configured_origins(app_with):
    client = app_with(cors_origins="https://gis.example.org, https://karte.worms.de/")
    ok = client.get("/collections/sensors/items?limit=1", headers={"Origin": "https://karte.worms.de"})
    assert ok.headers["access-control-allow-origin"] == "https://karte.worms.de"
    assert "ETag" in ok.headers["access-control-expose-headers"]
    other = client.get("/collections/sensors/items?limit=1", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    pre = client.options(
        "/collections/sensors/items",
        headers={
            "Origin": "https://gis.example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-api-key, if-match",
        },
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://gis.example.org"
    assert "PUT" in pre.headers["access-control-allow-methods"]
    refused = client.options(
        "/collections/sensors/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


def test_the_basemap_origin_is_allowed_by_the_page_policy(app_with):
    client = app_with(basemap_url="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    csp = client.get("/map").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org" in csp
    assert "connect-src 'self' https://tile.openstreetmap.org" in csp


# ---------------------------------------------------------------- rate limit


def test_rate_limit_per_address_and_per_key(app_with, served: Served):
    # 0.1 tokens per second: a refill takes 10 s, far longer than these requests take
    client = app_with(rate_limit="0.1", rate_burst="3")
    for _ in range(3):
        assert client.get("/conformance").status_code == 200
    r = client.get("/conformance")
    assert r.status_code == 429 and r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "TooManyRequests" and "client address" in r.json()["description"]
    assert 1 <= int(r.headers["retry-after"]) <= 10
    assert r.headers["x-content-type-options"] == "nosniff"  # limited answers get the headers too
    # a key has its own bucket, whoever shares its address
    for _ in range(3):
        assert client.get("/conformance", headers={"X-API-Key": served.planner_key}).status_code == 200
    r = client.get("/conformance", headers=basic("qgis", served.planner_key))  # the same key, other scheme
    assert r.status_code == 429 and "API key" in r.json()["description"]
    partner = client.get("/conformance", headers={"X-API-Key": served.partner_key})
    assert partner.status_code == 200


def test_guessing_keys_is_limited_per_address(app_with):
    client = app_with(rate_limit="0.1", rate_burst="3")
    # every guess has a new prefix (a bucket of its own), but refusals are charged to the address
    for i in range(3):
        r = client.get("/collections/sensors/items", headers={"X-API-Key": f"nz_{i:08x}_guess"})
        assert r.status_code == 401
    r = client.get("/collections/sensors/items", headers={"X-API-Key": "nz_0000ffff_guess"})
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_rate_limit_zero_switches_it_off(app_with):
    client = app_with(rate_limit="0")
    assert all(client.get("/conformance").status_code == 200 for _ in range(50))


def test_token_bucket_refills_at_the_rate():
    b = TokenBuckets(rate=10, burst=2)
    assert b.take("a", 0.0) == 0 and b.take("a", 0.0) == 0
    assert b.take("a", 0.0) == pytest.approx(0.1)  # empty: one token in 1/rate s
    assert b.take("b", 0.0) == 0  # another identity is not affected
    assert b.take("a", 0.05) == pytest.approx(0.05)
    assert b.take("a", 0.1) == 0  # refilled
    assert b.take("a", 100.0) == 0 and b.take("a", 100.0) == 0 and b.take("a", 100.0) > 0  # capped at the burst


# ---------------------------------------------------------------- files the server keeps


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: modes must come from the code, not from the process's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_kept_deliveries_are_private(conn, tmp_path: Path, open_umask):
    from netzatlas.importers.deliveries import run_import

    home = tmp_path / "home"
    path = h.delivery("gpkg", tmp_path)
    sid, status, report = run_import(path, "telco", None, url=conn.info.dsn, home=home)
    assert status == "loaded", report.error
    kept = home / "submissions" / str(sid) / path.name
    assert kept.read_bytes() == path.read_bytes()
    assert mode(kept) == 0o600
    assert mode(kept.parent) == mode(kept.parent.parent) == mode(home) == 0o700


def test_coverage_rasters_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask):
    from netzatlas.coverage import rasters, runs
    from netzatlas.coverage.grid import Grid

    home = tmp_path / "home"
    monkeypatch.setenv("NETZATLAS_HOME", str(home))
    get_settings.cache_clear()
    try:
        out = runs.output_dir("00000000-0000-0000-0000-000000000001")
        grid = Grid.cover((450000, 5490000, 450500, 5490500), 50)
        data = np.full((grid.height, grid.width), -80.0, np.float32)
        entry = rasters.write_cog(out / "rsrp.tif", grid, data, ["any (dBm)"], -9999.0, {})
    finally:
        get_settings.cache_clear()
    tif = out / entry["file"]
    assert tif.is_file() and mode(tif) == 0o600
    assert mode(out) == mode(out.parent) == mode(home) == 0o700


def test_the_server_home_is_not_readable_by_others(served: Served):
    home = get_settings().home.expanduser().absolute()
    # as root the embedded cluster under home runs as postgres, which keeps only the right to pass through
    assert mode(home) & 0o066 == 0


# ---------------------------------------------------------------- the pages under their CSP in a browser


def test_map_and_dashboard_run_under_the_policy(browser: Browser, served: Served):
    watch = (
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    for path, ready in (
        ("/map", "window.netzatlasMap && window.netzatlasMap.loaded() && window.netzatlasMap.areTilesLoaded()"),
        ("/dashboard", "document.readyState === 'complete'"),
    ):
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.add_init_script(watch)
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{served.url}{path}")
        wait_until(page, ready)
        assert page.evaluate("window.__csp") == [], path
        assert errors == [], path
        # the external stylesheet applies (it was an inline <style> before the CSP)
        assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(18, 53, 91)"
        page.close()
