"""The memory-bounded raster path gives the results of the whole-array path it replaced.

- write_cog writes its bands window by window through a tiled GeoTIFF on disk; the COG it makes is byte for byte
  the one of the former in-memory copy of the whole array (kept below as the reference), from arrays or from
  functions of a window alike;
- masked_zone_sums gives exactly the sums of zone_sums over one whole-raster np.where array per mask and weight;
- a mobile run's "any operator" bands and classes, now computed band by band, equal the stacked maxima and the
  class formula over the per-operator bands of its own raster.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile
from shapely.geometry import Point

from netzatlas.coverage import radio, rasters, runs
from netzatlas.coverage.grid import STORAGE_SRID, Grid
from netzatlas.registry import reference, service
from netzatlas.registry.service import AssetInput

from .conftest import TEST_AGS

TAGS = {"netzatlas_model": '{"name": "test"}', "netzatlas_parameters": '{"resolution_m": 10}'}


def former_write_cog(path: Path, grid: Grid, data: np.ndarray, descriptions: list[str], nodata: float) -> str:
    """The former write_cog: the whole array into an in-memory GeoTIFF, copied to a COG. Returns its sha256."""
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{STORAGE_SRID}",
        "transform": grid.transform,
        "nodata": nodata,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data)
            for i, d in enumerate(descriptions, start=1):
                ds.set_band_description(i, d)
            ds.update_tags(**TAGS)
        with mem.open() as src:
            rasterio.shutil.copy(
                src,
                str(path),
                driver="COG",
                COMPRESS="ZSTD",
                LEVEL=1,
                PREDICTOR="YES",
                BLOCKSIZE=256,
                OVERVIEWS="AUTO",
                RESAMPLING="NEAREST",
                NUM_THREADS="ALL_CPUS",
            )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def levels(grid: Grid, bands: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.uniform(-125, -60, (bands, grid.height, grid.width)).astype(np.float32)
    out[out < -110] = radio.NODATA
    return out


def test_cog_by_windows_equals_the_whole_array_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(rasters, "WINDOW_BYTES", 256 * 256 * 4 * 5 * 2)  # two tile columns per window
    grid = Grid.cover((450000, 5490000, 450000 + 10 * 700, 5490000 + 10 * 530), 10)  # not whole tiles
    data = levels(grid, 5)
    names = [f"band {i}" for i in range(5)]
    expected = former_write_cog(tmp_path / "former.tif", grid, data, names, radio.NODATA)
    assert rasters.write_cog(tmp_path / "a.tif", grid, data, names, radio.NODATA, TAGS)["sha256"] == expected
    # bands as functions of a window (as the mobile run's "any operator" bands), mixed with arrays
    by_window = [data[0], *(lambda r0, r1, c0, c1, b=b: data[b, r0:r1, c0:c1].copy() for b in range(1, 5))]
    out = rasters.write_cog(tmp_path / "b.tif", grid, by_window, names, radio.NODATA, TAGS, dtype="float32")
    assert out["sha256"] == expected
    assert hashlib.sha256((tmp_path / "b.tif").read_bytes()).hexdigest() == expected
    # one 2D uint8 band (the class rasters)
    klass = (data[0] > -100).astype(np.uint8)
    expected = former_write_cog(tmp_path / "former8.tif", grid, klass, ["class"], 255)
    assert rasters.write_cog(tmp_path / "c.tif", grid, klass, ["class"], 255, TAGS)["sha256"] == expected
    # nothing left beside the outputs, and they are the server's own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif", "c.tif", "former.tif", "former8.tif"]
    assert (tmp_path / "b.tif").stat().st_mode & 0o777 == 0o600


def test_masked_zone_sums_equal_the_whole_raster_sums():
    rng = np.random.default_rng(5)
    shape = (120, 170)
    zones = rng.integers(0, 40, shape)
    valid = rng.random(shape) > 0.2
    weights = {"pixels": np.ones(shape), "population": rng.random(shape) * 7, "buildings": rng.integers(0, 3, shape)}
    masks = {"covered": rng.random(shape) > 0.4, "white": rng.random(shape) > 0.8}
    values = dict(weights)
    for name, m in masks.items():
        for w in weights:
            values[f"{name}|{w}"] = np.where(m, weights[w], 0.0)
    ids, expected = rasters.zone_sums(zones, valid, values)
    got_ids, got = rasters.masked_zone_sums(zones, valid, weights, masks)
    assert np.array_equal(ids, got_ids)
    assert got.keys() == expected.keys()
    for k in expected:
        assert np.array_equal(got[k], expected[k]), k  # bit for bit, not approximately


def _site(conn, operator: str, ext: str, x: float, y: float, band: str, tech: str, freq: float) -> None:
    sector = {
        "technology": tech,
        "band": band,
        "frequency_mhz": freq,
        "mech_tilt_deg": 2,
        "elec_tilt_deg": 4,
        "height_m": 30,
        "eirp_dbm": 60,
        "bandwidth_mhz": 20,
    }
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator=operator,
            external_id=ext,
            geometry=Point(x, y),
            status="in_service",
            attributes={"sectors": [{**sector, "sector": i + 1, "azimuth_deg": 120.0 * i} for i in range(3)]},
        ),
    )


def test_mobile_any_operator_bands_and_classes_follow_the_operator_bands(conn, db_url):
    reference.upsert_operator(conn, "other", "Other telco", "telecom")
    _site(conn, "telco", "S1", 453000, 5495000, "B3", "LTE", 1800)
    _site(conn, "telco", "S2", 457000, 5495000, "n78", "NR", 3600)
    _site(conn, "other", "S3", 453200, 5495100, "B3", "LTE", 1800)  # overlaps S1
    _site(conn, "other", "S4", 452000, 5492000, "n78", "NR", 3600)
    run = runs.start(db_url, "mobile", TEST_AGS, {"resolution_m": 50})
    assert run["status"] == "succeeded", run["message"]
    out = runs.output_dir(run["id"])
    with rasterio.open(out / "rsrp.tif") as src:
        rsrp, names = src.read(), src.descriptions
    with rasterio.open(out / "classes.tif") as src:
        klass, n_ops = src.read()
    ops, bands = ["other", "telco"], [("LTE", "B3"), ("NR", "n78")]
    assert len(names) == len(ops) * len(bands) + len(bands)
    layer = {(o, t, b): i for i, (o, (t, b)) in enumerate((o, tb) for o in ops for tb in bands)}
    inside = klass != 255
    thr = run["parameters"]["threshold_dbm"]
    for j, (t, b) in enumerate(bands):
        stacked = rsrp[[layer[(o, t, b)] for o in ops]].max(axis=0)
        assert np.array_equal(rsrp[len(layer) + j], stacked), (t, b)
        assert "any operator" in names[len(layer) + j]
    assert (rsrp[:, ~inside] == radio.NODATA).all()
    covered = np.stack([(rsrp[[layer[(o, t, b)] for t, b in bands]] >= thr).any(axis=0) for o in ops])
    expected_n = covered.sum(axis=0).astype(np.uint8)
    expected_class = np.where(expected_n == 0, 0, np.where(expected_n < len(ops), 1, 2)).astype(np.uint8)
    assert np.array_equal(klass[inside], expected_class[inside])
    assert np.array_equal(n_ops[inside], expected_n[inside])
    assert {0, 1, 2} <= set(np.unique(klass[inside]).tolist())  # white, grey and full coverage all occur
    # the shares follow the classes
    share = run["statistics"]["coverage"]["covered"]["share_area"]
    assert abs(share - float((klass[inside] > 0).mean())) < 1e-6
