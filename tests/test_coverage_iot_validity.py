"""IoT transmitters used outside their path-loss model's validity ranges are flagged per transmitter in the run:
LoRaWAN gateways (uplink) and the LTE sectors NB-IoT and LTE-M devices couple to."""

from __future__ import annotations

import math

import orjson
import pytest
import rasterio
from shapely.geometry import Point

from netzatlas.coverage import runs
from netzatlas.registry import service
from netzatlas.registry.service import AssetInput

from .conftest import TEST_AGS

SITE = (449000.0, 5495000.0)  # an LTE 1800 site 1 km west of the municipality, 30 m, facing east
LOW_SITE = (452000.0, 5491000.0)  # an LTE 800 rooftop, 20 m, facing south (the others are behind it)
GATEWAY = (455000.0, 5492000.0)  # a LoRaWAN gateway, 868 MHz, 12 m
DEVICES = {
    "nb-2km": (SITE[0] + 2000, SITE[1], "nbiot"),
    "nb-7km": (SITE[0] + 7500, SITE[1], "nbiot"),
    "m-11km": (SITE[0] + 10900, SITE[1] + 2500, "ltem"),
    "nb-600m": (LOW_SITE[0], LOW_SITE[1] - 600, "nbiot"),
    "lora-1km": (GATEWAY[0] + 1000, GATEWAY[1], "lorawan"),
    "lora-9km": (GATEWAY[0] - 4900, GATEWAY[1] + 7500, "lorawan"),
}


def _site(conn, ext: str, xy: tuple[float, float], band: str, f: float, h: float, azimuth: float, eirp: float) -> None:
    sector = {
        "sector": 1,
        "technology": "LTE",
        "band": band,
        "frequency_mhz": f,
        "azimuth_deg": azimuth,
        "mech_tilt_deg": 0,
        "elec_tilt_deg": 0,
        "height_m": h,
        "eirp_dbm": eirp,
        "bandwidth_mhz": 10,
    }
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator="telco",
            external_id=ext,
            municipality=TEST_AGS,
            geometry=Point(*xy),
            status="in_service",
            attributes={"sectors": [sector]},
        ),
    )


@pytest.fixture
def iot(conn, db_url):
    _site(conn, "S1", SITE, "B3", 1815, 30, 90, 60)
    _site(conn, "S2", LOW_SITE, "B20", 806, 20, 180, 40)  # a rooftop cell: the best sector of one device
    service.create(
        conn,
        AssetInput(
            kind="iot-gateways",
            operator="city",
            external_id="GW1",
            geometry=Point(*GATEWAY),
            status="in_service",
            attributes={"technology": "lorawan", "height_m": 12, "frequency_mhz": 868},
        ),
    )
    for ext, (x, y, c) in DEVICES.items():
        service.create(
            conn,
            AssetInput(
                kind="sensors",
                operator="city",
                external_id=ext,
                municipality=TEST_AGS,
                geometry=Point(x, y),
                status="in_service",
                attributes={"sensor_type": "water_level", "connectivity": c},
            ),
        )
    return db_url


def _flags(run: dict) -> dict[str, dict[str, str]]:
    return {t.get("gateway") or t["site"]: t for t in run["model"]["validity"]["transmitters"]}


def test_uma_flags_distances_beyond_5_km(iot):
    run = runs.start(iot, "iot", TEST_AGS, {"resolution_m": 100, "max_range_m": 20000})
    assert run["status"] == "succeeded", run["message"]
    v = run["model"]["validity"]
    assert v["ranges"]["distance_m"] == [10.0, 5000.0]
    assert (v["gateways_evaluated"], v["lte_cells_evaluated"]) == (1, 2)
    flags = _flags(run)
    assert set(flags) == {"GW1", "S1"}
    # the gateway's farthest device is 8,959 m away: its uplink is extrapolated beyond 38.901's 5 km
    far = round(math.hypot(4900, 7500))
    assert flags["GW1"]["outside"] == {"distance": f"10-{far} m outside 10-5000 m"}
    assert flags["GW1"]["technology"] == "lorawan" and flags["GW1"]["link"] == "uplink"
    assert flags["GW1"]["frequency_mhz"] == 868 and flags["GW1"]["height_m"] == 12
    # the 1800 sector serves NB-IoT and LTE-M devices from 2 km to 11.2 km
    s1 = flags["S1"]
    assert s1["outside"] == {"distance": f"2000-{round(math.hypot(10900, 2500))} m outside 10-5000 m"}
    assert s1["technology"] == "ltem+nbiot" and s1["layer"] == "LTE B3" and s1["link"] == "coupling loss"
    assert v["transmitters_outside"] == 2 and v["transmitters_outside_by_quantity"] == {"distance": 2}
    assert run["statistics"]["transmitters_outside_validity"] == 2
    assert run["statistics"]["gateways_outside_validity"] == 1
    assert run["statistics"]["lte_cells_outside_validity"] == 1


def test_hata_flags_frequency_heights_and_short_distances(iot):
    run = runs.start(iot, "iot", TEST_AGS, {"resolution_m": 100, "max_range_m": 20000, "model": "hata"})
    assert run["status"] == "succeeded", run["message"]
    flags = _flags(run)
    gw = flags["GW1"]["outside"]
    # 868 MHz and a 12 m mast are outside COST-231 Hata; the raster evaluates it from 10 m on
    assert gw["frequency"] == "868 MHz outside 1500-2000 MHz"
    assert gw["bs_height"] == "12 m outside 30-200 m"
    assert gw["distance"].startswith("10-") and gw["distance"].endswith(" m outside 1000-20000 m")
    # the 800 rooftop serves one NB-IoT device 600 m away: frequency, height and distance all outside
    assert flags["S2"]["outside"] == {
        "frequency": "806 MHz outside 1500-2000 MHz",
        "distance": "600 m outside 1000-20000 m",
        "bs_height": "20 m outside 30-200 m",
    }
    assert flags["S2"]["technology"] == "nbiot"
    # the 1800 sector at 30 m serves its devices from 2 to 11.2 km: inside every range
    assert "S1" not in flags
    assert run["model"]["validity"]["transmitters_outside_by_quantity"] == {
        "bs_height": 2,
        "distance": 2,
        "frequency": 2,
    }
    assert run["statistics"]["transmitters_outside_validity"] == 2


def test_the_lorawan_raster_carries_the_model_with_its_flags_and_the_los_choice(iot):
    run = runs.start(iot, "iot", TEST_AGS, {"resolution_m": 100, "max_range_m": 20000, "los": "buildings"})
    assert run["status"] == "succeeded", run["message"]
    assert run["model"]["assumptions"]["buildings"]["footprints"] == 0  # the fixture registers no buildings
    with rasterio.open(runs.output_dir(run["id"]) / run["outputs"]["lorawan"]["file"]) as ds:
        tags = ds.tags()
    model = orjson.loads(tags["netzatlas_model"])
    assert model["validity"] == run["model"]["validity"]
    assert model["assumptions"]["los"].startswith("each path's clutter state from the registry's buildings")
    assert orjson.loads(tags["netzatlas_parameters"])["los"] == "buildings"
