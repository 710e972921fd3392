"""Migration 0010 carries today's sites and sectors over to antennas and cells, with their history."""

from __future__ import annotations

import json
import time

from netzatlas import db, migrate

from .conftest import make_database

SECTOR = {
    "sector": 1,
    "technology": "LTE",
    "band": "B20",
    "frequency_mhz": 806.0,
    "azimuth_deg": 30.0,
    "mech_tilt_deg": 2.0,
    "elec_tilt_deg": 4.0,
    "height_m": 30.0,
    "eirp_dbm": 59.0,
    "bandwidth_mhz": 10.0,
}


def test_sectors_become_antennas_and_cells_with_history():
    name = "netzatlas_test_migration_mobile"
    url = make_database(name)
    try:
        migrate.upgrade(url, "0009")
        with db.connect(url, autocommit=True) as c:
            c.execute(
                "INSERT INTO municipalities (ags, name) VALUES ('09999000', 'T');"
                "INSERT INTO operators (id, name, kind) VALUES ('telco', 'Telco', 'telecom')"
            )
            first = {"structure": "mast", "sectors": [SECTOR]}
            row = c.execute(
                """INSERT INTO assets (kind, municipality, operator, external_id, status, sensitivity, attributes,
                       geom) VALUES ('mobile-sites', '09999000', 'telco', 'S1', 'in_service', 'public', %s,
                       ST_SetSRID(ST_MakePoint(455000, 5495000), 25832)) RETURNING id, updated_at""",
                (json.dumps(first),),
            ).fetchone()
            site, t1 = row["id"], row["updated_at"]
            time.sleep(0.05)
            second = {"structure": "mast", "sectors": [SECTOR, {**SECTOR, "sector": 2, "azimuth_deg": 150.0}]}
            c.execute(
                "UPDATE assets SET attributes = %s, version = version + 1 WHERE id = %s",
                (json.dumps(second), site),
            )
        migrate.upgrade(url)
        with db.connect(url, autocommit=True) as c:
            now = c.execute("SELECT attributes, version FROM assets WHERE id = %s", (site,)).fetchone()
            assert now["version"] == 2  # a change of representation, not of the site
            attrs = now["attributes"]
            assert "sectors" not in attrs and attrs["operators"] == ["telco"]
            assert [a["antenna_id"] for a in attrs["antennas"]] == ["S1", "S2"]
            a1 = attrs["antennas"][0]
            assert a1["operator"] == "telco" and a1["azimuth_deg"] == 30.0 and a1["elec_tilt_deg"] == 4.0
            assert a1["cells"] == [
                {
                    "cell_id": "1",
                    "technology": "LTE",
                    "band": "B20",
                    "frequency_mhz": 806.0,
                    "bandwidth_mhz": 10.0,
                    "eirp_dbm": 59.0,
                }
            ]
            history = c.execute(
                "SELECT version, attributes, valid_from FROM asset_history WHERE id = %s ORDER BY version", (site,)
            ).fetchall()
            assert [h["version"] for h in history] == [1, 2]
            assert history[0]["valid_from"] == t1
            assert [a["antenna_id"] for a in history[0]["attributes"]["antennas"]] == ["S1"]
            cells = c.execute(
                "SELECT antenna_id, cell_id, band, dl_frequency_mhz, band_dl_centre_mhz, status FROM radio_cells "
                "ORDER BY antenna_id"
            ).fetchall()
            assert [(r["antenna_id"], r["band"], r["dl_frequency_mhz"], r["status"]) for r in cells] == [
                ("S1", "B20", 806.0, "in_service"),
                ("S2", "B20", 806.0, "in_service"),
            ]
            assert cells[0]["band_dl_centre_mhz"] == 806.0
            bands = {r["code"] for r in c.execute("SELECT code FROM radio_bands").fetchall()}
            assert {"B1", "B3", "B7", "B8", "B20", "B28", "B32", "B38", "n1", "n3", "n7", "n8", "n28", "n78"} <= bands
            assert "n258" in bands
        migrate.downgrade(url, "0009")
        with db.connect(url) as c:
            back = c.execute("SELECT attributes FROM assets WHERE id = %s", (site,)).fetchone()["attributes"]
            assert [s["sector"] for s in back["sectors"]] == [1, 2] and back["sectors"][0]["band"] == "B20"
    finally:
        db.drop_database(name)
