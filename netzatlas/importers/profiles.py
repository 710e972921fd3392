"""Profiles: files that map a delivery's layers, fields and code values onto asset kinds and attributes.

A profile (YAML or JSON) has a `name`, an optional `crs` (used only when a file states none) and a list of
`layers`, each with `layer` (name or names, "*" for any) and `target` (an asset kind id, `sectors`,
`districts`, `buildings` or `population-cells`) and value specs per field. A value spec is a field name, a
list of specs (the first non-empty wins), or an object with `field`, `value` (a constant), `map`
(code -> value), `default` and `prefix`.

The built-in profile `registry` is not a file: it is derived from the kind declarations (netzatlas.registry.
kinds), like the templates (netzatlas.importers.templates), so that template and profile never disagree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netzatlas.registry.kinds import KINDS, KINDS_BY_ID, SECTOR_ATTRIBUTES

PROFILE_DIR = Path(__file__).parent / "profiles"
REFERENCE_TARGETS = ("districts", "buildings", "population-cells")
SECTORS = "sectors"
COMMON_FIELDS = ("external_id", "name", "status", "sensitivity", "commissioned_on", "decommissioned_on")
TRUE_VALUES = ("1", "true", "yes", "ja", "y", "j", "x")
REMOVED_FIELD = "removed"
PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_PROFILE_BYTES = 1024 * 1024  # profiles are a few KiB; this keeps /dev/zero-like files from being read
SITE_FIELD = "site_id"


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class LayerMap:
    names: tuple[str, ...]  # normalised layer names; ("*",) for any
    target: str
    spec: dict[str, Any]

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
    spec["removed"] = {"field": REMOVED_FIELD, "values": list(TRUE_VALUES)}
    spec["attributes"] = {a.name: a.name for a in kind.attributes}
    return LayerMap((normalise(kind.id), normalise(kind.partition)), kind.id, spec)


def registry_profile() -> Profile:
    """The registry's own template: one layer per kind named after it, columns named like the attributes."""
    layers = [_kind_layer(k.id) for k in KINDS]
    layers.append(
        LayerMap(
            ("mobilesitessectors", "sectors", "radiosectors"),
            SECTORS,
            {"site": SITE_FIELD, "attributes": {a.name: a.name for a in SECTOR_ATTRIBUTES}},
        )
    )
    return Profile("registry", "Netzatlas template (one layer per asset kind)", layers, csv_crs="EPSG:25832")


def _parse(doc: dict[str, Any], source: str) -> Profile:
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ProfileError(f"profile {source}: needs a list of layers")
    layers = []
    for i, entry in enumerate(doc["layers"]):
        if not isinstance(entry, dict):
            raise ProfileError(f"profile {source}, layer {i}: expected a mapping with layer and target")
        target = entry.get("target")
        if not isinstance(target, str) or (target not in KINDS_BY_ID and target not in (*REFERENCE_TARGETS, SECTORS)):
            raise ProfileError(
                f"profile {source}, layer {i}: unknown target {target!r}; use an asset kind "
                f"({', '.join(KINDS_BY_ID)}), {SECTORS} or {', '.join(REFERENCE_TARGETS)}"
            )
        names = entry.get("layer", "*")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProfileError(f"profile {source}, layer {i}: layer must be a name or a list of names")
        if not isinstance(entry.get("attributes") or {}, dict):
            raise ProfileError(f"profile {source}, layer {i}: attributes must be a mapping")
        if target in KINDS_BY_ID:
            declared = {a.name for a in KINDS_BY_ID[target].attributes}
            unknown = set(entry.get("attributes") or {}) - declared - {"sectors"}
            if unknown:
                raise ProfileError(
                    f"profile {source}, layer {i}: {target} has no attribute {', '.join(sorted(unknown))}"
                )
        spec = {k: v for k, v in entry.items() if k not in ("layer", "target")}
        layers.append(LayerMap(tuple("*" if n == "*" else normalise(n) for n in names), target, spec))
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
    try:
        text = data.decode("utf-8")
        return json.loads(text) if is_json else yaml.safe_load(text)
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
