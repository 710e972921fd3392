"""The datasets of the open-data catalogue, found as an anonymous caller sees the registry.

The queries below carry no sensitivity filter of their own: they run on connections that state the anonymous
caller, so row-level security (migration 0006) leaves out internal and critical assets and unpublished runs. A
kind whose assets are all non-public therefore has no rows here and no dataset.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from netzatlas.config import Settings
from netzatlas.registry.kinds import KINDS

LICENSES = "http://dcat-ap.de/def/licenses/"
# The open licences of the DCAT-AP.de licence list: a reference layer is published only under one of these.
OPEN_LICENSES = (
    "dl-by-de/2.0",
    "dl-zero-de/2.0",
    "cc-by/4.0",
    "cc-by-sa/4.0",
    "cc-zero",
    "odbl",
    "odby",
    "odcpddl",
    "officialWork",
    "other-open",
)
# Licence names as data suppliers write them in attribution texts, most specific first.
_LICENSE_PATTERNS = (
    (
        re.compile(r"dl-de[/ -]?by[/ -]?2[-.]0|dl-by-de/2\.0|datenlizenz deutschland.{0,30}namensnennung", re.I),
        "dl-by-de/2.0",
    ),
    (
        re.compile(r"dl-de[/ -]?zero[/ -]?2[-.]0|dl-zero-de/2\.0|datenlizenz deutschland.{0,30}zero", re.I),
        "dl-zero-de/2.0",
    ),
    (re.compile(r"\bODbL\b|open database licen[cs]e|openstreetmap", re.I), "odbl"),
    (re.compile(r"CC[ -]BY[ -]SA[ -]4\.0", re.I), "cc-by-sa/4.0"),
    (re.compile(r"CC[ -]BY[ -]4\.0", re.I), "cc-by/4.0"),
    (re.compile(r"\bCC0\b|CC[ -]zero", re.I), "cc-zero"),
)
# EU data themes (publications.europa.eu authority table data-theme).
THEMES = {"registry": ("TECH", "REGI"), "population": ("SOCI", "REGI"), "boundaries": ("REGI", "GOVE")}
THEMES["buildings"] = ("REGI",)
THEMES["coverage"] = ("TECH", "REGI")
ANALYSIS_TITLES = {"fiber": "Fibre coverage", "mobile": "Mobile coverage", "iot": "IoT connectivity"}


def license_id(value: str) -> str | None:
    """A DCAT-AP.de licence id from a setting ("dl-by-de/2.0" or its full IRI), None when not in the list."""
    lid = value.strip().removeprefix(LICENSES).removeprefix(LICENSES.replace("http:", "https:"))
    return lid if lid in OPEN_LICENSES else None


def license_of_attribution(attribution: str | None, default: str) -> str | None:
    """The licence an attribution text names; the installation's default when the data carries none (the city's
    own data); None when it names no open licence we know (then the layer is not published)."""
    if not attribution or not attribution.strip():
        return default
    for pattern, lid in _LICENSE_PATTERNS:
        if pattern.search(attribution):
            return lid
    return None


@dataclass
class Distribution:
    title: str
    access_url: str  # relative to the base URL
    collection: str
    media_type: str = "application/geo+json"
    file_type: str = "GEOJSON"
    # a download snapshot of `netzatlas opendata build` (then access_url is the file's URL too)
    download: bool = False
    byte_size: int | None = None


@dataclass
class Dataset:
    id: str  # stable: the fragment of the dataset's IRI
    title: str
    description: str
    themes: tuple[str, ...]
    keywords: tuple[str, ...]
    license: str  # DCAT-AP.de licence id
    attribution: str | None
    municipalities: tuple[str, ...]  # AGS of the political geocoding
    bbox: tuple[float, float, float, float] | None  # CRS84
    modified: dt.datetime
    issued: dt.datetime | None
    distributions: list[Distribution] = field(default_factory=list)
    temporal: tuple[dt.date | None, dt.date | None] | None = None
    features: int = 0


@dataclass
class Left:
    """A layer left out of the catalogue, and why (reported by `netzatlas catalog check`)."""

    layer: str
    reason: str


_EXTENT = """ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2"""


def _ext(geom: str) -> str:
    return f"ST_Transform(ST_SetSRID(ST_Extent({geom})::geometry, 25832), 4326) AS e"


QUERIES: dict[str, str] = {
    "changes": "SELECT layer, changed_at FROM layer_changes",
    "municipalities": f"""SELECT ags, name, created_at, {_EXTENT} FROM (
            SELECT ags, name, created_at, {_ext("boundary")} FROM municipalities GROUP BY ags, name, created_at) s
        ORDER BY ags""",
    "registry": f"""SELECT kind, municipality, n, issued, first, {_EXTENT} FROM (
            SELECT a.kind, a.municipality, count(*) AS n, min(a.created_at) AS issued,
                   min(a.commissioned_on) AS first, {_ext("a.geom")}
            FROM assets a WHERE a.retired_at IS NULL GROUP BY a.kind, a.municipality) s
        ORDER BY kind, municipality""",
    "districts": f"""SELECT municipality, n, {_EXTENT} FROM (
            SELECT municipality, count(*) AS n, {_ext("boundary")} FROM districts GROUP BY municipality) s
        ORDER BY municipality""",
    "buildings": f"""SELECT municipality, source, attribution, n, {_EXTENT} FROM (
            SELECT municipality, source, attribution, count(*) AS n, {_ext("geom")}
            FROM buildings WHERE municipality IS NOT NULL GROUP BY municipality, source, attribution) s
        ORDER BY municipality, source""",
    "population": f"""SELECT source, year, resolution_m, attribution, n, {_EXTENT},
                (SELECT array_agg(m.ags ORDER BY m.ags) FROM municipalities m
                  WHERE m.boundary && ST_Transform(s.e, 25832)) AS ags
        FROM (SELECT source, year, resolution_m, attribution, count(*) AS n, {_ext("geom")}
              FROM population_cells GROUP BY source, year, resolution_m, attribution) s
        ORDER BY source, year, resolution_m""",
    "runs": f"""SELECT r.id::text AS id, r.analysis, r.municipality, r.created_at, r.finished_at, r.published_at,
               r.sensitivity, {_EXTENT}
        FROM coverage_runs r JOIN (SELECT ags, {_ext("boundary")} FROM municipalities GROUP BY ags) m
          ON m.ags = r.municipality
        WHERE r.status = 'succeeded' ORDER BY r.created_at, r.id""",
}


def _bbox(row: dict[str, Any]) -> tuple[float, float, float, float] | None:
    if row.get("x1") is None:
        return None
    return (round(row["x1"], 6), round(row["y1"], 6), round(row["x2"], 6), round(row["y2"], 6))


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-").lower() or "x"


def build(rows: dict[str, list[dict[str, Any]]], settings: Settings) -> tuple[list[Dataset], list[Left]]:
    """The datasets from the rows of QUERIES (read as the anonymous caller), and the layers left out."""
    default = license_id(settings.catalog_license) or "dl-by-de/2.0"
    changed = {r["layer"]: r["changed_at"] for r in rows["changes"]}
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    names = {r["ags"]: r["name"] for r in rows["municipalities"]}
    kinds = {k.id: k for k in KINDS}
    out: list[Dataset] = []
    left: list[Left] = []

    for r in rows["registry"]:
        kind, ags = kinds.get(r["kind"]), r["municipality"]
        if kind is None:
            continue
        place = names.get(ags, ags)
        out.append(
            Dataset(
                id=f"registry-{kind.id}-{ags}",
                title=f"{kind.title} – {place}",
                description=f"{kind.description} Public assets of {place} (AGS {ags}) in the infrastructure "
                "registry; internal and critical infrastructure is not part of this dataset.",
                themes=THEMES["registry"],
                keywords=("infrastructure", kind.id.replace("-", " "), place),
                license=default,
                attribution=None,
                municipalities=(ags,),
                bbox=_bbox(r),
                modified=changed.get("assets", epoch),
                issued=r["issued"],
                temporal=(r["first"], None) if r["first"] else None,
                features=r["n"],
                distributions=[
                    Distribution(
                        f"{kind.title} of {place} (OGC API Features, GeoJSON)",
                        f"/collections/{kind.id}/items?municipality={ags}",
                        kind.id,
                    )
                ],
            )
        )

    for r in rows["municipalities"]:
        ags = r["ags"]
        out.append(
            Dataset(
                id=f"reference-municipality-{ags}",
                title=f"Municipal boundary – {r['name']}",
                description=f"The boundary of {r['name']} (AGS {ags}) as registered in the installation.",
                themes=THEMES["boundaries"],
                keywords=("boundary", "municipality", r["name"]),
                license=default,
                attribution=None,
                municipalities=(ags,),
                bbox=_bbox(r),
                modified=changed.get("municipalities", epoch),
                issued=r["created_at"],
                features=1,
                distributions=[
                    Distribution(
                        f"Boundary of {r['name']} (OGC API Features, GeoJSON)",
                        f"/collections/municipalities/items/{ags}",
                        "municipalities",
                    )
                ],
            )
        )

    for r in rows["districts"]:
        ags = r["municipality"]
        place = names.get(ags, ags)
        out.append(
            Dataset(
                id=f"reference-districts-{ags}",
                title=f"Districts – {place}",
                description=f"The districts (Ortsbezirke, Stadtteile) of {place} (AGS {ags}).",
                themes=THEMES["boundaries"],
                keywords=("districts", "boundary", place),
                license=default,
                attribution=None,
                municipalities=(ags,),
                bbox=_bbox(r),
                modified=changed.get("districts", epoch),
                issued=None,
                features=r["n"],
                distributions=[
                    Distribution(
                        f"Districts of {place} (OGC API Features, GeoJSON)",
                        f"/collections/districts/items?municipality={ags}",
                        "districts",
                    )
                ],
            )
        )

    for r in rows["buildings"]:
        ags, source = r["municipality"], r["source"]
        place = names.get(ags, ags)
        lid = license_of_attribution(r["attribution"], default)
        if lid is None:
            left.append(
                Left(f"buildings of {ags} from {source}", f"no open licence in its attribution: {r['attribution']!r}")
            )
            continue
        out.append(
            Dataset(
                id=f"reference-buildings-{ags}-{_slug(source)}",
                title=f"Buildings – {place} ({source})",
                description=f"Buildings of {place} (AGS {ags}) from {source}, with households where known.",
                themes=THEMES["buildings"],
                keywords=("buildings", place),
                license=lid,
                attribution=r["attribution"] or None,
                municipalities=(ags,),
                bbox=_bbox(r),
                modified=changed.get("buildings", epoch),
                issued=None,
                features=r["n"],
                distributions=[
                    Distribution(
                        f"Buildings of {place} from {source} (OGC API Features, GeoJSON)",
                        f"/collections/buildings/items?municipality={ags}&source={source}",
                        "buildings",
                    )
                ],
            )
        )

    for r in rows["population"]:
        source, year = r["source"], r["year"]
        label = f"{source}{f' {year}' if year else ''}, {r['resolution_m']} m"
        lid = license_of_attribution(r["attribution"], default)
        if lid is None:
            left.append(Left(f"population cells {label}", f"no open licence in its attribution: {r['attribution']!r}"))
            continue
        year_part = f"&year={year}" if year else ""
        out.append(
            Dataset(
                id=f"reference-population-{_slug(source)}-{year or 'na'}-{r['resolution_m']}m",
                title=f"Population grid – {label}",
                description=f"Population per INSPIRE grid cell of {r['resolution_m']} m ({label}).",
                themes=THEMES["population"],
                keywords=("population", "INSPIRE grid", "census"),
                license=lid,
                attribution=r["attribution"] or None,
                municipalities=tuple(r["ags"] or ()),
                bbox=_bbox(r),
                modified=changed.get("population_cells", epoch),
                issued=None,
                temporal=(dt.date(year, 1, 1), dt.date(year, 12, 31)) if year else None,
                features=r["n"],
                distributions=[
                    Distribution(
                        f"Population grid {label} (OGC API Features, GeoJSON)",
                        f"/collections/population-cells/items?source={source}&resolution_m={r['resolution_m']}"
                        + year_part,
                        "population-cells",
                    )
                ],
            )
        )

    for r in rows["runs"]:
        # what anonymous callers see of runs: computed from public inputs only, or published by a planner
        ags, run = r["municipality"], r["id"]
        place = names.get(ags, ags)
        title = ANALYSIS_TITLES.get(r["analysis"], r["analysis"])
        day = (r["finished_at"] or r["created_at"]).date().isoformat()
        stamps = [t for t in (r["finished_at"], r["published_at"], changed.get("coverage_cells")) if t]
        out.append(
            Dataset(
                id=f"coverage-{run}",
                title=f"{title} – {place}, {day}",
                description=f"{title} of {place} (AGS {ags}) computed on {day}, aggregated per INSPIRE 100 m cell "
                "and per district (coverage run " + run + ").",
                themes=THEMES["coverage"],
                keywords=("coverage", r["analysis"], place),
                license=default,
                attribution=None,
                municipalities=(ags,),
                bbox=_bbox(r),
                modified=max(stamps) if stamps else epoch,
                issued=r["published_at"] or r["finished_at"],
                distributions=[
                    Distribution(
                        f"{title} per 100 m cell (OGC API Features, GeoJSON)",
                        f"/collections/coverage-cells/items?run_id={run}",
                        "coverage-cells",
                    ),
                    Distribution(
                        f"{title} per district (OGC API Features, GeoJSON)",
                        f"/collections/coverage-districts/items?run_id={run}",
                        "coverage-districts",
                    ),
                ],
            )
        )
    out.sort(key=lambda d: d.id)
    return out, left


def missing_settings(settings: Settings) -> list[str]:
    """What the catalogue's metadata lacks in the configuration (DCAT-AP.de 2.0 + Konventionen need it)."""
    problems = []
    if not settings.catalog_publisher:
        problems.append("NETZATLAS_CATALOG_PUBLISHER is not set (dct:publisher, Konvention 36)")
    if not settings.catalog_contact_email:
        problems.append("NETZATLAS_CATALOG_CONTACT_EMAIL is not set (dcat:contactPoint needs an email, Konvention 1)")
    elif not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", settings.catalog_contact_email):
        problems.append(f"NETZATLAS_CATALOG_CONTACT_EMAIL is not an email address: {settings.catalog_contact_email!r}")
    if not settings.catalog_contributor_id:
        problems.append(
            "NETZATLAS_CATALOG_CONTRIBUTOR_ID is not set (dcatde:contributorID, Konvention 12: the id of the portal "
            "that delivers to GovData, e.g. openGovernmentDataPortalRheinlandPfalz)"
        )
    if license_id(settings.catalog_license) is None:
        problems.append(
            f"NETZATLAS_CATALOG_LICENSE {settings.catalog_license!r} is not an open licence of the DCAT-AP.de list "
            f"({', '.join(OPEN_LICENSES)})"
        )
    if not settings.base_url:
        problems.append("NETZATLAS_BASE_URL is not set (the catalogue's links then follow each request's host)")
    return problems


def read_public(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """The rows of QUERIES on a sync connection, read as the anonymous caller (whatever the connection stated)."""
    from netzatlas.registry import access

    access.state(conn, access.ANONYMOUS)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in QUERIES.items()}
    finally:
        access.state(conn)
