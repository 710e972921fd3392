"""Declared defaults for what a mobile delivery leaves out, per band and per structure, with their source.

The coverage engine fills a cell's missing carrier bandwidth, NR subcarrier spacing and EIRP (per band; EIRP
lowered for small cells and indoor antennas by structure) and an antenna's missing height, tilt and vertical
beamwidth (per structure), and lists in every run which defaults it used, for how many cells, with their source
(model assumptions).
"""

from __future__ import annotations

from typing import Any

from netzatlas.coverage import antenna

# Carrier bandwidth (MHz) per band: the widest carrier German operators typically run there after the 2019
# auction and the 2015/2010 allocations (Bundesnetzagentur, Frequenzzuteilungen); one value per band.
BANDWIDTH_MHZ: dict[str, float] = {
    "B1": 20.0, "B3": 20.0, "B7": 20.0, "B8": 10.0, "B20": 10.0, "B28": 10.0, "B32": 20.0, "B38": 20.0,
    "n1": 20.0, "n3": 20.0, "n7": 20.0, "n8": 10.0, "n20": 10.0, "n28": 10.0, "n38": 20.0, "n75": 20.0,
    "n77": 100.0, "n78": 80.0, "n258": 200.0,
}  # fmt: skip
BANDWIDTH_SOURCE = "Netzatlas default per band: typical German carrier after the 2010/2015/2019 auctions"
# n258 (26 GHz, FR2) is not auctioned in Germany but assigned locally on application (Bundesnetzagentur, VV Lokales
# Breitband 26 GHz, 2021); the CEPT band plan divides it into 200 MHz blocks (ECC Decision (18)06, EU 2019/784).
BANDWIDTH_SOURCES: dict[str, str] = {
    "n258": "Netzatlas default for n258: one 200 MHz block of the 26 GHz band plan (ECC Decision (18)06, EU "
    "2019/784; local assignment by the Bundesnetzagentur, VV Lokales Breitband 26 GHz), a channel bandwidth "
    "3GPP TS 38.101-2 Table 5.3.5-1 lists for n258 at 120 kHz",
}

# NR subcarrier spacing (kHz) per band; a delivery gives none. 3GPP TS 38.101-1 Table 5.3.5-1 (FR1) and TS 38.101-2
# Table 5.3.5-1 (FR2) list the spacings each band supports: 15 kHz in the FDD and SDL bands below 3 GHz, 30 kHz in
# the 3.6 GHz TDD bands, and 120 kHz in n258 (60 kHz is allowed there too; 120 kHz is the spacing of FR2 data
# channels in deployed networks and the one with a 400 MHz carrier).
SCS_KHZ: dict[str, int] = {
    "n1": 15, "n3": 15, "n7": 15, "n8": 15, "n20": 15, "n28": 15, "n38": 15, "n75": 15,
    "n77": 30, "n78": 30, "n258": 120,
}  # fmt: skip
SCS_SOURCE = (
    "Netzatlas default per NR band: 15 kHz below 3 GHz, 30 kHz at 3.6 GHz, 120 kHz in FR2 (n258); spacings each "
    "band supports per 3GPP TS 38.101-1 Table 5.3.5-1 and TS 38.101-2 Table 5.3.5-1"
)

# EIRP (dBm) of a macro carrier per band: 2 x 40-80 W transmit power and a 15-18 dBi panel (low bands), a
# 24-25 dBi massive-MIMO array at 3.6 GHz; within the ranges the demo (and BNetzA site certificates) show.
EIRP_DBM: dict[str, float] = {
    "B1": 61.0, "B3": 61.0, "B7": 61.0, "B8": 58.0, "B20": 59.0, "B28": 58.0, "B32": 61.0, "B38": 60.0,
    "n1": 61.0, "n3": 61.0, "n7": 61.0, "n8": 58.0, "n20": 59.0, "n28": 57.0, "n38": 60.0, "n75": 61.0,
    "n77": 66.0, "n78": 66.0, "n258": 60.0,
}  # fmt: skip
EIRP_SOURCE = "Netzatlas default per band: macro carrier, 2 x 40-80 W and a 15-18 dBi panel (24 dBi at 3.6 GHz)"
# Lower EIRP by structure: small cells on street furniture and indoor systems transmit far less than a macro.
EIRP_OFFSET_DB: dict[str, float] = {"street_furniture": -20.0, "indoor": -35.0}
EIRP_OFFSET_SOURCE = "Netzatlas default per structure: small cell -20 dB, indoor system -35 dB from the macro EIRP"

# Antenna height above ground (m), mechanical + electrical downtilt (deg) per structure.
HEIGHT_M: dict[str, float] = {
    "rooftop": 25.0, "mast": 30.0, "tower": 40.0, "street_furniture": 6.0, "indoor": 3.0, "other": 25.0,
}  # fmt: skip
TILT_DEG: dict[str, float] = {
    "rooftop": 6.0, "mast": 4.0, "tower": 3.0, "street_furniture": 0.0, "indoor": 0.0, "other": 4.0,
}  # fmt: skip
STRUCTURE_SOURCE = "Netzatlas default per structure: typical antenna heights and total downtilts of German sites"
DEFAULT_STRUCTURE = "other"
V_BEAMWIDTH_SOURCE = "3GPP TR 36.814 table A.2.1.1-2 (theta_3dB = 10 deg)"
H_BEAMWIDTH_SOURCE = "3GPP TR 38.901 table 7.3-1 (phi_3dB = 65 deg, the usual 3-sector panel)"


class Used:
    """The defaults a run used: quantity, value, what it applied to, how many cells, source."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, float], dict[str, Any]] = {}

    def note(self, quantity: str, applies_to: str, value: float, source: str) -> float:
        key = (quantity, applies_to, value)
        entry = self._seen.setdefault(
            key, {"quantity": quantity, "applies_to": applies_to, "value": value, "cells": 0, "source": source}
        )
        entry["cells"] += 1
        return value

    def listed(self) -> list[dict[str, Any]]:
        return [self._seen[k] for k in sorted(self._seen)]


def fill(c: dict[str, Any], used: Used) -> dict[str, Any]:
    """A cell row of radio_cells with every missing quantity taken from the declared defaults (noted in used)."""
    structure = c.get("structure") or DEFAULT_STRUCTURE
    band = c["band"]
    out = dict(c)
    if out.get("height_m") is None:
        out["height_m"] = used.note("height_m", f"structure {structure}", HEIGHT_M[structure], STRUCTURE_SOURCE)
    if out.get("mech_tilt_deg") is None and out.get("elec_tilt_deg") is None:
        out["tilt_deg"] = used.note("tilt_deg", f"structure {structure}", TILT_DEG[structure], STRUCTURE_SOURCE)
    else:
        out["tilt_deg"] = (out.get("mech_tilt_deg") or 0.0) + (out.get("elec_tilt_deg") or 0.0)
    if not out.get("omnidirectional"):
        if out.get("h_beamwidth_deg") is None:
            out["h_beamwidth_deg"] = used.note(
                "h_beamwidth_deg", "every band", antenna.DEFAULT_H_BEAMWIDTH_DEG, H_BEAMWIDTH_SOURCE
            )
        if out.get("v_beamwidth_deg") is None:
            out["v_beamwidth_deg"] = used.note(
                "v_beamwidth_deg", "every band", antenna.DEFAULT_V_BEAMWIDTH_DEG, V_BEAMWIDTH_SOURCE
            )
    if out.get("bandwidth_mhz") is None:
        source = BANDWIDTH_SOURCES.get(band, BANDWIDTH_SOURCE)
        out["bandwidth_mhz"] = used.note("bandwidth_mhz", f"band {band}", BANDWIDTH_MHZ[band], source)
    if out.get("technology") == "NR" and out.get("scs_khz") is None and band in SCS_KHZ:
        out["scs_khz"] = used.note("scs_khz", f"band {band}", SCS_KHZ[band], SCS_SOURCE)
    if out.get("eirp_dbm") is None:
        if out.get("tx_power_dbm") is not None and out.get("gain_dbi") is not None:
            out["eirp_dbm"] = out["tx_power_dbm"] + out["gain_dbi"]
        else:
            eirp = used.note("eirp_dbm", f"band {band}", EIRP_DBM[band], EIRP_SOURCE)
            offset = EIRP_OFFSET_DB.get(structure, 0.0)
            if offset:
                used.note("eirp_offset_db", f"structure {structure}", offset, EIRP_OFFSET_SOURCE)
            out["eirp_dbm"] = eirp + offset
    return out
