"""Real clients against the served demo: GDAL's OAPIF driver and OWSLib; axis order; paging."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from owslib.ogcapi.features import Features
from pyproj import Transformer

from netzatlas import db

from .conftest import Served

ASSET_COLLECTIONS = ["fiber-routes", "network-nodes", "mobile-sites", "sensors", "actuators", "iot-gateways"]
TABLE_SQL = {
    **{c: f"SELECT * FROM assets WHERE kind = '{c}' AND retired_at IS NULL" for c in ASSET_COLLECTIONS},
    "districts": "SELECT * FROM districts",
    "buildings": "SELECT * FROM buildings",
    "population-cells": "SELECT * FROM population_cells",
}


def sql_count(s: Served, collection: str, where: str = "TRUE", params: tuple = ()) -> int:
    with db.connect(s.db_url) as conn:
        return conn.execute(f"SELECT count(*) AS n FROM ({TABLE_SQL[collection]}) t WHERE {where}", params).fetchone()[
            "n"
        ]


def ogr(*args: str, key: str | None = None) -> str:
    """Run a GDAL tool; with a key, as a planner (QGIS and GDAL send it as an HTTP header)."""
    if key:
        args = (args[0], "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", *args[1:])
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("collection", [*ASSET_COLLECTIONS, "districts", "population-cells"])
def test_ogrinfo_shows_the_feature_count(served: Served, collection: str):
    out = ogr("ogrinfo", "-so", f"OAPIF:{served.url}", collection, key=served.planner_key)
    count = int(re.search(r"Feature Count: (\d+)", out).group(1))
    assert count == sql_count(served, collection) > 0


def test_ogrinfo_anonymous_counts_only_public_assets(served: Served):
    out = ogr("ogrinfo", "-so", f"OAPIF:{served.url}", "sensors")
    count = int(re.search(r"Feature Count: (\d+)", out).group(1))
    assert count == sql_count(served, "sensors", "sensitivity = 'public'") < sql_count(served, "sensors")


@pytest.mark.parametrize("collection", [*ASSET_COLLECTIONS, "districts", "buildings", "population-cells"])
def test_ogr2ogr_copies_whole_collection_through_paging(served: Served, collection: str, tmp_path: Path):
    out = tmp_path / f"{collection}.geojson"
    # A small page size for small layers makes GDAL follow many next links; buildings use big pages.
    page = "1000" if collection == "buildings" else "7"
    ogr(
        "ogr2ogr",
        "-preserve_fid",
        "-f",
        "GeoJSON",
        str(out),
        f"OAPIF:{served.url}",
        collection,
        "-oo",
        f"PAGE_SIZE={page}",
        key=served.planner_key,
    )
    features = json.loads(out.read_text())["features"]
    # GDAL keeps string ids as a property and integer ids as the feature id
    ids = [f["properties"].get("id", f.get("id")) for f in features]
    assert len(ids) == len(set(ids)) == sql_count(served, collection)


def test_ogr2ogr_spat_and_where_match_sql(served: Served, tmp_path: Path):
    out = tmp_path / "routes.geojson"
    ogr(
        "ogr2ogr",
        "-f",
        "GeoJSON",
        str(out),
        f"OAPIF:{served.url}",
        "fiber-routes",
        "-spat",
        "8.34",
        "49.62",
        "8.38",
        "49.65",
        "-where",
        "status = 'in_service' AND fibre_count >= 96",
        key=served.planner_key,
    )
    got = len(json.loads(out.read_text())["features"])
    expected = sql_count(
        served,
        "fiber-routes",
        "status = 'in_service' AND (attributes->>'fibre_count')::int >= 96 AND ST_Intersects(geom, "
        "ST_Transform(ST_MakeEnvelope(8.34, 49.62, 8.38, 49.65, 4326), 25832))",
    )
    assert got == expected > 0


def test_owslib_features(served: Served):
    api = Features(served.url)
    assert {"sensors", "fiber-routes", "districts"} <= {c["id"] for c in api.collections()["collections"]}
    assert api.collection("sensors")["storageCrs"].endswith("25832")
    page = api.collection_items("sensors", limit=5)
    assert page["numberReturned"] == 5
    box = [8.34, 49.62, 8.38, 49.65]
    boxed = api.collection_items("sensors", bbox=box, limit=1000)
    expected = sql_count(
        served,
        "sensors",
        "sensitivity = 'public' AND ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), 25832))",
        tuple(box),
    )
    assert boxed["numberReturned"] == expected > 0
    second = api.collection_items("sensors", limit=5, offset=5)
    first_ten = api.collection_items("sensors", limit=10)
    assert [f["id"] for f in second["features"]] == [f["id"] for f in first_ten["features"]][5:]
    filtered = api.collection_items("sensors", filter="sensor_type = 'noise'", limit=1000)
    expected = sql_count(served, "sensors", "sensitivity = 'public' AND attributes->>'sensor_type' = 'noise'")
    assert filtered["numberReturned"] == expected > 0
    queryables = api.collection_queryables("sensors")
    assert "sensor_type" in queryables["properties"]


def _ids(served: Served, **params) -> list:
    r = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 10000, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


def test_axis_order_epsg4326_is_lat_lon(served: Served):
    crs84 = _ids(served, bbox="8.34,49.62,8.38,49.65")
    latlon = _ids(served, bbox="49.62,8.34,49.65,8.38", **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert crs84 and crs84 == latlon
    # and the same for filter-crs
    flt = _ids(served, filter="S_INTERSECTS(geometry, BBOX(49.62, 8.34, 49.65, 8.38))", **{"filter-crs": "EPSG:4326"})
    assert flt == crs84
    # output in EPSG:4326 is lat/lon, in CRS84 lon/lat
    a = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 1, "crs": "EPSG:4326"}).json()
    b = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 1}).json()
    lat, lon = a["features"][0]["geometry"]["coordinates"]
    assert [lon, lat] == b["features"][0]["geometry"]["coordinates"] and 49 < lat < 50 and 8 < lon < 9


def test_output_in_25832_is_metric_and_round_trips(served: Served):
    r = httpx.get(
        f"{served.url}/collections/sensors/items",
        params={"limit": 20, "crs": "http://www.opengis.net/def/crs/EPSG/0/25832"},
    )
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/25832>"
    wgs = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 20}).json()["features"]
    to_wgs = Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)
    for f, g in zip(r.json()["features"], wgs, strict=True):
        x, y = f["geometry"]["coordinates"]
        assert 430_000 < x < 470_000 and 5_480_000 < y < 5_520_000
        lon, lat = to_wgs.transform(x, y)
        assert abs(lon - g["geometry"]["coordinates"][0]) < 1e-6 and abs(lat - g["geometry"]["coordinates"][1]) < 1e-6
    # the same box in 25832 returns the same features as in CRS84
    to_utm = Transformer.from_crs("OGC:CRS84", 25832, always_xy=True)
    x1, y1 = to_utm.transform(8.34, 49.62)
    x2, y2 = to_utm.transform(8.38, 49.65)
    utm = set(_ids(served, bbox=f"{x1},{y1},{x2},{y2}", **{"bbox-crs": "EPSG:25832"}))
    crs84 = set(_ids(served, bbox="8.34,49.62,8.38,49.65"))
    # the boxes are not the same area (a UTM rectangle is not a lon/lat rectangle): compare the inner core
    core = set(_ids(served, bbox="8.345,49.625,8.375,49.645"))
    assert core <= utm and core <= crs84


@pytest.mark.parametrize("limit", [997, 3001])  # 3001: pages built in slices on two connections (paging.py)
def test_cursor_paging_loses_and_doubles_nothing(served: Served, limit: int):
    url = f"{served.url}/collections/buildings/items?limit={limit}&skipGeometry=true"
    seen: list = []
    pages = 0
    while url:
        doc = httpx.get(url, timeout=30).json()
        seen += [f["id"] for f in doc["features"]]
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        pages += 1
        # counted once per selection and change of the layer; every page says it (from the cache)
        assert doc["numberMatched"] == sql_count(served, "buildings")
    assert len(seen) == len(set(seen)) == sql_count(served, "buildings")
    assert seen == sorted(seen)  # in id order across pages and across the slices of a page


def test_sortby_with_offset_paging(served: Served):
    whole = httpx.get(
        f"{served.url}/collections/population-cells/items",
        params={"limit": 1000, "sortby": "-population,resolution_m", "skipGeometry": "true"},
    ).json()
    ordered = [f["id"] for f in whole["features"]]
    pops = [f["properties"]["population"] for f in whole["features"]]
    assert [p for p in pops if p is not None] == sorted([p for p in pops if p is not None], reverse=True)
    paged: list = []
    url = f"{served.url}/collections/population-cells/items?limit=50&sortby=-population,resolution_m"
    while url:
        doc = httpx.get(url).json()
        paged += [f["id"] for f in doc["features"]]
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
    assert paged == ordered


def test_properties_and_datetime(served: Served):
    doc = httpx.get(
        f"{served.url}/collections/sensors/items",
        params={"limit": 3, "properties": "name,status", "skipGeometry": "true"},
    ).json()
    assert all(set(f["properties"]) == {"name", "status"} and f["geometry"] is None for f in doc["features"])
    n = len(_ids(served, datetime="2022-01-01/.."))
    assert n == sql_count(
        served,
        "sensors",
        "sensitivity = 'public' AND commissioned_on IS NOT NULL AND "
        "(decommissioned_on IS NULL OR decommissioned_on >= '2022-01-01')",
    )


def test_whole_collection_count_follows_writes(served: Served):
    """Large collections are counted once per change of the layer (migration 0002's stamp)."""

    def matched() -> int:
        return httpx.get(f"{served.url}/collections/buildings/items", params={"limit": 1}).json()["numberMatched"]

    before = matched()
    assert before == sql_count(served, "buildings") > 5000
    with db.connect(served.db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO buildings (source, external_id, geom) VALUES "
            "('test', 'count-probe', ST_SetSRID(ST_MakePoint(449000, 5500000), 25832))"
        )
        try:
            assert matched() == before + 1
        finally:
            conn.execute("DELETE FROM buildings WHERE source = 'test'")
    assert matched() == before
    # a narrowed set larger than the probe is counted too
    big = httpx.get(
        f"{served.url}/collections/buildings/items", params={"limit": 1, "filter": "households >= 1"}
    ).json()
    assert big["numberMatched"] == sql_count(served, "buildings", "households >= 1") > 5000
    assert big["numberReturned"] == 1


def test_no_cors_by_default_and_gzip(served: Served):
    r = httpx.get(
        f"{served.url}/collections/sensors/items",
        params={"limit": 100},
        headers={"Origin": "https://example.org", "Accept-Encoding": "gzip"},
    )
    # CORS is for configured origins only (NETZATLAS_CORS_ORIGINS, none by default: tests/test_api_security.py)
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["content-encoding"] == "gzip" and r.json()["numberReturned"] == 100


def test_as_of_reads_the_past_through_the_api(served: Served):
    import time as _time

    from netzatlas.registry import service

    first = httpx.get(f"{served.url}/collections/sensors/items", params={"limit": 1}).json()["features"][0]
    with db.connect(served.db_url) as conn:
        before = conn.execute("SELECT now() AS t").fetchone()["t"]
    _time.sleep(0.05)
    with db.transaction(served.db_url, actor="test") as conn:
        service.update(conn, first["id"], first["properties"]["version"], {"name": "renamed for as-of"})
    now = httpx.get(f"{served.url}/collections/sensors/items/{first['id']}").json()
    then = httpx.get(
        f"{served.url}/collections/sensors/items/{first['id']}", params={"asOf": before.isoformat()}
    ).json()
    assert now["properties"]["name"] == "renamed for as-of"
    assert then["properties"]["name"] == first["properties"]["name"]
    assert then["properties"]["version"] == now["properties"]["version"] - 1
    listed = httpx.get(
        f"{served.url}/collections/sensors/items", params={"asOf": before.isoformat(), "limit": 10000}
    ).json()["features"]
    assert {f["id"]: f["properties"]["name"] for f in listed}[first["id"]] == first["properties"]["name"]
