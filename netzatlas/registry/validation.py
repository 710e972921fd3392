"""Validation of assets against their kind declaration. Problems name the field they concern."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from netzatlas.config import get_settings
from netzatlas.registry import mobile
from netzatlas.registry.kinds import SENSITIVITIES, STATUSES, Attribute, Kind

TYPE_IDS = {"Point": 0, "LineString": 1}
STORAGE_SRID = 25832
# Limits on text: PostgreSQL text cannot hold NUL, and a registry of city assets has no use for megabyte names.
MAX_NAME = 500  # characters of a name
MAX_ID = 200  # characters of an external id or an operator id
MAX_TEXT = 1000  # characters of a text attribute
# An asset wider or taller than this (metres) is a wrong CRS or a wrong geometry, not a city's infrastructure.
MAX_EXTENT_M = 100_000.0


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class ValidationError(ValueError):
    def __init__(self, kind: str, problems: list[Problem]) -> None:
        self.kind = kind
        self.problems = problems
        super().__init__(f"invalid {kind}: " + "; ".join(str(p) for p in problems))


def check_text(value: str, path: str, max_chars: int) -> Problem | None:
    """NUL bytes and length of a text value."""
    if "\x00" in value:
        return Problem(path, "must not contain NUL bytes")
    if len(value) > max_chars:
        return Problem(path, f"{len(value):,} characters, more than the limit of {max_chars:,}")
    return None


def _check_value(attr: Attribute, value: Any, path: str) -> tuple[Any, Problem | None]:
    """Return the value to store (dates as ISO text) or the problem with it."""
    if attr.type == "string":
        if not isinstance(value, str):
            return None, Problem(path, f"expected text, got {type(value).__name__}")
        if problem := check_text(value, path, MAX_TEXT):
            return None, problem
    elif attr.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return None, Problem(path, f"expected an integer, got {value!r}")
    elif attr.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, Problem(path, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            return None, Problem(path, f"expected a finite number, got {value!r}")
    elif attr.type == "boolean":
        if not isinstance(value, bool):
            return None, Problem(path, f"expected true or false, got {value!r}")
    elif attr.type == "date":
        if isinstance(value, dt.date):
            value = value.isoformat()
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return None, Problem(path, f"expected a date YYYY-MM-DD, got {value!r}")
    if attr.codes is not None and value not in attr.codes:
        return None, Problem(path, f"unknown code {value!r}; allowed: {', '.join(attr.codes)}")
    if attr.minimum is not None and value < attr.minimum:
        return None, Problem(path, f"{value} is below the minimum {attr.minimum:g}")
    if attr.maximum is not None and value > attr.maximum:
        return None, Problem(path, f"{value} is above the maximum {attr.maximum:g}")
    return value, None


class _Declared:
    """A tuple of declared attributes prepared for checking many records: the set of names, and per attribute its
    name, whether it is required and the values it has accepted, with what was stored for each. Same value (of the
    same type), same verdict: `_check_value` decides each value once; a delivery repeats its bands, heights and
    frequencies thousands of times. Only accepted values are kept (a problem names its record's path), and only
    plain scalars: text, int, bool and non-zero floats (0.0 and -0.0 are equal keys but stored apart; NaN never
    passes)."""

    MAX_VALUES = 4096  # per attribute: enough for every code and measure of a delivery, bounded for free text

    __slots__ = ("attrs", "declared", "names")

    def __init__(self, declared: tuple[Attribute, ...]) -> None:
        self.declared = declared
        self.names = frozenset(a.name for a in declared)
        self.attrs: tuple[tuple[Attribute, str, bool, dict[tuple[type, Any], Any]], ...] = tuple(
            (a, a.name, a.required, {}) for a in declared
        )


_DECLARED: dict[int, _Declared] = {}
_MISSING = object()


def _declared(declared: tuple[Attribute, ...]) -> _Declared:
    """The prepared form of a tuple of declared attributes (kept by identity: the kinds' tuples live as long as
    the process)."""
    prepared = _DECLARED.get(id(declared))
    if prepared is None or prepared.declared is not declared:
        if len(_DECLARED) >= 64:
            _DECLARED.clear()
        prepared = _DECLARED[id(declared)] = _Declared(declared)
    return prepared


def check_record(
    declared: tuple[Attribute, ...], values: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], list[Problem]]:
    """Check values against declared attributes: required, unknown, type, code list, range."""
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    prepared = _DECLARED.get(id(declared))
    if prepared is None or prepared.declared is not declared:
        prepared = _declared(declared)
    if not prepared.names.issuperset(values):
        names = prepared.names
        for key in values:
            if key not in names:
                problems.append(Problem(f"{prefix}{key}", "unknown attribute"))
    for attr, name, required, accepted in prepared.attrs:
        value = values.get(name)
        if value is None:
            if required:
                problems.append(Problem(f"{prefix}{name}", "required attribute missing"))
            continue
        t = type(value)
        key = (t, value) if t is str or t is int or t is bool or (t is float and value) else None
        if key is not None:
            stored = accepted.get(key, _MISSING)
            if stored is not _MISSING:
                clean[name] = stored
                continue
        stored, problem = _check_value(attr, value, f"{prefix}{name}")
        if problem:
            problems.append(problem)
        else:
            clean[name] = stored
            if key is not None and len(accepted) < _Declared.MAX_VALUES:
                accepted[key] = stored
    return clean, problems


def check_attributes(
    kind: Kind, attributes: Mapping[str, Any], operator: str | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Attributes of an asset of `kind`. A mobile site's antennas without an operator are `operator`'s; the
    legacy `sectors` list (one band per sector) is accepted and converted to antennas with one cell each."""
    children = ("operators", "antennas", "sectors")
    plain = {k: v for k, v in attributes.items() if not (kind.has_antennas and k in children)}
    clean, problems = check_record(kind.attributes, plain, "attributes.")
    if kind.has_antennas:
        site, p = mobile.check_site(attributes, check_record, Problem, operator)
        clean.update(site)
        problems += p
    return clean, problems


def to_shape(geometry: Mapping[str, Any] | BaseGeometry) -> BaseGeometry:
    return geometry if isinstance(geometry, BaseGeometry) else shape(geometry)


def check_geometry(
    kind: Kind, geometry: Mapping[str, Any] | BaseGeometry | None, srid: int = STORAGE_SRID
) -> tuple[BaseGeometry | None, list[Problem]]:
    if geometry is None:
        return None, [Problem("geometry", "required")]
    try:
        geom = to_shape(geometry)
    except Exception as e:  # shapely raises several types for malformed GeoJSON
        return None, [Problem("geometry", f"not a valid GeoJSON geometry: {e}")]
    problem = check_geometries(kind, np.array([geom], dtype=object), srid)[0]
    return (None, [problem]) if problem else (geom, [])


def _extent_m(geoms: np.ndarray, srid: int) -> np.ndarray:
    """Width or height of each geometry's bounding box, whichever is larger, in metres of the storage CRS
    (inf where the box cannot be transformed)."""
    b = shapely.bounds(geoms)
    if srid != STORAGE_SRID:
        t = Transformer.from_crs(srid, STORAGE_SRID, always_xy=True)
        xs, ys = (
            np.concatenate([b[:, 0], b[:, 2], b[:, 0], b[:, 2]]),
            np.concatenate([b[:, 1], b[:, 1], b[:, 3], b[:, 3]]),
        )
        with np.errstate(invalid="ignore"):
            tx, ty = (np.asarray(v).reshape(4, -1) for v in t.transform(xs, ys, errcheck=False))
        b = np.stack([tx.min(axis=0), ty.min(axis=0), tx.max(axis=0), ty.max(axis=0)], axis=1)
    extent = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    return np.where(np.isfinite(extent), extent, np.inf)


def check_geometries(kind: Kind, geoms: np.ndarray, srid: int = STORAGE_SRID) -> list[Problem | None]:
    """The geometry rules of a kind over an array of shapely geometries (None = missing) in CRS `srid`: one
    problem or None each. Type, emptiness, finite coordinates, vertex count, extent, validity, simple lines.

    The one definition of a valid asset geometry; `check_geometry` applies it to a single geometry.
    """
    max_vertices = get_settings().max_vertices
    out: list[Problem | None] = [None] * len(geoms)
    if not len(geoms):
        return out
    missing = shapely.is_missing(geoms)
    type_ok = ~missing & (shapely.get_type_id(np.where(missing, None, geoms)) == TYPE_IDS[kind.geometry])
    empty = type_ok & shapely.is_empty(geoms)
    live = type_ok & ~empty
    coords, idx = shapely.get_coordinates(geoms[live], return_index=True)
    infinite = np.zeros(len(geoms), dtype=bool)
    if len(coords):
        bad = ~np.isfinite(coords).all(axis=1)
        infinite[np.flatnonzero(live)[np.unique(idx[bad])]] = True
    vertices = np.zeros(len(geoms), dtype=np.int64)
    vertices[live] = shapely.get_num_coordinates(geoms[live])
    too_many = live & ~infinite & (vertices > max_vertices)
    checked = live & ~infinite & ~too_many
    extent = np.zeros(len(geoms))
    extent[checked] = _extent_m(geoms[checked], srid)
    too_large = checked & (extent > MAX_EXTENT_M)
    checked &= ~too_large
    zero = np.zeros(len(geoms), dtype=bool)
    if kind.geometry == "LineString":
        zero[checked] = shapely.length(geoms[checked]) == 0
    invalid = np.zeros(len(geoms), dtype=bool)
    rest = checked & ~zero
    invalid[rest] = ~shapely.is_valid(geoms[rest])
    crossing = np.zeros(len(geoms), dtype=bool)
    if kind.geometry == "LineString":
        simple = rest & ~invalid
        crossing[simple] = ~shapely.is_simple(geoms[simple])
    bad = ~(type_ok & ~empty & ~infinite & ~too_many & ~too_large & ~zero & ~invalid & ~crossing)
    for i in np.flatnonzero(bad).tolist():
        if missing[i]:
            out[i] = Problem("geometry", "required")
        elif not type_ok[i]:
            out[i] = Problem("geometry", f"expected {kind.geometry} for {kind.id}, got {geoms[i].geom_type}")
        elif empty[i]:
            out[i] = Problem("geometry", "empty geometry")
        elif infinite[i]:
            out[i] = Problem("geometry", "coordinates must be finite numbers")
        elif too_many[i]:
            out[i] = Problem("geometry", f"{vertices[i]:,} vertices, more than the limit of {max_vertices:,}")
        elif too_large[i]:
            size = f"{extent[i] / 1000:,.0f} km across" if math.isfinite(extent[i]) else "outside the storage CRS"
            out[i] = Problem(
                "geometry", f"{size}, more than the limit of {MAX_EXTENT_M / 1000:,.0f} km (check the CRS)"
            )
        elif zero[i]:
            out[i] = Problem("geometry", "line of zero length")
        elif crossing[i]:
            out[i] = Problem("geometry", "the line crosses or touches itself (not simple)")
        else:
            out[i] = Problem("geometry", "invalid geometry")
    return out


def check_common(fields: Mapping[str, Any]) -> list[Problem]:
    problems = []
    if "status" in fields and fields["status"] not in STATUSES:
        problems.append(Problem("status", f"unknown status {fields['status']!r}; allowed: {', '.join(STATUSES)}"))
    if "sensitivity" in fields and fields["sensitivity"] not in SENSITIVITIES:
        problems.append(
            Problem(
                "sensitivity", f"unknown sensitivity {fields['sensitivity']!r}; allowed: {', '.join(SENSITIVITIES)}"
            )
        )
    if "external_id" in fields and (not isinstance(fields["external_id"], str) or not fields["external_id"].strip()):
        problems.append(Problem("external_id", "required, non-empty text"))
    elif "external_id" in fields and (p := check_text(fields["external_id"], "external_id", MAX_ID)):
        problems.append(p)
    if fields.get("operator") is not None:
        if not isinstance(fields["operator"], str):
            problems.append(Problem("operator", "expected text"))
        elif p := check_text(fields["operator"], "operator", MAX_ID):
            problems.append(p)
    if fields.get("name") is not None and not isinstance(fields["name"], str):
        problems.append(Problem("name", "expected text"))
    elif fields.get("name") is not None and (p := check_text(fields["name"], "name", MAX_NAME)):
        problems.append(p)
    for key in ("commissioned_on", "decommissioned_on"):
        value = fields.get(key)
        if value is not None and not isinstance(value, dt.date):
            try:
                dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                problems.append(Problem(key, f"expected a date YYYY-MM-DD, got {value!r}"))
    return problems
