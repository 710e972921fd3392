"""Loading a validated delivery, in the caller's transaction: assets through the registry's bulk write path
(`registry.bulk.upsert_staged`: staged, set-based, with the registry's rules), then the reference layers.

What stays here is the importer's part: the progress of the delivery and the wording of its report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from netzatlas.importers.report import Report
from netzatlas.importers.validate import Plan
from netzatlas.registry import bulk, reference

Progress = Callable[[str, int, int], None]


def _reason(r: bulk.Refusal) -> tuple[str, str, str]:
    """(field, reason, problem type) of a row the registry refused."""
    if r.reason == "retired" and r.merged_into:
        why = f"was merged into the shared site {r.merged_into}; leave it out (a planner delivers the shared site)"
        return "external_id", why, "retired"
    if r.reason == "retired":
        return "external_id", "was retired; register it anew", "retired"
    return (
        "sensitivity",
        f"cannot be lowered from {r.was} to {r.now} with a partner key; leave it empty to keep it",
        "forbidden",
    )


def load_assets(conn: psycopg.Connection, plan: Plan, submission_id: Any, report: Report, progress: Progress) -> bool:
    """Write the plan's assets; False (nothing written) when the registry state forbids it (report says why)."""
    result = bulk.upsert_staged(conn, plan.assets, submission_id, progress)
    for r in result.refusals:
        report.add(r.layer, r.idx, r.external_id, *_reason(r))
    if not result.written:
        return False
    for kind, counts in result.counts.items():
        report.counts[kind] = counts
        if n := result.removed_unknown.get(kind):
            report.notes.append(f"{kind}: {n} feature(s) marked removed are not in the registry; ignored")
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
