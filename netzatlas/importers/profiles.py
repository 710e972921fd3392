"""Profiles: files that map a delivery's layers, fields and code values onto asset kinds and attributes.

A profile (YAML or JSON) has a `name`, an optional `crs` (used only when a file states none) and a list of
`layers`, each with `layer` (name or names, "*" for any), `target` (an asset kind id, `antennas`, `cells`,
`sectors` (the legacy one-band-per-sector shape), `districts`, `buildings` or `population-cells`),
`optional` and value specs per field. A value spec is a
field name, a list of specs (the first non-empty wins), or an object with `field` (or `column`), `value`
(a constant), `map` (code -> value), `default` and `prefix`. Asset layers may name an `operator` column (one
delivery for several operators, e.g. a public site register).

Mobile networks come in three tables: sites (`mobile-sites`; `attributes.operators` reads a list of operators
from one column, split at `,`, `;`, `|` or `/`, each mapped by `map`), `antennas` (joined to their site by
`site`, with `operator` and the antenna attributes) and `cells` (joined to their antenna by `site` and
`antenna`, optionally `operator`; band codes such as B1, B32, N78).

Profiles are read strictly: an unknown key anywhere is an error naming it and the closest known key (a
misspelt `stauts:` would otherwise leave every status at its default). Top-level keys starting with `x-`
are free, for YAML anchors. A layer the profile maps but the delivery lacks is an error unless it is marked
`optional: true` (validate.py).

The built-in profile `registry` is not a file: it is derived from the kind declarations (netzatlas.registry.
kinds), like the templates (netzatlas.importers.templates), so that template and profile never disagree.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netzatlas.registry.kinds import ANTENNA_ATTRIBUTES, CELL_ATTRIBUTES, KINDS, KINDS_BY_ID, SECTOR_ATTRIBUTES

PROFILE_DIR = Path(__file__).parent / "profiles"
REFERENCE_TARGETS = ("districts", "buildings", "population-cells", "district-population")
SECTORS = "sectors"
ANTENNAS = "antennas"
CELLS = "cells"
MOBILE_CHILDREN = (ANTENNAS, CELLS, SECTORS)
COMMON_FIELDS = ("external_id", "name", "status", "sensitivity", "commissioned_on", "decommissioned_on")
TRUE_VALUES = ("1", "true", "yes", "ja", "y", "j", "x")
REMOVED_FIELD = "removed"
PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_PROFILE_BYTES = 1024 * 1024  # profiles are a few KiB; this keeps /dev/zero-like files from being read
MAX_CACHED_PROFILE_BYTES = 64 * 1024
# A profile file's document by its bytes: YAML is parsed in pure Python (10-20 ms for a profile of three tables, a
# fixed cost of every delivery); a process reading the same profile again takes a copy of the parse.
_PARSED: dict[tuple[bool, bytes], Any] = {}
SITE_FIELD = "site_id"
# Column names partners use for an id (GIS exports: objectid/fid, OGC/GML: gml_id); the built-in profiles read them.
ID_COLUMNS = ("id", "objectid", "oid", "fid", "gml_id")

# The keys a profile may use, per place; anything else is an error naming the closest of these.
TOP_KEYS = ("name", "title", "description", "crs", "csv_crs", "layers")
LAYER_KEYS = ("layer", "target", "optional")
SPEC_KEYS = ("field", "column", "value", "map", "default", "prefix", "values")
REFERENCE_KEYS = ("field", "column", "layer", "prefix")
ASSET_KEYS = (*COMMON_FIELDS, "removed", "attributes", "references", "operator")
# Keys per non-asset target: value specs, except those in CONSTANT_KEYS (plain values or lists of column names).
TARGET_KEYS: dict[str, tuple[str, ...]] = {
    SECTORS: ("site", "operator", "attributes"),
    ANTENNAS: ("site", "operator", "attributes"),
    CELLS: ("site", "antenna", "operator", "attributes"),
    "districts": ("name", "key"),
    "buildings": ("external_id", "households", "source", "height", "levels"),
    "population-cells": ("id", "x", "y", "population", "source", "year", "attribution", "resolution"),
    "district-population": ("district", "population", "year", "source"),
}
CONSTANT_KEYS = ("x", "y", "source", "year", "attribution", "resolution")
# A child table's rows go into an attribute of a parent kind, joined by the parent's external id.
CHILDREN: dict[str, tuple[str, str]] = {
    SECTORS: ("mobile-sites", "antennas"),
    ANTENNAS: ("mobile-sites", "antennas"),
    CELLS: ("mobile-sites", "antennas"),
}
CHILD_ATTRIBUTES = {SECTORS: SECTOR_ATTRIBUTES, ANTENNAS: ANTENNA_ATTRIBUTES, CELLS: CELL_ATTRIBUTES}


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class LayerMap:
    names: tuple[str, ...]  # normalised layer names; ("*",) for any
    target: str
    spec: dict[str, Any]
    optional: bool = False  # the delivery may lack this layer
    label: str = ""  # the layer name(s) as the profile writes them, for messages

    def matches(self, layer_name: str) -> bool:
        return "*" in self.names or normalise(layer_name) in self.names


@dataclass
class Profile:
    name: str
    title: str
    layers: list[LayerMap]
    crs: str | None = None
    csv_crs: str | None = None  # CRS of CSV WKT/x/y columns when the profile knows it
    source: str = field(default="built-in")

    def layer_map(self, layer_name: str, kind: str | None = None) -> LayerMap | None:
        if kind:
            return next((m for m in self.layers if m.target == kind), None) or _single(kind)
        return next((m for m in self.layers if m.matches(layer_name)), None)


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.lower())


def _single(kind: str) -> LayerMap:
    return registry_profile().layer_map(kind) or LayerMap(("*",), kind, {})


def _kind_layer(kind_id: str) -> LayerMap:
    kind = KINDS_BY_ID[kind_id]
    spec: dict[str, Any] = {f: f for f in COMMON_FIELDS}
    spec["external_id"] = ["external_id", *ID_COLUMNS]
    spec["removed"] = {"field": REMOVED_FIELD, "values": list(TRUE_VALUES)}
    spec["attributes"] = {a.name: a.name for a in kind.attributes}
    if kind.has_antennas:
        spec["attributes"]["operators"] = "operators"
    return LayerMap((normalise(kind.id), normalise(kind.partition)), kind.id, spec, optional=True, label=kind.id)


def registry_profile() -> Profile:
    """The registry's own template: one layer per kind named after it, columns named like the attributes."""
    layers = [_kind_layer(k.id) for k in KINDS]
    layers.append(
        LayerMap(
            ("mobilesitessectors", "sectors", "radiosectors"),
            SECTORS,
            {"site": SITE_FIELD, "attributes": {a.name: a.name for a in SECTOR_ATTRIBUTES}},
            optional=True,
            label="sectors",
        )
    )
    layers.append(
        LayerMap(
            ("mobilesitesantennas", "antennas"),
            ANTENNAS,
            {
                "site": SITE_FIELD,
                "operator": "operator",
                "attributes": {a.name: a.name for a in ANTENNA_ATTRIBUTES if a.name != "operator"},
            },
            optional=True,
            label="antennas",
        )
    )
    layers.append(
        LayerMap(
            ("mobilesitescells", "cells"),
            CELLS,
            {
                "site": SITE_FIELD,
                "antenna": "antenna_id",
                "operator": "operator",
                "attributes": {a.name: a.name for a in CELL_ATTRIBUTES},
            },
            optional=True,
            label="cells",
        )
    )
    return Profile("registry", "Netzatlas template (one layer per asset kind)", layers, csv_crs="EPSG:25832")


def _unknown(where: str, key: Any, known: tuple[str, ...] | list[str]) -> ProfileError:
    """An unknown key, with the closest known one (difflib) or the list of known keys."""
    shown = str(key)[:60]
    close = difflib.get_close_matches(str(key).lower(), list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return ProfileError(f"{where}: unknown key {shown!r}; {hint}")


def _check_keys(where: str, mapping: dict[str, Any], known: tuple[str, ...] | list[str]) -> None:
    for key in mapping:
        if key not in known:
            raise _unknown(where, key, known)


def _check_spec(where: str, spec: Any) -> None:
    """A value spec: a field name, a constant, a list of specs, or an object of SPEC_KEYS."""
    if isinstance(spec, list):
        for s in spec:
            _check_spec(where, s)
    elif isinstance(spec, dict):
        _check_keys(where, spec, SPEC_KEYS)
        if "field" in spec and "column" in spec:
            raise ProfileError(f"{where}: give `field` or `column`, not both")
        if not isinstance(spec.get("map") or {}, dict):
            raise ProfileError(f"{where}: map must be a mapping of code -> value")


def _field_alias(spec: Any) -> Any:
    """`column` is another name for `field` in value specs."""
    if isinstance(spec, list):
        return [_field_alias(s) for s in spec]
    if isinstance(spec, dict):
        return {("field" if k == "column" else k): (v if k == "map" else _field_alias(v)) for k, v in spec.items()}
    return spec


def _check_layer(where: str, target: str, entry: dict[str, Any]) -> None:
    kind = KINDS_BY_ID.get(target)
    if kind is not None:
        known: tuple[str, ...] = ASSET_KEYS
        declared = tuple(a.name for a in kind.attributes) + (("operators",) if kind.has_antennas else ())
    elif target in TARGET_KEYS:
        known = TARGET_KEYS[target]
        declared = tuple(a.name for a in CHILD_ATTRIBUTES[target]) if target in CHILD_ATTRIBUTES else ()
    else:  # a target without declared keys cannot be checked: refuse rather than read it loosely
        raise ProfileError(f"{where}: target {target!r} declares no keys (profiles.TARGET_KEYS)")
    for key, value in entry.items():
        if key in LAYER_KEYS:
            continue
        if key not in known:
            raise _unknown(where, key, (*LAYER_KEYS, *known))
        if key == "attributes":
            if not isinstance(value or {}, dict):
                raise ProfileError(f"{where}: attributes must be a mapping")
            for name, spec in (value or {}).items():
                if name not in declared:
                    close = difflib.get_close_matches(str(name), list(declared), n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(declared)}"
                    raise ProfileError(f"{where}: {target} has no attribute {str(name)[:60]!r}; {hint}")
                _check_spec(f"{where}, attributes.{name}", spec)
        elif key == "references":
            if not isinstance(value, dict):
                raise ProfileError(f"{where}: references must be a mapping with field, layer and prefix")
            _check_keys(f"{where}, references", value, REFERENCE_KEYS)
        elif key not in CONSTANT_KEYS:
            _check_spec(f"{where}, {key}", value)
    if not isinstance(entry.get("optional", False), bool):
        raise ProfileError(f"{where}: optional must be true or false")


def _parse(doc: dict[str, Any], source: str) -> Profile:
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ProfileError(f"profile {source}: needs a list of layers")
    for key in doc:
        if not str(key).startswith("x-") and key not in TOP_KEYS:
            raise _unknown(f"profile {source}", key, TOP_KEYS)
    layers = []
    for i, entry in enumerate(doc["layers"]):
        if not isinstance(entry, dict):
            raise ProfileError(f"profile {source}, layer {i}: expected a mapping with layer and target")
        target = entry.get("target")
        if not isinstance(target, str) or (
            target not in KINDS_BY_ID and target not in (*REFERENCE_TARGETS, *MOBILE_CHILDREN)
        ):
            raise ProfileError(
                f"profile {source}, layer {i}: unknown target {target!r}; use an asset kind "
                f"({', '.join(KINDS_BY_ID)}), {', '.join(MOBILE_CHILDREN)} or {', '.join(REFERENCE_TARGETS)}"
            )
        names = entry.get("layer", "*")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ProfileError(f"profile {source}, layer {i}: layer must be a name or a list of names")
        _check_layer(f"profile {source}, layer {i} ({' / '.join(names)})", target, entry)
        spec = {k: _field_alias(v) for k, v in entry.items() if k not in LAYER_KEYS}
        layers.append(
            LayerMap(
                tuple("*" if n == "*" else normalise(n) for n in names),
                target,
                spec,
                optional=bool(entry.get("optional", False)),
                label=" / ".join(names),
            )
        )
    return Profile(
        doc.get("name", source),
        doc.get("title", doc.get("name", source)),
        layers,
        doc.get("crs"),
        doc.get("csv_crs", doc.get("crs")),
        source,
    )


def builtin_names() -> list[str]:
    return ["registry", *sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))]


def load_profile(name_or_path: str | Path | None) -> Profile:
    """A built-in profile by name, or a YAML/JSON profile file."""
    if name_or_path in (None, "", "registry"):
        return registry_profile()
    path = Path(name_or_path)
    if not path.exists():
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ProfileError(f"no profile {name_or_path!r}; built-in: {', '.join(builtin_names())}, or a file path")
    return _parse(_read(path), str(path))


def _read(path: Path) -> Any:
    """A profile file's document. Only regular files of at most MAX_PROFILE_BYTES; errors say where, not what the
    file holds (its lines are not echoed)."""
    if not path.is_file():
        raise ProfileError(f"profile {path.name}: not a regular file")
    with path.open("rb") as f:
        data = f.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"profile {path.name}: more than {MAX_PROFILE_BYTES:,} bytes")
    is_json = path.suffix.lower() == ".json"
    parsed = _PARSED.get((is_json, data))
    if parsed is not None:
        return copy.deepcopy(parsed)
    try:
        text = data.decode("utf-8")
        doc = json.loads(text) if is_json else yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise ProfileError(f"profile {path.name}: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ProfileError(
            f"profile {path.name}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ProfileError(f"profile {path.name}: not valid YAML{at}: {e.problem or e.context}") from None
    except (ValueError, yaml.YAMLError) as e:
        raise ProfileError(
            f"profile {path.name}: not valid {'JSON' if is_json else 'YAML'} ({type(e).__name__})"
        ) from None
    if len(data) <= MAX_CACHED_PROFILE_BYTES:
        if len(_PARSED) >= 32:
            _PARSED.clear()
        _PARSED[(is_json, data)] = copy.deepcopy(doc)
    return doc
