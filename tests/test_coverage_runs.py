"""Coverage runs end to end: mobile and IoT on a small fixture, reproducibility, bad parameters, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import Point

from netzatlas.coverage import runs
from netzatlas.coverage.parameters import ParameterError
from netzatlas.registry import reference, service
from netzatlas.registry.service import AssetInput

from .conftest import TEST_AGS

SECTOR = {
    "technology": "LTE",
    "band": "B3",
    "frequency_mhz": 1800,
    "mech_tilt_deg": 2,
    "elec_tilt_deg": 4,
    "height_m": 30,
    "eirp_dbm": 60,
    "bandwidth_mhz": 20,
    "h_beamwidth_deg": 65,
    "v_beamwidth_deg": 10,
}


def _site(conn, operator: str, ext: str, x: float, y: float, band: str = "B3", tech: str = "LTE") -> None:
    freq = 3600 if tech == "NR" else 1800
    sectors = [
        {**SECTOR, "sector": i + 1, "azimuth_deg": 120.0 * i, "band": band, "technology": tech, "frequency_mhz": freq}
        for i in range(3)
    ]
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator=operator,
            external_id=ext,
            geometry=Point(x, y),
            status="in_service",
            attributes={"sectors": sectors},
        ),
    )


@pytest.fixture
def radio_fixture(conn, db_url):
    _site(conn, "telco", "S1", 453000, 5495000)
    _site(conn, "telco", "S2", 457000, 5495000, band="n78", tech="NR")
    reference.upsert_operator(conn, "other", "Other telco", "telecom")
    _site(conn, "other", "S3", 455000, 5497000)
    service.create(
        conn,
        AssetInput(
            kind="iot-gateways",
            operator="city",
            external_id="G1",
            geometry=Point(455000, 5495000),
            status="in_service",
            attributes={"technology": "lorawan", "height_m": 20, "eirp_dbm": 14},
        ),
    )
    for i, (x, y, c) in enumerate(
        [(455100, 5495100, "lorawan"), (459900, 5499900, "lorawan"), (453100, 5495000, "lte"), (450100, 5490100, "5g")]
    ):
        service.create(
            conn,
            AssetInput(
                kind="sensors",
                operator="city",
                external_id=f"sen-{i}",
                geometry=Point(x, y),
                status="in_service",
                attributes={"sensor_type": "noise", "connectivity": c},
            ),
        )
    return db_url


def _sha(run) -> dict:
    return {k: v["sha256"] for k, v in run["outputs"].items()}


def test_mobile_run_is_reproducible_and_states_its_model(radio_fixture, conn):
    a = runs.start(radio_fixture, "mobile", TEST_AGS, {"resolution_m": 25})
    assert a["status"] == "succeeded", a["message"]
    b = runs.start(radio_fixture, "mobile", TEST_AGS, {"resolution_m": 25})
    assert a["statistics"] == b["statistics"]
    assert _sha(a) == _sha(b) and set(_sha(a)) == {"rsrp", "classes"}
    s = a["statistics"]
    assert s["radio_cells"] == 9 and 0 < s["coverage"]["covered"]["share_area"] < 1
    assert s["coverage"]["white"]["share_area"] > 0 and s["cells"] > 9000
    assert "UMa" in a["model"]["name"] and "NLOS" in a["model"]["assumptions"]["los"]
    assert a["input_counts"]["sites"] == 3 and a["timings"]["radio"] >= 0
    bands = a["outputs"]["rsrp"]["bands"]
    assert "best-server RSRP dBm, any operator, LTE B3 (1800 MHz)" in bands
    path = runs.output_dir(a["id"]) / "rsrp.tif"
    info = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True).stdout
    assert "LAYOUT=COG" in info and "Overviews" in info
    gaps = conn.execute("SELECT DISTINCT gap FROM coverage_gaps WHERE run_id = %s", (a["id"],)).fetchall()
    assert {g["gap"] for g in gaps} <= {"white_spot", "grey_spot"} and gaps
    c = runs.compare(
        radio_fixture,
        a["id"],
        runs.start(radio_fixture, "mobile", TEST_AGS, {"resolution_m": 25, "threshold_dbm": -100})["id"],
    )
    assert c["parameters"] == {"threshold_dbm": {"a": -110.0, "b": -100.0}}
    assert c["statistics"]["coverage.covered.share_area"]["difference"] < 0


def test_iot_run(radio_fixture):
    runs.start(radio_fixture, "mobile", TEST_AGS, {"resolution_m": 50})
    r = runs.start(radio_fixture, "iot", TEST_AGS, {"resolution_m": 50})
    assert r["status"] == "succeeded", r["message"]
    by = r["statistics"]["by_connectivity"]
    assert by["lorawan"] == {"devices": 2, "available": 1, "unavailable": 1, "not_assessed": 0}
    assert by["lte"]["available"] == 1 and by["5g"]["unavailable"] == 1
    assert "density:noise" in r["statistics"]["gaps"]


@pytest.mark.parametrize(
    "analysis, params, message",
    [
        ("mobile", {"resolution_m": -10}, "resolution_m: -10 is out of range"),
        ("mobile", {"model": "okumura"}, "model: unknown value 'okumura'"),
        ("mobile", {"threshold_dbm": 20}, "threshold_dbm: 20 is out of range"),
        ("fiber", {"drop_distance_m": "far"}, "drop_distance_m: expected a number"),
        ("mobile", {"colour": "red"}, "unknown parameter(s) colour"),
    ],
)
def test_bad_parameters_store_no_run(conn, db_url, analysis, params, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        runs.create(db_url, analysis, TEST_AGS, params)
    assert conn.execute("SELECT count(*) AS n FROM coverage_runs").fetchone()["n"] == 0


def test_municipality_without_boundary(conn, db_url):
    conn.execute("INSERT INTO municipalities (ags, name) VALUES ('09999001', 'No boundary')")
    with pytest.raises(ParameterError, match="has no boundary"):
        runs.create(db_url, "fiber", "09999001", {})
    assert conn.execute("SELECT count(*) AS n FROM coverage_runs").fetchone()["n"] == 0


def test_engine_crash_marks_run_failed(conn, db_url, monkeypatch):
    from netzatlas.coverage import fiber

    def boom(ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fiber, "run", boom)
    r = runs.start(db_url, "fiber", TEST_AGS, {})
    assert r["status"] == "failed" and "disk full" in r["message"] and r["finished_at"]


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "netzatlas"), "coverage", *args],
        env={**os.environ, "NETZATLAS_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
    )


def test_cli(radio_fixture, conn, tmp_path):
    bad = _cli(radio_fixture, "run", "mobile", "--set", "resolution_m=-5")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "resolution_m" in bad.stderr
    assert _cli(radio_fixture, "run", "radar").returncode == 1
    assert _cli(radio_fixture, "run", "mobile", "--set", "model=foo").returncode == 1
    params = tmp_path / "p.yaml"
    params.write_text("resolution_m: 100\nthreshold_dbm: -105\n")
    ok = _cli(radio_fixture, "run", "mobile", "--params", str(params), "--municipality", TEST_AGS)
    assert ok.returncode == 0, ok.stderr
    rows = conn.execute("SELECT id, status, parameters FROM coverage_runs").fetchall()
    assert [r["status"] for r in rows] == ["succeeded"] and rows[0]["parameters"]["threshold_dbm"] == -105
    shown = _cli(radio_fixture, "show", str(rows[0]["id"]))
    assert shown.returncode == 0 and '"threshold_dbm": -105.0' in shown.stdout
    assert _cli(radio_fixture, "list").returncode == 0
    assert _cli(radio_fixture, "compare", str(rows[0]["id"]), str(rows[0]["id"])).returncode == 0
    assert _cli(radio_fixture, "show", "nope").returncode == 1
