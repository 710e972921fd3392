"""Building-aware line of sight (los=buildings): each path's 38.901 LOS state from the registry's buildings."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import rasterio
import shapely.affinity
from rasterio.features import rasterize
from shapely.geometry import Point, box

from netzatlas.coverage import clutter, radio, runs
from netzatlas.coverage.grid import Grid
from netzatlas.coverage.parameters import ParameterError, validate
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import reference, service
from netzatlas.registry.service import AssetInput

from . import import_helpers as h
from .conftest import TEST_AGS

X0, Y0 = 455_000.0, 5_495_000.0  # the site, in the test municipality (EPSG:25832)
TALL = box(X0 + 200, Y0 - 30, X0 + 240, Y0 + 30)  # 40 m tall, 200-240 m east of the site
LOW = box(X0 - 240, Y0 - 30, X0 - 200, Y0 + 30)  # 5 m tall, 200-240 m west of the site


def _scene() -> tuple[Grid, clutter.Buildings, radio.Transmitter]:
    grid = Grid.cover((X0 - 600, Y0 - 600, X0 + 600, Y0 + 600), 10.0)
    kw = {"out_shape": (grid.height, grid.width), "transform": grid.transform}
    height = rasterize([(LOW, 5.0), (TALL, 40.0)], dtype="float32", **kw)
    label = rasterize([(LOW, 1), (TALL, 2)], dtype="int32", **kw)
    tx = radio.Transmitter(x=X0 + 5, y=Y0 + 5, height_m=30.0, frequency_mhz=1800.0, eirp_dbm=60.0, band=0)
    return grid, clutter.Buildings(grid, height, label), tx


def test_a_tall_building_blocks_one_path_and_not_another():
    grid, blds, tx = _scene()
    # east behind the tall building; west behind the low one; north in the open; inside the tall building
    x = np.array([X0 + 405, X0 - 395, X0 + 5, X0 + 225])
    y = np.array([Y0 + 5, Y0 + 5, Y0 + 405, Y0 + 5])
    got = radio.level(tx, radio.RadioModel(los="buildings"), x, y, buildings=blds)
    los = radio.level(tx, radio.RadioModel(los="los"), x, y)
    nlos = radio.level(tx, radio.RadioModel(los="nlos"), x, y)
    assert nlos[0] < los[0] - 20  # the two states differ a lot at 400 m
    # the line from 30 m down to 1.5 m is at 30 - 28.5 * 200/400 = 15.75 m or more above the 5 m building,
    # and at 17.9 m or less above the 40 m one
    assert got[0] == pytest.approx(nlos[0], abs=1e-4)
    assert got[1] == pytest.approx(los[1], abs=1e-4)
    assert got[2] == pytest.approx(los[2], abs=1e-4)
    # a receiver in the tall building: its own building is no obstacle (the outdoor path decides, 38.901 7.4.3)
    assert got[3] == pytest.approx(los[3], abs=1e-4)
    # a building lower than the line everywhere blocks nothing
    low_only = clutter.Buildings(grid, np.where(blds.label == 1, blds.height, 0), np.where(blds.label == 1, 1, 0))
    east = radio.level(tx, radio.RadioModel(los="buildings"), x[:1], y[:1], buildings=low_only)
    assert east[0] == pytest.approx(los[0], abs=1e-4)


def test_the_window_keeps_every_path_that_clears_the_buildings():
    """Windows are sized from the LOS loss: the windowed raster equals a plain evaluation of every pixel."""
    grid, blds, tx = _scene()
    model = radio.RadioModel(los="buildings")
    thr = -45.0
    res = radio.best_server(grid, [tx], model, thr, 1, buildings=blds)
    plain = radio.level(tx, model, grid.xs()[None, :], grid.ys()[:, None], buildings=blds)
    plain = np.where(plain >= thr, plain, radio.NODATA)
    assert (plain > radio.NODATA).sum() > 1000
    assert np.array_equal(res.levels[0], plain)
    # the shadow of the tall building is a set of NLOS pixels east of it
    row = grid.index(np.array([X0 + 405]), np.array([Y0 + 5]))[0][0]
    east = grid.xs() > X0 + 260
    assert (res.levels[0, row, east] < radio.level(tx, radio.RadioModel(los="los"), grid.xs()[east], Y0 + 5)).any()


def test_parameters():
    assert validate("mobile", {"los": "buildings"})["building_height_m"] == 9.0
    with pytest.raises(ParameterError, match="COST-231 Hata has no LOS"):
        validate("mobile", {"los": "buildings", "model": "hata"})
    with pytest.raises(ParameterError, match="building_height_m"):
        validate("mobile", {"los": "buildings", "building_height_m": 0})


@pytest.fixture
def scene(conn, db_url):
    """The site and three buildings: a tall one with a delivered height, one with levels, one with neither."""
    with conn.transaction():  # the staging table lives for one transaction
        reference.upsert_buildings(
            conn,
            TEST_AGS,
            "test",
            [
                {"external_id": "B1", "households": 40, "geom": TALL, "height_m": 45.0},
                {"external_id": "B2", "households": 4, "geom": box(X0 - 30, Y0 + 200, X0 + 30, Y0 + 240), "levels": 4},
                {"external_id": "B3", "households": 1, "geom": box(X0 - 240, Y0 - 30, X0 - 200, Y0 + 30)},
            ],
            None,
        )
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator="telco",
            external_id="DE-RP-4800",
            geometry=Point(X0 + 5, Y0 + 5),
            status="in_service",
            attributes={
                "sectors": [
                    {
                        "sector": 1,
                        "technology": "LTE",
                        "band": "B3",
                        "frequency_mhz": 1815,
                        "azimuth_deg": 90.0,
                        "mech_tilt_deg": 0,
                        "elec_tilt_deg": 2,
                        "height_m": 30.0,
                        "eirp_dbm": 61.5,
                        "bandwidth_mhz": 20,
                    }
                ]
            },
        ),
    )
    return db_url


def _value(run: dict, x: float, y: float, band: int = 1) -> float:
    path = runs.output_dir(run["id"]) / run["outputs"]["rsrp"]["file"]
    with rasterio.open(path) as ds:
        return float(next(ds.sample([(x, y)], indexes=band))[0])


def test_a_run_selecting_buildings_states_it_and_counts_defaulted_heights(scene):
    params = {"resolution_m": 10, "threshold_dbm": -85, "good_threshold_dbm": -80}
    seen = runs.start(scene, "mobile", TEST_AGS, {**params, "los": "buildings", "building_height_m": 12})
    assert seen["status"] == "succeeded", seen["message"]
    los = runs.start(scene, "mobile", TEST_AGS, {**params, "los": "los"})
    assert los["status"] == "succeeded", los["message"]
    # behind the 45 m building (east, along the sector's boresight) the path is NLOS; north-east of it, LOS
    behind, beside = (X0 + 405, Y0 + 5), (X0 + 305, Y0 + 205)
    assert _value(seen, *behind) < _value(los, *behind) - 10
    assert _value(seen, *beside) == pytest.approx(_value(los, *beside), abs=1e-3)
    m = seen["model"]
    assert "clears the registry's buildings" in m["description"]
    assert m["assumptions"]["los"].startswith("each path's clutter state from the registry's buildings")
    b = m["assumptions"]["buildings"]
    assert (b["footprints"], b["height_from_delivery"], b["height_from_levels"], b["height_defaulted"]) == (3, 1, 1, 1)
    assert b["height_defaulted_first"] == ["test:B3"] and b["default_height_m"] == 12.0
    assert b["level_height_m"] == 3.0 and "else the run's default building_height_m of 12 m" in b["heights"]
    assert seen["statistics"]["buildings_height_defaulted"] == 1
    assert seen["statistics"]["pixels_in_buildings"] == b["pixels_in_buildings"] > 0
    assert "buildings" not in los["model"]["assumptions"]
    # the COG carries the same model and parameters
    with rasterio.open(runs.output_dir(seen["id"]) / seen["outputs"]["rsrp"]["file"]) as ds:
        tags = ds.tags()
    assert orjson.loads(tags["netzatlas_parameters"])["los"] == "buildings"
    assert orjson.loads(tags["netzatlas_model"])["assumptions"]["buildings"]["height_defaulted"] == 1
    # and compare shows the parameter
    cmp = runs.compare(scene, los["id"], seen["id"])
    assert cmp["parameters"]["los"] == {"a": "los", "b": "buildings"}


def test_a_delivery_brings_heights_and_levels(conn, tmp_path):
    p = tmp_path / "gebaeude.gpkg"
    h.write_layer(
        p,
        "gebaeude",
        [box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 30, Y0 + 10), box(X0 + 40, Y0, X0 + 50, Y0 + 10)],
        {"id": [1, 2, 3], "height": [21.5, None, None], "building:levels": [None, 5, None]},
        "GPKG",
    )
    home = tmp_path / "home"
    _, status, report = run_import(p, "city", "buildings", url=conn.info.dsn, home=home, municipality=TEST_AGS)
    assert status == "loaded", report
    rows = conn.execute("SELECT external_id, height_m, levels FROM buildings ORDER BY external_id").fetchall()
    assert [(r["external_id"], r["height_m"], r["levels"]) for r in rows] == [
        ("1", 21.5, None),
        ("2", None, 5),
        ("3", None, None),
    ]


def test_footprints_burn_by_the_pixel_centre_rule_and_the_tallest_wins():
    grid = Grid.cover((X0, Y0, X0 + 200, Y0 + 200), 10.0)
    court = box(X0 + 20, Y0 + 20, X0 + 120, Y0 + 120).difference(box(X0 + 50, Y0 + 50, X0 + 90, Y0 + 90))
    tilted = shapely.affinity.rotate(box(X0 + 100, Y0 + 140, X0 + 180, Y0 + 170), 30)
    low, tall = box(X0 + 130, Y0 + 10, X0 + 190, Y0 + 60), box(X0 + 160, Y0 + 30, X0 + 195, Y0 + 90)
    geoms = np.array([court, tilted, tall, low], dtype=object)
    label = clutter.burn(grid, geoms, np.array([12.0, 20.0, 30.0, 8.0], np.float32))
    kw = {"out_shape": (grid.height, grid.width), "transform": grid.transform}
    for i, g in enumerate(geoms):
        if i < 2:  # alone: the same pixels as rasterio's rasterize (a courtyard stays empty)
            assert np.array_equal(label == i + 1, rasterize([(g, 1)], dtype="uint8", **kw) == 1)
    both = (rasterize([(low, 1)], dtype="uint8", **kw) == 1) & (rasterize([(tall, 1)], dtype="uint8", **kw) == 1)
    assert both.any() and (label[both] == 3).all()  # the 30 m building holds the overlap


def test_over_a_dem_a_building_on_a_ridge_blocks_the_paths_behind_it():
    """Heights stand on the DEM's ground: a 5 m house on a 30 m ridge between the antenna and low receivers."""
    grid, _, tx = _scene()
    ridge = rasterize([(TALL, 1)], out_shape=(grid.height, grid.width), transform=grid.transform, dtype="uint8")
    z = np.where(ridge == 1, 130.0, 100.0).astype(np.float32)
    ground = radio.Terrain(grid, z)
    house = clutter.Buildings(grid, np.where(ridge == 1, 5.0, 0.0).astype(np.float32), ridge.astype(np.int32))
    x, y = np.array([X0 + 405, X0 + 5]), np.array([Y0 + 5, Y0 + 405])
    got = radio.level(tx, radio.RadioModel(los="buildings"), x, y, ground, house)
    los = radio.level(tx, radio.RadioModel(los="los"), x, y, ground)
    nlos = radio.level(tx, radio.RadioModel(los="nlos"), x, y, ground)
    assert got[0] == pytest.approx(nlos[0], abs=1e-4) and nlos[0] < los[0] - 20  # behind the ridge's house
    assert got[1] == pytest.approx(los[1], abs=1e-4)  # north, in the open
