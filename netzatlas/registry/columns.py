"""The SQL of an asset's fields, derived from the kinds (registry/kinds.py): the one place that spells out how a
declared attribute is read from `attributes` (jsonb) with its type.

The OGC collections (api/collections.py), the tiles, the coverage engine and the registry's own queries
(registry/provider.py) read asset fields through these expressions and write none of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from netzatlas.registry.kinds import SENSITIVITIES, STATUSES, Attribute, Kind, get_kind

# The SQL type of each declared attribute type (AttrType); text needs no cast.
SQL_CAST = {
    "string": "",
    "integer": "::integer",
    "number": "::double precision",
    "boolean": "::boolean",
    "date": "::date",
}

# The children of a mobile site (Kind.has_antennas), kept whole as jsonb in its attributes.
CHILDREN = ("operators", "antennas")


@dataclass(frozen=True)
class Column:
    """A field of an asset as SQL: its name, expression, type (an AttrType, or "timestamp"), title, codes, unit."""

    name: str
    sql: str
    type: str
    title: str
    codes: tuple[str, ...] | None = None
    unit: str | None = None


def _prefix(alias: str) -> str:
    return f"{alias}." if alias else ""


def attribute(kind: str | Kind, name: str) -> Attribute:
    """The declared attribute `name` of a kind; LookupError naming the kind's attributes when there is none."""
    k = get_kind(kind) if isinstance(kind, str) else kind
    a = k.attribute(name)
    if a is None:
        known = ", ".join(x.name for x in k.attributes)
        raise LookupError(f"{k.id} declares no attribute {name!r}; declared: {known}")
    return a


def attribute_sql(alias: str, kind: str | Kind | Attribute, name: str | None = None) -> str:
    """The typed SQL expression of a declared attribute of the asset row aliased `alias` ("" for none).

    `attribute_sql("t", "fiber-routes", "fibre_count")` is `(t.attributes->>'fibre_count')::integer`; an
    `Attribute` may be given instead of a kind and a name. Absent attributes are NULL.
    """
    a = kind if isinstance(kind, Attribute) else attribute(kind, name or "")
    return f"({_prefix(alias)}attributes->>'{a.name}'){SQL_CAST[a.type]}"


def children_sql(alias: str, kind: str | Kind, name: str) -> str:
    """The jsonb of a mobile site's children (`operators` or `antennas`) of the asset row aliased `alias`."""
    k = get_kind(kind) if isinstance(kind, str) else kind
    if not k.has_antennas or name not in CHILDREN:
        raise LookupError(f"{k.id} has no {name!r}; only kinds with antennas have {', '.join(CHILDREN)}")
    return f"{_prefix(alias)}attributes->'{name}'"


def common_columns(alias: str = "t") -> tuple[Column, ...]:
    """The fields every asset has, in output order."""
    p = _prefix(alias)
    return (
        Column("external_id", f"{p}external_id", "string", "External id (unique per operator)"),
        Column("name", f"{p}name", "string", "Name"),
        Column("operator", f"{p}operator", "string", "Operator id"),
        Column("municipality", f"{p}municipality", "string", "Municipality key (AGS)"),
        Column("status", f"{p}status", "string", "Lifecycle status", codes=STATUSES),
        Column("sensitivity", f"{p}sensitivity", "string", "Sensitivity class", codes=SENSITIVITIES),
        Column("commissioned_on", f"{p}commissioned_on", "date", "In service since"),
        Column("decommissioned_on", f"{p}decommissioned_on", "date", "Decommissioned on"),
        Column("version", f"{p}version", "integer", "Version (raised by every change)"),
        Column("updated_at", f"{p}updated_at", "timestamp", "Last change"),
    )


def attribute_columns(kind: str | Kind, alias: str = "t") -> tuple[Column, ...]:
    """The declared attributes of a kind as typed columns, in declaration order."""
    k = get_kind(kind) if isinstance(kind, str) else kind
    return tuple(Column(a.name, attribute_sql(alias, a), a.type, a.title, a.codes, a.unit) for a in k.attributes)


def columns(kind: str | Kind, alias: str = "t") -> tuple[Column, ...]:
    """Every queryable field of an asset of the kind: the common ones, then its attributes."""
    return (*common_columns(alias), *attribute_columns(kind, alias))
