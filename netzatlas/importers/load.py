"""Loading a validated delivery: COPY into a TEMP staging table, then set-based writes, in the caller's transaction.

The rules are the registry's: "unchanged" is `service.same_state_sql`, every change raises the version by
one (the assets_guard trigger insists), retiring replaces deleting, the history trigger records each
version with the actor of the transaction (`db.set_actor`), and every written asset names its submission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from netzatlas.importers.report import Report
from netzatlas.importers.validate import Plan
from netzatlas.registry import access, reference
from netzatlas.registry.kinds import KINDS
from netzatlas.registry.service import STORAGE_SRID, Conflict, same_state_sql

STAGE = """CREATE TEMP TABLE import_stage (
    kind text, layer text, idx integer, external_id text, name text, status text, sensitivity text,
    commissioned_on date, decommissioned_on date, attributes jsonb, wkb bytea, removed boolean, municipality text,
    operator text, keep text[]
) ON COMMIT DROP"""

NEW = {
    "name": "s.name",
    "status": "s.status",
    "sensitivity": "s.sensitivity",
    "commissioned_on": "s.commissioned_on",
    "decommissioned_on": "s.decommissioned_on",
    "attributes": "s.attributes",
    "geom": "s.geom",
}

Progress = Callable[[str, int, int], None]


def load_assets(conn: psycopg.Connection, plan: Plan, submission_id: Any, report: Report, progress: Progress) -> bool:
    """Write the plan's assets; False (nothing written) when the registry state forbids it (report says why)."""
    total = sum(len(r) for r in plan.assets.values())
    if total == 0:
        return True
    # The set-based statements over a whole delivery are costed high enough for JIT compilation, which takes
    # longer than it saves here (matching 100,000 routes: 4.6 s with it, 1.2 s without): off until the load commits.
    conn.execute("SET LOCAL jit = off")
    conn.execute("DROP TABLE IF EXISTS import_stage, import_match")
    conn.execute(STAGE)
    done = 0
    with conn.cursor().copy("COPY import_stage FROM STDIN") as copy:
        for kind, rows in plan.assets.items():
            for r in rows:
                copy.write_row((kind, *r))
                done += 1
                if done % 20000 == 0:
                    progress("staging", done, total)
    progress("staging", total, total)
    # Each row names its operator (one delivery may cover several, validate.py checks who may write which).
    # A delivery that leaves sensitivity empty keeps the registered asset's; a new asset gets its kind's default.
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
    conn.execute(
        f"""CREATE TEMP TABLE import_match ON COMMIT DROP AS
            SELECT s.*, a.id AS asset_id, a.version AS asset_version, a.retired_at IS NOT NULL AS was_retired,
                   (a.id IS NOT NULL AND NOT s.removed AND {same_state_sql("a", NEW)}) AS same
            FROM (SELECT st.*, ST_SetSRID(ST_GeomFromWKB(st.wkb), {STORAGE_SRID}) AS geom FROM import_stage st) s
            LEFT JOIN assets a ON a.operator = s.operator AND a.kind = s.kind AND a.external_id = s.external_id"""
    )
    conflicts = conn.execute(
        "SELECT layer, idx, external_id FROM import_match WHERE was_retired AND NOT removed AND NOT same "
        "ORDER BY layer, idx"
    ).fetchall()
    for c in conflicts:
        report.add(c["layer"], c["idx"], c["external_id"], "external_id", "was retired; register it anew", "retired")
    if conflicts:
        return False
    if access.current().role not in access.SEES_ALL:
        # a partner may not lower a sensitivity (the database refuses it too, migration 0007): name each row
        rank = "CASE {} WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END"
        lowered = conn.execute(
            f"""SELECT m.layer, m.idx, m.external_id, a.sensitivity AS was, m.sensitivity AS now
                FROM import_match m JOIN assets a ON a.id = m.asset_id AND a.kind = m.kind
                WHERE NOT m.removed AND {rank.format("m.sensitivity")} < {rank.format("a.sensitivity")}
                ORDER BY m.layer, m.idx"""
        ).fetchall()
        for r in lowered:
            reason = f"cannot be lowered from {r['was']} to {r['now']} with a partner key; leave it empty to keep it"
            report.add(r["layer"], r["idx"], r["external_id"], "sensitivity", reason, "forbidden")
        if lowered:
            return False
    progress("writing", 0, 3)
    args = {"op": plan.operator, "sub": submission_id}
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
        report.counts[row["kind"]] = {k: int(row[k]) for k in ("created", "updated", "retired", "unchanged")}
        if row["removed_unknown"]:
            report.notes.append(
                f"{row['kind']}: {row['removed_unknown']} feature(s) marked removed are not in the registry; ignored"
            )
    assert created == sum(c["created"] for c in report.counts.values() if "created" in c)
    return True


def load_reference(conn: psycopg.Connection, plan: Plan, report: Report) -> None:
    for ags, districts in plan.districts.items():
        before = conn.execute("SELECT count(*) AS n FROM districts WHERE municipality = %s", (ags,)).fetchone()["n"]
        reference.upsert_districts(conn, ags, districts)
        after = conn.execute("SELECT count(*) AS n FROM districts WHERE municipality = %s", (ags,)).fetchone()["n"]
        c = report.counts.setdefault("districts", {"created": 0, "delivered": 0})
        c["created"] += after - before
        c["delivered"] += len(districts)
    for (ags, source), buildings in plan.buildings.items():
        changed = reference.upsert_buildings(conn, ags, source, buildings, None)
        c = report.counts.setdefault("buildings", {"changed": 0, "unchanged": 0})
        c["changed"] += changed
        c["unchanged"] += len(buildings) - changed
    if plan.cells:
        changed = reference.upsert_population_cells(conn, plan.cells, plan.cell_attribution or "")
        report.counts["population-cells"] = {"changed": changed, "unchanged": len(plan.cells) - changed}
        if plan.secret_cells:
            report.counts["population-cells"]["secret"] = plan.secret_cells
            report.notes.append(
                f"{plan.secret_cells} cell(s) kept secret (– in the source): stored without a population, not as 0"
            )
    if plan.district_population:
        changed = reference.upsert_district_population(conn, plan.district_population)
        n = len(plan.district_population)
        report.counts["district-population"] = {"changed": changed, "unchanged": n - changed}
