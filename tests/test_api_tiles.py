"""OGC API Tiles: valid MVT, only features of the tile, access respected, ETag and 304, empty tiles."""

from __future__ import annotations

import httpx
import mapbox_vector_tile
import morecantile
import pytest
from shapely.geometry import box, shape

from netzatlas import db
from netzatlas.registry import service

from .conftest import Served

TMS = morecantile.tms.get("WebMercatorQuad")
INNENSTADT = (8.359, 49.632)


def tile_url(served: Served, collection: str | None, z: int, lon: float = INNENSTADT[0], lat: float = INNENSTADT[1]):
    t = TMS.tile(lon, lat, z)
    base = f"{served.url}/collections/{collection}/tiles" if collection else f"{served.url}/tiles"
    return f"{base}/WebMercatorQuad/{t.z}/{t.y}/{t.x}", t


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content)


@pytest.mark.parametrize("collection", ["sensors", "fiber-routes", "buildings", "districts", "mobile-sites"])
def test_tiles_are_valid_mvt_with_only_features_of_the_tile(served: Served, collection: str):
    url, t = tile_url(served, collection, 14)
    r = httpx.get(url, headers={"X-API-Key": served.planner_key})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = decode(r.content)[collection]
    assert layer["features"]
    # every feature's geometry lies within the tile plus its buffer (MVT coordinates 0..4096, buffer 64)
    tile_box = box(-64, -64, 4096 + 64, 4096 + 64)
    for f in layer["features"]:
        assert tile_box.intersects(shape(f["geometry"])), f["properties"]["id"]
    # and the ids equal those of the items in the tile's bounds (with the buffer)
    b = TMS.bounds(t)
    pad = (b.right - b.left) * 64 / 4096
    items = httpx.get(
        f"{served.url}/collections/{collection}/items",
        params={
            "bbox": f"{b.left - pad},{b.bottom - pad / 1.5},{b.right + pad},{b.top + pad / 1.5}",
            "limit": 10000,
            "skipGeometry": "true",
        },
        headers={"X-API-Key": served.planner_key},
    ).json()["features"]
    tile_ids = {f["properties"]["id"] for f in layer["features"]}
    item_ids = {str(f["id"]) for f in items}
    assert tile_ids <= item_ids and len(tile_ids) >= 0.9 * len(item_ids)


def test_anonymous_tiles_hold_no_internal_or_critical_features(served: Served):
    with db.connect(served.db_url) as conn:
        hidden = {r["id"] for r in conn.execute("SELECT id::text FROM assets WHERE sensitivity <> 'public'")}
    seen_public = 0
    for z in (12, 13, 14):
        url, _ = tile_url(served, None, z)
        r = httpx.get(url)
        assert r.status_code == 200
        layers = decode(r.content)
        for name, layer in layers.items():
            for f in layer["features"]:
                assert f["properties"]["id"] not in hidden, name
                if "sensitivity" in f["properties"]:
                    assert f["properties"]["sensitivity"] == "public"
                    seen_public += 1
    assert seen_public > 0
    # a planner's combined tile has the hidden layers too
    url, _ = tile_url(served, None, 13)
    planner = decode(httpx.get(url, headers={"X-API-Key": served.planner_key}).content)
    assert "fiber-routes" in planner and any(
        f["properties"]["id"] in hidden for f in planner["fiber-routes"]["features"]
    )


def test_empty_tile_is_204(served: Served):
    r = httpx.get(f"{served.url}/collections/sensors/tiles/WebMercatorQuad/14/0/0")
    assert r.status_code == 204 and r.content == b""


def test_etag_304_and_writes_invalidate(served: Served):
    url, _ = tile_url(served, "sensors", 14)
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    keyed = httpx.get(url, headers={"X-API-Key": served.planner_key})
    assert keyed.headers["etag"] != etag and keyed.headers["cache-control"].startswith("private")
    feature = decode(first.content)["sensors"]["features"][0]["properties"]
    with db.transaction(served.db_url, actor="test") as conn:
        current = service.get(conn, feature["id"])
        service.update(conn, feature["id"], current["version"], {"name": "renamed in a tile test"})
    after = httpx.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    names = {f["properties"]["id"]: f["properties"]["name"] for f in decode(after.content)["sensors"]["features"]}
    assert names[feature["id"]] == "renamed in a tile test"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/collections/sensors/tiles/NoSuchTMS/1/0/0", 404),
        ("/collections/sensors/tiles/WebMercatorQuad/3/8/0", 404),
        ("/collections/sensors/tiles/WebMercatorQuad/25/0/0", 404),
        ("/collections/nope/tiles/WebMercatorQuad/1/0/0", 404),
        ("/collections/sensors/tiles/WebMercatorQuad/a/0/0", 400),
    ],
)
def test_bad_tile_requests(served: Served, path: str, status: int):
    r = httpx.get(served.url + path)
    assert r.status_code == status and r.json()["code"]


def test_tileset_metadata(served: Served):
    doc = httpx.get(f"{served.url}/collections/sensors/tiles").json()
    ts = doc["tilesets"][0]
    assert ts["dataType"] == "vector" and ts["crs"].endswith("3857")
    template = next(lk for lk in ts["links"] if lk["rel"] == "item")
    assert template["href"].endswith("/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}") and template["templated"]
    tms = httpx.get(f"{served.url}/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25
