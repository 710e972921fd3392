"""Bad input gets a 4xx JSON body that names the problem, never a 500."""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
import pytest

from bench.common import free_port, server

from .conftest import Served
from .test_api_conformance import _route_feature, _write

ITEMS = "/collections/sensors/items"
FAR_POINT = (
    '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [1e308, 1e308]}]}'
)
CASES = [
    (ITEMS, {"bbox": "1,2,3"}, 400, "bbox"),
    (ITEMS, {"bbox": "a,b,c,d"}, 400, "bbox"),
    (ITEMS, {"bbox": "8.4,49.6,8.3,49.7"}, 400, "bbox"),
    (ITEMS, {"bbox": "nan,1,2,3"}, 400, "bbox"),
    (ITEMS, {"limit": "0"}, 400, "limit"),
    (ITEMS, {"limit": "10001"}, 400, "limit"),
    (ITEMS, {"limit": "ten"}, 400, "limit"),
    (ITEMS, {"offset": "-1"}, 400, "offset"),
    ("/collections/nope/items", {}, 404, "nope"),
    ("/collections/nope", {}, 404, "nope"),
    (ITEMS + "/00000000-0000-0000-0000-000000000000", {}, 404, "no feature"),
    (ITEMS + "/not-a-uuid", {}, 404, "no feature"),
    ("/collections/districts/items/abc", {}, 404, "no feature"),
    (ITEMS, {"filter": "sensor_type = "}, 400, "filter"),
    (ITEMS, {"filter": "nosuch = 1"}, 400, "unknown property 'nosuch'"),
    (ITEMS, {"filter": "1=1; DROP TABLE assets"}, 400, "filter"),
    (ITEMS, {"filter": "name = 'x' OR 1=1 --"}, 400, "filter"),
    (ITEMS, {"filter": "version = 'abc'"}, 400, "version"),
    (ITEMS, {"filter": "(" * 5000 + "name = 'x'" + ")" * 5000}, 400, "filter"),
    (ITEMS, {"filter": "{not json", "filter-lang": "cql2-json"}, 400, "filter"),
    (ITEMS, {"filter": "name = 'x'", "filter-lang": "sql"}, 400, "filter"),
    (ITEMS, {"filter-lang": "cql2-text"}, 400, "filter"),
    (ITEMS, {"crs": "EPSG:9999"}, 400, "crs"),
    (ITEMS, {"bbox": "1,2,3,4", "bbox-crs": "EPSG:1"}, 400, "bbox-crs"),
    (ITEMS, {"filter": "name = 'x'", "filter-crs": "urn:nonsense"}, 400, "filter-crs"),
    (ITEMS, {"sortby": "geometry"}, 400, "sortby"),
    (ITEMS, {"sortby": "nosuch"}, 400, "sortby"),
    (ITEMS, {"properties": "nosuch"}, 400, "properties"),
    (ITEMS, {"datetime": "yesterday"}, 400, "datetime"),
    (ITEMS, {"datetime": "2024-01-01/2023-01-01"}, 400, "datetime"),
    ("/collections/districts/items", {"datetime": "2024-01-01"}, 400, "temporal"),
    (ITEMS, {"asOf": "soon"}, 400, "asOf"),
    ("/collections/districts/items", {"asOf": "2024-01-01"}, 400, "history"),
    (ITEMS, {"skipGeometry": "maybe"}, 400, "skipGeometry"),
    (ITEMS, {"version": "x"}, 400, "version"),
    (ITEMS, {"unknown_param": "1"}, 400, "unknown parameter"),
    (ITEMS, {"cursor": "not-a-uuid"}, 400, "cursor"),
    (ITEMS, {"cursor": "00000000-0000-0000-0000-000000000000", "sortby": "name"}, 400, "cursor"),
    (ITEMS, {"f": "xml"}, 400, "f must be"),
    (ITEMS, {"geometry": "POINT(1 2)"}, 400, "geometry"),
    (ITEMS, {"offset": "9223372036854775807"}, 400, "offset"),
    (ITEMS, {"offset": "99999999999999999999999999"}, 400, "offset"),
    (ITEMS, {"filter": "S_INTERSECTS(geometry, POINT(1000 1000))"}, 400, "latitude -90..90"),
    (ITEMS, {"filter": "S_INTERSECTS(geometry, POLYGON((0 0, 10 10, 10 0, 0 10, 0 0)))"}, 400, "Self-intersection"),
    (
        ITEMS,
        {
            "filter": FAR_POINT,
            "filter-lang": "cql2-json",
        },
        400,
        "longitude",
    ),
    (
        ITEMS,
        {
            "filter": FAR_POINT,
            "filter-lang": "cql2-json",
            "filter-crs": "EPSG:3857",
        },
        400,
        "within",
    ),
    (ITEMS, {"name": "a\x00b"}, 400, "NUL"),
    (ITEMS, {"operator": "x\x00"}, 400, "NUL"),
    (ITEMS, {"filter": "name = 'a\x00b'"}, 400, "NUL"),
]


@pytest.mark.parametrize(("path", "params", "status", "mention"), CASES)
def test_bad_input_is_a_clear_4xx(served: Served, path: str, params: dict, status: int, mention: str):
    r = httpx.get(served.url + path, params=params, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] and mention in body["description"]


def test_sql_looking_literals_are_just_values(served: Served):
    r = httpx.get(served.url + ITEMS, params={"filter": "name = '''; DROP TABLE assets; --'"})
    assert r.status_code == 200 and r.json()["features"] == []
    r = httpx.get(served.url + ITEMS, params={"name": "x' OR '1'='1"})
    assert r.status_code == 200 and r.json()["features"] == []
    assert httpx.get(served.url + ITEMS, params={"limit": 1}).json()["numberReturned"] == 1


# ---------------------------------------------------------------- whole world, far outside, huge numbers


def _matched(served: Served, **params) -> int:
    r = httpx.get(served.url + ITEMS, params={"limit": 1, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["numberMatched"]


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "-180,-90,180,90"},
        {"bbox": "-90,-180,90,180", "bbox-crs": "EPSG:4326"},
        {"bbox": "-20037508,-20037508,20037508,20037508", "bbox-crs": "EPSG:3857"},
        {"bbox": "-1e308,-1e308,1e308,1e308"},
        {"bbox": "-1e308,-1e308,1e308,1e308", "bbox-crs": "EPSG:25832"},
        {"filter": "S_INTERSECTS(geometry, BBOX(-180, -90, 180, 90))"},
        {"filter": "S_INTERSECTS(geometry, POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90)))"},
    ],
)
def test_whole_world_finds_every_feature(served: Served, params: dict):
    assert _matched(served, **params) == _matched(served) > 0


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1e308,1e308,1e308,1e308"},
        {"bbox": "-170,-10,-160,10"},
        {"bbox": "1e308,1e308,1e308,1e308", "bbox-crs": "EPSG:25832"},
        {"filter": "S_INTERSECTS(geometry, POINT(-170 0))"},
        {"filter": "S_DWITHIN(geometry, POINT(120 -40), 1000, meters)"},
        {"filter": "S_INTERSECTS(geometry, BBOX(100, 0, 110, 10))"},
    ],
)
def test_far_outside_the_storage_crs_is_nothing(served: Served, params: dict):
    assert _matched(served, **params) == 0


def test_s_disjoint_of_a_far_geometry_is_everything(served: Served):
    assert _matched(served, filter="S_DISJOINT(geometry, POINT(-170 0))") == _matched(served)


# ---------------------------------------------------------------- tiles

TMS = morecantile.tms.get("WebMercatorQuad")
WORMS = (8.359, 49.632)


def test_low_zoom_tiles_are_empty_or_small_never_5xx(served: Served):
    for z in range(4):
        for x in range(2**z):
            for y in range(2**z):
                for base in ("/tiles", "/collections/sensors/tiles", "/collections/municipalities/tiles"):
                    r = httpx.get(f"{served.url}{base}/WebMercatorQuad/{z}/{y}/{x}", timeout=30)
                    assert r.status_code in (200, 204), (base, z, y, x, r.text)
    # the world tile leaves out the layers below their minimum zoom, and says so
    r = httpx.get(f"{served.url}/tiles/WebMercatorQuad/0/0/0", headers={"X-API-Key": served.planner_key})
    omitted = r.headers["x-tile-omitted"]
    assert "sensors;minzoom=10" in omitted and "buildings;minzoom=13" in omitted
    layers = mapbox_vector_tile.decode(r.content) if r.status_code == 200 else {}
    assert "sensors" not in layers and "fiber-routes" not in layers
    assert layers.get("municipalities", {}).get("features"), "the municipality is still drawn at z0"
    # from its minimum zoom on the layer is there
    t = TMS.tile(*WORMS, 14)
    r = httpx.get(f"{served.url}/tiles/WebMercatorQuad/14/{t.y}/{t.x}", headers={"X-API-Key": served.planner_key})
    assert "sensors" in mapbox_vector_tile.decode(r.content) and "sensors" not in r.headers.get("x-tile-omitted", "")
    assert "x-tile-truncated" not in r.headers
    # and the tileset metadata announces the minimum zoom
    layers_meta = httpx.get(f"{served.url}/tiles/WebMercatorQuad").json()["layers"]
    assert {m["id"]: m["minTileMatrix"] for m in layers_meta}["buildings"] == "13"


def test_tile_feature_cap_is_reported(served: Served):
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "netzatlas"), "serve", "--port", str(port)]
    env = {"NETZATLAS_DATABASE_URL": served.db_url, "NETZATLAS_TILE_MAX_FEATURES": "3"}
    log = Path(tempfile.gettempdir()) / f"netzatlas-test-serve-{port}.log"
    t = TMS.tile(*WORMS, 12)
    path = f"/tiles/WebMercatorQuad/12/{t.y}/{t.x}"
    full = mapbox_vector_tile.decode(httpx.get(served.url + path, timeout=30).content)
    assert any(len(layer["features"]) > 3 for layer in full.values())
    with server(cmd, env, port, "/health", log) as base:
        r = httpx.get(base + path, timeout=30)
    assert r.status_code == 200
    capped = mapbox_vector_tile.decode(r.content)
    truncated = {p.split(";")[0] for p in r.headers["x-tile-truncated"].split(", ")}
    assert truncated == {name for name, layer in full.items() if len(layer["features"]) > 3} and truncated
    for name, layer in capped.items():
        assert len(layer["features"]) <= 3, name


# ---------------------------------------------------------------- protocol-level errors are JSON too


def _raw(served: Served, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "mention"),
    [
        (b"GET /collections/sensors/items?name=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "target"),
        (b"GET /collections HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "headers"),
        (b"NONSENSE\r\n\r\n", 400, "invalid HTTP request"),
    ],
)
def test_requests_the_server_refuses_get_json(served: Served, request_bytes: bytes, status: int, mention: str):
    got, headers, body = _raw(served, request_bytes)
    assert got == status and headers["content-type"] == "application/json"
    assert mention in httpx.Response(200, content=body).json()["description"]


def test_long_query_within_the_limit_reaches_the_app(served: Served):
    r = httpx.get(served.url + ITEMS, params={"name": "a" * 60_000}, timeout=30)
    assert r.status_code == 200 and r.json()["features"] == []


@pytest.mark.parametrize(
    ("method", "path", "status", "mention"),
    [
        ("GET", "/no/such/route", 404, "/no/such/route"),
        ("DELETE", "/collections", 405, "DELETE"),
        ("PUT", "/conformance", 405, "PUT"),
    ],
)
def test_unknown_routes_and_methods_are_json(served: Served, method: str, path: str, status: int, mention: str):
    r = httpx.request(method, served.url + path, timeout=30)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert mention in r.json()["description"]


def test_malformed_multipart_is_json(served: Served):
    r = httpx.post(
        served.url + "/submissions",
        content=b"--x\r\nnonsense",
        headers={"Content-Type": "multipart/form-data; boundary=x", "Authorization": f"Bearer {served.partner_key}"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/json", r.text


# ---------------------------------------------------------------- Part 4 bodies

ROUTES = "/collections/fiber-routes/items"


def _post(served: Served, feature: dict) -> httpx.Response:
    return _write(served, "POST", ROUTES, served.partner_key, feature)


def test_nul_bytes_in_a_body_are_a_400_naming_the_field(served: Served):
    feature = _route_feature("bad\x00name")
    r = _post(served, feature)
    assert r.status_code == 400 and "properties.name" in r.json()["description"], r.text
    feature = _route_feature("ok")
    feature["properties"]["route_type"] = "duct\x00"
    r = _post(served, feature)
    assert r.status_code == 400 and "properties.route_type" in r.json()["description"]
    # PUT too (the If-Match is checked first; a stale one would be 412, so use a real feature)
    r = _post(served, _route_feature("NUL put target"))
    assert r.status_code == 201
    path = r.headers["location"].removeprefix(served.url)
    r = _write(served, "PUT", path, served.partner_key, _route_feature("x\x00"), **{"If-Match": '"1"'})
    assert r.status_code == 400 and "properties.name" in r.json()["description"]
    assert _write(served, "DELETE", path, served.partner_key, **{"If-Match": '"1"'}).status_code == 204


def _problems(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {p["field"]: p["reason"] for p in r.json()["problems"]}


def test_oversized_and_malformed_features_are_refused(served: Served):
    # a 1 MB name
    assert "more than the limit of 500" in _problems(_post(served, _route_feature("n" * 1_000_000)))["name"]
    # a self-intersecting line
    bowtie = _route_feature("bowtie")
    bowtie["geometry"]["coordinates"] = [[8.360, 49.630], [8.362, 49.632], [8.362, 49.630], [8.360, 49.632]]
    assert "not simple" in _problems(_post(served, bowtie))["geometry"]
    # more vertices than the cap (100,000)
    many = _route_feature("many vertices")
    many["geometry"]["coordinates"] = [[8.36 + i * 1e-8, 49.63 + (i % 2) * 1e-8] for i in range(100_001)]
    assert "100,001 vertices" in _problems(_post(served, many))["geometry"]
    # a point far beyond the float range of any CRS
    far = _route_feature("far")
    far["geometry"]["coordinates"] = [[1e308, 1e308], [1e308, 1e307]]
    assert "geometry" in _problems(_post(served, far))
    # a line across Europe
    wide = _route_feature("wide")
    wide["geometry"]["coordinates"] = [[6.0, 48.0], [12.0, 54.0]]
    assert "km across" in _problems(_post(served, wide))["geometry"]
    # a body too large to read, e.g. a 1,000,000-vertex line
    huge = _route_feature("huge")
    huge["geometry"]["coordinates"] = [[8.36 + i * 1e-9, 49.63] for i in range(1_000_000)]
    r = _post(served, huge)
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"


# ---------------------------------------------------------------- submissions

CSV_NODE = "external_id,name,status,node_type,lon,lat\nBAD-1,Bad 1,planned,manhole,8.361,49.631\n"


def _submit(served: Served, data: dict | None = None, profile: tuple | None = None) -> httpx.Response:
    files = {"file": ("network-nodes.csv", CSV_NODE.encode(), "text/csv")}
    if profile:
        files["profile"] = profile
    return httpx.post(
        served.url + "/submissions",
        files=files,
        data={"dry_run": "true", **(data or {})},
        headers={"Authorization": f"Bearer {served.planner_key}"},
        timeout=60,
    )


def test_nul_in_the_submission_operator_is_a_400(served: Served):
    r = _submit(served, {"operator": "rheinfaser\x00"})
    assert r.status_code == 400 and r.json()["description"].startswith("operator:"), r.text


@pytest.mark.parametrize(
    "profile", ["/etc/passwd", "/dev/zero", "../../etc/hostname", "netzatlas/importers/profiles/zensus.yaml"]
)
def test_a_profile_over_http_is_never_a_server_path(served: Served, profile: str):
    r = _submit(served, {"operator": "rheinfaser", "profile": profile})
    assert r.status_code == 400 and "no built-in profile" in r.json()["description"], r.text
    assert "root:" not in r.text


def test_an_uploaded_profile_is_used_and_its_errors_do_not_echo_it(served: Served):
    secret = "s3cret-line-content"
    bad = f"name: x\nlayers:\n  - target: network-nodes\n    {secret}: [unclosed\n"
    r = _submit(served, {"operator": "rheinfaser"}, ("p.yaml", bad.encode(), "application/yaml"))
    assert r.status_code == 400 and "line" in r.json()["description"], r.text
    assert secret not in r.text
    good = (
        "name: uploaded\nlayers:\n  - layer: '*'\n    target: network-nodes\n    external_id: external_id\n"
        "    name: name\n    status: status\n    attributes: {node_type: node_type}\n"
    )
    r = _submit(served, {"operator": "rheinfaser"}, ("p.yaml", good.encode(), "application/yaml"))
    assert r.status_code == 201 and r.json()["report"]["profile"] == "uploaded", r.text
    r = _submit(served, {"operator": "rheinfaser", "profile": "registry"})
    assert r.status_code == 201, r.text
