"""A delivery never lowers a sensitivity by leaving it out, and a partner cannot lower it at all."""

from __future__ import annotations

from pathlib import Path

import psycopg

from netzatlas import db
from netzatlas.importers.deliveries import run_import
from netzatlas.registry import access

from . import import_helpers as h


def _deliver(conn: psycopg.Connection, tmp_path: Path, name: str, sensitivity: list[str] | None = None, **kw):
    geoms, cols = h.routes(6, changed={0} if name == "changed" else set())
    if sensitivity is not None:
        cols["sensitivity"] = sensitivity
    d = tmp_path / name
    d.mkdir()
    path = h.delivery("gpkg", d, route_set=(geoms, cols))
    return run_import(path, "telco", None, url=kw.pop("url", conn.info.dsn), home=tmp_path / "home", **kw)


def _levels(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT external_id, sensitivity FROM assets WHERE kind = 'fiber-routes'").fetchall()
    return {r["external_id"]: r["sensitivity"] for r in rows}


def test_left_out_keeps_the_registered_sensitivity(conn, tmp_path):
    _sid, status, report = _deliver(conn, tmp_path, "first")
    assert status == "loaded", report.to_json()
    default = _levels(conn)["R-00000"]
    conn.execute("UPDATE assets SET sensitivity = 'critical', version = version + 1 WHERE external_id = 'R-00000'")
    _sid, status, report = _deliver(conn, tmp_path, "changed")  # no sensitivity column, a changed name
    assert status == "loaded" and report.counts["fiber-routes"]["updated"] == 1, report.to_json()
    levels = _levels(conn)
    assert levels["R-00000"] == "critical" and levels["R-00001"] == default


def test_a_partner_cannot_lower_it_and_nothing_is_written(conn, tmp_path):
    _deliver(conn, tmp_path, "first")
    conn.execute("UPDATE assets SET sensitivity = 'critical', version = version + 1 WHERE external_id = 'R-00002'")
    before = conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"]
    lowered = ["public"] * 6
    with access.acting_as(access.for_role("partner", "telco")):
        _sid, status, report = _deliver(conn, tmp_path, "lowered", lowered, url=db.app_url(conn.info.dsn))
    assert status == "rejected"
    named = {p["id"]: p["reason"] for p in report.problems if p["field"] == "sensitivity"}
    assert len(named) == 6  # every route: internal (the kind's default) or critical, now public
    assert "lowered from critical to public" in named["R-00002"]
    assert _levels(conn)["R-00002"] == "critical"
    assert conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"] == before
    # the CLI (the system) may lower it
    _sid, status, report = _deliver(conn, tmp_path, "cli", lowered)
    assert status == "loaded", report.to_json()
    assert set(_levels(conn).values()) == {"public"}
