"""Anonymous callers never see internal or critical assets, by any path; keys widen what is visible."""

from __future__ import annotations

import httpx
import pytest

from netzatlas import db

from .conftest import Served

ASSETS = ["fiber-routes", "network-nodes", "mobile-sites", "sensors", "actuators", "iot-gateways"]


def hidden(served: Served) -> list[dict]:
    with db.connect(served.db_url) as conn:
        return conn.execute(
            "SELECT id::text, kind, operator, sensitivity FROM assets WHERE sensitivity <> 'public'"
        ).fetchall()


def all_pages(url: str, headers: dict | None = None) -> list[dict]:
    out: list[dict] = []
    while url:
        r = httpx.get(url, headers=headers or {}, timeout=60)
        assert r.status_code == 200, r.text
        doc = r.json()
        out += doc["features"]
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
    return out


@pytest.mark.parametrize("collection", ASSETS)
def test_anonymous_sees_only_public_by_items_paging_filter_and_html(served: Served, collection: str):
    secret = {h["id"] for h in hidden(served) if h["kind"] == collection}
    base = f"{served.url}/collections/{collection}/items"
    seen = all_pages(f"{base}?limit=50")
    assert all(f["properties"]["sensitivity"] == "public" for f in seen)
    assert not secret & {f["id"] for f in seen}
    for flt in ("sensitivity = 'critical'", "sensitivity <> 'public'", "sensitivity IN ('internal','critical')"):
        r = httpx.get(base, params={"filter": flt, "limit": 10000})
        assert r.status_code == 200 and r.json()["features"] == [], flt
    r = httpx.get(base, params={"sensitivity": "critical"})
    assert r.json()["features"] == [] and r.json()["numberMatched"] == 0
    html = httpx.get(base, params={"limit": 10000, "f": "html"}).text
    assert not any(i in html for i in secret)
    # the same with an as-of read of the history
    r = httpx.get(base, params={"asOf": "2100-01-01T00:00:00Z", "limit": 10000})
    assert not secret & {f["id"] for f in r.json()["features"]}


def test_anonymous_single_item_of_a_hidden_asset_is_404(served: Served):
    rows = hidden(served)
    assert {r["sensitivity"] for r in rows} == {"internal", "critical"}
    for r in rows[:20]:
        for fmt in ("json", "html"):
            resp = httpx.get(f"{served.url}/collections/{r['kind']}/items/{r['id']}", params={"f": fmt})
            assert resp.status_code == 404 and resp.json()["code"] == "NotFound"
            assert r["id"] not in resp.text or "no feature" in resp.text


def test_planner_sees_everything_with_either_header(served: Served):
    rows = hidden(served)
    r = rows[0]
    for headers in ({"Authorization": f"Bearer {served.planner_key}"}, {"X-API-Key": served.planner_key}):
        resp = httpx.get(f"{served.url}/collections/{r['kind']}/items/{r['id']}", headers=headers)
        assert resp.status_code == 200 and resp.json()["properties"]["sensitivity"] == r["sensitivity"]
    routes = all_pages(f"{served.url}/collections/fiber-routes/items?limit=1000", {"X-API-Key": served.planner_key})
    with db.connect(served.db_url) as conn:
        n = conn.execute(
            "SELECT count(*) AS n FROM assets WHERE kind = 'fiber-routes' AND retired_at IS NULL"
        ).fetchone()["n"]
    assert len(routes) == n and {f["properties"]["sensitivity"] for f in routes} >= {"internal", "critical"}


def test_partner_sees_public_and_its_own(served: Served):
    feats = all_pages(f"{served.url}/collections/network-nodes/items?limit=1000", {"X-API-Key": served.partner_key})
    assert feats and all(
        f["properties"]["sensitivity"] == "public" or f["properties"]["operator"] == "rheinfaser" for f in feats
    )
    others = [h for h in hidden(served) if h["operator"] != "rheinfaser"]
    assert others
    o = others[0]
    resp = httpx.get(f"{served.url}/collections/{o['kind']}/items/{o['id']}", headers={"X-API-Key": served.partner_key})
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer nz_nothing_here"}, {"X-API-Key": "garbage"}, {"Authorization": "Basic dXNlcjpwdw=="}],
)
def test_bad_keys_are_401_json(served: Served, headers: dict):
    r = httpx.get(f"{served.url}/collections/sensors/items", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "Unauthorized"


def test_history_of_a_feature(served: Served):
    from netzatlas.registry import service

    first = httpx.get(f"{served.url}/collections/actuators/items", params={"limit": 1}).json()["features"][0]
    with db.transaction(served.db_url, actor="history-test") as conn:
        service.update(conn, first["id"], first["properties"]["version"], {"status": "out_of_service"})
    doc = httpx.get(f"{served.url}/collections/actuators/items/{first['id']}/history").json()
    versions = doc["versions"]
    assert [v["version"] for v in versions][-2:] == [first["properties"]["version"], first["properties"]["version"] + 1]
    assert versions[-1]["actor"] == "history-test" and versions[-1]["properties"]["status"] == "out_of_service"
    assert versions[-2]["validTo"] == versions[-1]["validFrom"]
    page = httpx.get(f"{served.url}/collections/actuators/items/{first['id']}/history", params={"f": "html"}).text
    assert "out_of_service" in page and "history-test" in page
    # hidden assets have no visible history for anonymous callers
    r = hidden(served)[0]
    assert httpx.get(f"{served.url}/collections/{r['kind']}/items/{r['id']}/history").status_code == 404
    planner = httpx.get(
        f"{served.url}/collections/{r['kind']}/items/{r['id']}/history", headers={"X-API-Key": served.planner_key}
    )
    assert planner.status_code == 200 and planner.json()["versions"][0]["operation"] == "create"
    assert httpx.get(f"{served.url}/collections/districts/items/1/history").status_code == 404
