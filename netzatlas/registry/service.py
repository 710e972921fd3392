"""The registry's writes of single assets: create, update, retire (never delete), with history and locking.
With registry/bulk.py (the staged upsert of deliveries) they are the one write path of `assets`; callers use
them through registry/provider.py.

Every change raises the asset's version by one; the database trigger writes each version to
`asset_history` with the actor set on the transaction (`netzatlas.db.set_actor`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from shapely.geometry.base import BaseGeometry

from netzatlas.registry import operators
from netzatlas.registry.kinds import get_kind
from netzatlas.registry.validation import Problem, ValidationError, check_attributes, check_common, check_geometry

STORAGE_SRID = 25832

# Columns of an asset as the registry returns it; geometry as GeoJSON in the storage CRS.
ASSET_COLUMNS = """id, kind, municipality, operator, external_id, name, status, sensitivity, commissioned_on,
    decommissioned_on, attributes, submission_id, version, created_at, updated_at, retired_at,
    ST_AsGeoJSON(geom, 2)::json AS geometry"""


class RegistryError(Exception):
    """Base of the errors the registry reports to its callers."""


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    pass


class DuplicateExternalId(Conflict):
    pass


class StaleVersion(Conflict):
    def __init__(self, asset_id: UUID | str, expected: int, current: int) -> None:
        super().__init__(f"asset {asset_id} is at version {current}, not {expected}: reload and apply the change again")
        self.current = current


@dataclass
class AssetInput:
    kind: str
    operator: str
    external_id: str
    geometry: Mapping[str, Any] | BaseGeometry
    name: str | None = None
    status: str = "planned"
    sensitivity: str | None = None  # None: the kind's default
    municipality: str | None = None  # None: the municipality whose boundary holds the geometry
    commissioned_on: dt.date | str | None = None
    decommissioned_on: dt.date | str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    crs: int = STORAGE_SRID  # EPSG code of the geometry's coordinates
    submission_id: UUID | str | None = None


UPDATABLE = (
    "name",
    "status",
    "sensitivity",
    "commissioned_on",
    "decommissioned_on",
    "attributes",
    "geometry",
    "submission_id",
)


def _geom_sql(param: str) -> str:
    return f"ST_Transform(ST_SetSRID(ST_GeomFromWKB(%({param})s), %({param}_srid)s), {STORAGE_SRID})"


def _prepare(kind_id: str, fields: Mapping[str, Any], partial: bool, operator: str | None = None) -> dict[str, Any]:
    """Validate fields of an asset; return query parameters. Raises ValidationError naming each field.
    `operator`: the asset's operator, the default operator of a mobile site's antennas."""
    kind = get_kind(kind_id)
    problems: list[Problem] = check_common(fields)
    params: dict[str, Any] = {k: fields[k] for k in UPDATABLE if k in fields and k not in ("attributes", "geometry")}
    if not partial or "attributes" in fields:
        attrs = fields.get("attributes") or {}
        if not isinstance(attrs, Mapping):
            problems.append(Problem("attributes", "expected an object"))
        else:
            clean, p = check_attributes(kind, attrs, operator)
            problems += p
            params["attributes"] = Jsonb(clean)
    if not partial or "geometry" in fields:
        srid = int(fields.get("crs") or STORAGE_SRID)
        geom, p = check_geometry(kind, fields.get("geometry"), srid)
        problems += p
        if geom is not None:
            params["geom"] = geom.wkb
            params["geom_srid"] = srid
    if problems:
        raise ValidationError(kind_id, problems)
    return params


def _municipality_for(conn: psycopg.Connection, params: dict[str, Any]) -> str:
    row = conn.execute(
        f"SELECT ags FROM municipalities WHERE ST_Intersects(boundary, {_geom_sql('geom')}) ORDER BY ags LIMIT 1",
        params,
    ).fetchone()
    if not row:
        raise ValidationError("asset", [Problem("geometry", "lies in no registered municipality (check the CRS)")])
    return row["ags"]


def create(conn: psycopg.Connection, data: AssetInput) -> dict[str, Any]:
    kind = get_kind(data.kind)
    fields = vars(data).copy()
    fields["sensitivity"] = data.sensitivity or kind.default_sensitivity
    params = _prepare(data.kind, fields, partial=False, operator=data.operator)
    params.update(
        kind=data.kind,
        operator=data.operator,
        external_id=data.external_id,
        name=data.name,
        status=data.status,
        sensitivity=fields["sensitivity"],
        commissioned_on=data.commissioned_on,
        decommissioned_on=data.decommissioned_on,
        submission_id=data.submission_id,
    )
    params["municipality"] = data.municipality or _municipality_for(conn, params)
    try:
        with conn.transaction():
            row = conn.execute(
                f"""INSERT INTO assets (kind, municipality, operator, external_id, name, status, sensitivity,
                        commissioned_on, decommissioned_on, attributes, geom, submission_id)
                    VALUES (%(kind)s, %(municipality)s, %(operator)s, %(external_id)s, %(name)s, %(status)s,
                        %(sensitivity)s, %(commissioned_on)s, %(decommissioned_on)s, %(attributes)s,
                        {_geom_sql("geom")}, %(submission_id)s)
                    RETURNING {ASSET_COLUMNS}""",
                params,
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise DuplicateExternalId(
            f"{data.kind} with external_id {data.external_id!r} already exists for operator {data.operator!r}"
        ) from None
    except psycopg.errors.ForeignKeyViolation as e:
        ref = _fk_field(e)
        reason = "refers to nothing registered"
        if ref == "operator":  # the savepoint rolled back; the connection can still say what is registered
            reason = str(operators.unknown_operator(conn, data.operator))
        raise ValidationError(data.kind, [Problem(ref, reason)]) from None
    assert row is not None
    return row


def _fk_field(e: psycopg.errors.ForeignKeyViolation) -> str:
    detail = (e.diag.message_detail or "") + (e.diag.constraint_name or "")
    for name in ("operator", "municipality", "submission_id"):
        if name in detail:
            return name
    return "reference"


def get(conn: psycopg.Connection, asset_id: UUID | str, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The asset now, or as it was at `as_of` (from the history)."""
    if as_of is None:
        row = conn.execute(f"SELECT {ASSET_COLUMNS} FROM assets WHERE id = %s", (asset_id,)).fetchone()
    else:
        row = conn.execute(
            f"""SELECT {ASSET_COLUMNS} FROM asset_history
                WHERE id = %s AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)""",
            (asset_id, as_of, as_of),
        ).fetchone()
    if not row:
        when = f" at {as_of.isoformat()}" if as_of else ""
        raise NotFound(f"no asset {asset_id}{when}")
    return row


def find(conn: psycopg.Connection, kind: str, operator: str, external_id: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {ASSET_COLUMNS} FROM assets WHERE kind = %s AND operator = %s AND external_id = %s",
        (kind, operator, external_id),
    ).fetchone()


def history(conn: psycopg.Connection, asset_id: UUID | str) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"""SELECT {ASSET_COLUMNS}, valid_from, valid_to, actor, operation FROM asset_history
            WHERE id = %s ORDER BY version""",
        (asset_id,),
    ).fetchall()
    if not rows:
        raise NotFound(f"no asset {asset_id}")
    return rows


def update(
    conn: psycopg.Connection, asset_id: UUID | str, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply changes to the fields given (UPDATABLE), if the asset is still at expected_version."""
    unknown = set(changes) - set(UPDATABLE) - {"crs"}
    current = get(conn, asset_id)
    if unknown:
        raise ValidationError(current["kind"], [Problem(f, "cannot be changed") for f in sorted(unknown)])
    if current["retired_at"] is not None:
        raise Conflict(f"asset {asset_id} is retired and cannot change")
    params = _prepare(current["kind"], changes, partial=True, operator=current["operator"])
    sets = [f"{k} = %({k})s" for k in params if k not in ("geom", "geom_srid")]
    if "geom" in params:
        sets.append(f"geom = {_geom_sql('geom')}")
    return _bump(conn, asset_id, expected_version, sets, params)


def retire(conn: psycopg.Connection, asset_id: UUID | str, expected_version: int) -> dict[str, Any]:
    """Take an asset out of the registry's current state; it stays in the history."""
    current = get(conn, asset_id)
    if current["retired_at"] is not None:
        raise Conflict(f"asset {asset_id} is already retired")
    return _bump(conn, asset_id, expected_version, ["retired_at = now()"], {})


def _bump(
    conn: psycopg.Connection, asset_id: UUID | str, expected_version: int, sets: list[str], params: dict[str, Any]
) -> dict[str, Any]:
    params = {**params, "id": asset_id, "expected": expected_version}
    row = conn.execute(
        f"""UPDATE assets SET {", ".join([*sets, "version = version + 1"])}
            WHERE id = %(id)s AND version = %(expected)s AND retired_at IS NULL
            RETURNING {ASSET_COLUMNS}""",
        params,
    ).fetchone()
    if row is None:
        current = get(conn, asset_id)
        raise StaleVersion(asset_id, expected_version, current["version"])
    return row


Outcome = Literal["created", "updated", "unchanged"]


def same_state_sql(a: str, new: Mapping[str, str]) -> str:
    """SQL, true when the asset row aliased `a` already holds the new values (SQL expressions in `new`).

    The one definition of "an upsert changes nothing", shared by `upsert` and `bulk.upsert_staged` (deliveries).
    """
    return (
        f"{a}.name IS NOT DISTINCT FROM {new['name']} AND {a}.status = {new['status']} "
        f"AND {a}.sensitivity = {new['sensitivity']} "
        f"AND {a}.commissioned_on IS NOT DISTINCT FROM {new['commissioned_on']}::date "
        f"AND {a}.decommissioned_on IS NOT DISTINCT FROM {new['decommissioned_on']}::date "
        f"AND {a}.attributes = {new['attributes']} AND ST_OrderingEquals({a}.geom, {new['geom']}) "
        f"AND {a}.retired_at IS NULL"
    )


def upsert(conn: psycopg.Connection, data: AssetInput) -> tuple[Outcome, dict[str, Any]]:
    """Create, or update by (operator, kind, external_id) when anything differs; same input changes nothing."""
    existing = find(conn, data.kind, data.operator, data.external_id)
    if existing is None:
        return "created", create(conn, data)
    kind = get_kind(data.kind)
    changes: dict[str, Any] = {
        "name": data.name,
        "status": data.status,
        "sensitivity": data.sensitivity or kind.default_sensitivity,
        "commissioned_on": data.commissioned_on,
        "decommissioned_on": data.decommissioned_on,
        "attributes": data.attributes,
        "geometry": data.geometry,
        "crs": data.crs,
    }
    params = _prepare(data.kind, changes, partial=True, operator=data.operator)
    new = {k: f"%({k})s" for k in ("name", "status", "sensitivity", "commissioned_on", "decommissioned_on")}
    new.update(attributes="%(attributes)s", geom=_geom_sql("geom"))
    same = conn.execute(
        f"SELECT {same_state_sql('a', new)} AS same FROM assets a WHERE a.id = %(id)s",
        {**params, "id": existing["id"]},
    ).fetchone()
    if same and same["same"]:
        return "unchanged", existing
    if existing["retired_at"] is not None:
        raise Conflict(f"{data.kind} {data.external_id!r} of {data.operator!r} was retired; register it anew")
    if data.submission_id:
        changes["submission_id"] = data.submission_id
    return "updated", update(conn, existing["id"], existing["version"], changes)
