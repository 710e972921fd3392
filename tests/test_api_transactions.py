"""Part 4 writes and partner deliveries through the served API (a real `netzatlas serve`)."""

from __future__ import annotations

import io

import httpx
import pyogrio
import pytest

from .conftest import Served
from .test_api_conformance import _route_feature, _write

ITEMS = "/collections/fiber-routes/items"


def _get(s: Served, path: str, key: str | None = None, **params) -> httpx.Response:
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    return httpx.get(s.url + path, params=params, headers=headers, timeout=30)


def test_round_trip_with_content_crs(served: Served):
    s = served
    feature = _route_feature("EPSG 25832 route")
    feature["geometry"]["coordinates"] = [[455000.0, 5497000.0], [455100.0, 5497050.0]]
    r = _write(
        s, "POST", ITEMS, s.partner_key, feature, **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/25832>"}
    )
    assert r.status_code == 201, r.text
    path = r.headers["location"].removeprefix(s.url)
    got = _get(s, path, crs="http://www.opengis.net/def/crs/EPSG/0/25832").json()
    assert got["geometry"]["coordinates"][0] == [455000.0, 5497000.0]
    assert got["properties"]["operator"] == "rheinfaser" and got["properties"]["version"] == 1
    # EPSG:4326 bodies are lat/lon
    lonlat = _get(s, path).json()["geometry"]["coordinates"]
    latlon = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [p[::-1] for p in lonlat]},
        "properties": {},
    }
    r = _write(
        s,
        "PATCH",
        path,
        s.partner_key,
        latlon,
        **{"If-Match": '"1"', "Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4326>"},
    )
    assert r.status_code == 204, r.text
    again = _get(s, path, crs="http://www.opengis.net/def/crs/EPSG/0/25832").json()["geometry"]["coordinates"]
    assert abs(again[0][0] - 455000.0) < 0.05 and abs(again[0][1] - 5497000.0) < 0.05
    history = _get(s, path, asOf="2000-01-01T00:00:00Z")
    assert history.status_code == 404
    assert _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"2"'}).status_code == 204


def test_access_rules(served: Served):
    s = served
    assert httpx.post(s.url + ITEMS, json=_route_feature("anon"), timeout=30).status_code == 401
    # a partner may not create for another operator
    other = _route_feature("not mine")
    other["properties"]["operator"] = "stadt-worms"
    assert _write(s, "POST", ITEMS, s.partner_key, other).status_code == 403
    # a public asset of another operator: visible, but not writable by the partner
    sensors = _get(s, "/collections/sensors/items", limit=1).json()["features"]
    foreign = sensors[0]
    assert foreign["properties"]["operator"] != "rheinfaser"
    path = f"/collections/sensors/items/{foreign['id']}"
    etag = _get(s, path).headers["etag"]
    patch = {"type": "Feature", "geometry": None, "properties": {"name": "hijacked"}}
    assert _write(s, "PATCH", path, s.partner_key, patch, **{"If-Match": etag}).status_code == 403
    assert _write(s, "DELETE", path, s.partner_key, **{"If-Match": etag}).status_code == 403
    # planners write every operator's assets
    r = _write(
        s,
        "PATCH",
        path,
        s.planner_key,
        {"type": "Feature", "geometry": None, "properties": {"name": foreign["properties"]["name"]}},
        **{"If-Match": etag},
    )
    assert r.status_code == 204
    # validation errors name the field
    bad = _route_feature("bad")
    bad["properties"]["route_type"] = "spaghetti"
    r = _write(s, "POST", ITEMS, s.partner_key, bad)
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"field": "attributes.route_type", "reason": "unknown code 'spaghetti'; allowed: trench, duct, cable"}
    ]
    r = httpx.post(s.url + ITEMS, content=b"{not json", headers={"Authorization": f"Bearer {s.partner_key}"})
    assert r.status_code == 400


def test_options_answers_allow(served: Served):
    s = served
    anon = httpx.options(s.url + ITEMS, timeout=30)
    assert anon.headers["allow"] == "GET, OPTIONS"
    partner = httpx.options(s.url + ITEMS, headers={"Authorization": f"Bearer {s.partner_key}"}, timeout=30)
    assert partner.headers["allow"] == "GET, POST, OPTIONS"
    r = _write(s, "POST", ITEMS, s.partner_key, _route_feature("options"))
    path = r.headers["location"].removeprefix(s.url)
    mine = httpx.options(s.url + path, headers={"Authorization": f"Bearer {s.partner_key}"}, timeout=30)
    assert mine.headers["allow"] == "GET, PUT, PATCH, DELETE, OPTIONS"
    assert httpx.options(s.url + path, timeout=30).headers["allow"] == "GET, OPTIONS"
    _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"1"'})


def test_openapi_lists_the_write_operations(served: Served):
    doc = _get(served, "/api").json()
    item = doc["paths"]["/collections/fiber-routes/items/{featureId}"]
    assert {"get", "put", "patch", "delete", "options"} <= set(item)
    assert {"get", "post", "options"} <= set(doc["paths"]["/collections/fiber-routes/items"])
    assert "post" in doc["paths"]["/submissions"]


@pytest.mark.parametrize("fmt", ["gpkg", "csv"])
def test_template_download(served: Served, fmt):
    r = httpx.get(served.url + "/collections/network-nodes/template", params={"f": fmt}, timeout=30)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    if fmt == "csv":
        assert r.text.splitlines()[0].startswith("wkt,external_id,name,status")
    else:
        info = pyogrio.read_info(io.BytesIO(r.content))
        assert "node_type" in list(info["fields"]) and info["geometry_type"] == "Point"


def test_submission_upload_and_report(served: Served):
    s = served
    csv_ok = "external_id,name,status,node_type,lon,lat\nAPI-1,Upload 1,planned,manhole,8.361,49.631\n"
    auth = {"Authorization": f"Bearer {s.partner_key}"}
    files = {"file": ("network-nodes.csv", csv_ok.encode(), "text/csv")}
    assert httpx.post(s.url + "/submissions", files=files, timeout=60).status_code == 401
    r = httpx.post(s.url + "/submissions", files=files, headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "loaded" and doc["report"]["counts"]["network-nodes"]["created"] == 1
    sub = _get(s, f"/submissions/{doc['id']}", s.partner_key).json()
    assert sub["operator"] == "rheinfaser" and sub["status"] == "loaded" and len(sub["sha256"]) == 64
    page = httpx.get(s.url + f"/submissions/{doc['id']}", params={"f": "html"}, headers=auth, timeout=30)
    assert page.status_code == 200 and "network-nodes.csv" in page.text and "<html" in page.text
    # for another operator: forbidden; invalid: 422 with the report
    assert (
        httpx.post(
            s.url + "/submissions", files=files, data={"operator": "stadt-worms"}, headers=auth, timeout=60
        ).status_code
        == 403
    )
    bad = {"file": ("network-nodes.csv", csv_ok.replace("manhole", "volcano").encode(), "text/csv")}
    r = httpx.post(s.url + "/submissions", files=bad, headers=auth, timeout=60)
    assert r.status_code == 422
    assert r.json()["report"]["problems"][0]["field"] == "attributes.node_type"
    # retire what the upload created, so the served demo stays as it was
    feats = _get(s, "/collections/network-nodes/items", s.partner_key, external_id="API-1").json()["features"]
    path = f"/collections/network-nodes/items/{feats[0]['id']}"
    assert _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"1"'}).status_code == 204
