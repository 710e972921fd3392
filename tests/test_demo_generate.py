"""The synthetic Worms demo dataset: deterministic, plausible, and valid against the kind declarations.

No database needed: this only exercises netzatlas.demo.generate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from netzatlas.demo.generate import (
    DEMO_SEED,
    SYNTHETIC_NOTE,
    ZENSUS_CSV,
    DemoData,
    generate,
    load_population_csv,
)
from netzatlas.registry.kinds import KINDS_BY_ID, SENSITIVITIES, STATUSES, Attribute
from netzatlas.registry.validation import check_attributes

SHARED_CSV = Path("/work/shared/data/zensus2011_1km_worms.csv")
ATTRIBUTION = "dl-de/by-2-0, © Statistische Ämter des Bundes und der Länder (Zensus 2011)"
UNSERVED_DISTANCE_M = 50.0


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate()


# --------------------------------------------------------------------------------------------------
# Canonical serialisation (for the determinism check)


def _canonical(value):
    if isinstance(value, shapely.Geometry):
        return {"wkb": shapely.to_wkb(value, hex=True, output_dimension=2)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    raise TypeError(f"unexpected type in demo data: {type(value).__name__}")


def _digest(d: DemoData) -> str:
    payload = {
        "municipality": d.municipality,
        "districts": d.districts,
        "population_cells": d.population_cells,
        "buildings": d.buildings,
        "operators": d.operators,
        "assets": d.assets,
    }
    text = json.dumps(_canonical(payload), sort_keys=True, ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_generate_is_deterministic(data: DemoData) -> None:
    assert _digest(generate(DEMO_SEED)) == _digest(data)


# --------------------------------------------------------------------------------------------------
# A small local validator against the kind declarations (the real one lives in the registry)


def _value_errors(attr: Attribute, value, where: str) -> list[str]:
    if value is None:
        return [f"{where}: {attr.name} is None"] if attr.required else []
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        "boolean": isinstance(value, bool),
        "date": isinstance(value, dt.date),
    }
    if not checks[attr.type]:
        return [f"{where}: {attr.name}={value!r} is not of type {attr.type}"]
    errors = []
    if attr.codes is not None and value not in attr.codes:
        errors.append(f"{where}: {attr.name}={value!r} not in {attr.codes}")
    if attr.minimum is not None and value < attr.minimum:
        errors.append(f"{where}: {attr.name}={value!r} < {attr.minimum}")
    if attr.maximum is not None and value > attr.maximum:
        errors.append(f"{where}: {attr.name}={value!r} > {attr.maximum}")
    return errors


def _record_errors(declared: tuple[Attribute, ...], values: dict, where: str, extra: tuple[str, ...] = ()) -> list[str]:
    names = {a.name for a in declared}
    errors = [f"{where}: unknown attribute {k!r}" for k in values if k not in names and k not in extra]
    for attr in declared:
        if attr.name not in values:
            if attr.required:
                errors.append(f"{where}: required attribute {attr.name!r} missing")
            continue
        errors += _value_errors(attr, values[attr.name], where)
    return errors


def _asset_errors(asset: dict, operator_ids: set[str]) -> list[str]:
    where = f"{asset.get('kind')}/{asset.get('operator')}/{asset.get('external_id')}"
    kind = KINDS_BY_ID.get(asset["kind"])
    if kind is None:
        return [f"{where}: unknown kind"]
    errors = []
    if asset["operator"] not in operator_ids:
        errors.append(f"{where}: unknown operator")
    for key in ("external_id", "name"):
        if not isinstance(asset[key], str) or not asset[key].strip():
            errors.append(f"{where}: empty {key}")
    if asset["status"] not in STATUSES:
        errors.append(f"{where}: bad status {asset['status']!r}")
    if asset["sensitivity"] not in SENSITIVITIES:
        errors.append(f"{where}: bad sensitivity {asset['sensitivity']!r}")
    if asset["commissioned_on"] is not None and not isinstance(asset["commissioned_on"], dt.date):
        errors.append(f"{where}: commissioned_on is not a date")
    geom = asset["geometry"]
    if geom.geom_type != kind.geometry or geom.is_empty or not geom.is_valid:
        errors.append(f"{where}: geometry {geom.geom_type} does not fit {kind.geometry}")
    attrs = asset["attributes"]
    errors += _record_errors(
        kind.attributes, attrs, where, extra=("operators", "antennas") if kind.has_antennas else ()
    )
    if kind.has_antennas:
        antennas = attrs.get("antennas")
        if not isinstance(antennas, list) or not antennas:
            errors.append(f"{where}: antennas missing")
        else:
            _, problems = check_attributes(kind, attrs, asset["operator"])
            errors += [f"{where} {p}" for p in problems]
    return errors


def test_every_asset_validates_against_its_kind(data: DemoData) -> None:
    operator_ids = {o["id"] for o in data.operators}
    errors = [e for a in data.assets for e in _asset_errors(a, operator_ids)]
    assert errors == [], "\n".join(errors[:20])


def test_validator_catches_bad_assets(data: DemoData) -> None:
    # Guard against a validator that accepts everything.
    operator_ids = {o["id"] for o in data.operators}
    site = next(a for a in data.assets if a["kind"] == "mobile-sites")
    first = site["attributes"]["antennas"][0]
    bad = dict(first, cells=[dict(first["cells"][0], band="B99", eirp_dbm=120.0)])
    broken = dict(
        site, attributes=dict(site["attributes"], antennas=[bad]), geometry=shapely.LineString([(0, 0), (1, 1)])
    )
    assert len(_asset_errors(broken, operator_ids)) == 3
    sensor = next(a for a in data.assets if a["kind"] == "sensors")
    broken = dict(sensor, attributes={"sensor_type": "sonar", "colour": "red"})
    assert len(_asset_errors(broken, operator_ids)) == 3  # bad code, unknown attribute, missing connectivity


# --------------------------------------------------------------------------------------------------
# Counts, ids, operators


def test_counts_within_ranges(data: DemoData) -> None:
    counts = Counter(a["kind"] for a in data.assets)
    assert 17_000 <= len(data.buildings) <= 19_000
    assert 150 <= counts["fiber-routes"] <= 400
    assert 50 <= counts["network-nodes"] <= 400
    assert counts["mobile-sites"] == 45
    assert 180 <= counts["sensors"] <= 220
    assert 90 <= counts["actuators"] <= 110
    assert counts["iot-gateways"] == 6
    assert set(counts) == set(KINDS_BY_ID)
    assert len(data.districts) == 14
    assert len(data.population_cells) == 306


def test_external_ids_unique_per_operator_and_kind(data: DemoData) -> None:
    keys = Counter((a["operator"], a["kind"], a["external_id"]) for a in data.assets)
    assert [k for k, n in keys.items() if n > 1] == []
    building_ids = [b["external_id"] for b in data.buildings]
    assert len(set(building_ids)) == len(building_ids)
    assert all(re.fullmatch(r"demo-b-\d{6}", i) for i in building_ids)


def test_operators_are_fictional_and_used(data: DemoData) -> None:
    ids = [o["id"] for o in data.operators]
    assert len(set(ids)) == len(ids)
    assert {o["kind"] for o in data.operators} <= {"city", "telecom", "utility"}
    assert {"id": "stadt-worms", "name": "Stadt Worms", "kind": "city"} in data.operators
    used = {a["operator"] for a in data.assets}
    assert used == set(ids)
    site_ops = Counter(a["operator"] for a in data.assets if a["kind"] == "mobile-sites")
    assert len(site_ops) == 3 and min(site_ops.values()) >= 10


def test_synthetic_note() -> None:
    assert SYNTHETIC_NOTE.startswith("Synthetic demo network")
    assert "not real infrastructure" in SYNTHETIC_NOTE


# --------------------------------------------------------------------------------------------------
# Geometry: boundary, districts, placement, rounding


def test_municipality_boundary(data: DemoData) -> None:
    m = data.municipality
    assert m["ags"] == "07319000" and m["name"] == "Worms"
    assert m["boundary"].geom_type == "MultiPolygon" and m["boundary"].is_valid
    assert "approximated from the Zensus 2011 1 km cells whose centre lies in Worms" in m["note"]
    # 108 cells of ~1 km² each (Worms is officially 108.7 km²).
    assert 105e6 < m["boundary"].area < 111e6
    cells = shapely.union_all([c["geom"] for c in data.population_cells if c["in_municipality"]])
    assert abs(cells.area - m["boundary"].area) < 1.0


def test_districts_tile_the_boundary(data: DemoData) -> None:
    boundary = data.municipality["boundary"]
    geoms = [d["boundary"] for d in data.districts]
    assert all(g.geom_type == "MultiPolygon" and g.is_valid and g.area > 0 for g in geoms)
    assert all(d["approximate"] is True and "pprox" in d["note"] for d in data.districts)
    union = shapely.union_all(geoms)
    assert abs(union.area - boundary.area) <= 0.001 * boundary.area
    assert abs(sum(g.area for g in geoms) - boundary.area) <= 0.001 * boundary.area
    assert union.symmetric_difference(boundary).area <= 0.001 * boundary.area
    for a, b in itertools.combinations(data.districts, 2):
        overlap = a["boundary"].intersection(b["boundary"]).area
        assert overlap <= 1.0, f"{a['name']} and {b['name']} overlap by {overlap:.1f} m²"
    assert {d["name"] for d in data.districts} == {
        "Innenstadt", "Neuhausen", "Hochheim", "Pfiffligheim", "Horchheim", "Wiesoppenheim", "Weinsheim",
        "Heppenheim", "Pfeddersheim", "Leiselheim", "Herrnsheim", "Abenheim", "Rheindürkheim", "Ibersheim",
    }  # fmt: skip


def test_assets_lie_inside_the_municipality(data: DemoData) -> None:
    boundary = data.municipality["boundary"]
    shapely.prepare(boundary)
    outside = [(a["kind"], a["external_id"]) for a in data.assets if not boundary.covers(a["geometry"])]
    assert outside == []


def test_coordinates_are_rounded_to_centimetres(data: DemoData) -> None:
    geoms = [a["geometry"] for a in data.assets] + [b["geom"] for b in data.buildings[:2000]]
    geoms += [data.municipality["boundary"], *(d["boundary"] for d in data.districts)]
    coords = shapely.get_coordinates(np.array(geoms, dtype=object))
    assert np.abs(coords * 100 - np.round(coords * 100)).max() < 1e-6


def test_buildings_are_plausible(data: DemoData) -> None:
    polys = np.array([b["geom"] for b in data.buildings], dtype=object)
    assert all(p.geom_type == "Polygon" for p in polys)
    assert shapely.is_valid(polys).all()
    # Footprints are rectangles with sides of 8-20 m.
    rects = shapely.oriented_envelope(polys)
    sides = np.array([[math.dist(c[0], c[1]), math.dist(c[1], c[2])] for c in (r.exterior.coords for r in rects)])
    assert sides.min() > 7.9 and sides.max() < 20.1
    # No two footprints overlap.
    tree = shapely.STRtree(polys)
    pairs = tree.query(polys, predicate="intersects")
    assert (pairs[0] != pairs[1]).sum() == 0
    households = Counter(b["households"] for b in data.buildings)
    assert min(households) >= 1 and max(households) <= 12
    assert households[1] + households[2] > 0.6 * len(data.buildings)  # most are single / two-family houses
    assert sum(n for h, n in households.items() if h >= 6) > 0.05 * len(data.buildings)
    # Each building belongs to the district containing its centroid.
    districts = {d["name"]: d["boundary"] for d in data.districts}
    centroids = shapely.centroid(polys)
    for name, geom in districts.items():
        mine = np.array([b["district"] == name for b in data.buildings])
        assert mine.any(), f"no buildings in {name}"
        assert shapely.covers(geom, centroids[mine]).all()
    assert shapely.covers(data.municipality["boundary"], polys).all()


def test_at_least_three_districts_without_in_service_fiber(data: DemoData) -> None:
    live = shapely.union_all(
        [a["geometry"] for a in data.assets if a["kind"] == "fiber-routes" and a["status"] == "in_service"]
    )
    unserved = [d["name"] for d in data.districts if d["boundary"].distance(live) > UNSERVED_DISTANCE_M]
    assert len(unserved) >= 3, unserved
    served = [d["name"] for d in data.districts if d["boundary"].intersects(live)]
    assert len(served) >= 8
    # One unserved district has planned routes, so planners can see what would close the gap.
    planned = shapely.union_all(
        [a["geometry"] for a in data.assets if a["kind"] == "fiber-routes" and a["status"] == "planned"]
    )
    assert any(d["boundary"].intersects(planned) for d in data.districts if d["name"] in unserved)


def test_fiber_network_shape(data: DemoData) -> None:
    routes = [a for a in data.assets if a["kind"] == "fiber-routes"]
    statuses = Counter(r["status"] for r in routes)
    assert statuses["in_service"] > 0.6 * len(routes)
    assert statuses["planned"] > 0 and statuses["under_construction"] > 0
    assert {r["sensitivity"] for r in routes} == {"internal", "critical"}
    nodes = Counter(a["attributes"]["node_type"] for a in data.assets if a["kind"] == "network-nodes")
    assert 1 <= nodes["pop"] <= 2
    assert all(nodes[t] > 0 for t in ("street_cabinet", "splice_closure", "manhole", "building_entry"))
    assert all(
        a["sensitivity"] == "critical"
        for a in data.assets
        if a["kind"] == "network-nodes" and a["attributes"]["node_type"] == "pop"
    )
    # Building entries sit inside a building footprint.
    polys = np.array([b["geom"] for b in data.buildings], dtype=object)
    tree = shapely.STRtree(polys)
    entries = [
        a["geometry"]
        for a in data.assets
        if a["kind"] == "network-nodes" and a["attributes"]["node_type"] == "building_entry"
    ]
    inside = tree.query(np.array(entries, dtype=object), predicate="within")
    assert len(np.unique(inside[0])) == len(entries)


def test_mobile_sites(data: DemoData) -> None:
    sites = [a for a in data.assets if a["kind"] == "mobile-sites"]
    bands = Counter()
    for site in sites:
        assert site["attributes"]["operators"] == [site["operator"]]
        sectors = [{**a, **a["cells"][0]} for a in site["attributes"]["antennas"]]
        assert [s["antenna_id"] for s in sectors] == ["S1", "S2", "S3"]
        assert all(len(a["cells"]) == 1 for a in site["attributes"]["antennas"])
        assert len({(s["technology"], s["band"]) for s in sectors}) == 1
        azimuths = sorted(s["azimuth_deg"] for s in sectors)
        gaps = [azimuths[1] - azimuths[0], azimuths[2] - azimuths[1], 360 - azimuths[2] + azimuths[0]]
        assert all(90 <= g <= 150 for g in gaps), azimuths
        for s in sectors:
            assert 20 <= s["height_m"] <= 45
            assert 55 <= s["eirp_dbm"] <= 65
            assert 2 <= s["mech_tilt_deg"] + s["elec_tilt_deg"] <= 8
            assert s["h_beamwidth_deg"] == 65 and s["v_beamwidth_deg"] == 10
            bands[(s["technology"], s["band"], s["frequency_mhz"], s["bandwidth_mhz"])] += 1
        assert site["sensitivity"] == "public"
    assert set(bands) == {
        ("LTE", "B20", 806.0, 10.0),
        ("LTE", "B3", 1842.5, 20.0),
        ("NR", "n78", 3600.0, 100.0),
        ("NR", "n28", 778.0, 10.0),
    }
    statuses = Counter(s["status"] for s in sites)
    assert statuses["in_service"] >= 38 and statuses["planned"] >= 1
    # Denser in the Innenstadt than anywhere else.
    inner = next(d["boundary"] for d in data.districts if d["name"] == "Innenstadt")
    assert sum(inner.covers(s["geometry"]) for s in sites) >= 10


def test_sensors_actuators_gateways(data: DemoData) -> None:
    sensors = [a for a in data.assets if a["kind"] == "sensors"]
    conn = Counter(s["attributes"]["connectivity"] for s in sensors)
    assert conn["lorawan"] > len(sensors) / 2 and len(conn) >= 4
    assert len({s["attributes"]["sensor_type"] for s in sensors}) >= 6
    assert 1 <= sum(s["sensitivity"] == "internal" for s in sensors) <= 40
    assert len({s["status"] for s in sensors}) >= 3
    urls = [s["attributes"]["datastream_url"] for s in sensors if "datastream_url" in s["attributes"]]
    assert urls and all(re.fullmatch(r"https://daten\.worms\.example/sensorthings/Datastreams\(\d+\)", u) for u in urls)
    assert len(set(urls)) == len(urls)

    actuators = [a for a in data.assets if a["kind"] == "actuators"]
    for a in actuators:
        critical = a["attributes"]["actuator_type"] in ("traffic_signal", "valve")
        assert (a["sensitivity"] == "critical") == critical
    assert len({a["attributes"]["actuator_type"] for a in actuators}) == 5

    gateways = [a for a in data.assets if a["kind"] == "iot-gateways"]
    for g in gateways:
        attrs = g["attributes"]
        assert attrs["technology"] == "lorawan" and attrs["frequency_mhz"] == 868.1
        assert 15 <= attrs["height_m"] <= 40 and 14 <= attrs["eirp_dbm"] <= 27


# --------------------------------------------------------------------------------------------------
# Population grid (real data)


def test_population_cells(data: DemoData) -> None:
    cells = data.population_cells
    inside = [c for c in cells if c["in_municipality"]]
    assert len(inside) == 108
    assert sum(c["population"] or 0 for c in inside) == 79_091
    assert any(c["population"] is None for c in inside)
    assert all(c["population"] is None or c["population"] >= 0 for c in cells)
    assert all(c["resolution_m"] == 1000 and c["source"] == "Zensus 2011" and c["year"] == 2011 for c in cells)
    assert set(cells[0]) == {"id", "resolution_m", "population", "geom", "source", "year", "in_municipality"}


def test_population_cell_ids_use_south_west_corners(data: DemoData) -> None:
    rows = load_population_csv()
    to_3035 = Transformer.from_crs(25832, 3035, always_xy=True)
    for row, cell in zip(rows, data.population_cells, strict=True):
        n, e = map(int, re.fullmatch(r"CRS3035RES1000mN(\d+)E(\d+)", cell["id"]).groups())
        assert (e, n) == (row["x_centre_3035"] - 500, row["y_centre_3035"] - 500)
        assert e % 1000 == 0 and n % 1000 == 0
        # The polygon, taken back to EPSG:3035, is the square with that south-west corner.
        xs, ys = to_3035.transform(*shapely.get_coordinates(cell["geom"]).T)
        assert abs(min(xs) - e) < 0.05 and abs(min(ys) - n) < 0.05
        assert abs(max(xs) - e - 1000) < 0.05 and abs(max(ys) - n - 1000) < 0.05


def test_load_population_csv_suppressed_values() -> None:
    rows = load_population_csv(ZENSUS_CSV)
    assert len(rows) == 306
    raw = ZENSUS_CSV.read_text(encoding="utf-8").splitlines()[1:]
    assert sum(line.startswith("-1,") for line in raw) == sum(r["population"] is None for r in rows)


def test_bundled_data_and_attribution() -> None:
    readme = (ZENSUS_CSV.parent / "README.md").read_text(encoding="utf-8")
    assert ATTRIBUTION in readme
    if SHARED_CSV.exists():
        assert ZENSUS_CSV.read_bytes() == SHARED_CSV.read_bytes()
