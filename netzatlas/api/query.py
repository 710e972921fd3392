"""SQL for items and single features, assembled from a collection's description.

The whole page of GeoJSON is built in PostGIS and arrives as one text value: no per-feature work in
Python. The query envelope (bbox, filter geometries) is transformed to the storage CRS, never the column,
so the GiST indexes apply; only the output geometries are transformed, to the requested CRS.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from netzatlas.api import cql
from netzatlas.api.collections import Collection
from netzatlas.api.crs import STORAGE, Crs, clamp
from netzatlas.api.errors import bad_request

STORAGE_SRID = STORAGE.srid


@dataclass
class Where:
    """Conditions joined by AND, with their bound parameters."""

    parts: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    # True once a condition of the request (bbox, filter, ...) narrows the collection
    narrowed: bool = False

    def add(self, sql: str, narrows: bool = False, **params: Any) -> None:
        self.parts.append(sql)
        self.params.update(params)
        self.narrowed = self.narrowed or narrows

    @property
    def sql(self) -> str:
        return " AND ".join(f"({p})" for p in self.parts) if self.parts else "TRUE"


@dataclass(frozen=True)
class Source:
    sql: str  # FROM item, aliased t
    key_sql: str  # unique row key, to join a page of keys back to its rows
    layer: str | None  # change-stamp layer of the rows (see migration 0002), None: do not cache counts


def source(coll: Collection, where: Where, as_of: dt.datetime | None) -> Source:
    """FROM clause for the current state, or for the state at `as_of` from the history."""
    if as_of is None:
        where.add(coll.base_where)
        return Source(f"{coll.table} t", coll.id_sql, coll.layer)
    if not coll.history_table or not coll.kind:
        raise bad_request(f"collection {coll.id!r} keeps no history; asOf is not available")
    where.add(
        "t.kind = %(asof_kind)s AND t.valid_from <= %(asof)s AND (t.valid_to IS NULL OR t.valid_to > %(asof)s)",
        asof_kind=coll.kind.id,
        asof=as_of,
    )
    where.add(coll.base_where)
    # history rows are written in the statement that changes the layer, so the layer's stamp covers them too
    return Source(f"{coll.history_table} t", "t.history_id", coll.layer)


def envelope_sql(box: tuple[float, float, float, float], crs: Crs, where: Where) -> str:
    """A box in `crs` as a polygon in the storage CRS, densified so its edges bend correctly on transform."""
    x1, y1, x2, y2 = box
    if crs.swap:  # the client gave lat/lon (or northing/easting): PostGIS wants x/y
        x1, y1, x2, y2 = y1, x1, y2, x2
    clamped = clamp((x1, y1, x2, y2), crs.srid)
    if clamped is None:  # wholly outside the storage CRS's area, where nothing is stored
        return f"ST_GeomFromText('POLYGON EMPTY', {STORAGE_SRID})"
    x1, y1, x2, y2 = clamped
    where.params.update(bx1=x1, by1=y1, bx2=x2, by2=y2)
    return cql.storage_envelope(["%(bx1)s", "%(by1)s", "%(bx2)s", "%(by2)s"], crs.srid, STORAGE_SRID)


def add_bbox(coll: Collection, box: tuple[float, float, float, float], crs: Crs, where: Where) -> None:
    env = envelope_sql(box, crs, where)
    # && first: the leakproof box test is what reaches the index under row-level security (migration 0006)
    where.add(f"{coll.geom_sql} && {env} AND ST_Intersects({coll.geom_sql}, {env})", narrows=True)


def add_datetime(coll: Collection, start: dt.datetime | None, end: dt.datetime | None, where: Where) -> None:
    """Features whose lifetime [commissioned_on, decommissioned_on] meets the interval."""
    if coll.temporal is None:
        raise bad_request(f"collection {coll.id!r} has no temporal property; datetime does not apply")
    first, last = coll.temporal
    where.add(f"{first} IS NOT NULL", narrows=True)
    if end is not None:
        where.add(f"{first} <= %(dt_end)s::date", dt_end=end)
    if start is not None:
        where.add(f"{last} IS NULL OR {last} >= %(dt_start)s::date", dt_start=start)


def add_filter(coll: Collection, tree: dict[str, Any] | bool, crs: Crs, where: Where) -> None:
    try:
        sql, params = cql.to_sql(
            tree, coll.queryables, filter_srid=crs.srid, swap_axes=crs.swap, storage_srid=STORAGE_SRID, param_prefix="f"
        )
    except cql.FilterError as e:
        raise bad_request(f"filter: {e}") from None
    where.add(sql, narrows=True, **params)


def geometry_sql(coll: Collection, crs: Crs) -> str:
    """The geometry in the output CRS, in that CRS's axis order."""
    geom = coll.geom_sql
    if crs.srid != STORAGE_SRID:
        geom = f"ST_Transform({geom}, {crs.srid})"
    if crs.swap:
        geom = f"ST_FlipCoordinates({geom})"
    return geom


@dataclass(frozen=True)
class FeatureSql:
    """A GeoJSON Feature as text: `lateral` joins the row's output record f, `expr` writes it."""

    lateral: str
    expr: str


# ST_AsGeoJSON(record) writes '{"type": "Feature", "geometry": ...'; the id goes after the type.
_RECORD_HEAD = '{"type": "Feature", '


def feature_sql(coll: Collection, crs: Crs, properties: list[str] | None, skip_geometry: bool) -> FeatureSql:
    """Built by PostGIS from a per-row record of the properties (ST_AsGeoJSON(record) converts all
    columns in C, faster than json_build_object); the geometry text is never re-parsed."""
    cols = [f'{sql} AS "{name}"' for name, sql in coll.properties if properties is None or name in properties]
    head = f"""'{_RECORD_HEAD}"id": ' || to_json({coll.id_sql})::text || ', '"""
    if skip_geometry:
        lateral = f"CROSS JOIN LATERAL (SELECT {', '.join(cols) or 'NULL AS _'}) f"
        props = "row_to_json(f)::text" if cols else "'{}'"
        return FeatureSql(lateral, f"""{head} || '"geometry": null, "properties": ' || {props} || '}}'""")
    lateral = f"CROSS JOIN LATERAL (SELECT {''.join(c + ', ' for c in cols)}{geometry_sql(coll, crs)} AS geom) f"
    body = f"substr(ST_AsGeoJSON(f, 'geom', {crs.decimals})::text, {len(_RECORD_HEAD) + 1})"
    return FeatureSql(lateral, f"{head} || {body}")


@dataclass(frozen=True)
class Order:
    """sortby terms (SQL expression, descending), always followed by the id so that the order is unique."""

    terms: tuple[tuple[str, bool], ...]
    id_sql: str

    @property
    def custom(self) -> bool:
        return bool(self.terms)

    def sql(self, aliased: bool = False) -> str:
        """ORDER BY list over the rows (t.*) or over a probe's aliases (_s0, _s1, ..., _id)."""
        parts = [
            f"{f'_s{i}' if aliased else expr} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}"
            for i, (expr, desc) in enumerate(self.terms)
        ]
        return ", ".join([*parts, "_id" if aliased else self.id_sql])


def order_by(coll: Collection, sortby: list[str]) -> Order:
    terms = []
    for item in sortby:
        name = item.lstrip("+-")
        q = coll.queryables.get(name)
        if q is None or q.type == "geometry":
            sortable = ", ".join(n for n, v in coll.queryables.items() if v.type != "geometry")
            raise bad_request(f"sortby: {name!r} is not a sortable property of {coll.id!r}; sortable: {sortable}")
        terms.append((q.sql, item.startswith("-")))
    return Order(tuple(terms), coll.id_sql)


# A count stops here; numberMatched is left out above it (and the response says so, see features.py).
COUNT_CAP = 1_000_000
# A first page whose count is not cached yet finds, counts and pages the matches in one narrow pass (the probe)
# of up to this many; beyond it the page query pages and numberMatched is left out. Every page whose count is
# cached (per selection and caller visibility, features.py) takes the page query: a top-N of the matches, or the
# id index up to limit + 1 rows. So no page repeats a scan of the match set for its count, and no set size
# switches to a dearer plan (until 5,000 the probe stopped, and a set of 5,001 was scanned three times).
PROBE_MAX = COUNT_CAP


def stamp_sql(src: Source) -> str:
    """The layer's change stamp, read in the statement's own snapshot (the count cache's validity)."""
    return f"(SELECT counter FROM layer_changes WHERE layer = '{src.layer}')" if src.layer else "NULL::bigint"


def _page_rows(feature: str) -> str:
    """Over p, the page's rows numbered 1..lim+1 in order (row lim + 1 only says that a next page exists)."""
    return f"""count(*) AS fetched,
               coalesce(string_agg({feature}, ',' ORDER BY p.rn) FILTER (WHERE p.rn <= %(lim)s), '') AS body,
               max(p._id::text) FILTER (WHERE p.rn = %(lim)s) AS last_id"""


def _numbered(rows: str, order: Order) -> str:
    """Number the (at most lim + 1) rows of a top-N query in their order: the sort stays bounded."""
    return f"SELECT _id, _key, row_number() OVER (ORDER BY {order.sql(aliased=True)}) AS rn FROM ({rows}) s"


def probe_sql(feature: FeatureSql, src: Source, where: Where, order: Order) -> str:
    """Find up to PROBE_MAX + 1 matches as narrow rows; if that is all of them, count, sort and page them,
    then fetch only the page's rows for the features. `probed` above PROBE_MAX means: use page_sql."""
    sorts = "".join(f"{expr} AS _s{i}, " for i, (expr, _) in enumerate(order.terms))
    top = f"""SELECT * FROM hits WHERE (SELECT n FROM total) <= {PROBE_MAX}
              ORDER BY {order.sql(aliased=True)} LIMIT %(lim1)s OFFSET %(off)s"""
    return f"""
        WITH hits AS MATERIALIZED (
            SELECT {sorts}{order.id_sql} AS _id, {src.key_sql} AS _key
            FROM {src.sql} WHERE {where.sql} LIMIT {PROBE_MAX + 1}),
        total AS (SELECT count(*) AS n FROM hits),
        p AS ({_numbered(top, order)})
        SELECT (SELECT n FROM total) AS probed, {stamp_sql(src)} AS stamp, {_page_rows(feature.expr)}
        FROM p JOIN {src.sql} ON {src.key_sql} = p._key {feature.lateral}"""


def page_sql(feature: FeatureSql, src: Source, where: Where, order: Order) -> str:
    """A page: its keys first (a narrow top-N query, which stops at limit + 1 rows where an index gives the
    order), then the features of just those rows; with the layer's change stamp. Offset slices of it can
    run side by side (paging.py)."""
    sorts = "".join(f"{expr} AS _s{i}, " for i, (expr, _) in enumerate(order.terms))
    top = f"""SELECT {sorts}{order.id_sql} AS _id, {src.key_sql} AS _key
              FROM {src.sql} WHERE {where.sql}
              ORDER BY {order.sql()} LIMIT %(lim1)s OFFSET %(off)s"""
    return f"""
        WITH p AS MATERIALIZED ({_numbered(top, order)})
        SELECT {_page_rows(feature.expr)}, {stamp_sql(src)} AS stamp
        FROM p JOIN {src.sql} ON {src.key_sql} = p._key {feature.lateral}"""


def count_sql(src: Source, where: Where) -> str:
    """The exact number of matches up to COUNT_CAP (+1 means more), with the stamp of the same snapshot."""
    return f"""SELECT (SELECT count(*) FROM (SELECT 1 FROM {src.sql} WHERE {where.sql} LIMIT {COUNT_CAP + 1}) c) AS n,
                      {stamp_sql(src)} AS stamp"""
