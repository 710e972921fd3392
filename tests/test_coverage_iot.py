"""IoT link budgets as the technologies work: LoRaWAN by the uplink and its spreading factor, NB-IoT and LTE-M by
coupling loss against their coverage enhancement levels. Expected values are worked out here from COST-231 Hata
(written out below) and the 38.901 vertical pattern, not taken from the engine."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point

from netzatlas.coverage import runs
from netzatlas.coverage.parameters import LORAWAN_SENSITIVITY_DBM, NBIOT_CE_DB, ParameterError, validate
from netzatlas.registry import service
from netzatlas.registry.service import AssetInput

from .conftest import TEST_AGS

SITE = (449000.0, 5495000.0)  # an LTE site 1 km west of the test municipality, one sector facing east
GATEWAY = (455000.0, 5492000.0)
PARAMS = {"model": "hata", "resolution_m": 100, "max_range_m": 20000}


def hata(d_m: float, f_mhz: float, hb: float, hm: float = 1.5) -> float:
    """COST-231 Hata, medium city: 46.3 + 33.9 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d."""
    a = (1.1 * math.log10(f_mhz) - 0.7) * hm - (1.56 * math.log10(f_mhz) - 0.8)
    lhb = math.log10(hb)
    return 46.3 + 33.9 * math.log10(f_mhz) - 13.82 * lhb - a + (44.9 - 6.55 * lhb) * math.log10(d_m / 1000)


def _device(conn, ext: str, x: float, y: float, connectivity: str) -> None:
    service.create(
        conn,
        AssetInput(
            kind="sensors",
            operator="city",
            external_id=ext,
            municipality=TEST_AGS,
            geometry=Point(x, y),
            status="in_service",
            attributes={"sensor_type": "water_level", "connectivity": connectivity},
        ),
    )


@pytest.fixture
def iot_fixture(conn, db_url):
    sector = {
        "sector": 1,
        "technology": "LTE",
        "band": "B3",
        "frequency_mhz": 1800,
        "azimuth_deg": 90,
        "mech_tilt_deg": 0,
        "elec_tilt_deg": 0,
        "height_m": 30,
        "eirp_dbm": 60,
        "bandwidth_mhz": 20,
        "h_beamwidth_deg": 65,
        "v_beamwidth_deg": 10,
    }
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator="telco",
            external_id="S1",
            municipality=TEST_AGS,  # the site stands outside; its sectors reach in
            geometry=Point(*SITE),
            status="in_service",
            attributes={"sectors": [sector]},
        ),
    )
    service.create(
        conn,
        AssetInput(
            kind="iot-gateways",
            operator="city",
            external_id="GW1",
            geometry=Point(*GATEWAY),
            status="in_service",
            attributes={"technology": "lorawan", "height_m": 30, "frequency_mhz": 868, "eirp_dbm": 27},
        ),
    )
    devices = {
        "nb-2km": (SITE[0] + 2000, SITE[1], "nbiot"),
        "nb-7km": (SITE[0] + 7500, SITE[1], "nbiot"),
        "nb-11km": (SITE[0] + 10900, SITE[1], "nbiot"),
        "m-10km": (SITE[0] + 10500, SITE[1], "ltem"),
        "m-11km": (SITE[0] + 10900, SITE[1] + 2500, "ltem"),
        "lora-1km": (GATEWAY[0] + 1000, GATEWAY[1], "lorawan"),
        "lora-3km": (GATEWAY[0], GATEWAY[1] + 3000, "lorawan"),
        "lora-9km": (GATEWAY[0] - 4900, GATEWAY[1] + 7500, "lorawan"),
    }
    for ext, (x, y, c) in devices.items():
        _device(conn, ext, x, y, c)
    return {"url": db_url, "devices": devices}


def _rows(conn, run_id: str) -> dict[str, dict]:
    return {
        r["ext"]: r
        for r in conn.execute(
            """SELECT a.external_id AS ext, d.* FROM coverage_devices d JOIN assets a ON a.id = d.asset_id
               WHERE d.run_id = %s""",
            (run_id,),
        ).fetchall()
    }


def test_nbiot_and_ltem_by_coupling_loss_lorawan_by_uplink(iot_fixture, conn):
    run = runs.start(iot_fixture["url"], "iot", TEST_AGS, PARAMS)
    assert run["status"] == "succeeded", run["message"]
    rows = _rows(conn, run["id"])
    classes = {}
    for ext, (x, y, c) in iot_fixture["devices"].items():
        row = rows[ext]
        if c in ("nbiot", "ltem"):
            d = math.hypot(x - SITE[0], y - SITE[1])
            # 38.901 table 7.3-1: A_H off the east-facing boresight, A_V below the horizon (no tilt), A = -min(-(A_H +
            # A_V), 30)
            a_h = -min(12 * (math.degrees(math.atan2(y - SITE[1], x - SITE[0])) / 65) ** 2, 30)
            a_v = -min(12 * (math.degrees(math.atan2(30 - 1.5, d)) / 10) ** 2, 30)
            cl = hata(d, 1800, 30) - 17 - max(a_h + a_v, -30)  # path loss - antenna gain (17 dBi + pattern)
            assert row["coupling_loss_db"] == pytest.approx(cl, abs=0.05), ext
            levels = {"nbiot": NBIOT_CE_DB, "ltem": {"CE0": 140.7, "CE1": 155.7}}[c]
            expected = next((k for k, v in sorted(levels.items(), key=lambda kv: kv[1]) if cl <= v), None)
            assert row["link_class"] == expected and row["available"] is (expected is not None), ext
            assert row["link"] == "coupling loss" and row["level_dbm"] is None
        else:
            d = math.hypot(x - GATEWAY[0], y - GATEWAY[1])
            level = 14 + 3 - hata(d, 868, 30)  # device EIRP + gateway gain - path loss
            assert row["level_dbm"] == pytest.approx(level, abs=0.05), ext
            sf = next(
                (k for k, v in sorted(LORAWAN_SENSITIVITY_DBM.items(), key=lambda kv: -kv[1]) if level >= v), None
            )
            assert row["link"] == "uplink" and row["link_class"] == sf and row["available"] is (sf is not None), ext
        classes[ext] = row["link_class"]
    # the fixture spans every outcome: CE0, CE1, CE2, beyond LTE-M's MCL; several SFs and a LoRa device out of reach
    assert [classes[k] for k in ("nb-2km", "nb-7km", "nb-11km", "m-10km", "m-11km")] == [
        "CE0",
        "CE1",
        "CE2",
        "CE1",
        None,
    ]
    assert classes["lora-1km"] == "SF7" and classes["lora-3km"] not in (None, "SF7") and classes["lora-9km"] is None
    assert "MCL" in rows["m-11km"]["reason"] and "slowest SF" in rows["lora-9km"]["reason"]
    d = run["model"]["definitions"]
    assert "TR 45.820" in d["nbiot"]["source"] and "TR 36.888" in d["ltem"]["source"]
    assert "SX1276" in d["lorawan"]["source"] and d["lorawan"]["sensitivity_dbm"]["SF12"] == -137.0
    assert run["statistics"]["by_connectivity"]["ltem"]["unavailable"] == 1


def test_iot_parameters_are_checked():
    p = validate("iot", {"nbiot_ce_coupling_loss_db": {"CE2": 160}})
    assert p["nbiot_ce_coupling_loss_db"] == {"CE0": 144.0, "CE1": 154.0, "CE2": 160.0}
    for bad, message in (
        ({"nbiot_ce_coupling_loss_db": {"CE9": 150}}, "unknown level 'CE9'"),
        ({"lorawan_sensitivity_dbm": {"SF12": -300}}, "lorawan_sensitivity_dbm.SF12"),
        ({"device_eirp_dbm": 40}, "device_eirp_dbm: 40 is out of range"),
    ):
        with pytest.raises(ParameterError, match=message):
            validate("iot", bad)
