"""Terrain line of sight from a DEM GeoTIFF: a ridge turns the paths behind it from LOS to NLOS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from netzatlas.coverage import radio, terrain
from netzatlas.coverage.grid import Grid
from netzatlas.coverage.parameters import ParameterError, validate

X0, Y0 = 450_000.0, 5_500_000.0  # the site, in EPSG:25832 (Worms)
GROUND, RIDGE = 100.0, 250.0
RIDGE_X = (450.0, 580.0)  # east of the site, metres


def _dem(path: Path, ridge: bool) -> Path:
    """A 5 m DEM in EPSG:25832: flat ground, optionally a north-south ridge east of the site."""
    res, half = 5.0, 2000.0
    n = int(2 * half / res)
    z = np.full((n, n), GROUND, dtype=np.float32)
    if ridge:
        xs = X0 - half + (np.arange(n) + 0.5) * res - X0
        z[:, (xs >= RIDGE_X[0]) & (xs <= RIDGE_X[1])] = RIDGE
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs="EPSG:25832",
        transform=Affine(res, 0.0, X0 - half, 0.0, -res, Y0 + half),
    ) as dst:
        dst.write(z, 1)
    return path


@pytest.fixture
def setup(tmp_path: Path):
    grid = Grid.cover((X0 - 1500, Y0 - 1500, X0 + 1500, Y0 + 1500), 10.0)
    tx = radio.Transmitter(x=X0, y=Y0, height_m=30.0, frequency_mhz=1800.0, eirp_dbm=60.0, band=0)
    flat = terrain.load(str(_dem(tmp_path / "flat.tif", ridge=False)), grid)
    ridge = terrain.load(str(_dem(tmp_path / "ridge.tif", ridge=True)), grid)
    return grid, tx, flat, ridge


def _levels(tx, los: str, x: np.ndarray, terrain_: radio.Terrain | None = None) -> np.ndarray:
    model = radio.RadioModel(name="uma", los=los, ue_height_m=1.5)
    return radio.level(tx, model, X0 + x, np.full_like(x, Y0 + 5.0), terrain_)


def test_flat_ground_is_line_of_sight(setup):
    _, tx, flat, _ = setup
    x = np.arange(105.0, 1400.0, 50.0)
    assert np.allclose(_levels(tx, "nlos", x, flat), _levels(tx, "los", x), atol=0.01)


def test_a_ridge_shadows_what_lies_behind_it(setup):
    _, tx, _, ridge = setup
    before = np.arange(105.0, 400.0, 20.0)
    behind = np.arange(705.0, 1400.0, 20.0)
    # in front of the ridge: the receiver sees the antenna
    assert np.allclose(_levels(tx, "nlos", before, ridge), _levels(tx, "los", before), atol=0.01)
    # behind it: the NLOS formula, a weaker level at the same distance
    shadowed = _levels(tx, "nlos", behind, ridge)
    assert np.allclose(shadowed, _levels(tx, "nlos", behind), atol=0.01)
    assert (shadowed < _levels(tx, "los", behind) - 3).all()


def test_best_server_covers_less_behind_a_ridge(setup):
    grid, tx, flat, ridge = setup
    model = radio.RadioModel(name="uma", los="nlos", ue_height_m=1.5)
    # a threshold the NLOS level reaches at 900 m: in the open (LOS) it reaches across the whole grid
    thr = tx.eirp_dbm - float(model.loss(tx)(np.array([900.0], dtype=np.float32))[0])
    open_ = radio.best_server(grid, [tx], model, thr, 1, terrain=flat, workers=1).levels[0] >= thr
    shadow = radio.best_server(grid, [tx], model, thr, 1, terrain=ridge, workers=1).levels[0] >= thr
    west = grid.xs() < X0 + RIDGE_X[0] - 20
    east = grid.xs() > X0 + RIDGE_X[1] + 20
    assert (shadow[:, west] == open_[:, west]).all()  # no path to the west crosses the ridge
    assert shadow[:, east].sum() < 0.5 * open_[:, east].sum()


def test_dem_parameter_errors(tmp_path: Path):
    with pytest.raises(ParameterError, match="dem: no such file"):
        validate("mobile", {"dem": str(tmp_path / "missing.tif")})
    far = Grid.cover((X0 + 100_000, Y0, X0 + 101_000, Y0 + 1000), 10.0)
    with pytest.raises(ValueError, match="does not cover"):
        terrain.load(str(_dem(tmp_path / "dem.tif", ridge=False)), far)


def test_a_dem_requested_through_the_api_stays_in_the_dem_directory(tmp_path: Path):
    root = tmp_path / "dem"
    root.mkdir()
    _dem(root / "worms.tif", ridge=False)
    (root / "escape.tif").symlink_to(_dem(tmp_path / "outside.tif", ridge=False))
    assert validate("mobile", {"dem": "worms.tif"}, dem_root=root)["dem"] == str(root / "worms.tif")
    for given in (str(root / "worms.tif"), "../outside.tif", "escape.tif"):
        with pytest.raises(ParameterError, match="not a path"):
            validate("mobile", {"dem": given}, dem_root=root)
    # on the command line the local user names any file
    assert validate("mobile", {"dem": str(tmp_path / "outside.tif")})["dem"] == str(tmp_path / "outside.tif")
