"""The registry's bulk write path: many assets in one staged, set-based upsert, in the caller's transaction.

COPY into a TEMP staging table, match it against `assets` by (operator, kind, external_id), then one INSERT of
the new assets, one UPDATE of the changed ones and one UPDATE retiring the removed ones. The rules are those of
the single-asset writes (registry/service.py): "unchanged" is `service.same_state_sql`, every change raises the
version by one (the assets_guard trigger insists), retiring replaces deleting, the history trigger records each
version with the actor of the transaction (`db.set_actor`), and every written asset names its submission.

Partner deliveries (importers/load.py) load through `upsert_staged`; what the registry refuses comes back as
data (`Refusal`), for the importer to word in its report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from netzatlas.registry import access, sites
from netzatlas.registry.kinds import KINDS
from netzatlas.registry.service import STORAGE_SRID, Conflict, same_state_sql

# One staged row, in the order of `StagedRow`; the kind comes from the mapping the rows are given in.
STAGE = """CREATE TEMP TABLE import_stage (
    kind text, layer text, idx integer, external_id text, name text, status text, sensitivity text,
    commissioned_on date, decommissioned_on date, attributes jsonb, wkb bytea, removed boolean, municipality text,
    operator text, keep text[]
) ON COMMIT DROP"""
# (layer, idx, external_id, name, status, sensitivity or None: the registered one, else the kind's default,
#  commissioned_on, decommissioned_on, attributes as JSON text, geometry as WKB in the storage CRS or None when
#  removed, removed, municipality, operator, keep: attribute keys (children) that stay as registered)
StagedRow = tuple[Any, ...]

NEW = {
    "name": "s.name",
    "status": "s.status",
    "sensitivity": "s.sensitivity",
    "commissioned_on": "s.commissioned_on",
    "decommissioned_on": "s.decommissioned_on",
    "attributes": "s.attributes",
    "geom": "s.geom",
}

COUNTS = ("created", "updated", "retired", "unchanged")

Progress = Callable[[str, int, int], None]


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class Refusal:
    """A staged row the registry refuses: `retired` (an asset retired earlier comes back changed) or
    `lowered` (a partner lowering the registered sensitivity from `was` to `now`). `merged_into`: the site a
    retired mobile site was merged into (registry/sites.py), when the caller may read it."""

    reason: str  # "retired" or "lowered"
    layer: str
    idx: int
    external_id: str
    was: str | None = None
    now: str | None = None
    merged_into: str | None = None


@dataclass
class BulkResult:
    written: bool  # False: refused, nothing written (see refusals)
    refusals: list[Refusal] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> COUNTS
    removed_unknown: dict[str, int] = field(default_factory=dict)  # kind -> rows marked removed, not registered


def _stated_operators(conn: psycopg.Connection) -> list[str]:
    """The operators a delivery speaks for: those of its mobile-site rows, of their antennas and of their
    operator lists. A partner key speaks for its own operator only, whatever its rows list."""
    caller = access.current()
    if caller.role not in access.SEES_ALL:
        return [caller.operator or ""]
    rows = conn.execute(
        """SELECT operator AS o FROM import_stage WHERE kind = 'mobile-sites'
           UNION SELECT x ->> 'operator' FROM import_stage s,
                 jsonb_array_elements(coalesce(s.attributes -> 'antennas', '[]')) x WHERE s.kind = 'mobile-sites'
           UNION SELECT o FROM import_stage s, jsonb_array_elements_text(coalesce(s.attributes -> 'operators', '[]')) o
                 WHERE s.kind = 'mobile-sites'"""
    ).fetchall()
    return sorted(r["o"] for r in rows if r["o"])


def _keep_other_operators(conn: psycopg.Connection, stated: list[str]) -> None:
    """A delivery states the antennas of the operators it speaks for (`stated`): on a site shared with other
    operators (a planner's register, or sites merged by registry/sites.py) their antennas and their place in
    `operators` stay as registered. So Telekom's own file, delivered with its key or loaded by a planner or the
    CLI, never drops Vodafone's antennas from a shared mast, while a register naming Vodafone replaces them.
    Antennas in the order registry/mobile.py gives them (operator, antenna id, by code point), operators
    delivered first."""
    others = (
        "SELECT x FROM jsonb_array_elements(a.attributes -> 'antennas') x "
        "WHERE NOT (x ->> 'operator') = ANY(%(stated)s)"
    )
    other_ops = (
        "SELECT o, n FROM jsonb_array_elements(a.attributes -> 'operators') WITH ORDINALITY r(o, n) "
        "WHERE NOT (o #>> '{}') = ANY(%(stated)s)"
    )
    conn.execute(
        f"""UPDATE import_stage s SET attributes = s.attributes || jsonb_build_object(
                'antennas', (SELECT coalesce(jsonb_agg(x ORDER BY x ->> 'operator' COLLATE "C",
                                                       x ->> 'antenna_id' COLLATE "C"), '[]')
                             FROM (SELECT jsonb_array_elements(coalesce(s.attributes -> 'antennas', '[]')) x
                                   UNION ALL {others}) t),
                'operators', (SELECT coalesce(jsonb_agg(o ORDER BY n), '[]')
                              FROM (SELECT o, min(n) AS n FROM (
                                      SELECT o, n FROM jsonb_array_elements(coalesce(s.attributes -> 'operators',
                                                                                     '[]')) WITH ORDINALITY d(o, n)
                                      UNION ALL SELECT o, 1000000 + n FROM ({other_ops}) r) u GROUP BY o) v))
           FROM assets a
           WHERE s.kind = 'mobile-sites' AND NOT s.removed AND NOT 'antennas' = ANY(coalesce(s.keep, '{{}}'))
             AND a.kind = s.kind AND a.operator = s.operator AND a.external_id = s.external_id
             AND (EXISTS ({others}) OR EXISTS ({other_ops}))""",
        {"stated": stated},
    )


def upsert_staged(
    conn: psycopg.Connection,
    rows: Mapping[str, Sequence[StagedRow]],
    submission_id: Any,
    progress: Progress = _no_progress,
) -> BulkResult:
    """Create, update or retire the staged rows (per kind) as one set; nothing is written when the registry
    refuses a row (retired earlier, sensitivity lowered by a partner). Raises Conflict when assets of the set
    changed while it was loading. `progress(phase, done, total)` hears of staging and writing."""
    total = sum(len(v) for v in rows.values())
    result = BulkResult(written=True)
    if total == 0:
        return result
    # The set-based statements over a whole delivery are costed high enough for JIT compilation, which takes
    # longer than it saves here (matching 100,000 routes: 4.6 s with it, 1.2 s without): off until the load commits.
    conn.execute("SET LOCAL jit = off")
    conn.execute("DROP TABLE IF EXISTS import_stage, import_match")
    conn.execute(STAGE)
    done = 0
    with conn.cursor().copy("COPY import_stage FROM STDIN") as copy:
        for kind, kind_rows in rows.items():
            for r in kind_rows:
                copy.write_row((kind, *r))
                done += 1
                if done % 20000 == 0:
                    progress("staging", done, total)
    progress("staging", total, total)
    # Each row names its operator (one delivery may cover several, importers/validate.py checks who may write
    # which). A row that leaves sensitivity empty keeps the registered asset's; a new asset gets its kind's default.
    defaults = " ".join(f"WHEN '{k.id}' THEN '{k.default_sensitivity}'" for k in KINDS)
    conn.execute(
        f"""UPDATE import_stage s SET sensitivity = coalesce(
                (SELECT a.sensitivity FROM assets a
                 WHERE a.operator = s.operator AND a.kind = s.kind AND a.external_id = s.external_id),
                CASE s.kind {defaults} END)
            WHERE s.sensitivity IS NULL"""
    )
    # Children the delivery does not state (no child table) stay as registered: a missing file never empties them.
    conn.execute(
        """UPDATE import_stage s SET attributes = s.attributes || coalesce(
                (SELECT jsonb_object_agg(k, a.attributes -> k) FROM unnest(s.keep) k WHERE a.attributes ? k), '{}')
           FROM assets a
           WHERE cardinality(s.keep) > 0 AND a.operator = s.operator AND a.kind = s.kind
             AND a.external_id = s.external_id"""
    )
    if "mobile-sites" in rows:
        _keep_other_operators(conn, _stated_operators(conn))
    conn.execute(
        f"""CREATE TEMP TABLE import_match ON COMMIT DROP AS
            SELECT s.*, a.id AS asset_id, a.version AS asset_version, a.retired_at IS NOT NULL AS was_retired,
                   (a.id IS NOT NULL AND NOT s.removed AND {same_state_sql("a", NEW)}) AS same
            FROM (SELECT st.*, ST_SetSRID(ST_GeomFromWKB(st.wkb), {STORAGE_SRID}) AS geom FROM import_stage st) s
            LEFT JOIN assets a ON a.operator = s.operator AND a.kind = s.kind AND a.external_id = s.external_id"""
    )
    conflicts = conn.execute(
        "SELECT layer, idx, external_id, kind, asset_id FROM import_match WHERE was_retired AND NOT removed "
        "AND NOT same ORDER BY layer, idx"
    ).fetchall()
    # a mobile site merged into another operator's site (registry/sites.py) is named with the site it went into
    merged = sites.merged_into(conn, [c["asset_id"] for c in conflicts if c["kind"] == sites.KIND])
    result.refusals = [
        Refusal("retired", c["layer"], c["idx"], c["external_id"], merged_into=merged.get(str(c["asset_id"])))
        for c in conflicts
    ]
    if conflicts:
        result.written = False
        return result
    if access.current().role not in access.SEES_ALL:
        # a partner may not lower a sensitivity (the database refuses it too, migration 0007): name each row
        rank = "CASE {} WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END"
        lowered = conn.execute(
            f"""SELECT m.layer, m.idx, m.external_id, a.sensitivity AS was, m.sensitivity AS now
                FROM import_match m JOIN assets a ON a.id = m.asset_id AND a.kind = m.kind
                WHERE NOT m.removed AND {rank.format("m.sensitivity")} < {rank.format("a.sensitivity")}
                ORDER BY m.layer, m.idx"""
        ).fetchall()
        result.refusals = [
            Refusal("lowered", r["layer"], r["idx"], r["external_id"], r["was"], r["now"]) for r in lowered
        ]
        if lowered:
            result.written = False
            return result
    progress("writing", 0, 3)
    args = {"sub": submission_id}
    created = conn.execute(
        """INSERT INTO assets (kind, municipality, operator, external_id, name, status, sensitivity,
                               commissioned_on, decommissioned_on, attributes, geom, submission_id)
           SELECT kind, municipality, operator, external_id, name, status, sensitivity, commissioned_on,
                  decommissioned_on, attributes, geom, %(sub)s
           FROM import_match WHERE asset_id IS NULL AND NOT removed""",
        args,
    ).rowcount
    progress("writing", 1, 3)
    expected = conn.execute(
        """SELECT count(*) FILTER (WHERE asset_id IS NOT NULL AND NOT removed AND NOT same) AS upd,
                  count(*) FILTER (WHERE asset_id IS NOT NULL AND removed AND NOT was_retired) AS ret,
                  count(*) FILTER (WHERE asset_id IS NULL AND removed) AS unknown_removed
           FROM import_match"""
    ).fetchone()
    updated = conn.execute(
        """UPDATE assets a SET name = m.name, status = m.status, sensitivity = m.sensitivity,
                  commissioned_on = m.commissioned_on, decommissioned_on = m.decommissioned_on,
                  attributes = m.attributes, geom = m.geom, submission_id = %(sub)s, version = a.version + 1
           FROM import_match m
           WHERE a.id = m.asset_id AND a.kind = m.kind AND a.version = m.asset_version
             AND m.asset_id IS NOT NULL AND NOT m.removed AND NOT m.same AND a.retired_at IS NULL""",
        args,
    ).rowcount
    progress("writing", 2, 3)
    retired = conn.execute(
        """UPDATE assets a SET retired_at = now(), submission_id = %(sub)s, version = a.version + 1
           FROM import_match m
           WHERE a.id = m.asset_id AND a.kind = m.kind AND a.version = m.asset_version
             AND m.removed AND a.retired_at IS NULL""",
        args,
    ).rowcount
    progress("writing", 3, 3)
    if updated != expected["upd"] or retired != expected["ret"]:
        raise Conflict("assets of this delivery changed while it was loading; nothing was written, try again")
    per_kind = conn.execute(
        """SELECT kind,
                  count(*) FILTER (WHERE asset_id IS NULL AND NOT removed) AS created,
                  count(*) FILTER (WHERE asset_id IS NOT NULL AND NOT removed AND NOT same) AS updated,
                  count(*) FILTER (WHERE asset_id IS NOT NULL AND removed AND NOT was_retired) AS retired,
                  count(*) FILTER (WHERE same OR (removed AND was_retired)) AS unchanged,
                  count(*) FILTER (WHERE asset_id IS NULL AND removed) AS removed_unknown
           FROM import_match GROUP BY kind ORDER BY kind"""
    ).fetchall()
    for row in per_kind:
        result.counts[row["kind"]] = {k: int(row[k]) for k in COUNTS}
        if row["removed_unknown"]:
            result.removed_unknown[row["kind"]] = int(row["removed_unknown"])
    assert created == sum(c["created"] for c in result.counts.values())
    return result
