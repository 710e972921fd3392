"""Deliveries as partners and regulators hold them: a site register of several operators with a `"lat,lon"`
column and `;` delimiters, sectors in a second table, and the tables a profile maps but a zip lacks.

Everything here is invented, in the shapes of real exports (their own German column names, not ours)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netzatlas.importers.deliveries import run_import
from netzatlas.registry import access, reference

from . import import_helpers as h

# A public site register: one row per site and operator, the position as one "lat,lon" column.
REGISTER = """\
Standort-Nr;Betreiber;Bezeichnung;Bauart;Zustand;"lat,lon"
DE-4711;Telekom;Wasserturm;Turm;in Betrieb;"49.6301,8.3590"
DE-4712;Vodafone;Dach Rathaus;Dach;in Betrieb;"49.6320,8.3620"
DE-4713;Telekom;Mast Gewerbegebiet;Mast;geplant;"49.6250,8.3500"
DE-4713;Vodafone;Mast Gewerbegebiet;Mast;in Betrieb;"49.6250,8.3500"
DE-4714;Telefonica;Kirchturm;Turm;in Betrieb;"49.6280,8.3700"
"""
# Sectors of the register's sites, joined by site number and operator.
SECTORS = """\
Standort-Nr;Betreiber;Sektor;Technik;Band;Frequenz_MHz;Azimut;Hoehe_m;EIRP_dBm;Bandbreite_MHz
DE-4711;Telekom;1;LTE;B20;806;0;32;59;10
DE-4711;Telekom;2;NR;n78;3600;120;32;66;100
DE-4712;Vodafone;1;LTE;B3;1815;240;21;61;20
DE-4713;Vodafone;1;NR;n78;3650;90;28;65;80
DE-4714;Telefonica;1;LTE;B8;935;300;40;58;10
"""
PROFILE = """\
name: standortregister
title: Öffentliches Standortregister (mehrere Betreiber)
crs: EPSG:4326
layers:
  - layer: standorte
    target: mobile-sites
    operator: {column: betreiber, map: {Telekom: telekom, Vodafone: vodafone, Telefonica: telefonica}}
    external_id: standort-nr
    name: bezeichnung
    status: {field: zustand, map: {in Betrieb: in_service, geplant: planned}}
    attributes:
      structure: {field: bauart, map: {Turm: tower, Dach: rooftop, Mast: mast}}
  - layer: sektoren
    target: sectors
    {sectors_optional}
    site: standort-nr
    operator: {column: betreiber, map: {Telekom: telekom, Vodafone: vodafone, Telefonica: telefonica}}
    attributes:
      sector: sektor
      technology: technik
      band: band
      frequency_mhz: frequenz_mhz
      azimuth_deg: azimut
      height_m: hoehe_m
      eirp_dbm: eirp_dbm
      bandwidth_mhz: bandbreite_mhz
"""
OPERATORS = ("telekom", "vodafone", "telefonica")


@pytest.fixture
def register(conn, tmp_path: Path) -> dict[str, Path]:
    for op in OPERATORS:
        reference.upsert_operator(conn, op, op.title(), "telecom")
    files = {
        "standorte": tmp_path / "standorte.csv",
        "sektoren": tmp_path / "sektoren.csv",
        "readme": tmp_path / "readme.txt",
        "profile": tmp_path / "standortregister.yaml",
    }
    files["standorte"].write_text(REGISTER, encoding="utf-8")
    files["sektoren"].write_text(SECTORS, encoding="utf-8")
    files["readme"].write_text("Standortregister, Auszug. Koordinaten WGS 84 (Breite, Länge).\n", encoding="utf-8")
    files["profile"].write_text(PROFILE.replace("{sectors_optional}", ""), encoding="utf-8")
    return files


def zipped(tmp_path: Path, name: str, *files: Path) -> Path:
    return h.zip_files(tmp_path / name, list(files))


def imp(conn, path: Path, tmp_path: Path, profile: Path | str | None, operator: str = "city", **kw):
    prof = str(profile) if profile else None
    return run_import(path, operator, prof, url=conn.info.dsn, home=tmp_path / "home", **kw)


def sites(conn) -> dict[tuple[str, str], tuple[str, int]]:
    """(operator, site) -> (status, number of cells); each legacy sector becomes an antenna with one cell."""
    rows = conn.execute(
        "SELECT operator, external_id, status, (SELECT count(*) FROM radio_cells c WHERE c.site_id = a.id)::int AS n "
        "FROM assets a WHERE kind = 'mobile-sites' AND retired_at IS NULL"
    ).fetchall()
    return {(r["operator"], r["external_id"]): (r["status"], r["n"]) for r in rows}


def n_assets(conn) -> int:
    return conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"]


EXPECTED = {
    ("telekom", "DE-4711"): ("in_service", 2),
    ("vodafone", "DE-4712"): ("in_service", 1),
    ("telekom", "DE-4713"): ("planned", 0),
    ("vodafone", "DE-4713"): ("in_service", 1),
    ("telefonica", "DE-4714"): ("in_service", 1),
}


def test_a_register_of_several_operators_loads_each_row_for_its_operator(conn, tmp_path, register):
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"], register["readme"])
    sid, status, report = imp(conn, path, tmp_path, register["profile"])
    assert status == "loaded", report.problems
    assert report.ignored == ["readme.txt (documentation)"]
    assert sites(conn) == EXPECTED
    assert report.counts["mobile-sites"] == {"created": 5, "updated": 0, "retired": 0, "unchanged": 0}
    # the submission is the delivering operator's; each asset names its own operator and the submission
    subs = conn.execute("SELECT DISTINCT submission_id::text AS s FROM assets").fetchall()
    assert [r["s"] for r in subs] == [str(sid)]
    _, status, report = imp(conn, path, tmp_path, register["profile"])
    assert status == "loaded" and report.changes == 0


def test_a_partner_key_writes_only_its_own_operators_rows(conn, tmp_path, register):
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"])
    with access.acting_as(access.Caller("partner", "telekom")):
        _, status, report = imp(conn, path, tmp_path, register["profile"], operator="telekom")
    assert status == "rejected"
    named = sorted((p["layer"], p["index"], p["id"]) for p in report.problems if p["field"] == "operator")
    assert named == [("standorte", 1, "DE-4712"), ("standorte", 3, "DE-4713"), ("standorte", 4, "DE-4714")]
    assert all("delivers only for 'telekom'" in p["reason"] for p in report.problems)
    assert n_assets(conn) == 0
    # a planner may load the same register
    with access.acting_as(access.Caller("planner")):
        _, status, report = imp(conn, path, tmp_path, register["profile"], operator="city")
    assert status == "loaded", report.problems
    assert sites(conn) == EXPECTED


def test_an_unregistered_operator_in_the_column_is_named(conn, tmp_path, register):
    text = REGISTER + 'DE-4715;1&1;Dach Bahnhof;Dach;in Betrieb;"49.6330,8.3600"\n'
    register["standorte"].write_text(text, encoding="utf-8")
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"])
    _, status, report = imp(conn, path, tmp_path, register["profile"])
    assert status == "rejected"
    (p,) = report.problems
    assert (p["layer"], p["index"], p["id"], p["field"]) == ("standorte", 5, "DE-4715", "operator")
    assert p["reason"] == "unknown operator '1&1'; registered: city, telco, telefonica, telekom, vodafone"
    assert n_assets(conn) == 0


def test_sectors_of_a_site_shared_by_operators_need_the_operator_column(conn, tmp_path, register):
    register["profile"].write_text(
        PROFILE.replace("{sectors_optional}", "").replace(
            "    site: standort-nr\n    operator: {column: betreiber, map: {Telekom: telekom, Vodafone: vodafone, "
            "Telefonica: telefonica}}\n",
            "    site: standort-nr\n",
        ),
        encoding="utf-8",
    )
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"])
    _, status, report = imp(conn, path, tmp_path, register["profile"])
    assert status == "rejected"
    (p,) = report.problems
    assert (p["layer"], p["index"], p["id"]) == ("sektoren", 3, "DE-4713")
    assert "delivered for operators telekom, vodafone" in p["reason"]


# ---------------------------------------------------------------- tables the profile maps but the delivery lacks


def test_a_zip_without_its_sectors_file_is_an_error_and_writes_nothing(conn, tmp_path, register):
    """The issue's case: a zip without its sectors file used to empty every site's sectors ("785 updated")."""
    full = zipped(tmp_path, "full.zip", register["standorte"], register["sektoren"])
    _, status, _ = imp(conn, full, tmp_path, register["profile"])
    assert status == "loaded"
    before = conn.execute("SELECT id, version, attributes FROM assets ORDER BY id").fetchall()
    partial = zipped(tmp_path, "partial.zip", register["standorte"], register["readme"])
    _, status, report = imp(conn, partial, tmp_path, register["profile"])
    assert status == "rejected"
    (p,) = report.problems
    assert (p["layer"], p["field"], p["type"]) == ("sektoren", "layer", "missing_layer")
    assert "maps layer 'sektoren' (sectors) but the delivery has no such layer" in p["reason"]
    assert "optional: true" in p["reason"]
    assert conn.execute("SELECT id, version, attributes FROM assets ORDER BY id").fetchall() == before


def test_an_optional_sectors_table_left_out_keeps_the_registered_sectors(conn, tmp_path, register):
    full = zipped(tmp_path, "full.zip", register["standorte"], register["sektoren"])
    assert imp(conn, full, tmp_path, register["profile"])[1] == "loaded"
    register["profile"].write_text(PROFILE.replace("{sectors_optional}", "optional: true"), encoding="utf-8")
    # the register again, one site renamed, without the sectors file
    register["standorte"].write_text(REGISTER.replace("Wasserturm", "Wasserturm Nord"), encoding="utf-8")
    partial = zipped(tmp_path, "partial.zip", register["standorte"])
    _, status, report = imp(conn, partial, tmp_path, register["profile"])
    assert status == "loaded", report.problems
    assert report.counts["mobile-sites"] == {"created": 0, "updated": 1, "retired": 0, "unchanged": 4}
    assert any("keep their registered antennas" in n for n in report.notes), report.notes
    assert sites(conn) == EXPECTED  # every site still has its sectors (as antennas with their cells)


def test_registry_template_sites_without_the_sectors_file_keep_their_sectors(conn, tmp_path):
    """The built-in profile marks every layer optional; a sites-only delivery never empties sectors."""
    s = tmp_path / "mobile-sites.csv"
    s.write_text("external_id,name,status,structure,lon,lat\nS1,Mast 1,in_service,mast,8.33,49.58\n")
    sec = tmp_path / "sectors.csv"
    sec.write_text(
        "site_id;sector;technology;band;frequency_mhz;azimuth_deg;height_m;eirp_dbm;bandwidth_mhz\n"
        "S1;1;LTE;B20;806;0;30;60;10\nS1;2;NR;n78;3600;120;30;65;100\n"
    )
    assert imp(conn, zipped(tmp_path, "a.zip", s, sec), tmp_path, None, operator="telco")[1] == "loaded"
    _, status, report = imp(conn, s, tmp_path, None, operator="telco")
    assert status == "loaded" and report.changes == 0, report.to_json()
    n = conn.execute("SELECT count(*) AS n FROM radio_cells WHERE site_external_id = 'S1'").fetchone()["n"]
    assert n == 2
    ops = conn.execute("SELECT attributes -> 'operators' AS o FROM assets WHERE external_id = 'S1'").fetchone()["o"]
    assert ops == ["telco"]  # the site's operators are not recomputed (emptied) without the child tables


# ---------------------------------------------------------------- the command line


def cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(tmp_path / "home")}
    exe = str(Path(sys.executable).parent / "netzatlas")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300)


def test_import_json_prints_exactly_one_json_document(conn, db_url, tmp_path, register):
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"], register["readme"])
    args = ("import", str(path), "--operator", "city", "--profile", str(register["profile"]), "--json")
    r = cli(db_url, tmp_path, *args, "--dry-run")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole of stdout is one document
    assert doc["valid"] is True and doc["counts"]["mobile-sites"]["created"] == 5
    assert doc["ignored"] == ["readme.txt (documentation)"]
    assert "dry run: validated" in r.stderr and "None" not in r.stderr + r.stdout
    assert n_assets(conn) == 0
    # rejected: the report on stdout, the error line on stderr, exit status 1
    register["profile"].write_text(PROFILE.replace("{sectors_optional}", "").replace("sektoren", "sektor"))
    partial = zipped(tmp_path, "partial.zip", register["standorte"])
    r = cli(
        db_url, tmp_path, "import", str(partial), "--operator", "city", "--profile", str(register["profile"]), "--json"
    )
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["valid"] is False and doc["problem_counts"] == {"missing_layer": 1}
    assert "rejected" in r.stderr
    # an import that cannot start: still one JSON document
    r = cli(db_url, tmp_path, "import", str(partial), "--operator", "nobody", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"].startswith("unknown operator 'nobody'; registered: ")


def test_dry_run_text_output_names_no_submission(conn, db_url, tmp_path, register):
    lines = [REGISTER.splitlines()[0]] + [
        f'X-{i};Telekom;Mast {i};Laterne;in Betrieb;"49.63,8.36"' for i in range(60)
    ]  # 60 unknown structure codes: more than the 50 listed
    register["standorte"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = zipped(tmp_path, "register.zip", register["standorte"], register["sektoren"])
    r = cli(
        db_url, tmp_path, "import", str(path), "--operator", "city", "--profile", str(register["profile"]), "--dry-run"
    )
    assert r.returncode == 1
    assert "None" not in r.stdout + r.stderr
    assert "15 more; `--json` lists them" in r.stdout  # 60 structure codes + 5 sectors without their site
    assert "attributes.structure" in r.stdout  # whole field names
