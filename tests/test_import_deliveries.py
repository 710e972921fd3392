"""Deliveries end to end against the real registry: formats, all-or-nothing, idempotence, updates, retiring."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from netzatlas.importers.deliveries import get_submission, run_import
from netzatlas.importers.files import sha256_of

from . import import_helpers as h

FORMATS = ("gpkg", "shapefile", "geojson", "flatgeobuf", "kml", "csv")


def state(conn: psycopg.Connection) -> list[tuple]:
    return [
        tuple(r.values())
        for r in conn.execute(
            """SELECT kind, external_id, name, status, attributes::text, version,
                      ST_AsText(ST_SnapToGrid(geom, 0.05)) AS g
               FROM assets WHERE retired_at IS NULL ORDER BY kind, external_id"""
        ).fetchall()
    ]


def imp(conn: psycopg.Connection, path: Path, tmp_path: Path, **kw):
    url = conn.info.dsn
    return run_import(path, kw.pop("operator", "telco"), kw.pop("profile", None), url=url, home=tmp_path / "home", **kw)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_the_same_state(conn, tmp_path, fmt):
    reference_dir = tmp_path / "ref"
    reference_dir.mkdir()
    _sid, status, report = imp(conn, h.delivery("gpkg", reference_dir), tmp_path)
    assert status == "loaded", report.to_json()
    expected = state(conn)
    assert len(expected) == 10
    conn.execute("TRUNCATE asset_history, assets, submissions CASCADE")
    d = tmp_path / fmt
    d.mkdir()
    _sid, status, report = imp(conn, h.delivery(fmt, d), tmp_path)
    assert status == "loaded", report.to_json()
    assert report.counts == {
        "fiber-routes": {"created": 6, "updated": 0, "retired": 0, "unchanged": 0},
        "network-nodes": {"created": 4, "updated": 0, "retired": 0, "unchanged": 0},
    }
    assert state(conn) == expected


def test_one_bad_feature_writes_nothing_and_is_named(conn, tmp_path):
    path = h.delivery("gpkg", tmp_path, route_set=h.routes(500, bad=317))
    sid, status, report = imp(conn, path, tmp_path)
    assert status == "rejected"
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0
    assert report.problem_counts == {"unknown_code": 1}
    (p,) = report.problems
    assert (p["layer"], p["index"], p["id"], p["field"]) == ("fiber-routes", 317, "R-00317", "attributes.route_type")
    assert "unknown code 'bogus'" in p["reason"]
    row = get_submission(conn, sid)
    assert row["status"] == "rejected" and row["report"]["problems"][0]["index"] == 317


def test_same_delivery_twice_changes_nothing_and_a_modified_one_versions_exactly_the_changes(conn, tmp_path):
    path = h.delivery("gpkg", tmp_path)
    sid1, status, report = imp(conn, path, tmp_path)
    assert status == "loaded" and report.changes == 10
    history = conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"]
    sid2, status, report = imp(conn, path, tmp_path)
    assert status == "loaded" and report.changes == 0
    assert report.summary() == "no changes: the registry already holds this delivery"
    assert conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"] == history
    # the file and its hash are kept with the submission; unchanged assets keep the submission that wrote them
    row = get_submission(conn, sid2)
    kept = tmp_path / "home" / "submissions" / str(sid2) / path.name
    assert kept.exists() and row["sha256"] == sha256_of(path) and row["status"] == "loaded"
    assert {r["submission_id"] for r in conn.execute("SELECT submission_id FROM assets")} == {sid1}
    # modify two routes
    d = tmp_path / "v2"
    d.mkdir()
    path2 = h.delivery("gpkg", d, route_set=h.routes(changed={1, 4}))
    sid3, status, report = imp(conn, path2, tmp_path, actor="partner:test")
    assert report.counts["fiber-routes"] == {"created": 0, "updated": 2, "retired": 0, "unchanged": 4}
    rows = conn.execute("SELECT external_id, version, submission_id FROM assets WHERE version > 1").fetchall()
    assert sorted(r["external_id"] for r in rows) == ["R-00001", "R-00004"]
    assert {r["version"] for r in rows} == {2} and {r["submission_id"] for r in rows} == {sid3}
    actors = conn.execute("SELECT DISTINCT actor FROM asset_history WHERE version = 2").fetchall()
    assert [a["actor"] for a in actors] == ["partner:test"]


def test_removed_features_are_retired_not_deleted(conn, tmp_path):
    imp(conn, h.delivery("gpkg", tmp_path), tmp_path)
    geoms, cols = h.nodes()
    cols["removed"] = [1, 0, 0, 0]
    d = tmp_path / "v2"
    d.mkdir()
    p = d / "network-nodes.gpkg"
    h.write_layer(p, "network-nodes", geoms, cols, "GPKG")
    _, _status, report = imp(conn, p, tmp_path)
    assert report.counts["network-nodes"] == {"created": 0, "updated": 0, "retired": 1, "unchanged": 3}
    row = conn.execute("SELECT retired_at, version FROM assets WHERE external_id = 'N-000'").fetchone()
    assert row["retired_at"] is not None and row["version"] == 2
    _, _status, report = imp(conn, p, tmp_path)
    assert report.changes == 0


def test_dry_run_counts_without_writing(conn, tmp_path):
    sid, status, report = imp(conn, h.delivery("gpkg", tmp_path), tmp_path, dry_run=True)
    assert sid is None and status == "validated"
    assert report.counts["fiber-routes"]["created"] == 6
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_sectors_table_maps_onto_sites(conn, tmp_path):
    sites = tmp_path / "mobile-sites.csv"
    sites.write_text(
        "external_id,name,status,structure,lon,lat\nS1,Mast 1,in_service,mast,8.33,49.58\n", encoding="utf-8"
    )
    sectors = tmp_path / "sectors.csv"
    header = "site_id;sector;technology;band;frequency_mhz;azimuth_deg;height_m;eirp_dbm;bandwidth_mhz\n"
    sectors.write_text(
        header + "S1;1;LTE;B20;806;0;30;60;10\nS1;2;NR;n78;3600;120;30;65;100\nS9;1;LTE;B3;1800;0;30;60;20\n",
        encoding="utf-8",
    )
    zipped = h.zip_files(tmp_path / "sites.zip", [sites, sectors])
    _, status, report = imp(conn, zipped, tmp_path)
    assert status == "rejected"
    assert [(p["layer"], p["index"], p["field"]) for p in report.problems] == [("sectors", 2, "site_id")]
    # a problem in a sector names the sector's own row, not the site's
    sectors.write_text(header + "S1;1;LTE;B20;806;0;30;60;10\nS1;2;NR;n99;3600;400;30;65;100\n", encoding="utf-8")
    _, status, report = imp(conn, h.zip_files(tmp_path / "sites1.zip", [sites, sectors]), tmp_path)
    assert status == "rejected"
    assert sorted((p["layer"], p["index"], p["id"], p["field"]) for p in report.problems) == [
        ("sectors", 1, "S1/2", "attributes.azimuth_deg"),
        ("sectors", 1, "S1/2", "attributes.band"),
    ]
    sectors.write_text(header + "S1;1;LTE;B20;806;0;30;60;10\nS1;2;NR;n78;3600;120;30;65;100\n", encoding="utf-8")
    zipped = h.zip_files(tmp_path / "sites2.zip", [sites, sectors])
    _, status, report = imp(conn, zipped, tmp_path)
    assert status == "loaded", report.to_json()
    rows = conn.execute(
        "SELECT antenna_id, cell_id, band, azimuth_deg FROM radio_cells WHERE site_external_id = 'S1' "
        "ORDER BY antenna_id"
    ).fetchall()
    assert [(r["band"], r["azimuth_deg"]) for r in rows] == [("B20", 0), ("n78", 120)]  # a sector: antenna + cell


def test_template_round_trip(conn, tmp_path):
    """A filled-in registry template imports with the built-in profile."""
    import pyogrio

    from netzatlas.importers.templates import write_template

    p = write_template("network-nodes", "gpkg", tmp_path / "t.gpkg")
    info = pyogrio.read_info(p)
    geoms, cols = h.nodes()
    assert set(cols) <= set(info["fields"])
    filled = tmp_path / "filled.gpkg"
    h.write_layer(filled, "network-nodes", geoms, cols, "GPKG")
    _, status, report = imp(conn, filled, tmp_path)
    assert status == "loaded" and report.counts["network-nodes"]["created"] == 4
