"""The data inventory (Dateninventur): every holding of the installation, the non-public ones included.

Rows are built from what the caller's connection may read: the asset groups below are counted under
row-level security with the caller's own rights, so an anonymous caller never learns how many hidden rows
exist; the public rows are the catalogue's datasets (read as the anonymous caller).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from netzatlas.catalog.datasets import Dataset, Left
from netzatlas.registry.kinds import KINDS

ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/"
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
# DCAT-AP access rights per sensitivity of the registry (migration 0006 decides who reads what).
RIGHTS = {"public": "PUBLIC", "internal": "RESTRICTED", "critical": "NON_PUBLIC"}
EVERYONE = ("anonymous", "partner", "planner", "admin")

# Per (kind, municipality, sensitivity, operator): counted under the caller's row-level security.
ASSET_GROUPS = """SELECT kind, municipality, sensitivity, operator, count(*) AS n,
        count(DISTINCT submission_id) AS deliveries, max(updated_at) AS last
    FROM assets WHERE retired_at IS NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
# Succeeded runs the public does not see (read only for planners and admins).
HIDDEN_RUNS = """SELECT id::text AS id, analysis, municipality, sensitivity, coalesce(finished_at, created_at) AS last
    FROM coverage_runs WHERE status = 'succeeded' AND sensitivity <> 'public' AND published_at IS NULL
    ORDER BY created_at, id"""


@dataclass
class Entry:
    id: str  # for public entries the catalogue dataset's id
    layer: str
    title: str
    municipalities: list[str]
    owners: list[str]  # operators (for the city's own data: its department as an operator)
    features: int | None
    sensitivity: str
    access_rights: str  # PUBLIC, RESTRICTED, NON_PUBLIC
    reason: str | None  # why not public
    frequency: str | None  # EU frequency table: IRREG, NEVER, UNKNOWN
    last_change: dt.datetime | None
    deliveries: dict[str, int] = field(default_factory=dict)  # operator -> submissions its rows came from
    readers: list[str] = field(default_factory=list)  # API roles that read it
    catalogue: bool = False  # listed in /catalog

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["access_rights"] = ACCESS_RIGHTS + self.access_rights
        out["last_change"] = self.last_change.isoformat() if self.last_change else None
        if self.frequency:
            out["frequency"] = FREQUENCY + self.frequency
        return out


def _reason(sensitivity: str, owners: list[str]) -> str | None:
    if sensitivity == "critical":
        return (
            "Critical infrastructure (KRITIS): positions of critical network elements are not published, as in the "
            "Bundesnetzagentur's Infrastrukturatlas practice (planners only, no open download)"
        )
    if sensitivity == "internal":
        return f"Internal: business data of {', '.join(owners)}, shared with the city for planning only"
    return None


def _readers(sensitivity: str, owners: list[str]) -> list[str]:
    if sensitivity == "public":
        return list(EVERYONE)
    return ["planner", "admin", *(f"partner ({o}, own rows)" for o in owners)]


def build(
    datasets: list[Dataset],
    groups: list[dict[str, Any]],
    left: list[Left] | None = None,
    hidden_runs: list[dict[str, Any]] | None = None,
) -> list[Entry]:
    """The inventory: `datasets` (the catalogue, anonymous), `groups` (ASSET_GROUPS as the caller reads them);
    `left` and `hidden_runs` only for callers who see everything."""
    titles = {k.id: k.title for k in KINDS}
    merged: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for g in groups:
        merged.setdefault((g["kind"], g["municipality"], g["sensitivity"]), []).append(g)
    out: list[Entry] = []
    for (kind, ags, sens), rows in merged.items():
        owners = sorted({r["operator"] for r in rows})
        entry_id = f"registry-{kind}-{ags}" if sens == "public" else f"registry-{kind}-{ags}-{sens}"
        out.append(
            Entry(
                id=entry_id,
                layer=kind,
                title=f"{titles.get(kind, kind)} – {ags}" + ("" if sens == "public" else f" ({sens})"),
                municipalities=[ags],
                owners=owners,
                features=sum(r["n"] for r in rows),
                sensitivity=sens,
                access_rights=RIGHTS.get(sens, "NON_PUBLIC"),
                reason=_reason(sens, owners),
                frequency="IRREG",  # partner deliveries and edits arrive when they arrive
                last_change=max(r["last"] for r in rows),
                deliveries={r["operator"]: r["deliveries"] for r in rows if r["deliveries"]},
                readers=_readers(sens, owners),
            )
        )
    registry_ids = {e.id for e in out}
    for d in datasets:
        if d.id in registry_ids:
            continue
        layer = d.distributions[0].collection if d.distributions else d.id
        out.append(
            Entry(
                id=d.id,
                layer=layer,
                title=d.title,
                municipalities=list(d.municipalities),
                owners=[],
                features=d.features or None,
                sensitivity="public",
                access_rights="PUBLIC",
                reason=None,
                frequency="NEVER" if d.id.startswith("coverage-") else None,  # a run is a snapshot
                last_change=d.modified,
                readers=list(EVERYONE),
            )
        )
    for item in left or []:
        out.append(
            Entry(
                id=f"left-{len(out)}",
                layer=item.layer.split()[0],
                title=item.layer,
                municipalities=[],
                owners=[],
                features=None,
                sensitivity="public",
                access_rights="RESTRICTED",
                reason=f"Licence of the supplier: {item.reason}",
                frequency=None,
                last_change=None,
                readers=list(EVERYONE),  # readable in the API, not republished as open data
            )
        )
    for r in hidden_runs or []:
        out.append(
            Entry(
                id=f"coverage-{r['id']}",
                layer="coverage-cells",
                title=f"{r['analysis']} coverage – {r['municipality']} (run {r['id']})",
                municipalities=[r["municipality"]],
                owners=[],
                features=None,
                sensitivity=r["sensitivity"],
                access_rights=RIGHTS.get(r["sensitivity"], "NON_PUBLIC"),
                reason=f"Derived from {r['sensitivity']} inputs and not published by a planner",
                frequency="NEVER",
                last_change=r["last"],
                readers=["planner", "admin"],
            )
        )
    ids = {d.id for d in datasets}
    for e in out:
        e.catalogue = e.id in ids
    out.sort(key=lambda e: (e.access_rights != "PUBLIC", e.id))
    return out


CSV_COLUMNS = (
    "id",
    "layer",
    "title",
    "municipalities",
    "owners",
    "features",
    "sensitivity",
    "access_rights",
    "reason",
    "frequency",
    "last_change",
    "deliveries",
    "readers",
    "catalogue",
)


def csv_row(e: Entry) -> list[str]:
    r = e.record()
    r["municipalities"] = " ".join(e.municipalities)
    r["owners"] = " ".join(e.owners)
    r["readers"] = "; ".join(e.readers)
    r["deliveries"] = " ".join(f"{k}:{v}" for k, v in sorted(e.deliveries.items()))
    return ["" if r[c] is None else str(r[c]) for c in CSV_COLUMNS]
