"""Profiles: GIS-NB 5.1 onto routes and nodes; reference layers (buildings, districts, population grid)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from netzatlas.demo.generate import ZENSUS_CSV
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import reference

from . import import_helpers as h

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # Dreieich buildings, ODbL, see fixtures/README.md


def imp(conn, path, tmp_path, profile, **kw):
    return run_import(path, kw.pop("operator", "telco"), profile, url=conn.info.dsn, home=tmp_path / "home", **kw)


def test_gisnb_51_maps_onto_fiber_routes_and_network_nodes(conn, tmp_path):
    p = tmp_path / "netzplan.gpkg"
    pts = [shapely.Point(452000, 5492000), shapely.Point(452400, 5492300), shapely.Point(452800, 5492100)]
    h.write_layer(
        p,
        "Bauten und Netztechnik",
        pts,
        {"id": [1, 2, 3], "art": [12, 14, 31], "zustand": [1, 2, 1], "bezeichner": ["PoP 1", "NVt 2", "S3"]},
        "GPKG",
    )
    h.write_layer(
        p,
        "Endverbraucher",
        [shapely.Point(452410, 5492310)],
        {"id": [7], "endkunde": ["Hauptstr. 1"], "id_netze": [2], "zustand": [2]},
        "GPKG",
        append=True,
    )
    line = shapely.LineString([(452000, 5492000), (452400, 5492300)])
    h.write_layer(
        p, "Trassenbau", [line], {"id": [1], "trassenb": [11], "mitverleg": [0], "zustand": [1]}, "GPKG", append=True
    )
    h.write_layer(
        p,
        "Leerrohre",
        [line],
        {"id": [1], "lr_art": ["MR"], "lr_anzahl": [7], "lr_reserv": [3], "zustand": [1]},
        "GPKG",
        append=True,
    )
    h.write_layer(
        p,
        "Verbindungen",
        [line],
        {"id": [1], "verb_art": ["GF"], "anzahl_f_a": [144], "f_a_reserv": [48], "zustand": [3]},
        "GPKG",
        append=True,
    )
    _, status, report = imp(conn, p, tmp_path, "gisnb-5.1")
    assert status == "loaded", report.to_json()
    rows = {r["external_id"]: r for r in conn.execute("SELECT external_id, kind, name, status, attributes FROM assets")}
    assert rows["BN-1"]["attributes"] == {"node_type": "pop"} and rows["BN-1"]["name"] == "PoP 1"
    assert rows["BN-2"]["attributes"]["node_type"] == "street_cabinet" and rows["BN-2"]["status"] == "planned"
    assert rows["BN-3"]["attributes"]["node_type"] == "manhole"
    assert rows["EV-7"]["attributes"]["node_type"] == "building_entry"
    assert rows["TB-1"]["attributes"] == {"route_type": "trench", "surface": "sealed"}
    assert rows["LR-1"]["attributes"] == {"route_type": "duct", "duct_count": 7}
    assert rows["VB-1"]["attributes"] == {"route_type": "cable", "fibre_count": 144}
    assert rows["VB-1"]["status"] == "under_construction" and rows["VB-1"]["kind"] == "fiber-routes"


def test_dreieich_buildings_load_with_the_exact_count(conn, tmp_path):
    src = FIXTURES / "dreieich_buildings_osm.geojson"
    x1, y1, x2, y2 = pyogrio.read_info(src)["total_bounds"]
    t = Transformer.from_crs(4326, 25832, always_xy=True)
    bx, by = t.transform([x1, x2, x1, x2], [y1, y1, y2, y2])
    boundary = shapely.box(min(bx), min(by), max(bx), max(by)).buffer(200)
    reference.upsert_municipality(conn, "06438002", "Dreieich (test)", boundary, "test fixture")
    _, status, report = imp(conn, src, tmp_path, "buildings", operator="city", municipality="06438002")
    assert status == "loaded", report.to_json()
    n = conn.execute("SELECT count(*) AS n FROM buildings WHERE municipality = '06438002'").fetchone()["n"]
    assert n == 3771 == report.counts["buildings"]["changed"]
    _, status, report = imp(conn, src, tmp_path, "buildings", operator="city", municipality="06438002")
    assert report.changes == 0


def test_zensus_population_grid_with_cell_centres(conn, tmp_path):
    src = ZENSUS_CSV  # the project's copy of the shared Zensus grid
    _, status, report = imp(conn, src, tmp_path, "zensus", operator="city")
    assert status == "loaded", report.to_json()
    row = conn.execute(
        "SELECT count(*) AS n, sum(population) AS p, min(resolution_m) AS r FROM population_cells"
    ).fetchone()
    assert row["n"] == 306 and row["r"] == 1000
    ids = conn.execute("SELECT id FROM population_cells ORDER BY id LIMIT 1").fetchone()["id"]
    assert ids.startswith("CRS3035RES1000mN")
    # 100 m cells given by INSPIRE id
    p = tmp_path / "zensus100.csv"
    p.write_text("Gitter_ID_100m;Einwohner\nCRS3035RES100mN2950800E4200300;17\nCRS3035RES100mN2950900E4200300;-1\n")
    _, status, report = imp(conn, p, tmp_path, "zensus", operator="city")
    assert status == "loaded" and report.counts["population-cells"]["changed"] == 2
    cell = conn.execute(
        "SELECT population, ST_Area(geom) AS a FROM population_cells WHERE id = 'CRS3035RES100mN2950800E4200300'"
    ).fetchone()
    assert cell["population"] == 17 and abs(cell["a"] - 10000) < 100


def test_districts_with_names(conn, tmp_path):
    p = tmp_path / "districts.gpkg"
    polys = [shapely.box(450000, 5490000, 455000, 5500000), shapely.box(455000, 5490000, 460000, 5500000)]
    h.write_layer(p, "ortsbezirke", polys, {"name": np.array(["West", "Ost"], dtype=object).tolist()}, "GPKG")
    _, status, report = imp(conn, p, tmp_path, "districts", operator="city", municipality=h.TEST_AGS)
    assert status == "loaded", report.to_json()
    assert [r["name"] for r in conn.execute("SELECT name FROM districts ORDER BY name")] == ["Ost", "West"]


def test_buildings_delivered_again_update_what_differs_and_add_the_new(conn):
    reference.upsert_municipality(conn, "07999002", "Probestadt (test)", shapely.box(0, 0, 1000, 1000), "test")

    def upsert(source: str, buildings: list[dict]) -> int:
        with conn.transaction():  # its staging table lives until the commit
            return reference.upsert_buildings(conn, "07999002", source, buildings, None)

    def b(ext: str, households: int, x: float) -> dict:
        return {"external_id": ext, "households": households, "geom": shapely.Point(x, 500)}

    def rows(source: str) -> dict[str, tuple[int, int, float]]:
        return {
            r["external_id"]: (r["id"], r["households"], r["x"])
            for r in conn.execute(
                "SELECT id, external_id, households, ST_X(geom) AS x FROM buildings WHERE source = %s", (source,)
            )
        }

    assert upsert("stadt", [b("a", 2, 100), b("b", 4, 200)]) == 2
    before = rows("stadt")
    assert upsert("stadt", [b("a", 2, 100), b("b", 4, 200)]) == 0
    # a: other households, b: unchanged, c: new; the same external id of another source is another building
    assert upsert("stadt", [b("a", 3, 100), b("b", 4, 200), b("c", 1, 300)]) == 2
    after = rows("stadt")
    assert after["a"] == (before["a"][0], 3, 100) and after["b"] == before["b"] and after["c"][1:] == (1, 300)
    assert upsert("kataster", [b("a", 5, 110)]) == 1
    assert rows("kataster")["a"][1:] == (5, 110) and rows("stadt")["a"][1:] == (3, 100)
    # a moved building is a change too
    assert upsert("stadt", [b("a", 3, 150)]) == 1
    assert rows("stadt")["a"][2] == 150
