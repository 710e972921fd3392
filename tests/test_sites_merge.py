"""Shared mobile sites (#11, registry/sites.py): two partners deliver one mast as two sites; `colocated` finds
them, `merge` makes them one site with both operators and every antenna, the source retired with its history;
the refusals; a later delivery of the merged site names the site it went into; the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest
from shapely.geometry import Point

from netzatlas import db
from netzatlas.coverage.mobile import layered_transmitters, load_cells
from netzatlas.db import set_actor
from netzatlas.importers.load import _reason
from netzatlas.registry import access, reference, sites
from netzatlas.registry.kinds import get_kind
from netzatlas.registry.provider import AssetInput, AssetProvider, NotFound, StaleVersion, ValidationError
from netzatlas.registry.validation import check_attributes

from .conftest import TEST_AGS

CLI = [str(Path(sys.executable).parent / "netzatlas")]
X, Y = 455000.0, 5495000.0


@pytest.fixture
def reg(conn: psycopg.Connection) -> psycopg.Connection:
    reference.upsert_operator(conn, "telekom", "Telekom Deutschland", "telecom")
    reference.upsert_operator(conn, "vodafone", "Vodafone", "telecom")
    return conn


def cells(*bands: str) -> list[dict]:
    return [{"cell_id": f"{i + 1}", "band": b} for i, b in enumerate(bands)]


def telekom_site(x: float = X, y: float = Y, ext: str = "T-100", **kw) -> AssetInput:
    """As Telekom delivers it: three sectors with several cells each, and an omnidirectional indoor antenna."""
    antennas = [
        {"antenna_id": f"A{n}", "azimuth_deg": az, "height_m": 30, "cells": cells("B1", "B32", "N78")}
        for n, az in ((1, 0), (2, 120), (3, 240))
    ]
    antennas.append({"antenna_id": "IN1", "omnidirectional": True, "height_m": 3, "cells": cells("B1")})
    return AssetInput(
        kind="mobile-sites",
        operator="telekom",
        external_id=ext,
        geometry=Point(x, y),
        name="Mast Bahnhof",
        status="in_service",
        attributes={"structure": "mast", "height_m": 35, "antennas": antennas},
        **kw,
    )


def vodafone_site(x: float = X + 2.0, y: float = Y, ext: str = "V-7", antenna_ids=("A1", "A2")) -> AssetInput:
    antennas = [
        {"antenna_id": a, "azimuth_deg": 60 + 180 * i, "height_m": 28, "cells": cells("B1", "n78")}
        for i, a in enumerate(antenna_ids)
    ]
    return AssetInput(
        kind="mobile-sites",
        operator="vodafone",
        external_id=ext,
        geometry=Point(x, y),
        name="Bahnhof Nord",
        status="in_service",
        attributes={"antennas": antennas},
    )


def two_partners(conn: psycopg.Connection) -> tuple[dict, dict]:
    """Each partner delivers the same mast with its own key (its own operator), 2 m apart."""
    assets = AssetProvider(conn)
    with conn.transaction():
        set_actor(conn, "partner:telekom")
        t = assets.create(telekom_site())
    with conn.transaction():
        set_actor(conn, "partner:vodafone")
        v = assets.create(vodafone_site())
    return t, v


def test_colocated_sites_of_two_partners_are_found_and_merged(reg: psycopg.Connection):
    t, v = two_partners(reg)
    assets = AssetProvider(reg)
    assets.create(vodafone_site(x=X + 400, ext="V-9"))  # elsewhere
    assets.create(telekom_site(x=X + 3, y=Y + 1, ext="T-101"))  # near, but the same operator as T-100: no pair

    pairs = sites.colocated(reg, TEST_AGS)
    found = {(p["a"]["external_id"], p["b"]["external_id"]) for p in pairs}
    assert {tuple(sorted(f)) for f in found} == {("T-100", "V-7"), ("T-101", "V-7")}
    near = next(p for p in pairs if {p["a"]["id"], p["b"]["id"]} == {str(t["id"]), str(v["id"])})
    assert near["distance_m"] == 2.0 and {near["a"]["operator"], near["b"]["operator"]} == {"telekom", "vodafone"}
    assert {near["a"]["name"], near["b"]["name"]} == {"Mast Bahnhof", "Bahnhof Nord"}
    assert len({p["group"] for p in pairs}) == 1  # T-100, T-101 and V-7 stand at one place
    assert sites.colocated(reg, TEST_AGS, within_m=1.0) == []
    assert sites.colocated(reg, "01001000") == []
    assert len(sites.colocated(reg, within_m=500)) == 4

    with reg.transaction():
        set_actor(reg, "planner:anna")
        out = sites.merge(reg, v["id"], t["id"], {v["id"]: 1, str(t["id"]): 1})
    merged = out["target"]
    assert out["antennas"] == 2 and out["distance_m"] == 2.0
    assert merged["id"] == t["id"] and merged["version"] == 2 and merged["operator"] == "telekom"
    assert merged["attributes"]["operators"] == ["telekom", "vodafone"]
    antennas = {(a["operator"], a["antenna_id"]): a for a in merged["attributes"]["antennas"]}
    assert sorted(antennas) == [("telekom", "A1"), ("telekom", "A2"), ("telekom", "A3"), ("telekom", "IN1"),
                                ("vodafone", "A1"), ("vodafone", "A2")]  # fmt: skip
    assert [c["band"] for c in antennas[("vodafone", "A1")]["cells"]] == ["B1", "n78"]
    assert [c["band"] for c in antennas[("telekom", "A2")]["cells"]] == ["B1", "B32", "n78"]
    assert antennas[("telekom", "IN1")]["omnidirectional"] is True
    assert merged["attributes"]["structure"] == "mast" and merged["name"] == "Mast Bahnhof"

    source = assets.get(v["id"])
    assert source["retired_at"] is not None and source["version"] == 2
    hist = assets.history(v["id"])
    assert [(h["operation"], h["actor"]) for h in hist] == [("create", "partner:vodafone"), ("retire", "planner:anna")]
    assert hist[0]["attributes"]["antennas"][0]["antenna_id"] == "A1"  # the source as it was stays readable
    t_hist = assets.history(t["id"])
    assert [(h["operation"], h["actor"]) for h in t_hist] == [("create", "partner:telekom"), ("update", "planner:anna")]
    assert sites.merged_into(reg, [v["id"], t["id"]]) == {str(v["id"]): str(t["id"])}
    # the radio views see one site with every antenna
    n = reg.execute("SELECT count(*) AS n, count(DISTINCT site_id) AS s FROM radio_cells").fetchone()
    assert (n["n"], n["s"]) == ((3 * 3 + 1 + 2 * 2) + (3 * 3 + 1) + 2 * 2, 3)  # T-100 with V-7; T-101; V-9
    assert sites.colocated(reg, TEST_AGS) == []  # T-100 and T-101 are both Telekom's


def test_merged_and_unmerged_give_the_same_transmitters(reg: psycopg.Connection):
    t, v = two_partners(reg)

    def transmitters() -> list[tuple]:
        cells_, _ = load_cells(reg, TEST_AGS, 5000)
        operators, _, _, _, txs = layered_transmitters(cells_, 0.0)
        return sorted((round(tx.x, 1), round(tx.y), tx.frequency_mhz, tx.band) for tx in txs), operators

    before, ops_before = transmitters()
    sites.merge(reg, v["id"], t["id"])
    after, ops_after = transmitters()
    assert len(before) == len(after) == 4 * 3 - 2 + 2 * 2 and ops_before == ops_after == ["telekom", "vodafone"]
    # the Vodafone cells now stand at the Telekom site's point, 2 m west of where they were delivered
    assert sorted((f, b) for _, _, f, b in before) == sorted((f, b) for _, _, f, b in after)


def test_merge_refusals_name_the_problem(reg: psycopg.Connection):
    t, v = two_partners(reg)
    assets = AssetProvider(reg)
    sensor = assets.create(
        AssetInput(
            kind="sensors",
            operator="city",
            external_id="s-1",
            geometry=Point(X + 1, Y),
            attributes={"sensor_type": "noise", "connectivity": "lorawan"},
        )
    )
    far = assets.create(vodafone_site(x=X + 120, ext="V-8", antenna_ids=("B1",)))
    clash = assets.create(vodafone_site(x=X, y=Y + 3, ext="V-10", antenna_ids=("A1",)))
    telekom_clash = assets.create(telekom_site(x=X + 1, ext="T-102"))

    with pytest.raises(sites.SameSite, match="into itself"):
        sites.merge(reg, t["id"], str(t["id"]))
    with pytest.raises(sites.NotAMobileSite, match=f"source {sensor['id']} is not a mobile site but sensors"):
        sites.merge(reg, sensor["id"], t["id"])
    with pytest.raises(NotFound):
        sites.merge(reg, "00000000-0000-0000-0000-000000000000", t["id"])
    with pytest.raises(NotFound):
        sites.merge(reg, "not-a-uuid", t["id"])
    with pytest.raises(sites.TooFarApart, match=r"120\.0 m apart, more than 50 m") as e:
        sites.merge(reg, far["id"], t["id"])
    assert e.value.reason == "too_far_apart"
    # vodafone/A1 at V-10 and at V-7: the ids that collide are named; Telekom's A1 is another operator's antenna
    with pytest.raises(sites.AntennaCollision, match="vodafone/A1") as e:
        sites.merge(reg, clash["id"], v["id"])
    assert e.value.antennas == [("vodafone", "A1")]
    with pytest.raises(sites.AntennaCollision, match="telekom/A1, telekom/A2, telekom/A3, telekom/IN1"):
        sites.merge(reg, telekom_clash["id"], t["id"])
    with pytest.raises(StaleVersion, match="is at version 1, not 3"):
        sites.merge(reg, v["id"], t["id"], {t["id"]: 3})
    with access.acting_as(access.for_role("partner", "telekom")), pytest.raises(sites.NotAllowed):
        sites.merge(reg, v["id"], t["id"])
    # nothing of the refused merges was written
    assert assets.get(t["id"])["version"] == 1 and assets.get(v["id"])["version"] == 1

    # force merges sites further apart; afterwards the source is retired and refuses further merges
    out = sites.merge(reg, far["id"], t["id"], force=True)
    assert out["distance_m"] == 120.0 and out["target"]["attributes"]["operators"] == ["telekom", "vodafone"]
    with pytest.raises(sites.RetiredSite, match=f"source site {far['id']} \\(vodafone 'V-8'\\) is retired"):
        sites.merge(reg, far["id"], v["id"])
    with pytest.raises(sites.RetiredSite, match="target site"):
        sites.merge(reg, v["id"], far["id"])


def test_merge_refuses_sites_of_two_municipalities(reg: psycopg.Connection):
    from shapely.geometry import box

    # a neighbouring municipality east of the test one; its site stands 10 m across the border
    reference.upsert_municipality(reg, "09999001", "Nachbarort", box(460000, 5490000, 470000, 5500000), "test")
    assets = AssetProvider(reg)
    t = assets.create(telekom_site(x=459995.0))
    v = assets.create(vodafone_site(x=460005.0))
    assert v["municipality"] == "09999001" and t["municipality"] == TEST_AGS
    with pytest.raises(sites.OtherMunicipality, match="municipality 09999001"):
        sites.merge(reg, v["id"], t["id"])


def test_merge_keeps_the_higher_sensitivity(reg: psycopg.Connection):
    assets = AssetProvider(reg)
    t = assets.create(telekom_site())
    v = assets.create(
        AssetInput(**{**vars(vodafone_site()), "sensitivity": "internal"})  # an operator's internal site
    )
    out = sites.merge(reg, v["id"], t["id"])
    assert out["target"]["sensitivity"] == "internal"  # its antennas do not become public by the merge


def test_a_later_delivery_of_the_merged_site_names_the_site_it_went_into(reg: psycopg.Connection):
    t, v = two_partners(reg)
    sites.merge(reg, v["id"], t["id"])
    sub = reg.execute("INSERT INTO submissions (operator, status) VALUES ('vodafone', 'received') RETURNING id")
    attrs = orjson.dumps({"operators": ["vodafone"], "antennas": []}).decode()
    row = ("standorte", 3, "V-7", "Bahnhof Nord", "in_service", None, None, None, attrs, Point(X + 2, Y).wkb,
           False, TEST_AGS, "vodafone", [])  # fmt: skip
    with reg.transaction():
        result = AssetProvider(reg).load({"mobile-sites": [row]}, sub.fetchone()["id"])
    assert not result.written
    (refusal,) = result.refusals
    assert (refusal.reason, refusal.external_id, refusal.merged_into) == ("retired", "V-7", str(t["id"]))
    field, reason, kind = _reason(refusal)
    assert field == "external_id" and kind == "retired" and f"merged into the shared site {t['id']}" in reason
    # a site retired otherwise says so, without a merge
    assets = AssetProvider(reg)
    other = assets.create(vodafone_site(x=X + 900, ext="V-11"))
    assets.retire(other["id"], 1)
    assert sites.merged_into(reg, [other["id"]]) == {}


def run(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETZATLAS_DATABASE_URL": db_url}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_colocated_and_merge(reg: psycopg.Connection, db_url: str):
    t, v = two_partners(reg)
    res = run("sites", "colocated", "--municipality", TEST_AGS, "--json", db_url=db_url)
    assert res.returncode == 0, res.stderr
    (pair,) = orjson.loads(res.stdout)
    assert {pair["a"]["id"], pair["b"]["id"]} == {str(t["id"]), str(v["id"])} and pair["distance_m"] == 2.0
    res = run("sites", "colocated", "--within", "1", db_url=db_url)
    assert res.returncode == 0 and "no mobile sites of different operators within 1 m" in res.stdout

    res = run("sites", "merge", str(v["id"]), "--into", str(v["id"]), db_url=db_url)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"error: cannot merge site {v['id']} into itself"
    res = run("sites", "merge", "nonsense", "--into", str(t["id"]), db_url=db_url)
    assert res.returncode == 1 and res.stderr.strip() == "error: no asset 'nonsense'"

    res = run("sites", "merge", str(v["id"]), "--into", str(t["id"]), db_url=db_url)
    assert res.returncode == 0, res.stderr
    assert f"merged {v['id']}" in res.stdout and "2 antenna(s)" in res.stdout and "telekom, vodafone" in res.stdout
    assert AssetProvider(reg).history(v["id"])[-1]["operation"] == "retire"
    res = run("sites", "merge", str(v["id"]), "--into", str(t["id"]), db_url=db_url)
    assert res.returncode == 1 and "is retired" in res.stderr and "Traceback" not in res.stderr


def test_merged_into_names_only_a_site_the_partner_may_read(reg: psycopg.Connection, db_url: str):
    t, v = two_partners(reg)
    sites.merge(reg, v["id"], t["id"])
    with access.acting_as(access.for_role("partner", "vodafone")), db.connect(db.app_url(db_url)) as partner:
        # the shared site is public and holds Vodafone's antennas: Vodafone is told where its site went
        assert sites.merged_into(partner, [v["id"]]) == {str(v["id"]): str(t["id"])}
        AssetProvider(reg).update(t["id"], 2, {"sensitivity": "internal"})
        # Telekom's internal site is not Vodafone's to read: neither it nor its history is named
        assert sites.merged_into(partner, [v["id"]]) == {}


def _site_row(data: AssetInput, idx: int = 0) -> tuple:
    """A staged delivery row of a site as the importer gives it (attributes in their checked form)."""
    clean, problems = check_attributes(get_kind("mobile-sites"), data.attributes, data.operator)
    assert not problems
    return ("standorte", idx, data.external_id, data.name, data.status, None, None, None, orjson.dumps(clean).decode(),
            Point(data.geometry.x, data.geometry.y).wkb, False, TEST_AGS, data.operator, [])  # fmt: skip


def test_the_target_operators_next_delivery_keeps_the_merged_antennas(reg: psycopg.Connection):
    t, v = two_partners(reg)
    sites.merge(reg, v["id"], t["id"])
    assets = AssetProvider(reg)
    sub = reg.execute("INSERT INTO submissions (operator, status) VALUES ('telekom', 'received') RETURNING id")
    sub_id = sub.fetchone()["id"]

    def deliver(site: AssetInput):
        with access.acting_as(access.for_role("partner", "telekom")), reg.transaction():
            return assets.load({"mobile-sites": [_site_row(site)]}, sub_id)

    # Telekom delivers its site as before, with its own antennas only: nothing changes, Vodafone's stay
    same = deliver(telekom_site())
    assert same.written and same.counts["mobile-sites"]["unchanged"] == 1
    assert assets.get(t["id"])["version"] == 2
    # Telekom turns an antenna: its antenna changes, Vodafone's antennas and its place among the operators stay
    turned = telekom_site()
    turned.attributes["antennas"][0]["azimuth_deg"] = 10
    changed = deliver(turned)
    assert changed.written and changed.counts["mobile-sites"]["updated"] == 1
    now = assets.get(t["id"])
    assert now["version"] == 3 and now["attributes"]["operators"] == ["telekom", "vodafone"]
    antennas = {(a["operator"], a["antenna_id"]): a for a in now["attributes"]["antennas"]}
    assert antennas[("telekom", "A1")]["azimuth_deg"] == 10
    assert [c["band"] for c in antennas[("vodafone", "A2")]["cells"]] == ["B1", "n78"]
    assert len(antennas) == 6
    # the CLI or a planner loading Telekom's own file speaks for Telekom only: Vodafone's antennas stay
    with reg.transaction():
        own = assets.load({"mobile-sites": [_site_row(turned)]}, sub_id)
    assert own.written and own.counts["mobile-sites"]["unchanged"] == 1
    assert assets.get(t["id"])["attributes"]["operators"] == ["telekom", "vodafone"]
    # a planner's register that names Vodafone (here on another site) states Vodafone's antennas everywhere:
    # the shared site now holds Telekom's only
    elsewhere = vodafone_site(x=X + 900.0, ext="V-900")
    with reg.transaction():
        register = assets.load({"mobile-sites": [_site_row(telekom_site()), _site_row(elsewhere, 1)]}, sub_id)
    assert register.written
    now = assets.get(t["id"])["attributes"]
    assert now["operators"] == ["telekom"] and {a["operator"] for a in now["antennas"]} == {"telekom"}


def test_a_partners_api_write_of_the_shared_site_keeps_the_other_operators_antennas(reg: psycopg.Connection):
    t, v = two_partners(reg)
    sites.merge(reg, v["id"], t["id"])
    assets = AssetProvider(reg)
    turned = telekom_site()
    turned.attributes["antennas"][0]["azimuth_deg"] = 10
    fields = {"name": turned.name, "status": turned.status, "geometry": turned.geometry}
    fields["attributes"] = turned.attributes
    with access.acting_as(access.for_role("partner", "telekom")), reg.transaction():
        set_actor(reg, "partner:telekom")
        replaced = assets.replace(t["id"], 2, fields)  # PUT: Telekom's antennas only
        antennas = {(a["operator"], a["antenna_id"]) for a in replaced["attributes"]["antennas"]}
        assert ("vodafone", "A1") in antennas and ("vodafone", "A2") in antennas and len(antennas) == 6
        assert replaced["attributes"]["operators"] == ["telekom", "vodafone"]
        patched = assets.update(t["id"], 3, {"attributes": {"antennas": turned.attributes["antennas"][:1]}})
        assert {a["operator"] for a in patched["attributes"]["antennas"]} == {"telekom", "vodafone"}
        foreign = {"antennas": [{"antenna_id": "X1", "operator": "vodafone", "azimuth_deg": 0, "cells": cells("B1")}]}
        with pytest.raises(ValidationError) as refused:
            assets.update(t["id"], 4, {"attributes": foreign})
        assert [p.field for p in refused.value.problems] == ["antennas[0].operator"]
    # a planner's write states the whole site
    with reg.transaction():
        planned = assets.replace(t["id"], 4, fields)
    assert planned["attributes"]["operators"] == ["telekom"]
