"""The registry's asset provider (registry/provider.py): query, get, create, replace, update, retire and the bulk
load, with typed errors, on a real PostGIS; and no module outside the registry writes `assets`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orjson
import psycopg
import pytest
from shapely.geometry import Point

from netzatlas.db import set_actor
from netzatlas.registry import access, columns
from netzatlas.registry.provider import (
    AssetInput,
    AssetProvider,
    Conflict,
    DuplicateExternalId,
    NotFound,
    StaleVersion,
    ValidationError,
)

PACKAGE = Path(__file__).resolve().parents[1] / "netzatlas"


def sensor(external_id: str = "p-1", x: float = 455000.0, **kw) -> AssetInput:
    return AssetInput(
        kind="sensors",
        operator="city",
        external_id=external_id,
        geometry={"type": "Point", "coordinates": [x, 5495000.0]},
        name=kw.pop("name", "Air sensor"),
        attributes=kw.pop("attributes", {"sensor_type": "air_quality", "connectivity": "lorawan"}),
        **kw,
    )


def test_create_get_update_replace_retire(conn: psycopg.Connection):
    assets = AssetProvider(conn)
    with conn.transaction():
        set_actor(conn, "alice")
        a = assets.create(
            sensor(attributes={"sensor_type": "air_quality", "connectivity": "lorawan", "owner_department": "env"})
        )
    assert a["version"] == 1 and a["sensitivity"] == "public"
    assert assets.get(a["id"])["name"] == "Air sensor"
    assert assets.get(str(a["id"]), kind="sensors")["id"] == a["id"]

    # update (PATCH): only the fields given; attributes merged, None removes one
    with conn.transaction():
        set_actor(conn, "bob")
        b = assets.update(
            a["id"], 1, {"status": "in_service", "attributes": {"measured_quantity": "NO2", "owner_department": None}}
        )
    assert b["version"] == 2 and b["status"] == "in_service" and b["name"] == "Air sensor"
    assert b["attributes"] == {"sensor_type": "air_quality", "connectivity": "lorawan", "measured_quantity": "NO2"}

    # replace (PUT): what is left out is reset, the sensitivity is kept
    conn.execute("UPDATE assets SET sensitivity = 'internal', version = version + 1 WHERE id = %s", (a["id"],))
    c = assets.replace(
        a["id"],
        3,
        {
            "attributes": {"sensor_type": "noise", "connectivity": "nbiot"},
            "geometry": Point(8.36, 49.63),
            "crs": 4326,
        },
    )
    assert c["version"] == 4 and c["name"] is None and c["status"] == "planned" and c["sensitivity"] == "internal"
    assert c["attributes"] == {"sensor_type": "noise", "connectivity": "nbiot"}
    with pytest.raises(ValidationError) as e:  # a replacement names every required field
        assets.replace(a["id"], 4, {"attributes": {}})
    assert {p.field for p in e.value.problems} >= {"attributes.sensor_type", "geometry"}

    with conn.transaction():
        set_actor(conn, "carol")
        d = assets.retire(a["id"], 4)
    assert d["version"] == 5 and d["retired_at"] is not None
    with pytest.raises(Conflict):
        assets.update(a["id"], 5, {"name": "again"})
    with pytest.raises(NotFound):  # retired: gone from the current state for a writer
        assets.get(a["id"], retired=False)
    hist = assets.history(a["id"])
    assert [h["version"] for h in hist] == [1, 2, 3, 4, 5]
    assert [h["actor"] for h in hist][:2] == ["alice", "bob"] and hist[-1]["actor"] == "carol"


def test_typed_errors(conn: psycopg.Connection):
    assets = AssetProvider(conn)
    a = assets.create(sensor())
    with pytest.raises(StaleVersion) as e:
        assets.update(a["id"], 7, {"name": "late writer"})
    assert e.value.current == 1
    with pytest.raises(StaleVersion):
        assets.replace(
            a["id"],
            2,
            {"attributes": {"sensor_type": "noise", "connectivity": "none"}, "geometry": Point(455000, 5495000)},
        )
    with pytest.raises(StaleVersion):
        assets.retire(a["id"], 0)
    assert assets.get(a["id"])["version"] == 1  # nothing changed
    with pytest.raises(NotFound):
        assets.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):  # not an id at all
        assets.get("not-a-uuid")
    with pytest.raises(NotFound):  # of another kind
        assets.get(a["id"], kind="actuators")
    with pytest.raises(NotFound):
        assets.update("00000000-0000-0000-0000-000000000000", 1, {"name": "x"})
    with pytest.raises(DuplicateExternalId):
        assets.create(sensor("p-1", x=455500.0))
    with pytest.raises(ValidationError) as v:
        assets.update(a["id"], 1, {"operator": "telco"})
    assert [p.field for p in v.value.problems] == ["operator"]


def test_query_by_fields_and_attributes(conn: psycopg.Connection):
    assets = AssetProvider(conn)
    for i, (t, c) in enumerate([("noise", "lorawan"), ("noise", "fiber"), ("weather", "lorawan")]):
        assets.create(sensor(f"q-{i}", x=455000.0 + 100 * i, attributes={"sensor_type": t, "connectivity": c}))
    gone = assets.create(sensor("q-retired", attributes={"sensor_type": "noise", "connectivity": "none"}))
    assets.retire(gone["id"], 1)

    def ids(rows: list[dict]) -> list[str]:
        return sorted(r["external_id"] for r in rows)

    assert ids(assets.query("sensors", {"sensor_type": "noise"})) == ["q-0", "q-1"]
    assert ids(assets.query("sensors", {"sensor_type": "noise"}, retired=True)) == ["q-0", "q-1", "q-retired"]
    assert ids(assets.query("sensors", {"connectivity": ["fiber", "lorawan"], "operator": "city"})) == [
        "q-0",
        "q-1",
        "q-2",
    ]
    assert ids(assets.query("sensors", bbox=(455050, 5494000, 455250, 5496000))) == ["q-1", "q-2"]
    assert len(assets.query("sensors", {"version": 1}, limit=1)) == 1
    with pytest.raises(ValidationError):
        assets.query("sensors", {"no_such_field": 1})


def test_attribute_sql_follows_the_declared_type():
    assert columns.attribute_sql("t", "fiber-routes", "fibre_count") == "(t.attributes->>'fibre_count')::integer"
    assert columns.attribute_sql("", "iot-gateways", "height_m") == "(attributes->>'height_m')::double precision"
    assert columns.attribute_sql("a", "network-nodes", "node_type") == "(a.attributes->>'node_type')"
    assert columns.children_sql("t", "mobile-sites", "antennas") == "t.attributes->'antennas'"
    with pytest.raises(LookupError):
        columns.attribute_sql("t", "sensors", "fibre_count")
    with pytest.raises(LookupError):
        columns.children_sql("t", "sensors", "antennas")


def _staged(ext: str, x: float, status: str = "planned", removed: bool = False, sensitivity: str | None = None):
    attrs = {} if removed else {"sensor_type": "noise", "connectivity": "lorawan"}
    wkb = None if removed else Point(x, 5495000.0).wkb
    return ("sensors", 0, ext, f"Sensor {ext}", status, sensitivity, None, None, orjson.dumps(attrs).decode(), wkb,
            removed, "09999000", "city", [])  # fmt: skip


def test_bulk_load_follows_the_version_and_history_rules(conn: psycopg.Connection):
    assets = AssetProvider(conn)
    sub = conn.execute("INSERT INTO submissions (operator, status) VALUES ('city', 'received') RETURNING id")
    sid = sub.fetchone()["id"]
    phases: list[str] = []

    def load(rows: list[tuple]) -> object:
        with conn.transaction():
            set_actor(conn, "loader")
            return assets.load({"sensors": rows}, sid, lambda phase, done, total: phases.append(phase))

    first = load([_staged("b-1", 455000.0), _staged("b-2", 455100.0)])
    assert first.written and first.counts == {"sensors": {"created": 2, "updated": 0, "retired": 0, "unchanged": 0}}
    assert phases[0] == "staging" and phases[-1] == "writing"
    b1 = assets.find("sensors", "city", "b-1")
    assert b1["version"] == 1 and b1["submission_id"] == sid and b1["sensitivity"] == "public"  # kind's default

    again = load([_staged("b-1", 455000.0), _staged("b-2", 455100.0)])  # the same delivery changes nothing
    assert again.counts["sensors"] == {"created": 0, "updated": 0, "retired": 0, "unchanged": 2}
    assert assets.find("sensors", "city", "b-1")["version"] == 1

    changed = load([_staged("b-1", 455000.0, status="in_service"), _staged("b-2", 455100.0, removed=True)])
    assert changed.counts["sensors"] == {"created": 0, "updated": 1, "retired": 1, "unchanged": 0}
    hist = assets.history(b1["id"])
    assert [(h["version"], h["status"], h["actor"]) for h in hist] == [
        (1, "planned", "loader"),
        (2, "in_service", "loader"),
    ]
    b2 = assets.find("sensors", "city", "b-2")
    assert b2["version"] == 2 and b2["retired_at"] is not None  # retired, never deleted

    # a retired asset coming back changed is refused, and nothing of the set is written
    refused = load([_staged("b-3", 455200.0), _staged("b-2", 455300.0)])
    assert not refused.written and [(r.reason, r.external_id) for r in refused.refusals] == [("retired", "b-2")]
    assert assets.find("sensors", "city", "b-3") is None

    # a partner may not lower a registered sensitivity
    conn.execute("UPDATE assets SET sensitivity = 'critical', version = version + 1 WHERE id = %s", (b1["id"],))
    with access.acting_as(access.for_role("partner", "city")):
        lowered = load([_staged("b-1", 455000.0, status="in_service", sensitivity="public")])
    assert not lowered.written
    assert [(r.reason, r.was, r.now) for r in lowered.refusals] == [("lowered", "critical", "public")]


# SQL that writes the assets table or one of its partitions
ASSET_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY|MERGE\s+INTO|TRUNCATE)\s+assets(_\w+)?\b")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal of a module, f-strings by their literal parts."""
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_only_the_registry_writes_assets():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "registry"):
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if m := ASSET_WRITE.search(text):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {m.group(0)}")
    assert not offenders, "assets are written only in netzatlas/registry/:\n" + "\n".join(offenders)
    # the check sees the registry's own writes, so it would see them elsewhere
    registry = [t for p in (PACKAGE / "registry").glob("*.py") for _, t in _strings(ast.parse(p.read_text()))]
    assert sum(bool(ASSET_WRITE.search(t)) for t in registry) >= 4
