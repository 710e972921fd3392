"""The feature collections the API serves: every asset kind and the reference layers.

A collection says where its rows come from, which SQL expression each property is, and what can be
filtered; the items query (netzatlas.api.features) is assembled from this and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netzatlas.api.cql import Queryable
from netzatlas.registry import columns
from netzatlas.registry.kinds import KINDS, Kind


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    table: str  # current state, aliased "t" in queries
    id_sql: str  # unique, indexed: the order of paging
    id_type: str  # "uuid", "integer" or "string": how a featureId in a URL is parsed
    geometry_type: str
    queryables: dict[str, Queryable]
    properties: tuple[tuple[str, str], ...]  # (name, SQL expression) in output order
    base_where: str = "TRUE"
    history_table: str | None = None  # same columns as table plus valid_from/valid_to: "as of" reads
    sensitive: bool = False  # rows carry sensitivity and operator: access rules apply
    temporal: tuple[str, str] | None = None  # SQL of the start and end of a feature's lifetime
    kind: Kind | None = None
    layer: str | None = None  # table whose change stamp (migration 0002) says when the rows changed
    keywords: tuple[str, ...] = field(default_factory=tuple)
    # rows with column geom whose extent is the collection's, where that is cheaper than the table (api/metadata.py)
    extent_table: str | None = None

    @property
    def geom_sql(self) -> str:
        return "t.geom"

    @property
    def version_sql(self) -> str | None:
        return "t.version" if self.kind else None


def _q(
    name: str,
    sql: str,
    type_: str,
    title: str = "",
    codes: tuple[str, ...] | None = None,
    unit: str | None = None,
    uuid_column: str | None = None,
) -> Queryable:
    return Queryable(name, sql, type_, title or name, codes, unit, uuid_column)  # type: ignore[arg-type]


def _asset_collection(kind: Kind) -> Collection:
    # the fields and their SQL are the registry's (registry/columns.py)
    common = [_q(c.name, c.sql, c.type, c.title, c.codes, c.unit) for c in columns.common_columns("t")]
    attrs = [_q(c.name, c.sql, c.type, c.title, c.codes, c.unit) for c in columns.attribute_columns(kind, "t")]
    queryables = {q.name: q for q in [*common, *attrs]}
    queryables["geometry"] = _q("geometry", "t.geom", "geometry", kind.geometry)
    properties = [(q.name, q.sql) for q in [*common, *attrs]]
    # Submission provenance: which delivery last changed the asset.
    properties.append(("submission_id", "t.submission_id"))
    if kind.has_antennas:
        properties.extend((name, columns.children_sql("t", kind, name)) for name in columns.CHILDREN)
    return Collection(
        id=kind.id,
        title=kind.title,
        description=kind.description,
        table=kind.partition,
        id_sql="t.id",
        id_type="uuid",
        geometry_type=kind.geometry,
        queryables=queryables,
        properties=tuple(properties),
        base_where="t.retired_at IS NULL",
        history_table="asset_history",
        sensitive=True,
        temporal=("t.commissioned_on", "t.decommissioned_on"),
        kind=kind,
        layer="assets",
        keywords=("infrastructure", kind.id),
    )


def _reference(
    id_: str,
    title: str,
    description: str,
    table: str,
    id_type: str,
    geometry_type: str,
    fields: list[Queryable],
    extent_table: str | None = None,
) -> Collection:
    queryables = {q.name: q for q in fields}
    queryables["geometry"] = _q("geometry", "t.geom", "geometry", geometry_type)
    return Collection(
        id=id_,
        title=title,
        description=description,
        table=table,
        id_sql="t.id",
        id_type=id_type,
        geometry_type=geometry_type,
        queryables=queryables,
        properties=tuple((q.name, q.sql) for q in fields),
        layer=id_.replace("-", "_"),  # the collection ids of reference layers are their table names
        keywords=("reference",),
        extent_table=extent_table,
    )


REFERENCE = (
    _reference(
        "municipalities",
        "Municipalities",
        "Municipalities of the installation with their boundary.",
        "(SELECT ags AS id, name, note, boundary AS geom FROM municipalities)",
        "string",
        "MultiPolygon",
        [_q("name", "t.name", "string", "Name"), _q("note", "t.note", "string", "Note on the geometry's source")],
    ),
    _reference(
        "districts",
        "Districts",
        "Districts (Ortsbezirke) of the municipalities.",
        "(SELECT id, municipality, name, approximate, note, boundary AS geom FROM districts)",
        "integer",
        "MultiPolygon",
        [
            _q("municipality", "t.municipality", "string", "Municipality key (AGS)"),
            _q("name", "t.name", "string"),
            _q("approximate", "t.approximate", "boolean", "Geometry is approximate"),
            _q("note", "t.note", "string", "Note on the geometry's source"),
        ],
    ),
    _reference(
        "buildings",
        "Buildings",
        "Buildings (footprints or address points) with households where known.",
        "(SELECT b.*, d.name AS district FROM buildings b LEFT JOIN districts d ON d.id = b.district_id)",
        "integer",
        "Geometry",
        [
            _q("municipality", "t.municipality", "string"),
            _q("district", "t.district", "string"),
            _q("source", "t.source", "string"),
            _q("external_id", "t.external_id", "string"),
            _q("households", "t.households", "integer"),
            _q("attribution", "t.attribution", "string"),
        ],
    ),
    _reference(
        "population-cells",
        "Population grid",
        "Population per INSPIRE grid cell (id of the south-west corner in EPSG:3035).",
        "population_cells",
        "string",
        "Polygon",
        [
            _q("resolution_m", "t.resolution_m", "integer", unit="m"),
            _q("population", "t.population", "integer"),
            _q("source", "t.source", "string"),
            _q("year", "t.year", "integer"),
            _q("attribution", "t.attribution", "string"),
        ],
    ),
)

# Results of coverage runs (netzatlas.coverage), filterable by run: ?run_id=<job id>.
_RUN_FIELDS = [
    _q("run_id", "t.run_id::text", "string", "Coverage run (job) id", uuid_column="t.run_id"),
    _q("analysis", "t.analysis", "string", "Analysis", codes=("fiber", "mobile", "iot")),
]
COVERAGE = (
    _reference(
        "coverage-cells",
        "Coverage per INSPIRE cell",
        "Results of coverage runs per INSPIRE 100 m cell (EPSG:3035 grid): buildings, population, share covered "
        "and the run's metrics. Filter by run_id.",
        "(SELECT c.*, g.geom FROM coverage_cells c JOIN inspire_cells g ON g.id = c.cell_id)",
        "integer",
        "Polygon",
        [
            *_RUN_FIELDS,
            _q("cell_id", "t.cell_id", "string", "INSPIRE cell id"),
            _q("buildings", "t.buildings", "integer", "Buildings"),
            _q("population", "t.population", "number", "Population"),
            _q("share_covered", "t.share_covered", "number", "Share covered (passed, 4G/5G or LoRaWAN by area)"),
            _q("metrics", "t.metrics::text", "string", "All metrics of the cell (JSON)"),
        ],
        # a caller sees a run's cells when it sees the run: the extents kept on the runs (migration 0012) bound the
        # same cells without reading every run's rows
        extent_table="(SELECT cells_extent::geometry AS geom FROM coverage_runs WHERE cells_extent IS NOT NULL)",
    ),
    _reference(
        "coverage-districts",
        "Coverage per district",
        "Results of coverage runs per district. Filter by run_id.",
        "coverage_districts",
        "integer",
        "MultiPolygon",
        [
            *_RUN_FIELDS,
            _q("district_id", "t.district_id", "integer", "District id"),
            _q("name", "t.name", "string", "District"),
            _q("buildings", "t.buildings", "integer", "Buildings"),
            _q("population", "t.population", "number", "Population"),
            _q("share_covered", "t.share_covered", "number", "Share covered"),
            _q("metrics", "t.metrics::text", "string", "All metrics of the district (JSON)"),
        ],
    ),
    _reference(
        "coverage-gaps",
        "Coverage gaps",
        "Gap polygons of coverage runs: unpassed cells (fiber), white and grey spots (mobile), LoRaWAN and sensor "
        "density gaps (iot). Filter by run_id and gap.",
        "coverage_gaps",
        "integer",
        "MultiPolygon",
        [
            *_RUN_FIELDS,
            _q("gap", "t.gap", "string", "Kind of gap"),
            _q("area_m2", "t.area_m2", "number", "Area", unit="m2"),
            _q("metrics", "t.metrics::text", "string", "Metrics of the gap (JSON)"),
        ],
    ),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in [*(_asset_collection(k) for k in KINDS), *REFERENCE, *COVERAGE]}
