"""Population from a 1 km and a 100 m grid of the same people is counted once (issue #12, grid.POPULATION_RULE).

The grids are invented, in the Zensus 2011 CSV layout (Gitter_ID_1km / Gitter_ID_100m, cell centres, Einwohner,
-1 for suppressed cells whose people stay in the 1 km total), loaded through the `zensus` profile.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from netzatlas.coverage import runs
from netzatlas.coverage.grid import POPULATION_RULE, effective_population
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import reference

AGS = "09999001"
KM = [(2950000 + 1000 * r, 4200000 + 1000 * c) for r in range(2) for c in range(3)]  # six 1 km cells (N, E)
TO_25832 = Transformer.from_crs(3035, 25832, always_xy=True)


def _grids(seed: int = 12) -> tuple[str, str, list[tuple[float, float, int]], int]:
    """A 1 km CSV, a 100 m CSV of the same people, buildings (EPSG:3035 x, y, households) and the true total."""
    rnd = random.Random(seed)
    km_rows, hm_rows, buildings = [], [], []
    for n0, e0 in KM:
        total = 0
        for _ in range(rnd.randint(6, 14)):  # inhabited 100 m cells of this km cell
            n, e = n0 + 100 * rnd.randrange(10), e0 + 100 * rnd.randrange(10)
            if any(r[0] == f"CRS3035RES100mN{n}E{e}" for r in hm_rows):
                continue
            people = rnd.randint(3, 60)
            total += people
            suppressed = rnd.random() < 0.25  # Zensus keeps small counts secret: -1, people only in the 1 km total
            hm_rows.append((f"CRS3035RES100mN{n}E{e}", e + 50, n + 50, -1 if suppressed else people))
            for _ in range(rnd.randint(1, 3)):
                buildings.append((e + rnd.uniform(10, 90), n + rnd.uniform(10, 90), rnd.choice([1, 2, 4, None])))
        km_rows.append((f"CRS3035RES1000mN{n0}E{e0}", e0 + 500, n0 + 500, total))
    km = "Gitter_ID_1km;x_mp_1km;y_mp_1km;Einwohner\n" + "".join(f"{i};{x};{y};{p}\n" for i, x, y, p in km_rows)
    hm = "Gitter_ID_100m;x_mp_100m;y_mp_100m;Einwohner\n" + "".join(f"{i};{x};{y};{p}\n" for i, x, y, p in hm_rows)
    return km, hm, buildings, sum(r[3] for r in km_rows)


@pytest.fixture
def two_grids(conn, db_url, tmp_path):
    km, hm, buildings, total = _grids()
    for name, text in (("zensus_1km.csv", km), ("zensus_100m.csv", hm)):
        (tmp_path / name).write_text(text)
    _, status, report = run_import(tmp_path / "zensus_1km.csv", "city", "zensus", url=db_url, home=tmp_path / "h")
    assert status == "loaded", report.to_json()
    boundary = shapely.unary_union(
        [shapely.from_wkb(bytes(r["g"])) for r in conn.execute("SELECT ST_AsBinary(geom) AS g FROM population_cells")]
    )
    reference.upsert_municipality(conn, AGS, "Zweigitter (test)", boundary, "union of the test's 1 km cells")
    x, y = TO_25832.transform([b[0] for b in buildings], [b[1] for b in buildings])
    with conn.transaction():
        reference.upsert_buildings(
            conn,
            AGS,
            "test",
            [
                {"external_id": str(i), "households": b[2], "geom": shapely.Point(px, py).buffer(4)}
                for i, (b, px, py) in enumerate(zip(buildings, x, y, strict=True))
            ],
            None,
        )
    return {"total": total, "url": db_url, "path_100m": tmp_path / "zensus_100m.csv", "home": tmp_path / "h"}


def _people(run: dict) -> float:
    return run["statistics"]["population"]


def test_one_km_and_100_m_grids_count_everybody_once(two_grids, conn):
    g = two_grids
    only_km = {
        a: runs.start(g["url"], a, AGS, {"resolution_m": 20} if a == "mobile" else {}) for a in ("fiber", "mobile")
    }
    _, status, report = run_import(g["path_100m"], "city", "zensus", url=g["url"], home=g["home"])
    assert status == "loaded", report.to_json()
    secret = conn.execute("SELECT count(*) AS n FROM population_cells WHERE population IS NULL").fetchone()["n"]
    assert secret > 0  # suppressed cells: their people are only in the 1 km remainder
    fiber = runs.start(g["url"], "fiber", AGS, {})
    mobile = runs.start(g["url"], "mobile", AGS, {"resolution_m": 20})
    for run in (*only_km.values(), fiber, mobile):
        assert run["status"] == "succeeded", run["message"]
        assert _people(run) == pytest.approx(g["total"], abs=0.01), run["analysis"]
    assert POPULATION_RULE in fiber["model"]["assumptions"]
    assert mobile["model"]["assumptions"]["population"].startswith(POPULATION_RULE)
    grid = fiber["input_counts"]["population_grid"]["by_resolution"]
    assert grid["100 m"]["population"] + grid["1000 m"]["population"] == pytest.approx(g["total"])
    # a building in a listed 100 m cell carries that cell's people; one in a suppressed cell its km cell's remainder
    rows = conn.execute(
        """SELECT r.population_cell AS c, sum(r.population) AS p FROM coverage_buildings r
           WHERE r.run_id = %s GROUP BY 1""",
        (fiber["id"],),
    ).fetchall()
    listed = {
        r["id"]: r["population"]
        for r in conn.execute(
            "SELECT id, population FROM population_cells WHERE resolution_m = 100 AND population >= 0"
        )
    }
    by_cell = {r["c"]: r["p"] for r in rows}
    for cid, people in listed.items():
        assert by_cell[cid] == pytest.approx(people)
    km_rest = {c: p for c, p in by_cell.items() if c.startswith("CRS3035RES1000m")}
    assert km_rest and sum(km_rest.values()) == pytest.approx(g["total"] - sum(listed.values()))


def test_effective_population_rule():
    rows = [
        {"id": "CRS3035RES1000mN2950000E4200000", "resolution_m": 1000, "population": 100},
        {"id": "CRS3035RES100mN2950000E4200000", "resolution_m": 100, "population": 30},
        {"id": "CRS3035RES100mN2950900E4200900", "resolution_m": 100, "population": 20},
        # a 1 km cell whose 100 m cells hold more people than it does: remainder 0, never negative
        {"id": "CRS3035RES1000mN2951000E4200000", "resolution_m": 1000, "population": 10},
        {"id": "CRS3035RES100mN2951000E4200000", "resolution_m": 100, "population": 25},
    ]
    pc = effective_population(rows)
    got = dict(zip(pc.ids, pc.population, strict=True))
    share = dict(zip(pc.ids, pc.uncovered_share, strict=True))
    assert got["CRS3035RES1000mN2950000E4200000"] == 50 and share["CRS3035RES1000mN2950000E4200000"] == 0.98
    assert got["CRS3035RES1000mN2951000E4200000"] == 0 and pc.clipped == 1
    assert sum(pc.population) == 30 + 20 + 50 + 25
    # a 1 km cell fully covered by 100 m cells keeps nothing, whatever its own value
    full = [{"id": "CRS3035RES1000mN2950000E4200000", "resolution_m": 1000, "population": 500}] + [
        {"id": f"CRS3035RES100mN{2950000 + 100 * i}E{4200000 + 100 * j}", "resolution_m": 100, "population": 1}
        for i in range(10)
        for j in range(10)
    ]
    assert sum(effective_population(full).population) == 100
    with pytest.raises(ValueError, match="do not nest"):
        effective_population(
            [
                {"id": "CRS3035RES250mN2950000E4200000", "resolution_m": 250, "population": 1},
                {"id": "CRS3035RES100mN2950000E4200000", "resolution_m": 100, "population": 1},
            ]
        )
    assert np.isclose(sum(effective_population(rows[:1]).population), 100)
