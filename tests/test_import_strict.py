"""Deliveries in the shapes partners have, and the silent failures that are now errors naming the problem.

Fixtures are written here in partner shapes: their own column names, `;` delimiters, a readme.txt in the zip,
`objectid` id columns and profiles with misspelt keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from netzatlas.importers.deliveries import ImportError_, run_import
from netzatlas.importers.files import open_delivery
from netzatlas.importers.profiles import PROFILE_DIR, ProfileError, builtin_names, load_profile

from . import import_helpers as h


def imp(conn, path: Path, tmp_path: Path, profile: str | Path | None = None, **kw):
    operator = kw.pop("operator", "telco")
    return run_import(
        path, operator, str(profile) if profile else None, url=conn.info.dsn, home=tmp_path / "home", **kw
    )


def count(conn, sql: str = "SELECT count(*) AS n FROM assets") -> int:
    return conn.execute(sql).fetchone()["n"]


def cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url, "NETZATLAS_HOME": str(tmp_path / "home"), "COLUMNS": "80"}
    exe = str(Path(sys.executable).parent / "netzatlas")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- profiles are read strictly


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_profile_passes_the_strict_check(name):
    """Every profile file shipped (those added later too: the list is read from the directory)."""
    assert load_profile(name).layers


def test_builtin_profile_directory_is_what_builtin_names_lists():
    assert {p.stem for p in PROFILE_DIR.glob("*.yaml")} <= set(builtin_names())


SITES_PROFILE = """\
name: funkstandorte
crs: EPSG:4326
layers:
  - layer: standorte
    target: mobile-sites
    external_id: standort_nr
    name: bezeichnung
    {status_key}: {{field: zustand, map: {{aktiv: in_service, geplant: planned}}}}
    attributes:
      structure: {{field: bauart, map: {{Mast: mast, Dach: rooftop}}}}
"""


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (SITES_PROFILE.format(status_key="stauts"), r"unknown key 'stauts'; did you mean 'status'\?"),
        (SITES_PROFILE.format(status_key="status").replace("crs:", "crss:"), r"unknown key 'crss'; did you mean 'crs'"),
        (
            SITES_PROFILE.format(status_key="status").replace("{field: bauart", "{feld: bauart"),
            r"attributes.structure: unknown key 'feld'; did you mean 'field'",
        ),
        (
            SITES_PROFILE.format(status_key="status").replace("structure:", "strukture:"),
            r"mobile-sites has no attribute 'strukture'; did you mean 'structure'",
        ),
        (
            SITES_PROFILE.format(status_key="status").replace("    name: bezeichnung", "    optinal: true"),
            r"unknown key 'optinal'; did you mean 'optional'",
        ),
        (SITES_PROFILE.format(status_key="status") + "    optional: ja\n", r"optional must be true or false"),
        (
            SITES_PROFILE.format(status_key="status") + "  - layer: sektoren\n    target: sectors\n    standort: x\n",
            r"layer 1 \(sektoren\): unknown key 'standort'; known: layer, target, optional, site",
        ),
    ],
)
def test_unknown_profile_keys_are_errors_naming_the_closest_key(tmp_path, text, expect):
    p = write(tmp_path / "standorte.yaml", text)
    with pytest.raises(ProfileError, match=expect):
        load_profile(p)


def test_a_misspelt_key_writes_nothing_and_the_cli_names_it(conn, tmp_path, db_url):
    """The issue's case: `stauts:` used to leave every site `planned` with "n updated"."""
    profile = write(tmp_path / "standorte.yaml", SITES_PROFILE.format(status_key="stauts"))
    sites = write(
        tmp_path / "standorte.csv", "standort_nr;bezeichnung;zustand;bauart;lat;lon\nF1;Turm;aktiv;Mast;49.63;8.36\n"
    )
    with pytest.raises(ImportError_, match="stauts"):
        imp(conn, sites, tmp_path, profile)
    r = cli(db_url, tmp_path, "import", str(sites), "--operator", "telco", "--profile", str(profile))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unknown key 'stauts'; did you mean 'status'?" in " ".join(r.stderr.split())
    assert count(conn) == 0 and count(conn, "SELECT count(*) AS n FROM submissions") == 0
    # with the key spelt right the same delivery loads, the status mapped
    write(profile, SITES_PROFILE.format(status_key="status"))
    _, status, report = imp(conn, sites, tmp_path, profile)
    assert status == "loaded", report.to_json()
    assert conn.execute("SELECT status FROM assets WHERE external_id = 'F1'").fetchone()["status"] == "in_service"


def test_column_is_another_name_for_field(tmp_path):
    p = write(
        tmp_path / "p.yaml", SITES_PROFILE.format(status_key="status").replace("{field: zustand", "{column: zustand")
    )
    spec = load_profile(p).layers[0].spec["status"]
    assert spec["field"] == "zustand" and "column" not in spec


# ---------------------------------------------------------------- documentation in a zip


def test_documentation_in_a_zip_is_listed_as_ignored(conn, tmp_path):
    d = tmp_path / "pub"
    d.mkdir()
    path = h.delivery("shapefile", d)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(
            "readme.txt", "Netzplan Glasfaser, Stand 03/2025.\nKoordinaten: ETRS89 / UTM 32N, Felder siehe PDF.\n"
        )
        z.writestr("doc/Datenbeschreibung.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        z.writestr("LIESMICH.md", "# Lies mich\n")
        z.writestr("index.html", "<html><body>Lizenz: dl-de/by-2-0</body></html>")
    _, status, report = imp(conn, path, tmp_path)
    assert status == "loaded", report.to_json()
    assert report.ignored == [
        "LIESMICH.md (documentation)",
        "doc/Datenbeschreibung.pdf (documentation)",
        "index.html (documentation)",
        "readme.txt (documentation)",
    ]
    assert report.to_json()["ignored"] == report.ignored
    assert count(conn) == 10


def test_csv_zip_with_a_readme_txt_is_not_mixed_formats(tmp_path):
    sites = write(tmp_path / "sites.csv", "external_id;name;lat;lon\nS1;A;49.63;8.36\n")
    readme = write(tmp_path / "readme.txt", "Standorte, Stand 2025; Spalten: external_id, name, lat, lon\n")
    path = h.zip_files(tmp_path / "sites.zip", [sites, readme])
    with open_delivery(path) as delivery:
        assert delivery.format == "csv" and [s.name for s in delivery.sources] == ["sites.csv"]
        assert delivery.ignored == ["readme.txt (documentation)"]


def test_a_txt_table_alone_in_a_zip_is_still_data(tmp_path):
    table = write(tmp_path / "standorte.txt", "external_id;name;lat;lon\nS1;A;49.63;8.36\n")
    readme = write(tmp_path / "README.txt", "Beschreibung der Spalten\n")
    with open_delivery(h.zip_files(tmp_path / "t.zip", [table, readme])) as delivery:
        assert delivery.format == "csv" and [s.name for s in delivery.sources] == ["standorte.txt"]
        assert delivery.ignored == ["README.txt (documentation)"]


# ---------------------------------------------------------------- usual id columns


def test_buildings_from_an_address_file_with_objectid(conn, tmp_path):
    """An address export as a GIS department hands it out: a zipped shapefile with OBJECTID, STRASSE, HNR and a
    readme.txt; the built-in buildings profile reads OBJECTID as the id."""
    import shapely

    pts = [shapely.Point(452000 + i * 15.5, 5492000 + i * 7.25) for i in range(40)]
    cols = {
        "OBJECTID": list(range(1000, 1040)),
        "STRASSE": ["Hauptstraße"] * 40,
        "HNR": [str(i + 1) for i in range(40)],
    }
    d = tmp_path / "adr"
    d.mkdir()
    h.write_layer(d / "adressen.shp", "adressen", pts, cols, "ESRI Shapefile")
    write(d / "readme.txt", "Adressen der Stadt, Stand 2025. OBJECTID ist die Kennung.\n")
    path = h.zip_files(tmp_path / "adressen.zip", sorted(d.iterdir()))
    _, status, report = imp(conn, path, tmp_path, "buildings", operator="city", municipality=h.TEST_AGS)
    assert status == "loaded", report.to_json()
    assert report.counts["buildings"] == {"changed": 40, "unchanged": 0}
    assert report.ignored == ["readme.txt (documentation)"]
    ids = {r["external_id"] for r in conn.execute("SELECT external_id FROM buildings").fetchall()}
    assert len(ids) == 40 and {"1000", "1039"} <= ids


@pytest.mark.parametrize("column", ["OBJECTID", "oid", "FID", "gml_id", "ID"])
def test_registry_profile_reads_the_usual_id_columns(conn, tmp_path, column):
    path = write(
        tmp_path / "sensors.csv",
        f"{column};name;sensor_type;connectivity;lon;lat\n77;Pegel;water_level;lorawan;8.36;49.63\n",
    )
    _, status, report = imp(conn, path, tmp_path, kind="sensors", dry_run=True)
    assert status == "validated", report.problems
    assert report.counts["sensors"]["created"] == 1


# ---------------------------------------------------------------- operators


def test_unknown_operator_lists_the_registered_ones(conn, tmp_path):
    path = h.delivery("gpkg", tmp_path)
    with pytest.raises(ImportError_) as e:
        imp(conn, path, tmp_path, operator="telekom")
    registered = [r["id"] for r in conn.execute("SELECT id FROM operators ORDER BY id").fetchall()]
    assert "telco" in registered
    assert str(e.value) == f"unknown operator 'telekom'; registered: {', '.join(registered)}"
