"""The registry's write path: history of every version, as-of reads, no deletes, uniqueness, locking."""

import datetime as dt
import time

import psycopg
import pytest

from netzatlas.db import set_actor
from netzatlas.registry import service
from netzatlas.registry.service import AssetInput, DuplicateExternalId, StaleVersion
from netzatlas.registry.validation import ValidationError


def sensor(external_id: str = "s-1", x: float = 455000.0, **kw) -> AssetInput:
    return AssetInput(
        kind="sensors",
        operator="city",
        external_id=external_id,
        geometry={"type": "Point", "coordinates": [x, 5495000.0]},
        name=kw.pop("name", "Noise sensor"),
        status=kw.pop("status", "planned"),
        attributes=kw.pop("attributes", {"sensor_type": "noise", "connectivity": "lorawan"}),
        **kw,
    )


def test_create_update_retire_keep_every_version(conn: psycopg.Connection):
    # the actor is set per transaction, as the CLI and the API do
    with conn.transaction():
        set_actor(conn, "alice")
        a = service.create(conn, sensor())
    assert a["version"] == 1 and a["municipality"] == "09999000" and a["sensitivity"] == "public"
    t1 = conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
    time.sleep(0.01)
    with conn.transaction():
        set_actor(conn, "bob")
        b = service.update(conn, a["id"], 1, {"status": "in_service", "name": "Noise sensor Markt"})
    assert b["version"] == 2 and b["status"] == "in_service"
    t2 = conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
    time.sleep(0.01)
    with conn.transaction():
        set_actor(conn, "carol")
        c = service.retire(conn, a["id"], 2)
    assert c["version"] == 3 and c["retired_at"] is not None

    hist = service.history(conn, a["id"])
    assert [(h["version"], h["operation"], h["actor"]) for h in hist] == [
        (1, "create", "alice"),
        (2, "update", "bob"),
        (3, "retire", "carol"),
    ]
    assert hist[0]["status"] == "planned" and hist[0]["valid_to"] == hist[1]["valid_from"]
    assert hist[2]["valid_to"] is None

    assert service.get(conn, a["id"], as_of=t1)["status"] == "planned"
    assert service.get(conn, a["id"], as_of=t2)["name"] == "Noise sensor Markt"
    with pytest.raises(service.NotFound):
        service.get(conn, a["id"], as_of=t1 - dt.timedelta(hours=1))
    # retired, not deleted: the row is still there
    assert service.get(conn, a["id"])["retired_at"] is not None
    with pytest.raises(service.Conflict):
        service.update(conn, a["id"], 3, {"name": "again"})


def test_as_of_reads_geometry_and_attributes_of_the_time(conn: psycopg.Connection):
    a = service.create(conn, sensor())
    t1 = conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
    time.sleep(0.01)
    service.update(
        conn,
        a["id"],
        1,
        {
            "geometry": {"type": "Point", "coordinates": [456000.0, 5496000.0]},
            "attributes": {"sensor_type": "weather", "connectivity": "nbiot"},
        },
    )
    old = service.get(conn, a["id"], as_of=t1)
    assert old["geometry"]["coordinates"] == [455000.0, 5495000.0]
    assert old["attributes"] == {"sensor_type": "noise", "connectivity": "lorawan"}
    assert service.get(conn, a["id"])["attributes"]["sensor_type"] == "weather"


def test_nothing_is_deleted(conn: psycopg.Connection):
    a = service.create(conn, sensor())
    with pytest.raises(psycopg.errors.RestrictViolation, match="retired, never deleted"):
        conn.execute("DELETE FROM assets WHERE id = %s", (a["id"],))
    assert service.get(conn, a["id"])["version"] == 1


def test_duplicate_external_id_per_operator_and_kind_refused(conn: psycopg.Connection):
    service.create(conn, sensor("dup"))
    with pytest.raises(DuplicateExternalId, match="'dup' already exists for operator 'city'"):
        service.create(conn, sensor("dup", x=455500.0))
    # the same external id is fine for another operator or another kind
    other = sensor("dup")
    other.operator = "telco"
    service.create(conn, other)
    service.create(
        conn,
        AssetInput(
            kind="actuators",
            operator="city",
            external_id="dup",
            geometry={"type": "Point", "coordinates": [455000.0, 5495000.0]},
            attributes={"actuator_type": "barrier", "connectivity": "lte"},
        ),
    )
    assert conn.execute("SELECT count(*) AS n FROM assets WHERE external_id = 'dup'").fetchone()["n"] == 3


def test_stale_version_refused(conn: psycopg.Connection):
    a = service.create(conn, sensor())
    service.update(conn, a["id"], 1, {"name": "first writer"})
    with pytest.raises(StaleVersion, match="is at version 2, not 1"):
        service.update(conn, a["id"], 1, {"name": "second writer"})
    with pytest.raises(StaleVersion):
        service.retire(conn, a["id"], 1)
    current = service.get(conn, a["id"])
    assert current["name"] == "first writer" and current["version"] == 2
    assert len(service.history(conn, a["id"])) == 2


def test_invalid_asset_writes_nothing(conn: psycopg.Connection):
    with pytest.raises(ValidationError, match=r"attributes\.sensor_type: unknown code"):
        service.create(conn, sensor(attributes={"sensor_type": "nope", "connectivity": "lorawan"}))
    with pytest.raises(ValidationError, match="geometry: lies in no registered municipality"):
        service.create(conn, sensor(x=100.0))
    assert conn.execute("SELECT count(*) AS n FROM asset_history").fetchone()["n"] == 0


def test_geometry_in_another_crs_is_transformed(conn: psycopg.Connection):
    # EPSG:4326 lat/lon of a point inside the test square (UTM 32N around 455000/5495000)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(455000.0, 5495000.0)
    a = service.create(
        conn,
        AssetInput(
            kind="sensors",
            operator="city",
            external_id="wgs",
            geometry={"type": "Point", "coordinates": [lon, lat]},
            crs=4326,
            attributes={"sensor_type": "noise", "connectivity": "wifi"},
        ),
    )
    x, y = a["geometry"]["coordinates"]
    assert abs(x - 455000.0) < 0.01 and abs(y - 5495000.0) < 0.01


def test_upsert_is_idempotent_and_versions_only_changes(conn: psycopg.Connection):
    outcome, a = service.upsert(conn, sensor())
    assert outcome == "created"
    outcome, b = service.upsert(conn, sensor())
    assert outcome == "unchanged" and b["version"] == 1
    outcome, c = service.upsert(conn, sensor(status="in_service"))
    assert outcome == "updated" and c["version"] == 2 and c["id"] == a["id"]
