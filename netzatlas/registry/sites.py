"""Shared mobile sites (#11): find sites of different operators standing at one place, and merge two into one.

A planner's multi-operator delivery (a site register with an operator column) gives one site asset with several
operators. Two partners delivering with their own keys each write only their own operator's sites, so one
physical mast becomes two site assets a few metres apart. Deliveries never merge them across operators (a
partner key never learns of or changes another operator's assets: row-level security, migration 0006); a
planner, an admin or the CLI (the system) consolidates them here:

- `colocated`: current mobile sites of different operators within a few metres of each other;
- `merge`: the source's antennas (with their cells, each keeping its operator) and operators move into the
  target site, and the source is retired (never deleted), in one transaction through the registry's write path
  (service.update, service.retire: versions and history apply, with the transaction's actor). The history is
  the record of the merge: the target's version that gained the antennas and the source's retirement begin at
  the same instant (`merged_into` finds the target from it).

A later delivery by the source's operator that still holds the source's external id meets a retired asset and
is refused as any retired asset is (registry/bulk.py); the refusal names the site it was merged into when the
caller may read that site (`merged_into` reads under the caller's row-level security).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import psycopg

from netzatlas.db import set_actor
from netzatlas.registry import access, service
from netzatlas.registry.service import Conflict, NotFound, StaleVersion

KIND = "mobile-sites"
TABLE = "assets_mobile_sites"
COLOCATED_M = 5.0  # default distance of `colocated`
MERGE_LIMIT_M = 50.0  # `merge` refuses sites further apart unless forced
SENSITIVITY_RANK = {"public": 1, "internal": 2, "critical": 3}

__all__ = [
    "AntennaCollision",
    "MergeRefused",
    "NotAMobileSite",
    "OtherMunicipality",
    "RetiredSite",
    "SameSite",
    "TooFarApart",
    "colocated",
    "merge",
    "merged_into",
]


class MergeRefused(Conflict):
    """A merge the registry refuses; `reason` names the problem (the subclasses below)."""

    reason = "refused"


class NotAMobileSite(MergeRefused):
    reason = "not_a_mobile_site"


class SameSite(MergeRefused):
    reason = "same_site"


class RetiredSite(MergeRefused):
    reason = "retired"


class OtherMunicipality(MergeRefused):
    reason = "other_municipality"


class TooFarApart(MergeRefused):
    reason = "too_far_apart"


class AntennaCollision(MergeRefused):
    reason = "antenna_collision"

    def __init__(self, message: str, antennas: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.antennas = antennas  # (operator, antenna_id) held by both sites


class NotAllowed(MergeRefused):
    reason = "not_allowed"


def colocated(
    conn: psycopg.Connection, municipality: str | None = None, within_m: float = COLOCATED_M
) -> list[dict[str, Any]]:
    """Pairs of current mobile sites of different operators within `within_m` metres of each other (EPSG:25832,
    ST_DWithin on the geometry index), nearest first. Each pair: `group` (pairs sharing a site share a group),
    `distance_m`, and per side (`a`, `b`) id, operator, operators, external_id, name, municipality, version.
    Reads what the connection's caller may read: the CLI (the system) and planners see every site."""
    if not within_m >= 0:
        raise ValueError("the distance must be 0 m or more")
    fields = ("id", "operator", "external_id", "name", "municipality", "version")

    def side(t: str) -> str:
        pairs = ", ".join(f"'{f}', {t}.{f}" for f in fields)
        return f"jsonb_build_object({pairs}, 'operators', {t}.attributes -> 'operators')"

    # the partition joined with itself: ST_DWithin finds each site's neighbours on the GiST index of geom. The
    # join is costed high enough for JIT compilation, which takes longer than the query (20,000 sites: 0.5 s
    # with it): off for this transaction.
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(
            f"""SELECT {side("a")} AS a, {side("b")} AS b,
                       round(ST_Distance(a.geom, b.geom)::numeric, 2)::float AS distance_m
                FROM {TABLE} a JOIN {TABLE} b
                  ON ST_DWithin(a.geom, b.geom, %(d)s) AND a.id < b.id AND a.operator <> b.operator
                WHERE a.retired_at IS NULL AND b.retired_at IS NULL
                  AND (%(m)s::text IS NULL OR (a.municipality = %(m)s::text AND b.municipality = %(m)s::text))
                ORDER BY distance_m, a.id, b.id""",
            {"m": municipality, "d": float(within_m)},
        ).fetchall()
    # groups: sites linked by any pair (three operators on one mast give three pairs, one group)
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for r in rows:
        parent[root(r["a"]["id"])] = root(r["b"]["id"])
    numbers: dict[str, int] = {}
    out = []
    for r in rows:
        g = numbers.setdefault(root(r["a"]["id"]), len(numbers) + 1)
        out.append({"group": g, "distance_m": r["distance_m"], "a": r["a"], "b": r["b"]})
    return out


def _uuid(value: UUID | str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise NotFound(f"no asset {value!r}") from None


def merge(
    conn: psycopg.Connection,
    source_id: UUID | str,
    into_id: UUID | str,
    expected_versions: Mapping[UUID | str, int] | None = None,
    *,
    force: bool = False,
    limit_m: float = MERGE_LIMIT_M,
    actor: str | None = None,
) -> dict[str, Any]:
    """Merge the mobile site `source_id` into `into_id`: the source's antennas (with their cells and operators)
    and operators join the target's, the target keeps its other attributes (and takes the source's structure,
    heights where it has none) and the higher of the two sensitivities (antennas never become more public than
    they were); the source is retired. One transaction; `actor` (else the transaction's) is in the history.

    Refused with a `MergeRefused` naming the problem: not mobile sites, the same site, either retired, other
    municipalities, further apart than `limit_m` (unless `force`), antennas of one operator with the same id at
    both sites, a caller who is not a planner, admin or the system. `StaleVersion` when `expected_versions`
    ({id: version}) names another version than the registered one; NotFound for an unknown id.

    Returns {"target": the target now, "source": the retired source, "antennas": antennas moved,
    "operators": the target's operators, "distance_m"}."""
    if access.current().role not in access.SEES_ALL:
        raise NotAllowed("only planners and admins merge sites (a partner key sees its own operator's sites only)")
    sid, tid = _uuid(source_id), _uuid(into_id)
    if sid == tid:
        raise SameSite(f"cannot merge site {sid} into itself")
    with conn.transaction():
        if actor:
            set_actor(conn, actor)
        rows = {
            r["id"]: r
            for r in conn.execute(
                "SELECT id, kind, version FROM assets WHERE id = ANY(%s) ORDER BY id FOR UPDATE", ([sid, tid],)
            ).fetchall()
        }
        for uid in (sid, tid):
            if uid not in rows:
                raise NotFound(f"no asset {uid}")
        for uid, role in ((sid, "source"), (tid, "target")):
            if rows[uid]["kind"] != KIND:
                raise NotAMobileSite(f"{role} {uid} is not a mobile site but {rows[uid]['kind']}")
        source, target = service.get(conn, sid), service.get(conn, tid)
        for asset, role in ((source, "source"), (target, "target")):
            if asset["retired_at"] is not None:
                raise RetiredSite(f"{role} site {asset['id']} ({_label(asset)}) is retired")
            expected = _expected(expected_versions, asset["id"])
            if expected is not None and expected != asset["version"]:
                raise StaleVersion(asset["id"], expected, asset["version"])
        if source["municipality"] != target["municipality"]:
            raise OtherMunicipality(
                f"site {sid} lies in municipality {source['municipality']}, site {tid} in {target['municipality']}"
            )
        distance = conn.execute(
            f"SELECT ST_Distance(s.geom, t.geom) AS d FROM {TABLE} s, {TABLE} t WHERE s.id = %s AND t.id = %s",
            (sid, tid),
        ).fetchone()["d"]
        if distance > limit_m and not force:
            raise TooFarApart(
                f"sites {sid} ({_label(source)}) and {tid} ({_label(target)}) are {distance:.1f} m apart, "
                f"more than {limit_m:g} m: not one site (--force merges them anyway)"
            )
        s_attrs, t_attrs = source["attributes"], target["attributes"]
        s_antennas, t_antennas = s_attrs.get("antennas", []), t_attrs.get("antennas", [])
        held = {(a.get("operator"), a.get("antenna_id")) for a in t_antennas}
        both = sorted({(a.get("operator"), a.get("antenna_id")) for a in s_antennas} & held)
        if both:
            names = ", ".join(f"{op}/{aid}" for op, aid in both)
            raise AntennaCollision(f"both sites hold antenna(s) {names}: rename them at one site first", both)
        operators = list(
            dict.fromkeys(
                [
                    *t_attrs.get("operators", []),
                    *s_attrs.get("operators", []),
                    *(a["operator"] for a in s_antennas if a.get("operator")),
                ]
            )
        )
        attributes = {k: v for k, v in s_attrs.items() if k not in ("operators", "antennas")}
        attributes.update(t_attrs)
        attributes.update(operators=operators, antennas=[*t_antennas, *s_antennas])
        sensitivity = max(source["sensitivity"], target["sensitivity"], key=SENSITIVITY_RANK.__getitem__)
        merged = service.update(conn, tid, target["version"], {"attributes": attributes, "sensitivity": sensitivity})
        retired = service.retire(conn, sid, source["version"])
    return {
        "target": merged,
        "source": retired,
        "antennas": len(s_antennas),
        "operators": operators,
        "distance_m": round(distance, 2),
    }


def _expected(expected_versions: Mapping[UUID | str, int] | None, uid: UUID) -> int | None:
    if not expected_versions:
        return None
    for k, v in expected_versions.items():
        if str(k) == str(uid):
            return int(v)
    return None


def _label(asset: Mapping[str, Any]) -> str:
    return f"{asset['operator']} {asset['external_id']!r}"


def merged_into(conn: psycopg.Connection, asset_ids: Iterable[UUID | str]) -> dict[str, str]:
    """The site each of these retired mobile sites was merged into ({source id: target id}, as text), as far as
    the connection's caller may read the target and its history (row-level security): the current site of
    another operator that lists the source's operator and whose version began when the source was retired."""
    ids = [str(i) for i in asset_ids]
    if not ids:
        return {}
    rows = conn.execute(
        f"""SELECT DISTINCT ON (s.id) s.id::text AS source, t.id::text AS target
            FROM {TABLE} s
            JOIN asset_history h ON h.kind = %(kind)s AND h.valid_from = s.retired_at AND h.id <> s.id
                 AND h.operation = 'update'
            JOIN {TABLE} t ON t.id = h.id AND t.retired_at IS NULL AND t.operator <> s.operator
                 AND t.attributes -> 'operators' ? s.operator
            WHERE s.id = ANY(%(ids)s::uuid[]) AND s.retired_at IS NOT NULL
            ORDER BY s.id, t.id""",
        {"kind": KIND, "ids": ids},
    ).fetchall()
    return {r["source"]: r["target"] for r in rows}
