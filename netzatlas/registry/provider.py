"""The registry's assets as a provider bound to one connection: query, get, create, replace, update, retire (and
the bulk load of deliveries), with typed errors. The API's writes (api/transactions.py) go through it.

Every write is the registry's (registry/service.py for single assets, registry/bulk.py for sets); no other
module writes `assets`. Errors: `NotFound`, `Conflict` (retired assets), `DuplicateExternalId`, `StaleVersion`
(the version named is not the asset's) and `ValidationError` (naming each field), all but the last
`RegistryError`s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg

from netzatlas.registry import access, bulk, columns, service
from netzatlas.registry.bulk import BulkResult, Refusal, StagedRow
from netzatlas.registry.kinds import get_kind
from netzatlas.registry.service import (
    ASSET_COLUMNS,
    STORAGE_SRID,
    UPDATABLE,
    AssetInput,
    Conflict,
    DuplicateExternalId,
    NotFound,
    Outcome,
    RegistryError,
    StaleVersion,
)
from netzatlas.registry.validation import Problem, ValidationError

__all__ = [
    "AssetInput",
    "AssetProvider",
    "BulkResult",
    "Conflict",
    "DuplicateExternalId",
    "NotFound",
    "Refusal",
    "RegistryError",
    "StaleVersion",
    "ValidationError",
]

# What a full replacement (PUT) sets a field to when it is left out; sensitivity left out is kept as it is
# (lowering it needs an explicit value, and a planner or admin: migration 0007).
REPLACE_DEFAULTS: dict[str, Any] = {
    "name": None,
    "status": "planned",
    "commissioned_on": None,
    "decommissioned_on": None,
    "attributes": {},
    "geometry": None,
}


def _uuid(asset_id: UUID | str) -> UUID | None:
    if isinstance(asset_id, UUID):
        return asset_id
    try:
        return UUID(str(asset_id))
    except ValueError:
        return None


class AssetProvider:
    """The assets of the registry as the connection's caller sees them (row-level security, migration 0006).

    Writes happen in the connection's transaction (or, on an autocommit connection, each on its own); the
    actor of the history is the transaction's (`db.set_actor`)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------------ reads

    def query(
        self,
        kind: str,
        where: Mapping[str, Any] | None = None,
        *,
        bbox: Sequence[float] | None = None,
        retired: bool = False,
        limit: int | None = 1000,
    ) -> list[dict[str, Any]]:
        """Assets of a kind, ordered by id: `where` maps fields (common ones or the kind's declared attributes)
        to a value (equal) or a list or tuple of values (any of them); `bbox` (minx, miny, maxx, maxy, storage
        CRS) intersects the geometry; retired assets only with `retired=True`."""
        k = get_kind(kind)
        fields = {c.name: c.sql for c in columns.columns(k, "")}
        conditions, params = [], {}
        for i, (name, value) in enumerate((where or {}).items()):
            if name not in fields:
                raise ValidationError(kind, [Problem(name, f"not a field of {kind}; fields: {', '.join(fields)}")])
            if isinstance(value, (list, tuple)):
                conditions.append(f"{fields[name]} = ANY(%(v{i})s)")
                params[f"v{i}"] = list(value)
            else:
                conditions.append(f"{fields[name]} = %(v{i})s")
                params[f"v{i}"] = value
        if bbox is not None:
            conditions.append(f"geom && ST_MakeEnvelope(%(x1)s, %(y1)s, %(x2)s, %(y2)s, {STORAGE_SRID})")
            params.update(zip(("x1", "y1", "x2", "y2"), map(float, bbox), strict=True))
        if not retired:
            conditions.append("retired_at IS NULL")
        sql = f"SELECT {ASSET_COLUMNS} FROM {k.partition} WHERE {' AND '.join(conditions) or 'TRUE'} ORDER BY id"
        if limit is not None:
            sql += " LIMIT %(limit)s"
            params["limit"] = limit
        return self.conn.execute(sql, params).fetchall()

    def get(
        self,
        asset_id: UUID | str,
        *,
        kind: str | None = None,
        as_of: dt.datetime | None = None,
        retired: bool = True,
    ) -> dict[str, Any]:
        """The asset now, or at `as_of`. NotFound when there is none (or no such id), when it is of another kind
        than `kind`, and when it is retired and `retired=False`."""
        uid = _uuid(asset_id)
        where = f" in {kind!r}" if kind else ""
        if uid is None:
            raise NotFound(f"no asset {asset_id!r}{where}")
        row = service.get(self.conn, uid, as_of)
        if (kind is not None and row["kind"] != kind) or (not retired and row["retired_at"] is not None):
            raise NotFound(f"no asset {asset_id!r}{where}")
        return row

    def find(self, kind: str, operator: str, external_id: str) -> dict[str, Any] | None:
        """The asset of an operator by kind and external id, retired or not; None when there is none."""
        return service.find(self.conn, kind, operator, external_id)

    def history(self, asset_id: UUID | str) -> list[dict[str, Any]]:
        """Every version of the asset, oldest first, with valid_from, valid_to, actor and operation."""
        uid = _uuid(asset_id)
        if uid is None:
            raise NotFound(f"no asset {asset_id!r}")
        return service.history(self.conn, uid)

    # ------------------------------------------------------------------ writes

    def create(self, data: AssetInput) -> dict[str, Any]:
        """Register a new asset at version 1. DuplicateExternalId when the operator has one of the kind with
        that external id; ValidationError naming each field."""
        return service.create(self.conn, data)

    def replace(self, asset_id: UUID | str, expected_version: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the asset's updatable fields (PUT): what `fields` leaves out is reset (REPLACE_DEFAULTS), the
        sensitivity is kept. `crs`: the EPSG code of the geometry (default: the storage CRS)."""
        current = self.get(asset_id)
        changes = {**REPLACE_DEFAULTS, "sensitivity": current["sensitivity"], **fields}
        changes["attributes"] = _keep_other_operators(current, changes["attributes"] or {})
        return service.update(self.conn, current["id"], expected_version, changes)

    def update(self, asset_id: UUID | str, expected_version: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the fields given (PATCH). Attributes are merged into the asset's: a key with the value None
        removes it; other attributes stay."""
        unknown = set(changes) - set(UPDATABLE) - {"crs"}
        current = self.get(asset_id)
        if unknown:
            raise ValidationError(current["kind"], [Problem(f, "cannot be changed") for f in sorted(unknown)])
        changes = dict(changes)
        attrs = changes.pop("attributes", None)
        if attrs:
            if not isinstance(attrs, Mapping):
                raise ValidationError(current["kind"], [Problem("attributes", "expected an object")])
            merged = {**current["attributes"], **_keep_other_operators(current, attrs)}
            changes["attributes"] = {k: v for k, v in merged.items() if v is not None}
        return service.update(self.conn, current["id"], expected_version, changes)

    def retire(self, asset_id: UUID | str, expected_version: int) -> dict[str, Any]:
        """Take the asset out of the current state (never deleted; its history stays)."""
        return service.retire(self.conn, self.get(asset_id)["id"], expected_version)

    def upsert(self, data: AssetInput) -> tuple[Outcome, dict[str, Any]]:
        """Create, or update by (operator, kind, external_id) when anything differs; the same input changes
        nothing ("unchanged")."""
        return service.upsert(self.conn, data)

    def load(
        self,
        rows: Mapping[str, Sequence[StagedRow]],
        submission_id: Any,
        progress: bulk.Progress = bulk._no_progress,
    ) -> BulkResult:
        """Many assets in one set-based upsert (registry/bulk.py), as deliveries load: nothing is written when
        the registry refuses a row (BulkResult.refusals)."""
        return bulk.upsert_staged(self.conn, rows, submission_id, progress)


def _keep_other_operators(current: Mapping[str, Any], attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A partner's write of its mobile site states its own operator's antennas: those of other operators on a
    shared site (a planner's register, a merge by registry/sites.py) and their place in `operators` stay, as
    in deliveries (registry/bulk.py). Antennas of another operator in a partner's write are an error."""
    attrs = dict(attrs)
    caller = access.current()
    antennas = attrs.get("antennas")
    if current["kind"] != "mobile-sites" or caller.role in access.SEES_ALL or not isinstance(antennas, list):
        return attrs
    own = current["operator"]
    foreign = [
        Problem(f"antennas[{i}].operator", f"{a['operator']!r}: a partner key writes only {own!r}'s antennas")
        for i, a in enumerate(antennas)
        if isinstance(a, Mapping) and a.get("operator") not in (None, own)
    ]
    if foreign:
        raise ValidationError(current["kind"], foreign)
    registered = current["attributes"]
    others = [a for a in registered.get("antennas") or [] if a.get("operator") != own]
    if others:
        attrs["antennas"] = [*antennas, *others]
        stated = attrs.get("operators") if isinstance(attrs.get("operators"), list) else [own]
        attrs["operators"] = [*stated, *(o for o in registered.get("operators") or [] if o != own and o not in stated)]
    return attrs
