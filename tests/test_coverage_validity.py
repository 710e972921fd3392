"""Models used outside their validity ranges are flagged per sector in the run; N_RB errors name the sector."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point

from netzatlas.coverage import mobile, radio, runs
from netzatlas.registry import service
from netzatlas.registry.service import AssetInput

from .conftest import TEST_AGS


def _tx(f: float, h: float = 30.0) -> radio.Transmitter:
    return radio.Transmitter(x=0.0, y=0.0, height_m=h, frequency_mhz=f, eirp_dbm=60.0, band=0)


def test_validity_of_one_transmitter():
    uma, hata = radio.RadioModel(name="uma"), radio.RadioModel(name="hata")
    assert radio.validity(_tx(1800), uma, 3000.0) == {}
    assert radio.validity(_tx(1800), uma, 7000.0) == {"distance": "10-7000 m outside 10-5000 m"}
    assert radio.validity(_tx(1800), hata, 3000.0) == {"distance": "10-3000 m outside 1000-20000 m"}
    assert radio.validity(_tx(800, h=20), hata, 0.0) == {
        "frequency": "800 MHz outside 1500-2000 MHz",
        "bs_height": "20 m outside 30-200 m",
    }
    assert radio.validity(_tx(1800), radio.RadioModel(name="umi", ue_height_m=1.0), 100.0) == {
        "ue_height": "1 m outside 1.5-22.5 m"
    }


# A partner's export: a rooftop LTE 800 site in the centre and an NR 3.6 GHz site to the east, heights as built.
SITES = [
    ("DE-RP-4711", 455000, 5495000, "LTE", "B20", 806, 10, 22.5),
    ("DE-RP-4712", 457500, 5495500, "NR", "n78", 3650, 100, 34.0),
]


@pytest.fixture
def sites(conn, db_url):
    for ext, x, y, tech, band, f, bw, h in SITES:
        sectors = [
            {
                "sector": i + 1,
                "technology": tech,
                "band": band,
                "frequency_mhz": f,
                "azimuth_deg": 120.0 * i + 30,
                "mech_tilt_deg": 0,
                "elec_tilt_deg": 4,
                "height_m": h,
                "eirp_dbm": 61.5,
                "bandwidth_mhz": bw,
            }
            for i in range(3)
        ]
        service.create(
            conn,
            AssetInput(
                kind="mobile-sites",
                operator="telco",
                external_id=ext,
                geometry=Point(x, y),
                status="in_service",
                attributes={"sectors": sectors},
            ),
        )
    return db_url


def test_hata_outside_its_range_is_flagged_per_sector(sites):
    r = runs.start(sites, "mobile", TEST_AGS, {"resolution_m": 100, "model": "hata"})
    assert r["status"] == "succeeded", r["message"]
    v = r["model"]["validity"]
    assert v["cells_evaluated"] == 6 and v["cells_outside"] == 6
    assert r["statistics"]["radio_cells_outside_validity"] == 6
    # every sector is evaluated below 1 km; the 800 MHz and 3.6 GHz carriers are outside 1500-2000 MHz;
    # the 22.5 m rooftop is below 30 m
    assert v["cells_outside_by_quantity"] == {"bs_height": 3, "distance": 6, "frequency": 6}
    first = next(s for s in v["cells"] if s["site"] == "DE-RP-4711" and s["antenna"] == "S1")
    assert first["outside"]["frequency"] == "806 MHz outside 1500-2000 MHz"
    assert first["outside"]["bs_height"] == "22.5 m outside 30-200 m"
    assert first["layer"] == "LTE B20" and first["operator"] == "telco"
    uma = runs.start(sites, "mobile", TEST_AGS, {"resolution_m": 100})
    assert uma["model"]["validity"]["cells_outside"] == 0
    assert uma["statistics"]["radio_cells_outside_validity"] == 0


def test_a_bandwidth_outside_the_3gpp_tables_fails_the_run_naming_the_sector(conn, sites):
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator="telco",
            external_id="DE-RP-4713",
            geometry=Point(456000, 5496000),
            status="in_service",
            attributes={
                "sectors": [
                    {
                        "sector": 2,
                        "technology": "NR",
                        "band": "n1",
                        "frequency_mhz": 2140,
                        "azimuth_deg": 90,
                        "height_m": 30,
                        "eirp_dbm": 60,
                        "bandwidth_mhz": 100,
                    }
                ]
            },
        ),
    )
    r = runs.start(sites, "mobile", TEST_AGS, {"resolution_m": 100})
    assert r["status"] == "failed"
    assert "site DE-RP-4713 (telco) antenna S2 cell 2 (n1): NR channel bandwidth 100 MHz at 15 kHz" in r["message"]
    assert np.isfinite(radio.rsrp_offset_db("NR", 100, 3650))


def test_an_n258_cell_is_computed_with_the_fr2_resource_blocks_and_flagged_where_the_model_does_not_hold(conn, db_url):
    """A 26 GHz (n258, FR2, TDD) small cell without bandwidth or frequency: the band's defaults (200 MHz at 120 kHz,
    the band centre) give N_RB 132 from TS 38.101-2 Table 5.3.2-1; 38.901 holds at 26 GHz, COST-231 Hata does not
    and is flagged, not refused."""
    cell = {"cell_id": "mm1", "band": "n258", "eirp_dbm": 55.0}
    site = {
        "structure": "street_furniture",
        "operators": ["telco"],
        "antennas": [
            {"antenna_id": "A1", "operator": "telco", "azimuth_deg": 90.0, "height_m": 8.0, "cells": [cell]},
        ],
    }
    service.create(
        conn,
        AssetInput(
            kind="mobile-sites",
            operator="telco",
            external_id="DE-RP-26GHZ",
            geometry=Point(455000, 5495000),
            status="in_service",
            attributes=site,
        ),
    )
    cells, used = mobile.load_cells(conn, TEST_AGS, 10_000)
    (c,) = cells
    assert (c["technology"], c["frequency_mhz"], c["bandwidth_mhz"], c["scs_khz"]) == ("NR", 25875, 200, 120)
    assert mobile._rsrp_offset(c) == pytest.approx(-10 * np.log10(12 * 132))
    by_quantity = {d["quantity"]: d for d in used}
    assert by_quantity["scs_khz"]["value"] == 120 and "38.101-2" in by_quantity["scs_khz"]["source"]
    assert by_quantity["bandwidth_mhz"]["value"] == 200 and "26 GHz" in by_quantity["bandwidth_mhz"]["source"]

    uma = runs.start(db_url, "mobile", TEST_AGS, {"resolution_m": 25})
    assert uma["status"] == "succeeded", uma["message"]
    assert uma["statistics"]["radio_cells"] == 1 and uma["statistics"]["radio_cells_reaching_threshold"] == 1
    assert uma["model"]["validity"]["cells_evaluated"] == 1 and uma["model"]["validity"]["cells_outside"] == 0
    assert "38.101-2 Table 5.3.2-1 (NR, FR2)" in uma["model"]["assumptions"]["n_rb"]
    assert ("scs_khz", "band n258") in {
        (d["quantity"], d["applies_to"]) for d in uma["model"]["assumptions"]["defaults"]
    }

    hata = runs.start(db_url, "mobile", TEST_AGS, {"resolution_m": 25, "model": "hata"})
    assert hata["status"] == "succeeded", hata["message"]
    v = hata["model"]["validity"]
    assert v["cells_outside"] == 1 and hata["statistics"]["radio_cells_outside_validity"] == 1
    (flagged,) = v["cells"]
    assert (flagged["site"], flagged["antenna"], flagged["cell"], flagged["layer"]) == (
        "DE-RP-26GHZ",
        "A1",
        "mm1",
        "NR n258",
    )
    assert flagged["outside"]["frequency"] == "25875 MHz outside 1500-2000 MHz"
    assert flagged["outside"]["bs_height"] == "8 m outside 30-200 m"
