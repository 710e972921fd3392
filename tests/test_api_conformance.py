"""Declared conformance equals implemented conformance: one check per declared class."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import mapbox_vector_tile
import pytest
from openapi_spec_validator import validate

from netzatlas.api.conformance import CONFORMANCE

from .conftest import Served

Check = Callable[[Served], None]
CHECKS: dict[str, Check] = {}


def checks(*suffixes: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        for s in suffixes:
            matches = [c for c in CONFORMANCE if c.endswith(s)]
            CHECKS[matches[0] if matches else s] = fn
        return fn

    return register


def get(s: Served, path: str, **params) -> httpx.Response:
    return httpx.get(s.url + path, params=params, headers={"Accept": "application/json"}, timeout=30)


def ids(s: Served, collection: str, **params) -> set:
    r = get(s, f"/collections/{collection}/items", limit=10000, **params)
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


@checks("ogcapi-common-1/1.0/conf/core")
def _common_core(s: Served) -> None:
    landing = get(s, "/").json()
    rels = {link["rel"]: link for link in landing["links"]}
    for rel in ("self", "service-desc", "conformance", "data"):
        assert rels[rel]["href"].startswith("http://")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert tuple(get(s, "/conformance").json()["conformsTo"]) == CONFORMANCE


@checks("ogcapi-common-2/1.0/conf/collections", "ogcapi-features-1/1.0/conf/core")
def _features_core(s: Served) -> None:
    cols = get(s, "/collections").json()["collections"]
    assert {
        "fiber-routes",
        "network-nodes",
        "mobile-sites",
        "sensors",
        "actuators",
        "iot-gateways",
        "districts",
        "buildings",
        "population-cells",
    } <= {c["id"] for c in cols}
    assert [c["id"] for c in cols if c["itemType"] != "feature"] == ["catalog"]  # OGC API Records, checked below
    for c in (c for c in cols if c["itemType"] == "feature"):
        assert "." not in c["id"]
        assert any(lk["rel"] == "items" and lk["type"] == "application/geo+json" for lk in c["links"])
        assert len(c["extent"]["spatial"]["bbox"][0]) == 4
    page = get(s, "/collections/sensors/items", limit=5).json()
    assert page["numberReturned"] == 5 and len(page["features"]) == 5
    assert all("id" in f for f in page["features"]) and "timeStamp" in page
    assert any(lk["rel"] == "next" for lk in page["links"])
    one = page["features"][0]
    r = get(s, f"/collections/sensors/items/{one['id']}")
    assert r.status_code == 200 and r.json()["id"] == one["id"]
    # bbox narrows the result
    everything = ids(s, "sensors")
    boxed = ids(s, "sensors", bbox="8.35,49.62,8.37,49.64")
    assert 0 < len(boxed) < len(everything)


@checks("ogcapi-features-1/1.0/conf/geojson")
def _geojson(s: Served) -> None:
    r = get(s, "/collections/fiber-routes/items", limit=3, f="json")
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert all(f["type"] == "Feature" and f["geometry"]["type"] == "LineString" for f in doc["features"])


@checks("ogcapi-features-1/1.0/conf/html")
def _html(s: Served) -> None:
    for path in (
        "/",
        "/conformance",
        "/collections",
        "/collections/sensors",
        "/collections/sensors/items",
        "/collections/sensors/queryables",
        "/api",
    ):
        r = httpx.get(s.url + path, headers={"Accept": "text/html"}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert "<html" in r.text
    page = httpx.get(s.url + "/collections/sensors/items", params={"f": "html"}, timeout=30).text
    assert "<svg" in page and "<circle" in page


@checks("ogcapi-features-1/1.0/conf/oas30")
def _oas30(s: Served) -> None:
    r = get(s, "/api")
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    doc = r.json()
    assert doc["openapi"].startswith("3.0.")
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == 10000 and limit["default"] == 10
    assert {"$ref": "#/components/parameters/limit"} in doc["paths"]["/collections/sensors/items"]["get"]["parameters"]
    validate(doc)  # a valid OpenAPI 3.0 document, by openapi-spec-validator


@checks("ogcapi-features-2/1.0/conf/crs")
def _crs(s: Served) -> None:
    c = get(s, "/collections/sensors").json()
    assert c["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/25832"
    for uri in c["crs"]:
        r = get(s, "/collections/sensors/items", limit=1, crs=uri)
        assert r.status_code == 200 and r.headers["content-crs"] == f"<{uri}>"
    assert get(s, "/collections/sensors/items", crs="EPSG:1234").status_code == 400


@checks("ogcapi-features-3/1.0/conf/queryables", "queryables-query-parameters")
def _queryables(s: Served) -> None:
    r = get(s, "/collections/sensors/queryables")
    assert r.headers["content-type"].startswith("application/schema+json")
    q = r.json()
    assert q["properties"]["sensor_type"]["enum"][0] == "air_quality"
    assert "geometry" in q["properties"]
    noise = ids(s, "sensors", sensor_type="noise")
    assert noise and noise == ids(s, "sensors", filter="sensor_type = 'noise'")


@checks(
    "ogcapi-features-3/1.0/conf/filter",
    "ogcapi-features-3/1.0/conf/features-filter",
    "conf/cql2-text",
    "conf/basic-cql2",
)
def _filter_text(s: Served) -> None:
    lorawan = ids(s, "sensors", filter="connectivity = 'lorawan' AND NOT (status <> 'in_service')")
    assert lorawan and lorawan < ids(s, "sensors")
    assert ids(s, "sensors", filter="connectivity='lorawan' AND status='in_service'") == lorawan
    assert get(s, "/collections/sensors/items", filter="connectivity = ").status_code == 400


@checks("conf/cql2-json")
def _filter_json(s: Served) -> None:
    f = '{"op": "=", "args": [{"property": "connectivity"}, "lorawan"]}'
    assert ids(s, "sensors", filter=f, **{"filter-lang": "cql2-json"}) == ids(
        s, "sensors", filter="connectivity='lorawan'"
    )


@checks("conf/advanced-comparison-operators")
def _advanced(s: Served) -> None:
    like = ids(s, "sensors", filter="name LIKE 'Sensor Lärm%'")
    # the truth computed here from all sensors (other tests may rename one, so not from sensor_type)
    every = get(s, "/collections/sensors/items", limit=10000).json()["features"]
    assert like and like == {f["id"] for f in every if (f["properties"]["name"] or "").startswith("Sensor Lärm")}
    assert ids(s, "sensors", filter="sensor_type IN ('noise', 'weather')") == (
        ids(s, "sensors", sensor_type="noise") | ids(s, "sensors", sensor_type="weather")
    )
    assert ids(s, "fiber-routes", filter="fibre_count BETWEEN 96 AND 96") == ids(s, "fiber-routes", fibre_count=96)


@checks("conf/case-insensitive-comparison")
def _casei(s: Served) -> None:
    assert ids(s, "sensors", filter="CASEI(connectivity) = casei('LoRaWAN')") == ids(
        s, "sensors", connectivity="lorawan"
    )


@checks("conf/basic-spatial-functions", "conf/basic-spatial-functions-plus", "conf/spatial-functions")
def _spatial(s: Served) -> None:
    box = "8.35,49.62,8.37,49.64"
    by_bbox = ids(s, "sensors", bbox=box)
    assert ids(s, "sensors", filter=f"S_INTERSECTS(geometry, BBOX({box}))") == by_bbox
    assert (
        ids(
            s,
            "sensors",
            filter="S_WITHIN(geometry, POLYGON((8.35 49.62, 8.37 49.62, 8.37 49.64, 8.35 49.64, 8.35 49.62)))",
        )
        == by_bbox
    )
    assert ids(s, "sensors", filter=f"S_DISJOINT(geometry, BBOX({box}))") == ids(s, "sensors") - by_bbox
    near = ids(s, "sensors", filter="S_DWITHIN(geometry, POINT(8.36 49.63), 1000, meters)")
    assert near and near <= ids(s, "sensors", filter="S_DWITHIN(geometry, POINT(8.36 49.63), 1.5, kilometers)")


@checks("conf/temporal-functions")
def _temporal(s: Served) -> None:
    after = ids(s, "sensors", filter="T_AFTER(commissioned_on, DATE('2022-01-01'))")
    before = ids(s, "sensors", filter="T_BEFORE(commissioned_on, DATE('2022-01-01'))")
    dated = ids(s, "sensors", filter="commissioned_on IS NOT NULL")
    on = ids(s, "sensors", filter="T_EQUALS(commissioned_on, DATE('2022-01-01'))")
    assert after and before and after | before | on == dated and not after & before
    assert ids(s, "sensors", filter="T_INTERSECTS(commissioned_on, INTERVAL('2022-01-01', '..'))") == after | on


@checks("conf/property-property")
def _property_property(s: Served) -> None:
    same = ids(s, "sensors", filter="commissioned_on = commissioned_on")
    assert same == ids(s, "sensors", filter="commissioned_on IS NOT NULL")


@checks("ogcapi-tiles-1/1.0/conf/core", "ogcapi-tiles-1/1.0/conf/mvt")
def _tiles_core(s: Served) -> None:
    r = httpx.get(s.url + "/collections/sensors/tiles/WebMercatorQuad/14/5582/8572", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert mapbox_vector_tile.decode(r.content)["sensors"]["features"]


@checks(
    "ogcapi-tiles-1/1.0/conf/tileset",
    "ogcapi-tiles-1/1.0/conf/tilesets-list",
    "ogcapi-tiles-1/1.0/conf/geodata-tilesets",
)
def _tilesets(s: Served) -> None:
    c = get(s, "/collections/sensors").json()
    href = next(lk["href"] for lk in c["links"] if lk["rel"].endswith("tilesets-vector"))
    ts = httpx.get(href).json()["tilesets"][0]
    assert ts["tileMatrixSetURI"].endswith("WebMercatorQuad") and ts["layers"][0]["id"] == "sensors"
    one = httpx.get(next(lk["href"] for lk in ts["links"] if lk["rel"] == "self")).json()
    assert one["dataType"] == "vector"


@checks("ogcapi-tiles-1/1.0/conf/dataset-tilesets")
def _dataset_tiles(s: Served) -> None:
    landing = get(s, "/").json()
    href = next(lk["href"] for lk in landing["links"] if lk["rel"].endswith("tilesets-vector"))
    ts = httpx.get(href).json()["tilesets"][0]
    assert {"sensors", "districts", "buildings"} <= {layer["id"] for layer in ts["layers"]}
    r = httpx.get(s.url + "/tiles/WebMercatorQuad/13/2791/4286")
    assert {"districts", "buildings"} <= set(mapbox_vector_tile.decode(r.content))


@checks("tms/2.0/conf/json-tilematrixset")
def _tms(s: Served) -> None:
    sets = get(s, "/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in sets] == ["WebMercatorQuad"]
    tms = get(s, "/tileMatrixSets/WebMercatorQuad").json()
    assert tms["crs"].endswith("3857") and tms["tileMatrices"][0]["matrixWidth"] == 1


def _route_feature(name: str, lon: float = 8.3601, lat: float = 49.6301) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat + 0.0005]]},
        "properties": {"name": name, "status": "planned", "sensitivity": "public", "route_type": "duct"},
    }


def _write(s: Served, method: str, path: str, key: str, body: dict | None = None, **headers) -> httpx.Response:
    return httpx.request(
        method, s.url + path, json=body, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30
    )


@checks("ogcapi-features-4/1.0/conf/create-replace-delete", "ogcapi-features-4/1.0/conf/features")
def _create_replace_delete(s: Served) -> None:
    r = _write(s, "POST", "/collections/fiber-routes/items", s.partner_key, _route_feature("Part 4 CRD"))
    assert r.status_code == 201 and r.headers["etag"] == '"1"', r.text
    location = r.headers["location"]
    assert location.startswith(s.url + "/collections/fiber-routes/items/")
    path = location.removeprefix(s.url)
    got = get(s, path)
    assert got.json()["properties"]["name"] == "Part 4 CRD" and got.headers["etag"] == '"1"'
    replaced = _route_feature("Part 4 replaced")
    r = _write(s, "PUT", path, s.partner_key, replaced, **{"If-Match": '"1"'})
    assert r.status_code == 204 and r.headers["etag"] == '"2"', r.text
    assert get(s, path).json()["properties"]["name"] == "Part 4 replaced"
    r = _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"2"'})
    assert r.status_code == 204
    assert get(s, path).status_code == 404


@checks("ogcapi-features-4/1.0/conf/update")
def _update(s: Served) -> None:
    r = _write(s, "POST", "/collections/fiber-routes/items", s.partner_key, _route_feature("Part 4 update"))
    path = r.headers["location"].removeprefix(s.url)
    patch = {"type": "Feature", "geometry": None, "properties": {"fibre_count": 96}}
    r = _write(s, "PATCH", path, s.partner_key, patch, **{"If-Match": '"1"'})
    assert r.status_code == 204, r.text
    props = get(s, path).json()["properties"]
    assert props["fibre_count"] == 96 and props["name"] == "Part 4 update" and props["route_type"] == "duct"
    _write(s, "DELETE", path, s.partner_key, **{"If-Match": r.headers["etag"]})


@checks("ogcapi-features-4/1.0/conf/optimistic-locking-etags")
def _etags(s: Served) -> None:
    r = _write(s, "POST", "/collections/fiber-routes/items", s.partner_key, _route_feature("Part 4 etag"))
    path = r.headers["location"].removeprefix(s.url)
    patch = {"type": "Feature", "geometry": None, "properties": {"name": "changed"}}
    assert _write(s, "PATCH", path, s.partner_key, patch).status_code == 428
    assert _write(s, "PATCH", path, s.partner_key, patch, **{"If-Match": '"1"'}).status_code == 204
    stale = _write(s, "PATCH", path, s.partner_key, patch, **{"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["etag"] == '"2"'
    assert _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"1"'}).status_code == 412
    assert _write(s, "DELETE", path, s.partner_key, **{"If-Match": '"2"'}).status_code == 204


def _fiber_job(s: Served) -> dict:
    r = httpx.post(
        s.url + "/processes/coverage-fiber/execution",
        json={"inputs": {}},
        headers={"Authorization": f"Bearer {s.planner_key}"},
        timeout=30,
    )
    assert r.status_code == 201 and r.headers["location"].startswith(s.url + "/jobs/"), r.text
    for _ in range(600):
        # the demo's routes are internal, so the run is too: its job is the planner's to read
        job = httpx.get(r.headers["location"], headers={"Authorization": f"Bearer {s.planner_key}"}, timeout=30).json()
        if job["status"] in ("successful", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


@checks("ogcapi-processes-1/1.0/conf/core")
def _processes_core(s: Served) -> None:
    landing = get(s, "/").json()
    assert any(lk["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/processes" for lk in landing["links"])
    assert {p["id"] for p in get(s, "/processes").json()["processes"]} >= {"coverage-fiber", "coverage-mobile"}
    job = _fiber_job(s)
    assert job["status"] == "successful" and job["type"] == "process" and job["progress"] == 100
    planner = {"Authorization": f"Bearer {s.planner_key}"}
    results = httpx.get(f"{s.url}/jobs/{job['jobID']}/results", headers=planner, timeout=30)
    assert results.json()["statistics"]["buildings"] > 0
    assert get(s, f"/jobs/{job['jobID']}").status_code == 404  # derived from internal routes: not for everyone
    assert get(s, "/jobs/00000000-0000-0000-0000-000000000000").status_code == 404


@checks("ogcapi-processes-1/1.0/conf/ogc-process-description")
def _process_description(s: Served) -> None:
    d = get(s, "/processes/coverage-fiber").json()
    assert d["inputs"]["drop_distance_m"]["schema"]["type"] == "number"
    assert "statistics" in d["outputs"] and d["version"]


@checks("ogcapi-processes-1/1.0/conf/json")
def _processes_json(s: Served) -> None:
    for path in ("/processes", "/processes/coverage-iot", "/jobs"):
        assert get(s, path).headers["content-type"].startswith("application/json")


@checks("ogcapi-processes-1/1.0/conf/job-list")
def _job_list(s: Served) -> None:
    job = _fiber_job(s)
    planner = {"Authorization": f"Bearer {s.planner_key}"}
    assert job["jobID"] in {j["jobID"] for j in httpx.get(f"{s.url}/jobs", headers=planner).json()["jobs"]}
    assert job["jobID"] not in {j["jobID"] for j in get(s, "/jobs").json()["jobs"]}  # internal inputs


@checks("ogcapi-processes-1/1.0/conf/oas30")
def _processes_oas30(s: Served) -> None:
    paths = get(s, "/api").json()["paths"]
    assert {
        "/processes",
        "/processes/{processId}",
        "/processes/{processId}/execution",
        "/jobs",
        "/jobs/{jobId}",
        "/jobs/{jobId}/results",
    } <= set(paths)
    assert "post" in paths["/processes/{processId}/execution"]


RECORDS = "ogcapi-records-1/1.0/conf/"


@checks(RECORDS + "record-core", RECORDS + "json")
def _records_core(s: Served) -> None:
    """Records are GeoJSON features with an id, properties, a time and the links the standard asks for."""
    r = get(s, "/collections/catalog/items", limit=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    page = r.json()
    assert page["type"] == "FeatureCollection" and 0 < page["numberReturned"] == len(page["features"]) <= 5
    for f in page["features"]:
        assert f["type"] == "Feature" and f["id"] and "time" in f and isinstance(f["properties"], dict)
        rels = [lk["rel"] for lk in f["links"]]
        assert rels.count("self") == 1 and rels.count("collection") == 1
        assert {"href": "http://www.opengis.net/def/profile/OGC/0/ogc-record", "rel": "profile"}.items() <= next(
            lk for lk in f["links"] if lk["rel"] == "profile"
        ).items()
        one = get(s, f"/collections/catalog/items/{f['id']}")
        assert one.headers["content-type"].startswith("application/geo+json") and one.json() == f


@checks(RECORDS + "record-collection", RECORDS + "records-api", RECORDS + "searchable-catalog")
def _records_api(s: Served) -> None:
    """The catalog is a collection of itemType record in /collections, with its items at /items."""
    listed = [c for c in get(s, "/collections").json()["collections"] if c["itemType"] == "record"]
    assert [c["id"] for c in listed] == ["catalog"]
    cat = get(s, "/collections/catalog").json()
    assert cat["type"] == "Collection" and cat["itemType"] == "record" and len(cat["extent"]["spatial"]["bbox"][0]) == 4
    rels = {lk["rel"]: lk for lk in cat["links"]}
    assert rels["self"]["href"].endswith("/collections/catalog") and rels["items"]["type"] == "application/geo+json"
    # Features paging: limit, next links to the end
    seen, href = [], rels["items"]["href"] + "?limit=3"
    while href:
        page = httpx.get(href, timeout=30).json()
        seen += [f["id"] for f in page["features"]]
        href = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == get(s, "/collections/catalog/items").json()["numberMatched"]
    paths = get(s, "/api").json()["paths"]
    assert {"/collections/catalog", "/collections/catalog/items", "/collections/catalog/items/{recordId}"} <= set(paths)


@checks(RECORDS + "record-core-query-parameters")
def _records_query_parameters(s: Served) -> None:
    def ids(**params: str) -> set[str]:
        r = get(s, "/collections/catalog/items", limit=10000, **params)
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    everything = ids()
    assert ids(q="sensors") and ids(q="sensors") < everything
    assert ids(q="SENSORS,boundary") == ids(q="sensors") | ids(q="boundary")
    assert ids(bbox="8.3,49.6,8.4,49.7") and not ids(bbox="0,0,1,1")
    assert ids(datetime="1900-01-01T00:00:00Z/..") and not ids(datetime="../1800-01-01T00:00:00Z")
    assert ids(type="dataset") == everything and not ids(type="service")
    assert ids(ids="reference-municipality-07319000") == {"reference-municipality-07319000"}
    assert not ids(externalIds="dcat:none")


def test_every_declared_class_has_a_check():
    assert set(CHECKS) == set(CONFORMANCE)


@pytest.mark.parametrize("conformance_class", CONFORMANCE)
def test_declared_class(served: Served, conformance_class: str):
    CHECKS[conformance_class](served)
