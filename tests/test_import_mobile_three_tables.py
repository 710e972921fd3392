"""A mobile network in the three-table shape partners export: sites, antennas, cells.

30 sites, 80 antennas, 300 cells of four operators; sites shared by two operators (a list of operators per site),
omnidirectional indoor antennas, cells in B1, B32 and n78 with band codes as partners write them (`N78`), the
position as one `"lat,lon"` column, `;` delimiters and German column names, mapped by a profile file. One
delivery covers every operator; a mobile coverage run over it succeeds and lists the defaults it used.

Everything here is invented (deterministic), in the shape of real exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyproj import Transformer

from netzatlas.coverage import runs
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import reference

from . import import_helpers as h
from .conftest import TEST_AGS

OPERATORS = {"Telekom": "telekom", "Vodafone": "vodafone", "Telefonica": "telefonica", "1&1": "einsundeins"}
N_SITES, N_INDOOR, N_ANTENNAS, N_CELLS = 30, 6, 80, 300

_OPMAP = "{" + ", ".join(f"'{k}': {v}" for k, v in OPERATORS.items()) + "}"
PROFILE = f"""\
name: drei-tabellen
title: Standorte, Antennen und Zellen (mehrere Betreiber)
crs: EPSG:4326
x-operators: &ops {_OPMAP}
layers:
  - layer: standorte
    target: mobile-sites
    operator: {{column: standortbetreiber, map: *ops}}
    external_id: standort-id
    name: bezeichnung
    status: {{field: zustand, map: {{in Betrieb: in_service, geplant: planned}}}}
    attributes:
      structure: {{field: bauart, map: {{Dach: rooftop, Mast: mast, Turm: tower, Indoor: indoor}}}}
      operators: {{field: netzbetreiber, map: *ops}}
  - layer: antennen
    target: antennas
    site: standort-id
    operator: {{column: netzbetreiber, map: *ops}}
    attributes:
      antenna_id: antenne
      azimuth_deg: azimut
      omnidirectional: {{field: rundstrahler, map: {{ja: true, nein: false}}}}
      height_m: hoehe_m
      elec_tilt_deg: tilt_el
  - layer: zellen
    target: cells
    site: standort-id
    antenna: antenne
    operator: {{column: netzbetreiber, map: *ops}}
    attributes:
      cell_id: zelle
      technology: technik
      band: band
      frequency_mhz: frequenz_mhz
      bandwidth_mhz: bandbreite_mhz
      eirp_dbm: eirp_dbm
"""

# band as written, technology (empty: from the band), frequency (empty: the band's centre), bandwidth, EIRP
MACRO_CELLS = [
    ("B1", "LTE", "2140", "20", "61"),
    ("B32", "", "1474", "", ""),
    ("N78", "NR", "3650", "80", "66"),
    ("n78", "", "", "", ""),
    ("B1", "", "2160", "", "60"),
]
INDOOR_CELLS = [("B1", "LTE", "2140", "10", ""), ("N78", "", "", "", "")]


def network() -> dict[str, str]:
    """The three tables as CSV text: 30 sites (6 indoor), 80 antennas, 300 cells, 4 operators."""
    names = list(OPERATORS)
    to_wgs84 = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    sites, antennas, cells = [], [], []
    pairs: list[tuple[str, str, bool]] = []  # (site id, operator name, indoor)
    for s in range(N_SITES):
        indoor = s >= N_SITES - N_INDOOR
        # every third macro site and every indoor system is shared by two operators
        ops = [names[s % 4], names[(s + 1) % 4]] if indoor or s % 3 == 0 else [names[s % 4]]
        x, y = 451500 + (s % 6) * 1400 + (s * 37) % 300, 5491500 + (s // 6) * 1600 + (s * 53) % 400
        lon, lat = to_wgs84.transform(x, y)
        structure = "Indoor" if indoor else ("Dach", "Mast", "Turm")[s % 3]
        sid = f"DE-{5100 + s}"
        sites.append(f'{sid};{ops[0]};{"/".join(ops)};Standort {s + 1};{structure};in Betrieb;"{lat:.6f},{lon:.6f}"')
        pairs += [(sid, op, indoor) for op in ops]
    macro = [p for p in pairs if not p[2]]
    n_macro_antennas = N_ANTENNAS - sum(1 for p in pairs if p[2])
    three = n_macro_antennas - 2 * len(macro)  # pairs with three antennas, the rest two
    macro_cells = N_CELLS - 2 * sum(1 for p in pairs if p[2])
    five = macro_cells - 4 * n_macro_antennas  # antennas with five cells, the rest four
    k = 0  # macro antennas so far
    for i, (sid, op, indoor) in enumerate(pairs):
        if indoor:
            antennas.append(f"{sid};{op};I1;;ja;;")
            cells += [f"{sid};{op};I1;{j + 1};{';'.join(c)}" for j, c in enumerate(INDOOR_CELLS)]
            continue
        n_ant = 3 if macro.index((sid, op, indoor)) < three else 2
        for a in range(n_ant):
            height = "" if i % 4 == 0 else f"{24 + i % 9}"
            antennas.append(f"{sid};{op};A{a + 1};{(a * 360 // n_ant + 10 * i) % 360};nein;{height};{2 + a}")
            n_cells = 5 if k < five else 4
            cells += [f"{sid};{op};A{a + 1};{j + 1};{';'.join(c)}" for j, c in enumerate(MACRO_CELLS[:n_cells])]
            k += 1
    assert (len(sites), len(antennas), len(cells)) == (N_SITES, N_ANTENNAS, N_CELLS)
    return {
        "standorte": 'Standort-ID;Standortbetreiber;Netzbetreiber;Bezeichnung;Bauart;Zustand;"lat,lon"\n'
        + "\n".join(sites)
        + "\n",
        "antennen": "Standort-ID;Netzbetreiber;Antenne;Azimut;Rundstrahler;Hoehe_m;Tilt_el\n"
        + "\n".join(antennas)
        + "\n",
        "zellen": "Standort-ID;Netzbetreiber;Antenne;Zelle;Band;Technik;Frequenz_MHz;Bandbreite_MHz;EIRP_dBm\n"
        + "\n".join(cells)
        + "\n",
    }


@pytest.fixture
def delivery(conn, tmp_path: Path) -> dict[str, Path]:
    for name, op in OPERATORS.items():
        reference.upsert_operator(conn, op, name, "telecom")
    files = {}
    for name, text in network().items():
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text(text, encoding="utf-8")
    files["profile"] = tmp_path / "drei-tabellen.yaml"
    files["profile"].write_text(PROFILE, encoding="utf-8")
    files["zip"] = h.zip_files(tmp_path / "netz.zip", [files["standorte"], files["antennen"], files["zellen"]])
    return files


def imp(conn, delivery: dict[str, Path], tmp_path: Path):
    return run_import(delivery["zip"], "city", str(delivery["profile"]), url=conn.info.dsn, home=tmp_path / "home")


def test_three_tables_of_four_operators_load_as_sites_antennas_and_cells(conn, tmp_path, delivery):
    _, status, report = imp(conn, delivery, tmp_path)
    assert status == "loaded", report.to_json()
    assert report.counts["mobile-sites"] == {"created": N_SITES, "updated": 0, "retired": 0, "unchanged": 0}
    one = conn.execute
    assert one("SELECT count(*) AS n FROM radio_antennas").fetchone()["n"] == N_ANTENNAS
    assert one("SELECT count(*) AS n FROM radio_cells").fetchone()["n"] == N_CELLS
    ops = one("SELECT DISTINCT operator FROM radio_cells ORDER BY 1").fetchall()
    assert [r["operator"] for r in ops] == sorted(OPERATORS.values())
    bands = one("SELECT band, technology, count(*) AS n FROM radio_cells GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert [(r["band"], r["technology"]) for r in bands] == [("B1", "LTE"), ("B32", "LTE"), ("n78", "NR")]
    # shared sites: one asset, its operators listed, each operator's antennas on it
    shared = one(
        "SELECT external_id, operator, attributes -> 'operators' AS ops FROM assets "
        "WHERE kind = 'mobile-sites' AND jsonb_array_length(attributes -> 'operators') = 2 ORDER BY external_id"
    ).fetchall()
    assert len(shared) == 8 + N_INDOOR  # every third of the 24 macro sites, every indoor system
    first = shared[0]
    assert (first["external_id"], first["operator"], first["ops"]) == ("DE-5100", "telekom", ["telekom", "vodafone"])
    by_op = one(
        "SELECT operator, count(*) AS n FROM radio_antennas WHERE site_external_id = 'DE-5100' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(r["operator"], r["n"]) for r in by_op] == [("telekom", 3), ("vodafone", 3)]
    # indoor systems: omnidirectional, no azimuth
    indoor = one(
        "SELECT count(*) AS n, count(azimuth_deg) AS az, bool_and(omnidirectional) AS omni FROM radio_antennas "
        "WHERE structure = 'indoor'"
    ).fetchone()
    assert (indoor["n"], indoor["az"], indoor["omni"]) == (2 * N_INDOOR, 0, True)
    # a band centre where the delivery gives no frequency
    assert one("SELECT count(*) AS n FROM radio_cells WHERE frequency_mhz IS NULL").fetchone()["n"] > 0
    # the same delivery again changes nothing
    _, status, report = imp(conn, delivery, tmp_path)
    assert status == "loaded" and report.changes == 0, report.to_json()


def test_a_mobile_run_over_the_delivery_lists_its_defaults(conn, db_url, tmp_path, delivery):
    assert imp(conn, delivery, tmp_path)[1] == "loaded"
    r = runs.start(db_url, "mobile", TEST_AGS, {"resolution_m": 100})
    assert r["status"] == "succeeded", r["message"]
    assert r["statistics"]["radio_cells"] == N_CELLS
    assert r["statistics"]["antennas"] == N_ANTENNAS
    assert r["input_counts"]["operators"] == len(OPERATORS) and r["input_counts"]["sites"] == N_SITES
    used = r["model"]["assumptions"]["defaults"]
    assert used and all(d["source"] and d["cells"] > 0 for d in used)
    quantities = {(d["quantity"], d["applies_to"]) for d in used}
    assert ("eirp_dbm", "band B32") in quantities and ("bandwidth_mhz", "band n78") in quantities
    assert ("eirp_offset_db", "structure indoor") in quantities  # indoor systems transmit far less
    assert ("height_m", "structure indoor") in quantities  # the indoor antennas give no height


def _edit(text: str, row: int, column: int, value: str) -> tuple[str, list[str]]:
    """The CSV text with one value of data row `row` (0-based, after the header) replaced; and that row's values."""
    lines = text.splitlines()
    values = lines[row + 1].split(";")
    values[column] = value
    lines[row + 1] = ";".join(values)
    return "\n".join(lines) + "\n", values


def test_antenna_and_cell_problems_are_reported_on_their_own_rows_and_nothing_is_written(conn, tmp_path, delivery):
    """A problem in an antenna or a cell names the antenna or cell table, the row there and the antenna or cell (not
    the site it belongs to); a delivery with problems writes nothing."""
    tables = network()
    # antenna row 7: azimuth 400 deg; cell rows 11 and 42: an unknown band, a bandwidth above 400 MHz
    tables["antennen"], antenna = _edit(tables["antennen"], 7, 3, "400")
    tables["zellen"], unknown_band = _edit(tables["zellen"], 11, 4, "B99")
    tables["zellen"], too_wide = _edit(tables["zellen"], 42, 7, "999")
    for name, text in tables.items():
        delivery[name].write_text(text, encoding="utf-8")
    zipped = h.zip_files(tmp_path / "fehler.zip", [delivery["standorte"], delivery["antennen"], delivery["zellen"]])
    sid, status, report = run_import(
        zipped, "city", str(delivery["profile"]), url=conn.info.dsn, home=tmp_path / "home"
    )
    assert status == "rejected", report.to_json()
    got = {(p["layer"], p["index"], p["id"], p["field"]): p["reason"] for p in report.problems}
    assert report.problem_total == 3, got
    band_key = ("zellen", 11, "/".join(unknown_band[i] for i in (0, 2, 3)), "attributes.band")
    width_key = ("zellen", 42, "/".join(too_wide[i] for i in (0, 2, 3)), "attributes.bandwidth_mhz")
    azimuth_key = ("antennen", 7, f"{antenna[0]}/{antenna[2]}", "attributes.azimuth_deg")
    assert set(got) == {band_key, width_key, azimuth_key}, got
    assert got[azimuth_key] == "400.0 is above the maximum 360"
    assert got[band_key].startswith("unknown code 'B99'; allowed: B1, ")
    assert got[width_key] == "999.0 is above the maximum 400"
    assert not any(p["layer"] == "standorte" for p in report.problems)
    # all or nothing: not one site, antenna or cell of the 29 sound sites was written
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM radio_cells").fetchone()["n"] == 0
    rejected = conn.execute("SELECT status FROM submissions WHERE id = %s", (sid,)).fetchone()
    assert rejected["status"] == "rejected"
