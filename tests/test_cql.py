"""CQL2 to SQL: every operator group against a real PostGIS table, in cql2-text and cql2-json."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from pyproj import Transformer

from netzatlas.api import cql
from netzatlas.api.cql import FilterError, Queryable

Q: dict[str, Queryable] = {
    "status": Queryable("status", "t.status", "string", "Status", codes=("planned", "in_service")),
    "n": Queryable("n", "t.n", "integer", "Count", unit="m"),
    "x": Queryable("x", "t.x", "number"),
    "d": Queryable("d", "t.d", "date"),
    "ts": Queryable("ts", "t.ts", "timestamp"),
    "ok": Queryable("ok", "t.ok", "boolean"),
    "name": Queryable("name", "t.name", "string"),
    "geom": Queryable("geom", "t.geom", "geometry", "Point"),
}

# id, status, n, x, d, ts, ok, name, easting, northing (EPSG:25832)
ROWS: list[tuple[Any, ...]] = [
    (1, "in_service", 1, 0.5, "2020-01-15", "2020-01-15T10:00:00Z", True, "Alpha", 455000, 5495000),
    (2, "in_service", 2, 1.5, "2020-06-01", "2020-06-01T00:00:00Z", False, "alpha", 455100, 5495000),
    (3, "planned", 3, 2.5, "2021-01-01", "2021-01-01T12:00:00Z", True, "Beta", 455000, 5495100),
    (4, "planned", 4, 3.5, "2021-07-04", "2021-07-04T08:30:00Z", False, "beta_x", 455500, 5495500),
    (5, "decommissioned", 5, 4.5, "2022-02-02", "2022-02-02T23:59:59Z", True, "Gamma", 456000, 5496000),
    (6, "out_of_service", 6, 5.5, "2022-12-31", "2022-12-31T00:00:00Z", None, "Über", 454000, 5494000),
    (7, None, None, None, None, None, None, None, 457000, 5497000),
    (8, "in_service", 8, 8.0, "2023-03-03", "2023-03-03T03:03:03Z", True, "O'Brien", 455050, 5495050),
    (9, "under_construction", 9, -1.0, "2019-12-31", "2019-12-31T23:00:00Z", False, "50% off", 458000, 5490000),
    (10, "in_service", 10, 10.0, "2024-01-01", "2024-01-01T00:00:00Z", True, "a_b", None, None),
]
ALL = [r[0] for r in ROWS]

TO_LONLAT = Transformer.from_crs(25832, 4326, always_xy=True)


def lonlat(e: float, n: float) -> tuple[float, float]:
    lon, lat = TO_LONLAT.transform(e, n)
    return lon, lat


@pytest.fixture
def db(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        "CREATE TEMP TABLE t (id int, status text, n int, x double precision, d date, ts timestamptz, ok boolean, "
        "name text, geom geometry(Point, 25832))"
    )
    conn.execute("CREATE INDEX ON t USING gist (geom)")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(%s, %s), 25832) END)",
            [(*r[:8], r[8], r[8], r[9]) for r in ROWS],
        )
    return conn


def run(db: psycopg.Connection, filt: str | dict[str, Any], **kw: Any) -> list[int]:
    """Ids matched by a cql2-text string or a cql2-json document."""
    tree = cql.parse(filt) if isinstance(filt, str) else cql.parse(json.dumps(filt), "cql2-json")
    sql, params = cql.to_sql(tree, Q, **kw)
    return [r["id"] for r in db.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id", params)]


def prop(name: str) -> dict[str, str]:
    return {"property": name}


def op(name: str, *args: Any) -> dict[str, Any]:
    return {"op": name, "args": list(args)}


CASES: list[tuple[str, dict[str, Any], list[int]]] = [
    # comparison
    ("status = 'planned'", op("=", prop("status"), "planned"), [3, 4]),
    ("STATUS = 'planned'", op("=", prop("Status"), "planned"), [3, 4]),  # case-insensitive fallback
    ("status <> 'in_service'", op("<>", prop("status"), "in_service"), [3, 4, 5, 6, 9]),
    ("n > 5", op(">", prop("n"), 5), [6, 8, 9, 10]),
    ("n <= 2", op("<=", prop("n"), 2), [1, 2]),
    ("n = '4'", op("=", prop("n"), "4"), [4]),  # numeric string coerced to the queryable's type
    ("n < 2.5", op("<", prop("n"), 2.5), [1, 2]),
    ("x < 1", op("<", prop("x"), 1), [1, 9]),
    ("x >= 5.5", op(">=", prop("x"), 5.5), [6, 8, 10]),
    ("n > x", op(">", prop("n"), prop("x")), [1, 2, 3, 4, 5, 6, 9]),  # property vs property
    ("5 < n", op("<", 5, prop("n")), [6, 8, 9, 10]),
    ("name = 'O''Brien'", op("=", prop("name"), "O'Brien"), [8]),
    ("name = 'Über'", op("=", prop("name"), "Über"), [6]),
    # booleans
    ("ok = true", op("=", prop("ok"), True), [1, 3, 5, 8, 10]),
    ("ok <> TRUE", op("<>", prop("ok"), True), [2, 4, 9]),
    ("ok", prop("ok"), [1, 3, 5, 8, 10]),
    ("NOT ok", op("not", prop("ok")), [2, 4, 9]),
    # logical
    (
        "(status = 'planned' OR n = 1) AND NOT (x > 3)",
        op(
            "and", op("or", op("=", prop("status"), "planned"), op("=", prop("n"), 1)), op("not", op(">", prop("x"), 3))
        ),
        [1, 3],
    ),
    # null
    ("status IS NULL", op("isNull", prop("status")), [7]),
    ("n IS NOT NULL", op("not", op("isNull", prop("n"))), [1, 2, 3, 4, 5, 6, 8, 9, 10]),
    ("geom IS NULL", op("isNull", prop("geom")), [10]),
    # like
    ("name LIKE 'A%'", op("like", prop("name"), "A%"), [1]),
    ("name LIKE '_eta'", op("like", prop("name"), "_eta"), [3]),
    ("name LIKE 'a\\_b'", op("like", prop("name"), "a\\_b"), [10]),
    ("name LIKE '50\\% off'", op("like", prop("name"), "50\\% off"), [9]),
    ("name NOT LIKE '%a%'", op("not", op("like", prop("name"), "%a%")), [6, 8, 9]),
    (
        "CASEI(name) LIKE casei('A%')",
        op("like", op("casei", prop("name")), op("casei", "A%")),
        [1, 2, 10],
    ),
    ("CASEI(name) = casei('BETA')", op("=", op("casei", prop("name")), op("casei", "BETA")), [3]),
    # between / in
    ("n BETWEEN 2 AND 4", op("between", prop("n"), 2, 4), [2, 3, 4]),
    ("x NOT BETWEEN 0 AND 5", op("not", op("between", prop("x"), 0, 5)), [6, 8, 9, 10]),
    (
        "d BETWEEN DATE('2020-06-01') AND DATE('2021-07-04')",
        op("between", prop("d"), {"date": "2020-06-01"}, {"date": "2021-07-04"}),
        [2, 3, 4],
    ),
    ("status IN ('planned', 'decommissioned')", op("in", prop("status"), ["planned", "decommissioned"]), [3, 4, 5]),
    ("n IN (1, 3, 5)", op("in", prop("n"), [1, 3, 5]), [1, 3, 5]),
    ("n IN (1, 3.5, 4)", op("in", prop("n"), [1, 3.5, 4]), [1, 4]),
    ("n NOT IN (1, 2, 3)", op("not", op("in", prop("n"), [1, 2, 3])), [4, 5, 6, 8, 9, 10]),
    ("CASEI(name) IN (casei('ALPHA'))", op("in", op("casei", prop("name")), [op("casei", "ALPHA")]), [1, 2]),
    # dates and timestamps
    ("d = DATE('2020-06-01')", op("=", prop("d"), {"date": "2020-06-01"}), [2]),
    ("d < '2020-01-15'", op("<", prop("d"), "2020-01-15"), [9]),
    (
        "ts >= TIMESTAMP('2022-02-02T23:59:59Z')",
        op(">=", prop("ts"), {"timestamp": "2022-02-02T23:59:59Z"}),
        [5, 6, 8, 10],
    ),
    # temporal
    ("T_AFTER(d, DATE('2021-01-01'))", op("t_after", prop("d"), {"date": "2021-01-01"}), [4, 5, 6, 8, 10]),
    ("T_BEFORE(d, DATE('2020-06-01'))", op("t_before", prop("d"), {"date": "2020-06-01"}), [1, 9]),
    ("T_EQUALS(d, DATE('2021-01-01'))", op("t_equals", prop("d"), {"date": "2021-01-01"}), [3]),
    (
        "T_INTERSECTS(d, INTERVAL('2020-06-01', '2021-07-04'))",
        op("t_intersects", prop("d"), {"interval": ["2020-06-01", "2021-07-04"]}),
        [2, 3, 4],
    ),
    (
        "T_DURING(d, INTERVAL('2020-06-01', '2021-07-04'))",
        op("t_during", prop("d"), {"interval": ["2020-06-01", "2021-07-04"]}),
        [3],
    ),
    (
        "T_DISJOINT(d, INTERVAL('2020-06-01', '2021-07-04'))",
        op("t_disjoint", prop("d"), {"interval": ["2020-06-01", "2021-07-04"]}),
        [1, 5, 6, 8, 9, 10],
    ),
    (
        "T_DURING(ts, INTERVAL('2022-02-02T23:59:59Z', '..'))",
        op("t_during", prop("ts"), {"interval": ["2022-02-02T23:59:59Z", ".."]}),
        [6, 8, 10],
    ),
    (
        "T_INTERSECTS(d, INTERVAL('..', '2020-01-15'))",
        op("t_intersects", prop("d"), {"interval": ["..", "2020-01-15"]}),
        [1, 9],
    ),
    (
        "T_INTERSECTS(d, INTERVAL('..', '..'))",
        op("t_intersects", prop("d"), {"interval": ["..", ".."]}),
        [*ALL[:6], 8, 9, 10],
    ),
    ("T_AFTER(d, INTERVAL('..', '..'))", op("t_after", prop("d"), {"interval": ["..", ".."]}), []),
    (
        "T_METBY(ts, INTERVAL('..', '2020-06-01T00:00:00Z'))",
        op("t_metBy", prop("ts"), {"interval": ["..", "2020-06-01T00:00:00Z"]}),
        [2],
    ),
    (
        "T_INTERSECTS(INTERVAL(d, ts), INTERVAL('2024-01-01', '..'))",
        op("t_intersects", {"interval": [prop("d"), prop("ts")]}, {"interval": ["2024-01-01", ".."]}),
        [10],
    ),
]


@pytest.mark.parametrize(("text", "doc", "expected"), CASES, ids=[c[0] for c in CASES])
def test_text_and_json_match_expected_rows(
    db: psycopg.Connection, text: str, doc: dict[str, Any], expected: list[int]
) -> None:
    assert run(db, text) == expected
    assert run(db, doc) == expected


def test_spatial_crs84_and_swapped_epsg4326_agree(db: psycopg.Connection) -> None:
    # A square around rows 1, 2, 3 and 8 (EPSG:25832), written in lon/lat and in lat/lon.
    corners = [lonlat(e, n) for e, n in [(454990, 5494990), (455110, 5494990), (455110, 5495110), (454990, 5495110)]]
    ring = [*corners, corners[0]]
    xy = ", ".join(f"{lon!r} {lat!r}" for lon, lat in ring)
    yx = ", ".join(f"{lat!r} {lon!r}" for lon, lat in ring)
    inside = [1, 2, 3, 8]
    assert run(db, f"S_INTERSECTS(geom, POLYGON(({xy})))") == inside
    assert run(db, f"S_INTERSECTS(geom, POLYGON(({yx})))", swap_axes=True) == inside
    geo = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in ring]]}
    assert run(db, op("s_intersects", prop("geom"), geo), swap_axes=True) == inside
    assert run(db, f"S_WITHIN(geom, POLYGON(({xy})))") == inside
    assert run(db, f"S_DISJOINT(geom, POLYGON(({xy})))") == [4, 5, 6, 7, 9]
    assert run(db, f"S_CONTAINS(POLYGON(({yx})), geom)", swap_axes=True) == inside

    # BBOX with 4 and 6 numbers, both axis orders.
    (lon1, lat1), (lon2, lat2) = corners[0], corners[2]
    assert run(db, f"S_INTERSECTS(geom, BBOX({lon1}, {lat1}, {lon2}, {lat2}))") == inside
    assert run(db, f"S_INTERSECTS(geom, BBOX({lat1}, {lon1}, {lat2}, {lon2}))", swap_axes=True) == inside
    assert run(db, op("s_intersects", prop("geom"), {"bbox": [lat1, lon1, lat2, lon2]}), swap_axes=True) == inside
    assert run(db, f"S_INTERSECTS(geom, BBOX({lon1}, {lat1}, 0, {lon2}, {lat2}, 100))") == inside

    # Single points in both orders.
    lon, lat = lonlat(455100, 5495000)
    assert run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 0.01, meters)") == [2]
    assert run(db, f"S_DWITHIN(geom, POINT({lat} {lon}), 0.01, meters)", swap_axes=True) == [2]


def test_spatial_in_storage_crs(db: psycopg.Connection) -> None:
    kw = {"filter_srid": 25832}
    assert run(db, "S_EQUALS(geom, POINT(455000 5495000))", **kw) == [1]
    square = "POLYGON((455000 5494500, 455000 5495000, 454500 5495000, 454500 5494500, 455000 5494500))"
    assert run(db, f"S_TOUCHES(geom, {square})", **kw) == [1]
    assert run(db, "S_CROSSES(geom, LINESTRING(454000 5494000, 456000 5496000))", **kw) == []
    assert run(db, "S_OVERLAPS(geom, MULTIPOINT((455000 5495000), (1 1)))", **kw) == []
    assert run(db, "S_INTERSECTS(geom, MULTIPOINT((455000 5495000), (456000 5496000)))", **kw) == [1, 5]
    assert run(db, "S_INTERSECTS(geom, BBOX(454999, 5494999, 455101, 5495101))", **kw) == [1, 2, 3, 8]
    assert run(db, "S_INTERSECTS(geom, geom) AND n < 3", **kw) == [1, 2]


def test_geometry_column_is_compared_untransformed_so_its_index_is_used(db: psycopg.Connection) -> None:
    lon, lat = lonlat(455000, 5495000)
    db.execute("SET enable_seqscan = off")
    try:
        for text in (f"S_INTERSECTS(geom, BBOX({lon - 0.01}, {lat - 0.01}, {lon}, {lat}))",
                     f"S_DWITHIN(geom, POINT({lon} {lat}), 100, meters)"):  # fmt: skip
            sql, params = cql.to_sql(cql.parse(text), Q)
            plan = "\n".join(r["QUERY PLAN"] for r in db.execute(f"EXPLAIN SELECT id FROM t WHERE {sql}", params))
            assert "Index" in plan, plan
    finally:
        db.execute("RESET enable_seqscan")


def test_s_dwithin_metres_and_kilometres(db: psycopg.Connection) -> None:
    lon, lat = lonlat(455000, 5495000)
    # rows 2 and 3 are 100 m away, 8 is 71 m, 4 is 707 m, 5 and 6 are 1414 m
    assert run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 120, meters)") == [1, 2, 3, 8]
    assert run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 120)") == [1, 2, 3, 8]
    assert run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 0.8, kilometers)") == [1, 2, 3, 4, 8]
    assert run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 1.5, 'km')") == [1, 2, 3, 4, 5, 6, 8]
    point = {"type": "Point", "coordinates": [lon, lat]}
    assert run(db, op("s_dwithin", prop("geom"), point, 120, "metres")) == [1, 2, 3, 8]
    assert run(db, op("S_DWITHIN", prop("geom"), point, 80, "m")) == [1, 8]
    assert run(db, "S_DWITHIN(geom, POINT(455000 5495000), 100.5, meters)", filter_srid=25832) == [1, 2, 3, 8]
    with pytest.raises(FilterError, match="unit"):
        run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), 1, parsecs)")
    with pytest.raises(FilterError, match="distance"):
        run(db, f"S_DWITHIN(geom, POINT({lon} {lat}), -1, meters)")


def test_injection_looking_values_are_plain_data(db: psycopg.Connection) -> None:
    evil = "'; DROP TABLE t; --"
    assert run(db, "name = '''; DROP TABLE t; --'") == []
    assert run(db, op("=", prop("name"), evil)) == []
    assert run(db, op("like", prop("name"), evil + "%")) == []
    assert run(db, op("in", prop("status"), [evil, "planned"])) == [3, 4]
    with pytest.raises(FilterError, match="cannot parse"):
        cql.parse("1=1; DROP TABLE t")
    with pytest.raises(FilterError, match="unknown property"):
        run(db, "\"status; DROP TABLE t\" = 'x'")
    with pytest.raises(FilterError, match="unknown property"):
        run(db, op("=", prop("status) OR (1=1"), "x"))
    assert db.execute("SELECT count(*) AS n FROM t").fetchone()["n"] == len(ROWS)


def test_no_literal_value_appears_in_sql(db: psycopg.Connection) -> None:
    text = (
        "name = 'Zebra' AND n IN (4711, 4712) AND x BETWEEN 0.123 AND 987.5 AND d > DATE('2021-03-04') "
        "AND ts < TIMESTAMP('2030-05-06T07:08:09Z') AND name LIKE 'Qx%' AND casei(status) = casei('Quux') "
        "AND S_INTERSECTS(geom, BBOX(7.111, 49.222, 7.333, 49.444)) "
        "AND S_DWITHIN(geom, POINT(7.555 49.666), 777, meters) "
        "AND S_WITHIN(geom, POLYGON((6.1 48.1, 6.9 48.1, 6.9 48.9, 6.1 48.1))) "
        "AND T_DURING(ts, INTERVAL('2019-02-03', '..')) AND ok = false AND n <> 31337"
    )
    for tree in (cql.parse(text), cql.parse(json.dumps(cql.parse(text)), "cql2-json")):
        sql, params = cql.to_sql(tree, Q)
        literals = "Zebra 4711 4712 0.123 987.5 2021 2030 Qx Quux 7.111 49.222 7.333 49.444 7.555 49.666 777 6.1 48.9"
        for literal in [*literals.split(), "2019", "false", "31337"]:
            assert literal not in sql.lower(), literal
        assert "'" not in sql  # no quoted text at all
        assert all(f"%({k})s" in sql for k in params)
        assert db.execute(f"SELECT id FROM t WHERE {sql}", params).fetchall() == []


def test_unknown_property_names_it_and_lists_queryables() -> None:
    with pytest.raises(FilterError) as e:
        cql.to_sql(cql.parse("colour = 'red'"), Q)
    assert str(e.value) == "unknown property 'colour'; queryables are: d, geom, n, name, ok, status, ts, x"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("n = 'abc'", "'n'"),
        ("ok = 5", "'ok'"),
        ("d = 'not a date'", "date"),
        ("d = DATE('2020-13-45')", "date"),
        ("name = 5", "'name'"),
        ("name = DATE('2020-01-01')", "'name'"),
        ("n = name", "'n'"),
        ("geom = 'x'", "'geom'"),
        ("n LIKE '1%'", "LIKE"),
        ("S_INTERSECTS(name, POINT(1 2))", "'name'"),
        ("S_INTERSECTS(POINT(1 2), BBOX(0, 0, 3, 3))", "geometry property"),
        ("T_AFTER(name, DATE('2020-01-01'))", "'name'"),
        ("n IN ('a', 'b')", "'n'"),
        ("x = 1e999", "number"),
    ],
)
def test_type_mismatch_is_a_filter_error(text: str, needle: str) -> None:
    with pytest.raises(FilterError) as e:
        cql.to_sql(cql.parse(text), Q)
    assert needle in str(e.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("n + 1 > 2", "not supported"),
        ("A_CONTAINS(status, ('a', 'b'))", "not supported"),
        ("foo(n) = 1", "not supported"),
        ("ACCENTI(name) = 'e'", "not supported"),
        ("S_INTERSECTS(geom, ENVELOPE(1, 2, 3, 4))", "not supported"),
        ("CASEI(name)", "not a condition"),
        ("n", "not a condition"),
    ],
)
def test_unsupported_is_a_filter_error(text: str, needle: str) -> None:
    with pytest.raises(FilterError, match=needle):
        cql.to_sql(cql.parse(text), Q)


def test_like_pattern_with_trailing_escape_is_rejected(db: psycopg.Connection) -> None:
    with pytest.raises(FilterError, match="escape"):
        run(db, op("like", prop("name"), "abc\\"))
    assert run(db, op("like", prop("name"), "abc\\\\")) == []


def test_malformed_filters_quote_the_parser() -> None:
    with pytest.raises(FilterError, match=r"cannot parse cql2-text .*expected") as e:
        cql.parse("status = ")
    assert "at the end" in str(e.value)
    with pytest.raises(FilterError, match=r"column 4 \(near '; DROP TABLE t'\): expected EOI"):
        cql.parse("1=1; DROP TABLE t")
    with pytest.raises(FilterError, match="cannot parse cql2-json"):
        cql.parse('{"op": "=", "args": [', "cql2-json")
    with pytest.raises(FilterError, match="cannot parse cql2-json"):
        cql.parse('{"op": "s_intersects", "args": [{"property": "geom"}, {"type": "Point", "coordinates": "x"}]}',
                  "cql2-json")  # fmt: skip
    with pytest.raises(FilterError, match="filter-lang"):
        cql.parse("n = 1", "ecql")
    # A long bad input is not echoed back in full.
    with pytest.raises(FilterError) as e:
        cql.parse("S_INTERSECTS(geom, POLYGON((" + ", ".join(["1 2"] * 10000) + ", x)))")
    assert len(str(e.value)) < 400


def test_malformed_trees_are_filter_errors() -> None:
    for tree in (
        op("=", prop("n")),
        op("between", prop("n"), 1),
        op("in", prop("n"), 1),
        op("s_intersects", prop("geom"), {"bbox": [1, 2, 3]}),
        op("s_intersects", prop("geom"), {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}),
        op("t_after", prop("d"), {"interval": ["2020-01-01"]}),
        op("t_after", prop("d"), {"date": "yesterday"}),
        {"foo": 1},
        "n = 1",
        op("and"),
    ):
        with pytest.raises(FilterError):
            cql.to_sql(tree, Q)


def test_deep_nesting_is_a_filter_error_not_a_crash(db: psycopg.Connection) -> None:
    # cql2's native parser would overflow its stack (killing the process) on these.
    for text in ("NOT " * 5000 + "n = 1", "(" * 100_000 + "n = 1" + ")" * 100_000, "n = " + " + ".join(["1"] * 50_000),
                 "n" + " = 1" * 5000, "casei(" * 3000 + "name" + ")" * 3000):  # fmt: skip
        with pytest.raises(FilterError, match="nested too deeply"):
            cql.parse(text)
    tree: Any = op("=", prop("n"), 1)
    for _ in range(5000):
        tree = op("not", tree)
    with pytest.raises(FilterError, match="nested too deeply"):
        cql.to_sql(tree, Q)
    doc = json.dumps(op("=", prop("n"), 1))
    for _ in range(300):
        doc = '{"op": "not", "args": [' + doc + "]}"
    with pytest.raises(FilterError):
        cql.parse(doc, "cql2-json")
    # Moderate nesting still works.
    text = "NOT " * 40 + "n = 1"
    assert run(db, text) == [1]
    assert run(db, "(" * 60 + "n = 1" + ")" * 60) == [1]
    assert run(db, " OR ".join(f"n = {i}" for i in range(2000))) == [1, 2, 3, 4, 5, 6, 8, 9, 10]


def test_large_in_list_is_one_parameter(db: psycopg.Connection) -> None:
    values = list(range(100_000))
    sql, params = cql.to_sql(op("in", prop("n"), values), Q)
    assert len(params) == 1
    assert [r["id"] for r in db.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id", params)] == [
        1, 2, 3, 4, 5, 6, 8, 9, 10,
    ]  # fmt: skip


def test_param_prefix_and_percent_in_queryable_sql(db: psycopg.Connection) -> None:
    q = {"pct": Queryable("pct", "(t.name LIKE '50%')", "boolean"), "n": Q["n"]}
    sql, params = cql.to_sql(cql.parse("pct = true AND n > 1"), q, param_prefix="cq")
    assert set(params) == {"cq0", "cq1"}
    assert [r["id"] for r in db.execute(f"SELECT id FROM t WHERE {sql}", params)] == [9]


def test_bare_boolean_filter(db: psycopg.Connection) -> None:
    assert cql.parse("true") is True
    assert run(db, "true") == ALL
    assert run(db, "false") == []


def test_queryables_schema() -> None:
    doc = cql.queryables_schema(Q, "https://example.org/collections/t/queryables", "Things")
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == "https://example.org/collections/t/queryables"
    assert doc["type"] == "object"
    assert doc["title"] == "Things"
    assert doc["additionalProperties"] is False
    p = doc["properties"]
    assert p["status"] == {"title": "Status", "type": "string", "enum": ["planned", "in_service"]}
    assert p["n"] == {"title": "Count", "type": "integer", "x-ogc-unit": "m"}
    assert p["x"]["type"] == "number"
    assert p["ok"]["type"] == "boolean"
    assert p["d"] == {"title": "d", "type": "string", "format": "date"}
    assert p["ts"] == {"title": "ts", "type": "string", "format": "date-time"}
    assert p["geom"]["format"] == "geometry-point"
    assert p["geom"]["$ref"] == "https://geojson.org/schema/Point.json"
    assert p["geom"]["x-ogc-role"] == "primary-geometry"
    other = cql.queryables_schema({"g": Queryable("g", "t.g", "geometry")}, "u", "t")["properties"]["g"]
    assert other["format"] == "geometry-any"
    assert other["$ref"] == "https://geojson.org/schema/Geometry.json"
