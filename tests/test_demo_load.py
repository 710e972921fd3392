"""`demo load` is deterministic (same counts and checksums in two databases) and idempotent."""

from netzatlas import db, migrate
from netzatlas.demo import load as demo

from .conftest import TABLES, make_database


def _load_and_sum(url: str) -> tuple[dict, dict, int]:
    with db.transaction(url, actor=demo.DEMO_ACTOR) as conn:
        changes = demo.load(conn)
        sums = demo.checksum(conn)
        versions = conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"]
    return changes, sums, versions


def test_demo_load_is_deterministic_and_idempotent(db_url: str):
    with db.connect(db_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} CASCADE")
    first, sums1, versions1 = _load_and_sum(db_url)
    assert first["assets"] == {"created": sums1["assets"]["count"]}
    assert sums1["districts"]["count"] == 14
    assert sums1["population_cells"]["count"] == 306
    assert 15_000 < sums1["buildings"]["count"] < 20_000

    again, sums2, versions2 = _load_and_sum(db_url)
    assert again == {
        "population_cells_changed": 0,
        "buildings_changed": 0,
        "assets": {"unchanged": sums1["assets"]["count"]},
    }
    assert sums2 == sums1
    assert versions2 == versions1  # no new versions in the history

    other = "netzatlas_test_demo_twin"
    url = make_database(other)
    try:
        migrate.upgrade(url)
        _, sums3, _ = _load_and_sum(url)
        assert sums3 == sums1  # a second database gets the very same content
    finally:
        db.drop_database(other)

    with db.connect(db_url) as conn:
        counts = {r["kind"]: r["n"] for r in conn.execute("SELECT kind, count(*) AS n FROM assets GROUP BY kind")}
        sectors = conn.execute("SELECT count(*) AS n, count(DISTINCT site_id) AS sites FROM radio_cells").fetchone()
        sens = {r["sensitivity"] for r in conn.execute("SELECT DISTINCT sensitivity FROM assets")}
        statuses = {r["status"] for r in conn.execute("SELECT DISTINCT status FROM assets")}
        pop = conn.execute(
            "SELECT sum(c.population) AS p FROM population_cells c JOIN municipalities m "
            "ON ST_Contains(m.boundary, ST_Centroid(c.geom))"
        ).fetchone()["p"]
    assert 30 <= counts["mobile-sites"] <= 60 and sectors["n"] == 3 * counts["mobile-sites"]
    assert 180 <= counts["sensors"] <= 220 and 80 <= counts["actuators"] <= 120 and 3 <= counts["iot-gateways"] <= 10
    assert sens == {"public", "internal", "critical"}
    assert {"planned", "in_service", "under_construction"} <= statuses
    assert pop == 79_091
