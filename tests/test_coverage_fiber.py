"""Fiber homes passed on the Dreieich buildings (OSM, ODbL) with hand-drawn routes, checked with shapely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point

from netzatlas.coverage import runs
from netzatlas.registry import reference, service
from netzatlas.registry.service import AssetInput

DATA = Path(__file__).resolve().parent / "fixtures" / "dreieich_buildings_osm.geojson"  # ODbL, see fixtures/README.md
AGS = "06438002"
DROP = 50.0


@pytest.fixture
def dreieich(conn, db_url):
    df = pyogrio.read_dataframe(DATA) if hasattr(pyogrio, "read_dataframe") and _has_geopandas() else None
    geoms = _read(DATA) if df is None else list(df.geometry)
    t = Transformer.from_crs(4326, 25832, always_xy=True)
    geoms = [
        shapely.make_valid(shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))))
        for g in geoms
    ]
    geoms = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    boundary = shapely.unary_union(geoms).convex_hull.buffer(200)
    reference.upsert_municipality(conn, AGS, "Dreieich (test)", boundary, "convex hull of the OSM buildings")
    with conn.transaction():  # the staging table lives for one transaction
        reference.upsert_buildings(
            conn, AGS, "osm", [{"external_id": str(i), "households": 1, "geom": g} for i, g in enumerate(geoms)], "ODbL"
        )
    x1, y1, x2, y2 = boundary.bounds
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    lines = {
        "A": LineString([(x1, cy), (x2, cy)]),
        "B": LineString([(cx, y1), (cx, y2)]),
        "C": LineString([(x1, y1), (x2, y2)]),
        "P": LineString([(x1, y2), (x2, y1)]),  # planned
        "E": LineString([(x1, (cy + y2) / 2), (x2, (cy + y2) / 2)]),  # an empty duct (GIS-NB Leerrohr)
    }
    # cables and a duct with fibres pass homes; the empty duct only prepares them
    attributes = {
        "A": {"route_type": "cable", "fibre_count": 96},
        "B": {"route_type": "duct", "duct_count": 2, "fibre_count": 48},
        "C": {"route_type": "cable"},
        "P": {"route_type": "trench"},
        "E": {"route_type": "duct", "duct_count": 4},
    }
    ids = {}
    for name, line in lines.items():
        line = line.intersection(boundary.buffer(-10))
        a = service.create(
            conn,
            AssetInput(
                kind="fiber-routes",
                operator="telco",
                municipality=AGS,
                external_id=f"route-{name}",
                geometry=line,
                status="planned" if name == "P" else "in_service",
                attributes=attributes[name],
            ),
        )
        ids[name] = (a["id"], line)
    # a street cabinet near no route, and a building entry inside the first building
    c = geoms[len(geoms) // 3].centroid
    cabinet = Point(c.x + 20, c.y + 20)
    service.create(
        conn,
        AssetInput(
            kind="network-nodes",
            operator="telco",
            external_id="cab-1",
            municipality=AGS,
            geometry=cabinet,
            status="in_service",
            attributes={"node_type": "street_cabinet"},
        ),
    )
    entry = geoms[0].representative_point()
    service.create(
        conn,
        AssetInput(
            kind="network-nodes",
            operator="telco",
            external_id="entry-1",
            municipality=AGS,
            geometry=entry,
            status="in_service",
            attributes={"node_type": "building_entry"},
        ),
    )
    return {"buildings": geoms, "routes": ids, "cabinet": cabinet, "entry": entry, "url": db_url}


def _has_geopandas() -> bool:
    try:
        import geopandas  # noqa: F401
    except ImportError:
        return False
    return True


def _read(path: Path) -> list:
    _, _, geometry, _ = pyogrio.raw.read(path)
    return list(shapely.from_wkb(geometry))


def _expected(f, live: list[str]) -> np.ndarray:
    b = np.array(f["buildings"], dtype=object)
    passed = np.zeros(len(b), bool)
    for name in live:
        passed |= shapely.dwithin(b, f["routes"][name][1], DROP)
    passed |= shapely.dwithin(b, f["cabinet"], DROP)
    passed |= shapely.dwithin(b, f["entry"], 5.0)
    return passed


def _passed(conn, run_id) -> np.ndarray:
    rows = conn.execute(
        """SELECT b.external_id::int AS i, r.passed, r.planned FROM coverage_buildings r JOIN buildings b
           ON b.id = r.building_id WHERE r.run_id = %s ORDER BY 1""",
        (run_id,),
    ).fetchall()
    return np.array([r["passed"] for r in rows]), np.array([r["planned"] for r in rows])


def test_homes_passed_exact_and_retiring_a_route(dreieich, conn):
    f = dreieich
    assert len(f["buildings"]) > 3000
    run = runs.start(f["url"], "fiber", AGS, {})
    assert run["status"] == "succeeded", run["message"]
    expected = _expected(f, ["A", "B", "C"])
    passed, planned = _passed(conn, run["id"])
    assert passed.tolist() == expected.tolist()
    assert run["statistics"]["passed"] == int(expected.sum()) > 100
    assert run["statistics"]["connected"] == 1
    b = np.array(f["buildings"], dtype=object)
    exp_planned = ~expected & shapely.dwithin(b, f["routes"]["P"][1], DROP)
    assert planned.tolist() == exp_planned.tolist() and exp_planned.sum() > 10
    assert run["statistics"]["planned"] == int(exp_planned.sum())
    assert run["input_counts"]["routes_in_service"] == 4 and run["input_counts"]["routes_planned"] == 1
    assert run["input_counts"]["routes_in_service_carrying_fibre"] == 3
    # the empty duct prepares the buildings near it that no fibre passes; it passes none
    exp_prepared = ~expected & shapely.dwithin(b, f["routes"]["E"][1], DROP)
    prepared = conn.execute(
        """SELECT b.external_id::int AS i, r.prepared FROM coverage_buildings r JOIN buildings b
           ON b.id = r.building_id WHERE r.run_id = %s ORDER BY 1""",
        (run["id"],),
    ).fetchall()
    assert [r["prepared"] for r in prepared] == exp_prepared.tolist() and exp_prepared.sum() > 10
    assert run["statistics"]["prepared"] == int(exp_prepared.sum())
    assert run["statistics"]["households_prepared"] == int(exp_prepared.sum())  # one household each
    assert "50 m" in run["model"]["description"]
    cells = conn.execute(
        "SELECT sum(buildings) AS b, sum((metrics->>'passed')::int) AS p FROM coverage_cells WHERE run_id = %s",
        (run["id"],),
    ).fetchone()
    assert cells["b"] == len(b) and cells["p"] == int(expected.sum())
    assert conn.execute("SELECT count(*) AS n FROM coverage_gaps WHERE run_id = %s", (run["id"],)).fetchone()["n"] > 0

    # retire route B: exactly the buildings passed only by B lose their status
    rid = f["routes"]["B"][0]
    service.retire(conn, rid, service.get(conn, rid)["version"])
    again = runs.start(f["url"], "fiber", AGS, {})
    after = _expected(f, ["A", "C"])
    passed2, _ = _passed(conn, again["id"])
    assert passed2.tolist() == after.tolist()
    lost = np.nonzero(expected & ~after)[0]
    assert len(lost) > 0
    diff = runs.compare(f["url"], run["id"], again["id"])
    assert diff["buildings"]["no_longer_passed"] == len(lost) and diff["buildings"]["newly_passed"] == 0
    assert diff["statistics"]["passed"]["difference"] == -len(lost)


def test_same_inputs_same_statistics(dreieich):
    a = runs.start(dreieich["url"], "fiber", AGS, {"drop_distance_m": 30})
    b = runs.start(dreieich["url"], "fiber", AGS, {"drop_distance_m": 30})
    assert a["statistics"] == b["statistics"] and a["statistics"]["passed"] > 0
    assert runs.compare(dreieich["url"], a["id"], b["id"])["parameters"] == {}


def test_population_per_building_traces_to_its_grid_cell(dreieich, conn):
    """Each 1 km cell's people are shared by its buildings' households; cells and the run add them up."""
    b = np.array(dreieich["buildings"], dtype=object)
    pts = shapely.point_on_surface(b)
    e, n = Transformer.from_crs(25832, 3035, always_xy=True).transform(shapely.get_x(pts), shapely.get_y(pts))
    km = [f"CRS3035RES1000mN{int(y // 1000) * 1000}E{int(x // 1000) * 1000}" for x, y in zip(e, n, strict=True)]
    ids = sorted(set(km))
    assert len(ids) > 1  # the town spans several 1 km cells, so more than one share carries people
    people = {cid: 1000 + 7 * i for i, cid in enumerate(ids)}
    back = Transformer.from_crs(3035, 25832, always_xy=True)
    cells = []
    for cid in ids:
        y0, x0 = int(cid.split("mN")[1].split("E")[0]), int(cid.split("E")[-1])
        box = shapely.box(x0, y0, x0 + 1000, y0 + 1000)
        geom = shapely.transform(box, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
        cells.append({"id": cid, "resolution_m": 1000, "population": people[cid], "geom": geom, "source": "test"})
    with conn.transaction():
        reference.upsert_population_cells(conn, cells, "test")

    run = runs.start(dreieich["url"], "fiber", AGS, {})
    assert run["status"] == "succeeded", run["message"]
    rows = conn.execute(
        """SELECT b.external_id::int AS i, r.population_cell, r.population, r.passed FROM coverage_buildings r
           JOIN buildings b ON b.id = r.building_id WHERE r.run_id = %s ORDER BY 1""",
        (run["id"],),
    ).fetchall()
    assert [r["population_cell"] for r in rows] == km
    count = {cid: km.count(cid) for cid in ids}  # one household each: equal shares
    share = {r["population_cell"]: people[r["population_cell"]] / count[r["population_cell"]] for r in rows}
    assert all(abs(r["population"] - share[r["population_cell"]]) < 1e-9 for r in rows)
    assert run["statistics"]["population"] == pytest.approx(sum(people.values()), abs=0.01)
    passed_people = sum(r["population"] for r in rows if r["passed"])
    assert run["statistics"]["population_passed"] == pytest.approx(passed_people, abs=0.01)
    total = conn.execute("SELECT sum(population) AS p FROM coverage_cells WHERE run_id = %s", (run["id"],)).fetchone()[
        "p"
    ]
    assert total == pytest.approx(sum(people.values()), abs=0.01)


def test_homes_passed_counts_households_and_buildings_separately(dreieich, conn):
    """Homes are households (a building without a count is one household); buildings are reported beside them."""
    conn.execute(
        """UPDATE buildings SET households = CASE WHEN external_id::int % 5 = 0 THEN NULL
                                                  ELSE 1 + external_id::int % 7 END"""
    )
    hh = {
        r["i"]: r["h"] for r in conn.execute("SELECT external_id::int AS i, households AS h FROM buildings ORDER BY 1")
    }
    run = runs.start(dreieich["url"], "fiber", AGS, {})
    assert run["status"] == "succeeded", run["message"]
    passed = _expected(dreieich, ["A", "B", "C"])
    homes = np.array([1 if hh[i] is None else hh[i] for i in range(len(passed))])
    s = run["statistics"]
    assert s["passed"] == int(passed.sum()) and s["buildings"] == len(passed)
    assert s["households"] == int(homes.sum()) and s["households_passed"] == int(homes[passed].sum())
    assert s["households_passed"] > 2 * s["passed"]  # households, not buildings
    assert s["share_households_passed"] == pytest.approx(homes[passed].sum() / homes.sum(), abs=1e-6)
    assert s["buildings_without_households"] == sum(v is None for v in hh.values()) > 0
    assert any("counts as one household" in a for a in run["model"]["assumptions"])
    assert "households" in run["model"]["definitions"]["homes_passed"]
    district = conn.execute(
        "SELECT sum((metrics->>'households_passed')::int) AS h FROM coverage_districts WHERE run_id = %s",
        (run["id"],),
    ).fetchone()["h"]
    cells = conn.execute(
        "SELECT sum((metrics->>'households_passed')::int) AS h FROM coverage_cells WHERE run_id = %s", (run["id"],)
    ).fetchone()["h"]
    assert cells == s["households_passed"] and (district is None or district <= s["households_passed"])
