"""Set-based integrity (migration 0005): references checked and history written once per statement,
with the guarantees of declared foreign keys and of the per-row history they replace."""

import numpy as np
import psycopg
import pytest
import shapely

from netzatlas import db
from netzatlas.coverage.grid import cell_polygons, id_to_key
from netzatlas.registry import service
from netzatlas.registry.service import AssetInput
from netzatlas.registry.validation import ValidationError

INSERT = """INSERT INTO assets (kind, municipality, operator, external_id, status, sensitivity, geom)
            VALUES ('sensors', '09999000', %s, %s, 'planned', 'public',
                    ST_SetSRID(ST_MakePoint(455000, 5495000), 25832))"""


def _sensor(operator: str = "city", external_id: str = "s-1") -> AssetInput:
    return AssetInput(
        kind="sensors",
        operator=operator,
        external_id=external_id,
        geometry={"type": "Point", "coordinates": [455000.0, 5495000.0]},
        attributes={"sensor_type": "noise", "connectivity": "lorawan"},
    )


def test_a_reference_to_nothing_is_refused_and_named(conn: psycopg.Connection):
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as e:
        conn.execute(INSERT, ("nobody", "x-1"))
    assert e.value.diag.constraint_name == "assets_operator_ref"
    assert "Key (operator)=(nobody) is not present" in e.value.diag.message_detail
    # the write service turns it into a validation error naming the field
    with pytest.raises(ValidationError) as v:
        service.create(conn, _sensor(operator="nobody"))
    assert "operator" in str(v.value)
    assert conn.execute("SELECT count(*) AS n FROM assets").fetchone()["n"] == 0


def test_a_referenced_parent_cannot_go(conn: psycopg.Connection):
    conn.execute(INSERT, ("city", "x-1"))
    for sql in (
        "DELETE FROM operators WHERE id = 'city'",
        "UPDATE operators SET id = 'town' WHERE id = 'city'",
        "TRUNCATE operators CASCADE",
    ):
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=r"still referenced|violates reference"):
            conn.execute(sql)
    # an operator nothing refers to can go, and renaming a column that is no key is no removal
    conn.execute("UPDATE operators SET name = 'Stadt' WHERE id = 'city'")
    conn.execute("DELETE FROM operators WHERE id = 'telco'")
    assert {r["id"] for r in conn.execute("SELECT id FROM operators")} == {"city"}


def test_an_uncommitted_reference_holds_its_parent(conn: psycopg.Connection, db_url: str):
    """As a declared foreign key does: the parent row is locked until the referencing transaction ends."""
    with db.connect(db_url) as writer, db.connect(db_url, autocommit=True) as other:
        writer.execute(INSERT, ("telco", "x-1"))  # open transaction
        other.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("DELETE FROM operators WHERE id = 'telco'")
        writer.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            other.execute("DELETE FROM operators WHERE id = 'telco'")


def test_one_statement_changing_many_assets_writes_one_version_each(conn: psycopg.Connection):
    ids = [service.create(conn, _sensor(external_id=f"s-{i}"))["id"] for i in range(3)]
    conn.execute(
        """UPDATE assets SET version = version + 1,
                  status = CASE WHEN external_id = 's-0' THEN 'in_service' ELSE status END,
                  retired_at = CASE WHEN external_id = 's-0' THEN NULL ELSE now() END
           WHERE kind = 'sensors'"""
    )
    rows = conn.execute(
        """SELECT external_id, version, operation, valid_to IS NULL AS open FROM asset_history
           WHERE id = ANY(%s) ORDER BY external_id, version""",
        (ids,),
    ).fetchall()
    assert [(r["external_id"], r["version"], r["operation"], r["open"]) for r in rows] == [
        ("s-0", 1, "create", False),
        ("s-0", 2, "update", True),
        ("s-1", 1, "create", False),
        ("s-1", 2, "retire", True),
        ("s-2", 1, "create", False),
        ("s-2", 2, "retire", True),
    ]


def test_deleting_a_run_takes_its_results_and_cells_need_their_polygon(conn: psycopg.Connection):
    run = conn.execute(
        """INSERT INTO coverage_runs (analysis, municipality, parameters, status)
           VALUES ('fiber', '09999000', '{}', 'succeeded') RETURNING id"""
    ).fetchone()["id"]
    cell = "CRS3035RES100mN2950800E4200300"
    conn.execute("DELETE FROM inspire_cells WHERE id = %s", (cell,))  # other tests' runs may have registered it
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="coverage_cells_cell_id_ref"):
        conn.execute(
            "INSERT INTO coverage_cells (run_id, analysis, cell_id, buildings) VALUES (%s, 'fiber', %s, 1)", (run, cell)
        )
    conn.execute("INSERT INTO inspire_cells (id) VALUES (%s)", (cell,))
    conn.execute(
        "INSERT INTO coverage_cells (run_id, analysis, cell_id, buildings) VALUES (%s, 'fiber', %s, 1)", (run, cell)
    )
    conn.execute(
        """INSERT INTO coverage_buildings (run_id, building_id, passed, connected, planned, cell_id)
           VALUES (%s, 1, true, false, false, %s)""",
        (run, cell),
    )
    conn.execute("DELETE FROM coverage_runs WHERE id = %s", (run,))
    for table in ("coverage_cells", "coverage_buildings"):
        assert conn.execute(f"SELECT count(*) AS n FROM {table} WHERE run_id = %s", (run,)).fetchone()["n"] == 0
    # the stored polygon is the one the engine computes in memory
    stored = shapely.from_wkb(
        bytes(conn.execute("SELECT ST_AsBinary(geom) AS g FROM inspire_cells WHERE id = %s", (cell,)).fetchone()["g"])
    )
    ours = cell_polygons(np.array([id_to_key(cell)]))[0]
    assert shapely.equals_exact(shapely.normalize(stored), shapely.normalize(ours), tolerance=1e-6)
    assert abs(stored.area - 10_000) < 10  # 100 m x 100 m; the two projections differ in scale by under 0.1 %
