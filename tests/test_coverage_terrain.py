"""Terrain from a DEM GeoTIFF: diffraction loss (ITU-R P.526 Bullington) on top of the clutter model, and the
window of each sector sized so that nothing the plain evaluation covers is cut off."""

from __future__ import annotations

import math
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


def _dem(path: Path, ridge: bool, valley: bool = False) -> Path:
    """A 5 m DEM in EPSG:25832: flat ground, optionally a north-south ridge east of the site, or ground
    falling away from the site (a site on a hill: the antenna stands higher above every receiver's ground)."""
    res, half = 5.0, 2000.0
    n = int(2 * half / res)
    z = np.full((n, n), GROUND, dtype=np.float32)
    xs = X0 - half + (np.arange(n) + 0.5) * res - X0
    if ridge:
        z[:, (xs >= RIDGE_X[0]) & (xs <= RIDGE_X[1])] = RIDGE
    if valley:
        r = np.hypot(xs[None, :], xs[::-1, None])
        z = (GROUND - 0.04 * np.minimum(r, 1500.0)).astype(np.float32)
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


def _levels(tx, los: str, x: np.ndarray, terrain_: radio.Terrain | None = None, name: str = "uma") -> np.ndarray:
    model = radio.RadioModel(name=name, los=los, ue_height_m=1.5)
    return radio.level(tx, model, X0 + x, np.full_like(x, Y0 + 5.0), terrain_)


@pytest.mark.parametrize("name, los", [("uma", "nlos"), ("uma", "percentile"), ("umi", "expected"), ("hata", "nlos")])
def test_flat_ground_adds_no_loss_and_keeps_the_clutter_model(setup, name, los):
    """A flat DEM changes nothing: terrain is diffraction on top of the clutter model, never its LOS formula."""
    _, tx, flat, _ = setup
    x = np.arange(105.0, 1400.0, 50.0)
    assert np.allclose(_levels(tx, los, x, flat, name), _levels(tx, los, x, None, name), atol=0.01)
    if name == "uma":
        assert (_levels(tx, "los", x[10:]) - _levels(tx, los, x[10:], flat) > 10).all()


def test_a_ridge_adds_diffraction_loss_behind_it(setup):
    _, tx, _, ridge = setup
    before = np.arange(105.0, 400.0, 20.0)
    behind = np.arange(705.0, 1400.0, 20.0)
    # in front of the ridge: the clutter model alone
    assert np.allclose(_levels(tx, "percentile", before, ridge), _levels(tx, "percentile", before), atol=0.01)
    # behind it: the same clutter model less the ridge's diffraction loss, 150 m above the ground
    loss = _levels(tx, "percentile", behind) - _levels(tx, "percentile", behind, ridge)
    assert (loss > 20).all() and (loss < 60).all()


def test_knife_edge_j_per_p526_eq_31():
    """Published values of J(nu): 6.0 dB at nu = 0 (half the first Fresnel zone blocked), ~13.9 dB at nu = 1,
    0 below nu = -0.78."""
    j = radio.knife_edge_db(np.array([0.0, 1.0, -0.78, -1.0]))
    assert j[0] == pytest.approx(6.0, abs=0.05) and j[1] == pytest.approx(13.9, abs=0.05)
    assert j[2] == 0.0 and j[3] == 0.0


@pytest.mark.parametrize("h_edge", [-20.0, -3.0, 0.0, 4.0, 25.0])
def test_bullington_of_one_edge_is_its_knife_edge(h_edge):
    """One obstacle: the Bullington point is the edge, so the loss is J(nu) with nu = h sqrt(2 d / (lambda d1 d2))
    (P.526 eq. 26), plus P.452 eq. 22's correction (1 - exp(-J/6)) (10 + 0.02 d[km])."""
    d, d1, lam = 2000.0, 700.0, 0.3
    hts, hrs = 130.0, 101.5
    ray = hts + (hrs - hts) * d1 / d
    bulge = d1 * (d - d1) / (2 * 8_500_000.0)
    h = ray + h_edge - bulge  # ground such that the edge (ground + earth bulge) stands h_edge above the ray
    got = radio.bullington(
        np.array([d], np.float32),
        np.float32(hts),
        np.float32(hrs),
        lam,
        lambda t: np.array([h if abs(t - d1 / d) < 1e-9 else 0.0], np.float32),
        samples=20,  # samples at 100 m: the edge is the 7th, every other point lies at sea level
    )[0]
    nu = h_edge * math.sqrt(2 * d / (lam * d1 * (d - d1)))
    j = 0.0 if nu <= -0.78 else 6.9 + 20 * math.log10(math.sqrt((nu - 0.1) ** 2 + 1) + nu - 0.1)
    assert float(got) == pytest.approx(j + (1 - math.exp(-j / 6)) * (10 + 0.02 * d / 1000), abs=0.05)


def test_best_server_covers_less_behind_a_ridge(setup):
    grid, tx, flat, ridge = setup
    model = radio.RadioModel(name="uma", los="los", ue_height_m=1.5)
    # a threshold the LOS level reaches at 1,300 m
    thr = tx.eirp_dbm - float(model.loss(tx)(np.array([1300.0], dtype=np.float32))[0])
    open_ = radio.best_server(grid, [tx], model, thr, 1, terrain=flat, workers=1).levels[0] >= thr
    shadow = radio.best_server(grid, [tx], model, thr, 1, terrain=ridge, workers=1).levels[0] >= thr
    west = grid.xs() < X0 + RIDGE_X[0] - 20
    east = grid.xs() > X0 + RIDGE_X[1] + 20
    assert (shadow[:, west] == open_[:, west]).all()  # no path to the west crosses the ridge
    assert shadow[:, east].sum() < 0.5 * open_[:, east].sum()


def _plain(grid: Grid, tx: radio.Transmitter, model: radio.RadioModel, thr: float, dem: radio.Terrain) -> np.ndarray:
    """Every pixel evaluated, no window."""
    lvl = radio.level(tx, model, grid.xs()[None, :], grid.ys()[:, None], dem)
    return np.where(lvl >= thr, lvl, radio.NODATA)


@pytest.mark.parametrize("los", ["los", "percentile", "expected"])
@pytest.mark.parametrize("relief", ["flat", "valley", "ridge"])
def test_windowed_raster_equals_plain_evaluation_of_every_pixel(tmp_path: Path, setup, los, relief):
    """The window is sized from the most optimistic loss the run can apply (its own clutter mode at the
    highest antenna height the DEM allows; diffraction only adds): nothing a plain evaluation covers is lost.
    The threshold is the NLOS level at 900 m, where the window used to be cut off."""
    grid, _, flat, ridge = setup
    dem = {"flat": flat, "ridge": ridge}.get(relief) or terrain.load(str(_dem(tmp_path / "v.tif", False, True)), grid)
    model = radio.RadioModel(name="uma", los=los, ue_height_m=1.5)
    for tx in (
        radio.Transmitter(x=X0, y=Y0, height_m=30.0, frequency_mhz=1800.0, eirp_dbm=60.0, band=0),
        radio.Transmitter(
            x=X0 + 200,
            y=Y0 - 100,
            height_m=25.0,
            frequency_mhz=3600.0,
            eirp_dbm=60.0,
            band=0,
            azimuth_deg=80.0,
            tilt_deg=2.0,
        ),
    ):
        thr = tx.eirp_dbm - float(model.loss(tx, "nlos")(np.array([900.0], np.float32))[0])
        windowed = radio.best_server(grid, [tx], model, thr, 1, terrain=dem, workers=1).levels[0]
        plain = _plain(grid, tx, model, thr, dem)
        assert np.array_equal(windowed, plain)
        if los == "los" and relief != "ridge" and tx.azimuth_deg is None:
            xs, ys = np.meshgrid(grid.xs() - X0, grid.ys() - Y0)
            assert np.hypot(xs, ys)[plain > radio.NODATA].max() > 1400  # beyond the old cut at 902 m


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
