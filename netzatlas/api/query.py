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
from netzatlas.api.crs import STORAGE, Crs
from netzatlas.api.errors import bad_request

STORAGE_SRID = STORAGE.srid


@dataclass
class Where:
    """Conditions joined by AND, with their bound parameters."""

    parts: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, sql: str, **params: Any) -> None:
        self.parts.append(sql)
        self.params.update(params)

    @property
    def sql(self) -> str:
        return " AND ".join(f"({p})" for p in self.parts) if self.parts else "TRUE"


def source(coll: Collection, where: Where, as_of: dt.datetime | None) -> str:
    """FROM clause for the current state, or for the state at `as_of` from the history."""
    if as_of is None:
        where.add(coll.base_where)
        return f"{coll.table} t"
    if not coll.history_table or not coll.kind:
        raise bad_request(f"collection {coll.id!r} keeps no history; asOf is not available")
    where.add(
        "t.kind = %(asof_kind)s AND t.valid_from <= %(asof)s AND (t.valid_to IS NULL OR t.valid_to > %(asof)s)",
        asof_kind=coll.kind.id,
        asof=as_of,
    )
    where.add(coll.base_where)
    return f"{coll.history_table} t"


def envelope_sql(box: tuple[float, float, float, float], crs: Crs, where: Where) -> str:
    """A box in `crs` as a polygon in the storage CRS, densified so its edges bend correctly on transform."""
    x1, y1, x2, y2 = box
    if crs.swap:  # the client gave lat/lon (or northing/easting): PostGIS wants x/y
        x1, y1, x2, y2 = y1, x1, y2, x2
    where.params.update(bx1=x1, by1=y1, bx2=x2, by2=y2)
    env = f"ST_MakeEnvelope(%(bx1)s, %(by1)s, %(bx2)s, %(by2)s, {crs.srid})"
    if crs.srid == STORAGE_SRID:
        return env
    return (
        f"ST_Transform(ST_Segmentize({env}, greatest(%(bx2)s - %(bx1)s, %(by2)s - %(by1)s, 1e-9) / 32.0), "
        f"{STORAGE_SRID})"
    )


def add_bbox(coll: Collection, box: tuple[float, float, float, float], crs: Crs, where: Where) -> None:
    where.add(f"ST_Intersects({coll.geom_sql}, {envelope_sql(box, crs, where)})")


def add_datetime(coll: Collection, start: dt.datetime | None, end: dt.datetime | None, where: Where) -> None:
    """Features whose lifetime [commissioned_on, decommissioned_on] meets the interval."""
    if coll.temporal is None:
        raise bad_request(f"collection {coll.id!r} has no temporal property; datetime does not apply")
    first, last = coll.temporal
    where.add(f"{first} IS NOT NULL")
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
    where.add(sql, **params)


def geometry_sql(coll: Collection, crs: Crs) -> str:
    geom = coll.geom_sql
    if crs.srid != STORAGE_SRID:
        geom = f"ST_Transform({geom}, {crs.srid})"
    if crs.swap:
        geom = f"ST_FlipCoordinates({geom})"
    return f"ST_AsGeoJSON({geom}, {crs.decimals}, 0)"


def feature_sql(coll: Collection, crs: Crs, properties: list[str] | None, skip_geometry: bool) -> str:
    """One GeoJSON Feature as text, concatenated in SQL (geometry text is not re-parsed)."""
    props = [(n, s) for n, s in coll.properties if properties is None or n in properties]
    props_sql = "json_build_object(" + ", ".join(f"'{n}', {s}" for n, s in props) + ")::text" if props else "'{}'"
    geom = "'null'" if skip_geometry else f"coalesce({geometry_sql(coll, crs)}, 'null')"
    return (
        f"""'{{"type":"Feature","id":' || to_json({coll.id_sql})::text || ',"geometry":' || {geom} """
        f"""|| ',"properties":' || {props_sql} || '}}'"""
    )


def order_sql(coll: Collection, sortby: list[str]) -> tuple[str, bool]:
    """ORDER BY for sortby (+name,-name), always ending with the id so that the order is unique."""
    terms = []
    for item in sortby:
        desc = item.startswith("-")
        name = item.lstrip("+-")
        q = coll.queryables.get(name)
        if q is None or q.type == "geometry":
            raise bad_request(
                f"sortby: {name!r} is not a sortable property of {coll.id!r}; "
                f"sortable: {', '.join(n for n, v in coll.queryables.items() if v.type != 'geometry')}"
            )
        terms.append(f"{q.sql} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}")
    return ", ".join([*terms, coll.id_sql]), bool(terms)


def page_sql(feature: str, src: str, where: Where, order: str, id_sql: str) -> str:
    """The page as one row: features joined as text, how many rows were found (limit+1 means more), last id."""
    return f"""
        WITH page AS (
            SELECT {id_sql} AS _id, {feature} AS f, row_number() OVER (ORDER BY {order}) AS rn
            FROM {src} WHERE {where.sql}
            ORDER BY {order}
            LIMIT %(lim1)s OFFSET %(off)s)
        SELECT count(*) AS fetched,
               coalesce(string_agg(f, ',' ORDER BY rn) FILTER (WHERE rn <= %(off)s + %(lim)s), '') AS body,
               max(_id::text) FILTER (WHERE rn = %(off)s + %(lim)s) AS last_id
        FROM page"""


def count_sql(src: str, where: Where) -> str:
    return f"SELECT count(*) AS n FROM {src} WHERE {where.sql}"
