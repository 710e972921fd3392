"""Onboarding a municipality that is not Worms: an invented Musterstadt (AGS 07999001) from its boundary and
districts (in EPSG:25833, as an eastern German city would deliver them) through its population (Zensus 2022
grid CSV with a secret cell, a per-district table over two years) to `municipalities show`; operators; the
admin API; removal refused while referenced."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box

from netzatlas.api.app import create_app
from netzatlas.importers.deliveries import ImportError_, run_import
from netzatlas.registry import keys, operators
from netzatlas.registry import municipalities as muni

from . import import_helpers as h

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CLI = [str(Path(sys.executable).parent / "netzatlas")]
AGS = "07999001"  # invented: no municipality has this key
# Musterstadt in EPSG:25832: 6 km x 4 km, two districts side by side
WEST = box(470000, 5480000, 473000, 5484000)
EAST = box(473000, 5480000, 476000, 5484000)
TO_25833 = Transformer.from_crs(25832, 25833, always_xy=True)
TO_3035 = Transformer.from_crs(25832, 3035, always_xy=True)


def _25833(g: shapely.Geometry) -> shapely.Geometry:
    def move(c: np.ndarray) -> np.ndarray:
        return np.column_stack(TO_25833.transform(c[:, 0], c[:, 1]))

    return shapely.transform(shapely.segmentize(g, 100), move)


def cli(*args: str, db_url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def write_boundary(tmp: Path) -> Path:
    """The municipality's boundary as GeoJSON in EPSG:25833, as two features (the town and an exclave's
    neighbour part) that the onboarding unions."""
    p = tmp / "musterstadt_grenze.geojson"
    h.write_layer(
        p, "grenze", [_25833(WEST), _25833(EAST)], {"gen": ["Musterstadt", "Musterstadt"]}, "GeoJSON", crs="EPSG:25833"
    )
    return p


def write_districts(tmp: Path, extra: shapely.Geometry | None = None) -> Path:
    """Districts (Ortsbezirke) in EPSG:25833 with the city's numbers, in a GeoPackage."""
    p = tmp / "ortsbezirke.gpkg"
    geoms, names, nums = [_25833(WEST), _25833(EAST)], ["Altstadt", "Neuhof"], ["01", "02"]
    if extra is not None:
        geoms.append(_25833(extra))
        names.append("Fernweiler")
        nums.append("03")
    h.write_layer(p, "ortsbezirke", geoms, {"ortsbezirk": names, "nummer": nums}, "GPKG", crs="EPSG:25833")
    return p


def write_zensus_2022(tmp: Path) -> tuple[Path, int]:
    """A Zensus 2022 100 m grid CSV as Destatis publishes it: semicolons, cell centres in EPSG:3035, – for a
    cell kept secret. Returns the file and the population of the cells that are not secret."""
    x, y = TO_3035.transform(471500.0, 5482000.0)
    x0, y0 = int(x // 100) * 100, int(y // 100) * 100
    rows = ["GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner"]
    values = ["12", "7", "–", "31", "4", "-"]
    total = 0
    for i, v in enumerate(values):
        e, n = x0 + 100 * i, y0
        rows.append(f"CRS3035RES100mN{n}E{e};{e + 50};{n + 50};{v}")
        total += int(v) if v.isdigit() else 0
    p = tmp / "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p, total


def write_district_table(tmp: Path) -> Path:
    """Population per district from the statistics office: one district by number, one by name, two years."""
    p = tmp / "einwohner_ortsbezirke.csv"
    p.write_text(
        "district;population;year\n01;1.204;2022\n01;1.250;2023\nNeuhof;830;2022\nneuhof;845;2023\n", encoding="utf-8"
    )
    return p


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_a_second_municipality_from_boundary_and_districts_to_population(conn, db_url, tmp_path, home):
    boundary = write_boundary(tmp_path)
    res = cli(
        "municipalities", "add", AGS, "--name", "Musterstadt", "--boundary", str(boundary), db_url=db_url, home=home
    )
    assert res.returncode == 0, res.stderr
    assert "24.0 km²" in res.stdout or "24.0" in res.stdout
    # no population loaded: unknown, never 0
    res = cli("municipalities", "show", AGS, "--json", db_url=db_url, home=home)
    shown = orjson.loads(res.stdout)
    assert abs(shown["area_km2"] - 24.0) < 0.01 and shown["districts"] == []
    assert shown["population"]["total"] is None and shown["population"]["status"] == "unknown"
    text = cli("municipalities", "show", AGS, db_url=db_url, home=home).stdout
    assert "population: unknown" in text and "population: 0" not in text

    # districts through the importer, in EPSG:25833, without an operator
    res = cli(
        "import",
        str(write_districts(tmp_path)),
        "--profile",
        "districts",
        "--municipality",
        AGS,
        db_url=db_url,
        home=home,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    rows = conn.execute(
        "SELECT name, key, ST_Area(boundary) AS a FROM districts WHERE municipality = %s ORDER BY name", (AGS,)
    ).fetchall()
    assert [(r["name"], r["key"]) for r in rows] == [("Altstadt", "01"), ("Neuhof", "02")]
    assert all(abs(r["a"] - 12e6) < 2e3 for r in rows)  # transformed from 25833, not read as 25832

    # Zensus 2022 grid: the secret cells are NULL and reported as secret
    zensus, grid_total = write_zensus_2022(tmp_path)
    _, status, report = run_import(zensus, None, "zensus-2022", url=db_url, home=home, municipality=AGS)
    assert status == "loaded", report.to_json()
    assert report.counts["population-cells"]["secret"] == 2
    assert any("kept secret" in n for n in report.notes)
    cells = conn.execute("SELECT population, source, year FROM population_cells ORDER BY id").fetchall()
    assert len(cells) == 6 and sum(c["population"] is None for c in cells) == 2
    assert {(c["source"], c["year"]) for c in cells} == {("Zensus 2022", 2022)}
    pop = muni.show(conn, AGS)["population"]
    assert pop["total"] == grid_total == 54 and pop["basis"].startswith("grid 100 m (2 cells kept secret")

    # the district table: the latest year counts, German thousands separators read as such
    _, status, report = run_import(
        write_district_table(tmp_path), None, "district-population", url=db_url, home=home, municipality=AGS
    )
    assert status == "loaded", report.to_json()
    assert report.counts["district-population"]["changed"] == 4
    shown = orjson.loads(cli("municipalities", "show", AGS, "--json", db_url=db_url, home=home).stdout)
    assert shown["population"]["total"] == 1250 + 845 and shown["population"]["basis"] == "districts"
    kinds = {s["kind"]: s for s in shown["population"]["sources"]}
    assert (
        kinds["districts"]["years"] == [2023]
        and kinds["grid"]["secret_cells"] == 2
        and kinds["grid"]["population"] == 54
    )
    assert {d["name"]: (d["population"], d["population_year"]) for d in shown["districts"]} == {
        "Altstadt": (1250, 2023),
        "Neuhof": (845, 2023),
    }
    listed = cli("municipalities", "list", db_url=db_url, home=home).stdout
    assert AGS in listed and "2,095" in listed and "unknown" in listed  # the test fixture's town has none


def test_from_districts_is_the_union_and_loads_them(conn, db_url, tmp_path, home):
    res = cli(
        "municipalities",
        "add",
        AGS,
        "--name",
        "Musterstadt",
        "--from-districts",
        str(write_districts(tmp_path)),
        db_url=db_url,
        home=home,
    )
    assert res.returncode == 0, res.stderr
    row = conn.execute(
        "SELECT ST_Area(boundary) AS a, ST_NumGeometries(boundary) AS n FROM municipalities WHERE ags = %s", (AGS,)
    ).fetchone()
    assert abs(row["a"] - 24e6) < 5e3 and row["n"] == 1  # the two districts unioned into one polygon
    assert conn.execute("SELECT count(*) AS n FROM districts WHERE municipality = %s", (AGS,)).fetchone()["n"] == 2


def test_bad_input_is_one_line(conn, db_url, tmp_path, home):
    boundary = write_boundary(tmp_path)
    res = cli("municipalities", "add", "0799901", "--name", "X", "--boundary", str(boundary), db_url=db_url, home=home)
    assert res.returncode == 1 and "8 digits" in res.stderr and "Traceback" not in res.stderr
    nocrs = tmp_path / "nocrs.csv"
    nocrs.write_text('wkt\n"POLYGON((0 0,1 0,1 1,0 0))"\n')
    res = cli("municipalities", "add", AGS, "--name", "X", "--boundary", str(nocrs), db_url=db_url, home=home)
    assert res.returncode == 1 and "coordinate reference system" in res.stderr
    res = cli(
        "municipalities",
        "add",
        AGS,
        "--name",
        "X",
        "--boundary",
        str(boundary),
        "--where",
        "gen = 'Nirgendwo'",
        db_url=db_url,
        home=home,
    )
    assert res.returncode == 1 and "no features match" in res.stderr
    assert (
        cli(
            "municipalities", "add", AGS, "--name", "M", "--boundary", str(boundary), db_url=db_url, home=home
        ).returncode
        == 0
    )
    res = cli("municipalities", "add", AGS, "--name", "M", "--boundary", str(boundary), db_url=db_url, home=home)
    assert res.returncode == 1 and "already registered" in res.stderr
    res = cli("municipalities", "show", "07999002", db_url=db_url, home=home)
    assert res.returncode == 1 and "unknown municipality '07999002'" in res.stderr and AGS in res.stderr


def test_district_outside_the_municipality_and_unknown_district_names(conn, db_url, tmp_path, home):
    geom = muni.read_boundary(write_boundary(tmp_path))
    muni.add(conn, AGS, "Musterstadt", geom)
    far = box(490000, 5480000, 492000, 5482000)  # 14 km east
    _, status, report = run_import(
        write_districts(tmp_path, far), None, "districts", url=db_url, home=home, municipality=AGS
    )
    assert status == "rejected"
    assert any("'Fernweiler' lies outside municipality 07999001" in p["reason"] for p in report.problems)
    assert conn.execute("SELECT count(*) AS n FROM districts WHERE municipality = %s", (AGS,)).fetchone()["n"] == 0
    half = box(475000, 5480000, 478000, 5482000)  # 1 km of 3 beyond the boundary
    _, status, report = run_import(
        write_districts(tmp_path, half), None, "districts", url=db_url, home=home, municipality=AGS
    )
    assert status == "rejected" and any("'Fernweiler' lies partly outside" in p["reason"] for p in report.problems)
    _, status, _ = run_import(write_districts(tmp_path), None, "districts", url=db_url, home=home, municipality=AGS)
    assert status == "loaded"
    table = tmp_path / "bad.csv"
    table.write_text("Ortsbezirk;Einwohner;Jahr\nAltstadt;100;2023\nOberdorf;50;2023\nNeuhof;–;2023\n")
    _, status, report = run_import(table, None, "district-population", url=db_url, home=home, municipality=AGS)
    assert status == "rejected"
    reasons = [p["reason"] for p in report.problems]
    assert any("unknown district 'Oberdorf'; known: Altstadt, Neuhof" in r for r in reasons)
    assert any("kept secret" in r for r in reasons)
    assert conn.execute("SELECT count(*) AS n FROM district_population").fetchone()["n"] == 0


def test_operators_and_unknown_operator_lists_the_registered(conn, db_url, tmp_path, home):
    res = cli(
        "operators",
        "add",
        "stadtwerke-muster",
        "--name",
        "Stadtwerke Musterstadt",
        "--kind",
        "utility",
        db_url=db_url,
        home=home,
    )
    assert res.returncode == 0, res.stderr
    res = cli("operators", "add", "x", "--name", "X", "--kind", "mobile", db_url=db_url, home=home)
    assert res.returncode == 1 and "telecom, city, utility, other" in res.stderr
    assert "stadtwerke-muster" in cli("operators", "list", db_url=db_url, home=home).stdout
    res = cli("operators", "show", "stadtwerk", db_url=db_url, home=home)
    assert res.returncode == 1 and "registered: city, stadtwerke-muster, telco" in res.stderr
    with pytest.raises(ValueError, match="unknown operator 'nope'; registered: city, stadtwerke-muster, telco"):
        keys.create_key(conn, "partner", "nope")
    p = tmp_path / "fiber-routes.csv"
    h.write_csv(p, *h.routes(2))
    with pytest.raises(ImportError_, match="registered: city, stadtwerke-muster, telco"):
        run_import(p, "nope", None, url=db_url, home=home)
    with pytest.raises(ImportError_, match="give --operator"):
        run_import(p, None, None, url=db_url, home=home)
    assert operators.ids(conn) == ["city", "stadtwerke-muster", "telco"]


def test_removal_refused_while_referenced(conn, db_url, tmp_path, home):
    muni.add(conn, AGS, "Musterstadt", muni.read_boundary(write_boundary(tmp_path)))
    run_import(write_districts(tmp_path), None, "districts", url=db_url, home=home, municipality=AGS)
    run_import(write_district_table(tmp_path), None, "district-population", url=db_url, home=home, municipality=AGS)
    p = tmp_path / "fiber-routes.csv"
    h.write_csv(
        p,
        [shapely.LineString([(471000, 5481000), (472000, 5481500)])],
        {"external_id": ["R1"], "route_type": ["trench"]},
    )
    _, status, report = run_import(p, "telco", None, url=db_url, home=home, municipality=AGS)
    assert status == "loaded", report.to_json()
    res = cli("municipalities", "remove", AGS, db_url=db_url, home=home)
    assert res.returncode == 1 and "still referenced by 1 assets" in res.stderr
    assert muni.show(conn, AGS)["operators"] == [{"id": "telco", "name": "Test telco", "assets": 1}]
    # a municipality without references goes with its districts and their population
    other = "07999002"
    muni.add(conn, other, "Leerdorf", box(480000, 5480000, 482000, 5482000))
    conn.execute(
        "INSERT INTO districts (municipality, name, boundary) "
        "VALUES (%s, 'Mitte', ST_Multi(ST_MakeEnvelope(480000, 5480000, 481000, 5481000, 25832)))",
        (other,),
    )
    res = cli("municipalities", "remove", other, db_url=db_url, home=home)
    assert res.returncode == 0, res.stderr
    assert "with 1 districts" in res.stdout
    assert conn.execute("SELECT count(*) AS n FROM municipalities WHERE ags = %s", (other,)).fetchone()["n"] == 0


@pytest.fixture
def client(conn, db_url) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    made = {
        "admin": keys.create_key(conn, "admin"),
        "planner": keys.create_key(conn, "planner"),
        "partner": keys.create_key(conn, "partner", "telco"),
    }
    headers = {role: {"Authorization": f"Bearer {k}"} for role, k in made.items()} | {"anonymous": {}}
    with TestClient(create_app(db_url)) as c:
        yield c, headers


def test_api_for_admin_keys_only(client, conn, tmp_path):
    c, headers = client
    boundary = write_boundary(tmp_path)
    for who, status in (("anonymous", 401), ("planner", 403), ("partner", 403)):
        for method, path in (
            ("GET", "/municipalities"),
            ("GET", f"/municipalities/{AGS}"),
            ("DELETE", f"/municipalities/{AGS}"),
            ("GET", "/operators"),
            ("GET", "/operators/telco"),
        ):
            r = c.request(method, path, headers=headers[who])
            assert r.status_code == status and r.json()["code"] in ("Unauthorized", "Forbidden"), (who, path)
        with boundary.open("rb") as f:
            r = c.post("/municipalities", headers=headers[who], data={"ags": AGS, "name": "M"}, files={"boundary": f})
        assert r.status_code == status
    assert conn.execute("SELECT count(*) AS n FROM municipalities WHERE ags = %s", (AGS,)).fetchone()["n"] == 0
    admin = headers["admin"]
    with boundary.open("rb") as f:
        r = c.post(
            "/municipalities",
            headers=admin,
            data={"ags": AGS, "name": "Musterstadt"},
            files={"boundary": ("grenze.geojson", f)},
        )
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/municipalities/{AGS}")
    assert r.json()["population"] == {"total": None, "status": "unknown", "basis": "unknown", "sources": []}
    assert abs(r.json()["area_km2"] - 24.0) < 0.01
    with boundary.open("rb") as f:
        r = c.post("/municipalities", headers=admin, data={"ags": "12", "name": "M"}, files={"boundary": f})
    assert r.status_code == 400 and "8 digits" in r.json()["description"]
    with boundary.open("rb") as f:
        r = c.post("/municipalities", headers=admin, data={"ags": AGS, "name": "M"}, files={"boundary": f})
    assert r.status_code == 409 and r.json()["code"] == "Conflict"
    assert AGS in [m["ags"] for m in c.get("/municipalities", headers=admin).json()["municipalities"]]
    r = c.get("/municipalities/07999009", headers=admin)
    assert r.status_code == 404 and AGS in r.json()["description"]
    r = c.post("/operators", headers=admin, json={"id": "funk-muster", "name": "Funk Muster", "kind": "telecom"})
    assert r.status_code == 201, r.text
    r = c.get("/operators/funk", headers=admin)
    assert r.status_code == 404 and "registered: city, funk-muster, telco" in r.json()["description"]
    assert c.delete(f"/municipalities/{AGS}", headers=admin).status_code == 200
    assert c.get(f"/municipalities/{AGS}", headers=admin).status_code == 404


def test_part4_unknown_operator_lists_the_registered(client):
    c, headers = client
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [8.3772, 49.6059]},
        "properties": {"operator": "nope", "sensor_type": "air_quality", "connectivity": "lorawan"},
    }
    r = c.post("/collections/sensors/items", headers=headers["admin"], json=feature)
    assert r.status_code == 422, r.text
    assert "unknown operator 'nope'; registered: city, telco" in r.text
