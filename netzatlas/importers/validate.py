"""Validation of a whole delivery before anything is written, producing the rows to load.

Geometries are handled as arrays (shapely, pyproj): CRS, transformation to EPSG:25832, repair and the
plausibility against the municipality. Each asset is then checked by the registry's own rules
(netzatlas.registry.validation), so that an import and a single write accept exactly the same assets.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from netzatlas.importers import population
from netzatlas.importers.profiles import (
    ANTENNAS,
    CELLS,
    CHILD_ATTRIBUTES,
    CHILDREN,
    REFERENCE_TARGETS,
    SECTORS,
    TRUE_VALUES,
    LayerMap,
    Profile,
)
from netzatlas.importers.readers import Layer
from netzatlas.importers.report import Report
from netzatlas.registry.kinds import KINDS_BY_ID, Attribute, Kind
from netzatlas.registry.mobile import sectors_to_antennas
from netzatlas.registry.validation import check_attributes, check_common, check_geometries

STORAGE_EPSG = 25832
TOLERANCE_M = 500.0  # coordinates farther than this outside the municipality are reported
FALSE_VALUES = ("0", "false", "no", "nein", "n", "")
CELL_ID = re.compile(r"^CRS3035RES(\d+)(m|km)N(\d+)E(\d+)$")
LIST_SEPARATORS = re.compile(r"[,;|/]")  # of a list in one column ("Telekom/Vodafone")


@dataclass
class Municipality:
    ags: str
    boundary: BaseGeometry
    districts: list[dict] = field(default_factory=list)  # id, name, key: what a district table may name


@dataclass
class Plan:
    """What to load: rows per target, all validated."""

    operator: str
    assets: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    districts: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    buildings: dict[tuple[str, str], list[dict]] = field(default_factory=lambda: defaultdict(list))
    cells: list[dict] = field(default_factory=list)
    cell_attribution: str | None = None
    secret_cells: int = 0  # Zensus cells kept secret: stored without a population, never as 0
    district_population: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- value specs


def code_key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


Getter = Callable[[int], Any]


def _nothing(i: int) -> None:
    """The getter of a spec that reads nothing (no spec, a column the layer lacks)."""
    return None


def compile_spec(spec: Any, columns: dict[str, list[Any]]) -> Getter:
    """A function from feature index to value, for a value spec of a profile."""
    if spec is None:
        return _nothing
    if isinstance(spec, str):
        # dBase (shapefile) field names are cut to 10 characters
        col = columns.get(spec.lower(), columns.get(spec.lower()[:10]))
        return _nothing if col is None else col.__getitem__
    if isinstance(spec, list):
        # alternatives the layer lacks are left out once, not asked for every feature (a profile lists the usual
        # id columns of many exports; a file has one of them)
        getters = [g for g in (compile_spec(s, columns) for s in spec) if g is not _nothing]
        if not getters:
            return _nothing

        def first(i: int) -> Any:
            for g in getters:
                v = g(i)
                if v is not None and v != "":
                    return v
            return None

        return first
    if isinstance(spec, dict):
        if "value" in spec:
            const = spec["value"]
            return lambda i: const
        base = compile_spec(spec.get("field"), columns)
        mapping = {code_key(k): v for k, v in (spec.get("map") or {}).items()}
        default, prefix = spec.get("default"), spec.get("prefix")
        truthy = {str(x).lower() for x in spec["values"]} if "values" in spec else None

        def value_of(v: Any) -> Any:
            if truthy is not None:
                return v is not None and code_key(v).lower() in truthy
            if v is None or v == "":
                return default
            if mapping:
                v = mapping.get(code_key(v), v)
            if prefix:
                v = f"{prefix}{code_key(v)}"
            return v

        def get(i: int) -> Any:
            return value_of(base(i))

        get.parts = (base, value_of)  # type: ignore[attr-defined]  # a function of the field's value: see _each
        return get
    const = spec
    return lambda i: const


def coerce(attr_type: str, v: Any) -> Any:
    """Text values (CSV, KML) to the declared type where they parse; validation judges the rest."""
    if v is None:
        return None
    if isinstance(v, dt.datetime) and attr_type == "date":
        return v.date()
    if attr_type == "string":
        return v if isinstance(v, str) else code_key(v)
    if not isinstance(v, str):
        return v
    s = v.strip()
    if s == "":
        return None
    try:
        if attr_type == "integer":
            f = float(s.replace(",", "."))
            return int(f) if f.is_integer() else f
        if attr_type == "number":
            return float(s.replace(",", "."))
    except ValueError:
        return v
    if attr_type == "boolean":
        if s.lower() in TRUE_VALUES:
            return True
        if s.lower() in FALSE_VALUES:
            return False
    return v


def _text(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v.strip() or None if isinstance(v, str) else v
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return code_key(v)


# ---------------------------------------------------------------- geometry arrays


_CRS: dict[tuple[type, Any], tuple[CRS, bool]] = {}  # (type, CRS as given) -> (the CRS, whether it is storage's)
_TRANSFORMERS: dict[tuple[type, Any], Transformer] = {}  # (type, CRS as given) -> transformer to storage


def _crs(crs: Any) -> tuple[CRS, bool]:
    """The CRS a delivery or profile names, parsed once per process (a delivery costs PROJ's database lookups
    otherwise), and whether it is the storage CRS. pyproj's CRS and Transformer objects are thread-safe (3.1+)."""
    try:
        key = (type(crs), crs)
        hit = _CRS.get(key)
    except TypeError:  # a PROJ JSON dict
        c = CRS.from_user_input(crs)
        return c, c.to_epsg() == STORAGE_EPSG
    if hit is None:
        c = CRS.from_user_input(crs)
        hit = (c, c.to_epsg() == STORAGE_EPSG)
        if len(_CRS) < 256:
            _CRS[key] = hit
    return hit


def _storage_transformer(crs: Any) -> Transformer:
    try:
        key = (type(crs), crs)
        t = _TRANSFORMERS.get(key)
    except TypeError:
        return Transformer.from_crs(_crs(crs)[0], STORAGE_EPSG, always_xy=True)
    if t is None:
        t = Transformer.from_crs(_crs(crs)[0], STORAGE_EPSG, always_xy=True)
        if len(_TRANSFORMERS) < 256:
            _TRANSFORMERS[key] = t
    return t


def _transformer(crs: str, swap: bool) -> Callable[[np.ndarray], np.ndarray]:
    t = _storage_transformer(crs)

    def f(coords: np.ndarray) -> np.ndarray:
        x, y = (coords[:, 1], coords[:, 0]) if swap else (coords[:, 0], coords[:, 1])
        xs, ys = t.transform(x, y, errcheck=False)
        return np.column_stack([xs, ys])

    return f


def to_storage(geoms: np.ndarray, crs: str, swap: bool = False) -> np.ndarray:
    geoms = shapely.force_2d(geoms)
    if not swap and _crs(crs)[1]:
        return geoms
    return shapely.transform(geoms, _transformer(crs, swap))


def _single_parts(geoms: np.ndarray) -> np.ndarray:
    """Multi-geometries of one part (as shapefiles and GeoPackages often store lines) become that part."""
    multi = shapely.get_type_id(geoms) >= 4
    one = multi & (shapely.get_num_geometries(geoms) == 1)
    if one.any():
        geoms = geoms.copy()
        geoms[one] = shapely.get_geometry(geoms[one], 0)
    return geoms


def _finite(geoms: np.ndarray) -> np.ndarray:
    ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    coords, idx = shapely.get_coordinates(geoms[ok], return_index=True)
    bad = np.zeros(ok.sum(), dtype=bool)
    if len(coords):
        rows = ~np.isfinite(coords).all(axis=1)
        bad[np.unique(idx[rows])] = True
    out = ok.copy()
    out[np.flatnonzero(ok)[bad]] = False
    return out


def _locate(geoms: np.ndarray, ok: np.ndarray, areas: list[Municipality], tolerance: float) -> tuple[list, np.ndarray]:
    """Municipality per geometry (first by AGS whose boundary it meets, else the nearest within tolerance)."""
    ags: list[str | None] = [None] * len(geoms)
    dist = np.full(len(geoms), np.inf)
    for m in sorted(areas, key=lambda a: a.ags):
        shapely.prepare(m.boundary)
        d = np.full(len(geoms), np.inf)
        hit = ok.copy()
        hit[ok] = shapely.intersects(m.boundary, geoms[ok])  # prepared: fast; distances only for the rest
        d[hit] = 0.0
        rest = ok & ~hit
        d[rest] = shapely.distance(m.boundary, geoms[rest])
        for i in np.flatnonzero((d <= tolerance) & (d < dist)):
            if dist[i] > 0:
                ags[i] = m.ags
        dist = np.minimum(dist, d)
    return ags, dist


# ---------------------------------------------------------------- the delivery


@dataclass
class Options:
    operator: str
    municipalities: list[Municipality]  # the areas a delivery must lie in
    municipality: str | None = None
    repair: bool = False
    kind: str | None = None  # map every layer onto this kind (single-layer files without a profile name)
    tolerance_m: float = TOLERANCE_M
    fmt: str = ""
    operators: tuple[str, ...] = ()  # the registered operator ids an operator column may name
    any_operator: bool = True  # False for a partner key: every asset must be the delivering operator's


def _layer_crs(layer: Layer, profile: Profile, opts: Options, report: Report) -> str | None:
    crs = layer.crs or (profile.csv_crs if opts.fmt == "csv" else profile.crs)
    if not crs:
        report.add(
            layer.name,
            None,
            None,
            "crs",
            "the file states no coordinate reference system and the profile names none; deliver a .prj / "
            "a CRS-aware format or use a profile with `crs:`",
            "crs",
        )
        return None
    try:
        _crs(crs)
    except CRSError:
        report.add(layer.name, None, None, "crs", f"unknown coordinate reference system {crs!r}", "crs")
        return None
    return crs


def _prepare_geometries(
    layer: Layer, target_geom: str | None, crs: str, opts: Options, report: Report, check_area: bool
) -> tuple[np.ndarray, list[str | None]]:
    geoms = to_storage(layer.geoms, crs)
    if target_geom in ("Point", "LineString"):
        geoms = _single_parts(geoms)
    ok = _finite(geoms)
    if opts.repair:
        broken = ok & ~shapely.is_valid(geoms)
        if broken.any():
            geoms = geoms.copy()
            geoms[broken] = shapely.make_valid(geoms[broken])
            if target_geom in ("Point", "LineString"):
                geoms[broken] = _single_parts(geoms[broken])
            idx = np.flatnonzero(broken).tolist()
            report.notes.append(
                f"layer {layer.name!r}: repaired {len(idx)} invalid geometr{'y' if len(idx) == 1 else 'ies'} with "
                f"make_valid (features {', '.join(map(str, idx[:20]))}{' ...' if len(idx) > 20 else ''})"
            )
    ags: list[str | None] = [opts.municipality] * len(geoms)
    if not check_area or not ok.any():
        return geoms, ags
    if not opts.municipalities:
        report.add(layer.name, None, None, "municipality", "no municipality is registered to check against", "crs")
        return geoms, ags
    ags, dist = _locate(geoms, ok, opts.municipalities, opts.tolerance_m)
    inside = (dist <= opts.tolerance_m) & ok
    if inside.sum() < 0.5 * ok.sum():
        swapped = _finite(to_storage(layer.geoms, crs, swap=True))
        sg = to_storage(layer.geoms, crs, swap=True)
        _, sdist = _locate(sg, swapped, opts.municipalities, opts.tolerance_m)
        if (sdist <= opts.tolerance_m).sum() > 0.5 * ok.sum():
            report.add(
                layer.name,
                None,
                None,
                "geometry",
                f"coordinates lie in the municipality only with x and y swapped: the axis order is wrong "
                f"(CRS {crs}; lat/lon delivered as lon/lat?)",
                "swapped_axes",
            )
            return geoms, ags
    if opts.municipality:
        ags = [opts.municipality if a is not None else None for a in ags]
    for i in np.flatnonzero(ok & ~inside).tolist():
        where = "the municipality" if opts.municipality else "every registered municipality"
        report.add(
            layer.name,
            i,
            None,
            "geometry",
            f"lies {dist[i]:,.0f} m outside {where} (tolerance {opts.tolerance_m:g} m; check the CRS)"
            if math.isfinite(dist[i])
            else f"lies outside {where}",
        )
    return geoms, ags


def _attr_getters(
    declared: tuple[Attribute, ...], spec: dict[str, Any], columns: dict[str, list[Any]]
) -> list[tuple[str, str, Getter]]:
    return [(a.name, a.type, compile_spec(spec[a.name], columns)) for a in declared if spec.get(a.name) is not None]


def _asset_layer(
    layer: Layer, lm: LayerMap, kind: Kind, geoms: np.ndarray, ags: list, feats: list[dict], opts: Options
) -> None:
    cols, spec = layer.columns, lm.spec
    # one delivery for several operators (a public site register): the operator of each row from its column
    op_get = compile_spec(spec["operator"], cols) if spec.get("operator") is not None else None
    get = {f: compile_spec(spec.get(f), cols) for f in ("external_id", "name", "status", "sensitivity")}
    get_dates = {f: compile_spec(spec.get(f), cols) for f in ("commissioned_on", "decommissioned_on")}
    removed = compile_spec(spec.get("removed"), cols)
    attrs = _attr_getters(kind.attributes, spec.get("attributes") or {}, cols)
    ops_list = _list_getter((spec.get("attributes") or {}).get("operators"), cols) if kind.has_antennas else None
    ref = spec.get("references")
    ref_get = compile_spec({k: v for k, v in ref.items() if k in ("field", "prefix")}, cols) if ref else None
    geo_problems = check_geometries(kind, geoms)
    wkbs = shapely.to_wkb(geoms).tolist()
    for i in range(layer.count):
        ext = get["external_id"](i)
        feats.append(
            {
                "layer": layer.name,
                "index": i,
                "kind": kind,
                "external_id": code_key(ext) if ext is not None and ext != "" else None,
                "name": _text(get["name"](i)),
                "status": _text(get["status"](i)) or "planned",
                # empty: the registered asset keeps its own, a new one gets the kind's default (load.py); never a
                # silent default that could make a critical asset public
                "sensitivity": _text(get["sensitivity"](i)),
                "commissioned_on": _text(get_dates["commissioned_on"](i)),
                "decommissioned_on": _text(get_dates["decommissioned_on"](i)),
                "attributes": {
                    **{n: v for n, t, g in attrs if (v := coerce(t, g(i))) is not None},
                    **({"operators": ops} if ops_list and (ops := ops_list(i)) is not None else {}),
                },
                "removed": bool(removed(i)),
                "geom": geo_problems[i],
                "wkb": wkbs[i],
                "municipality": ags[i],
                "ref": ref_get(i) if ref_get else None,
                "operator": _text(op_get(i)) if op_get else opts.operator,
                "keep": [],  # attributes the registered asset keeps (children the delivery does not state)
            }
        )


def _list_getter(spec: Any, columns: dict[str, list[Any]]) -> Getter | None:
    """A list from one column ("telekom, vodafone"): split at , ; | /, each item mapped by the spec's `map`."""
    if spec is None:
        return None
    base = spec if not isinstance(spec, dict) else {k: v for k, v in spec.items() if k not in ("map", "prefix")}
    raw = compile_spec(base, columns)
    mapping = {code_key(k): v for k, v in ((spec.get("map") if isinstance(spec, dict) else None) or {}).items()}

    def get(i: int) -> list[str] | None:
        v = raw(i)
        if v is None or v == "":
            return None
        items = v if isinstance(v, list) else LIST_SEPARATORS.split(str(v))
        out = [mapping.get(code_key(x), code_key(x)) for x in items if code_key(x)]
        return out or None

    return get


def _each(get: Getter, n: int, fn: Callable[[Any], Any]) -> list[Any]:
    """fn(get(i)) for every row i < n, fn called once per distinct text and once for all empty values (a child
    table has tens of thousands of rows and few distinct values per column)."""
    parts = getattr(get, "parts", None)
    if parts is not None:  # a mapped field (map, default, prefix): a function of the field's value, mapped with fn
        get, value_of = parts
        return _each(get, n, lambda v: fn(value_of(v)))
    raw = list(map(get, range(n)))
    try:
        distinct = set(raw)
    except TypeError:  # unhashable values (lists): each on its own
        return [fn(v) for v in raw]
    done = {v: fn(v) for v in distinct if v is None or type(v) is str}  # text never equals a non-text value
    return [done[v] if v is None or type(v) is str else fn(v) for v in raw]


def _key_or_none(v: Any) -> str | None:
    return None if v is None or v == "" else code_key(v)


def _child_rows(layer: Layer, lm: LayerMap, children: dict[str, list], report: Report) -> None:
    """Rows of a child table of mobile sites (sectors, antennas, cells), kept until the sites are known."""
    cols, n = layer.columns, layer.count
    site = compile_spec(lm.spec.get("site", "site_id"), cols)
    op_get = compile_spec(lm.spec["operator"], cols) if lm.spec.get("operator") is not None else None
    antenna = compile_spec(lm.spec.get("antenna", "antenna_id"), cols) if lm.target == CELLS else None
    attrs = _attr_getters(CHILD_ATTRIBUTES[lm.target], lm.spec.get("attributes") or {}, cols)
    what = {SECTORS: "sector", ANTENNAS: "antenna", CELLS: "cell"}[lm.target]
    # column by column: the site and antenna ids, the operators, each attribute coerced to its declared type
    sites = _each(site, n, _key_or_none)
    ops = _each(op_get, n, _text) if op_get else [None] * n
    aids = _each(antenna, n, _key_or_none) if antenna is not None else None
    names = [name for name, _, _ in attrs]
    values_of = zip(*(_each(g, n, lambda v, t=t: coerce(t, v)) for _, t, g in attrs), strict=True) if attrs else None
    target, rows = lm.target, children[lm.target]
    for i in range(n):
        row_values = next(values_of) if values_of is not None else ()
        sid = sites[i]
        if sid is None:
            report.add(layer.name, i, None, "site_id", f"required: the mobile site the {what} belongs to")
            continue
        values = {name: v for name, v in zip(names, row_values, strict=True) if v is not None}
        op = ops[i]
        if op is not None and target == ANTENNAS:  # a cell's operator is its antenna's (the row keeps it)
            values["operator"] = op
        row = {"layer": layer.name, "index": i, "target": target, "site": sid, "operator": op, "values": values}
        if aids is not None:
            aid = aids[i]
            if aid is None:
                report.add(layer.name, i, sid, "antenna_id", "required: the antenna the cell belongs to")
                continue
            row["antenna"] = aid
        rows.append(row)


def _site_for(row: dict, sites: dict[str, list[dict]], report: Report, what: str) -> dict | None:
    """The site feature a child row belongs to: by site id, and by operator where several share the id."""
    candidates = sites.get(row["site"], [])
    if len(candidates) > 1 and row["operator"] is not None:
        candidates = [f for f in candidates if f["operator"] == row["operator"]]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        whose = f" of operator {row['operator']!r}" if row["operator"] and sites.get(row["site"]) else ""
        msg = f"refers to no mobile site {row['site']!r}{whose} in the delivery"
    else:
        ops = ", ".join(sorted(f["operator"] for f in candidates))
        msg = f"site {row['site']!r} is delivered for operators {ops}: map the {what}s' operator column too"
    report.add(row["layer"], row["index"], row["site"], "site_id", msg)
    return None


def _join_children(feats: list[dict], children: dict[str, list], report: Report) -> None:
    """Antennas (and legacy sectors) onto their sites, cells onto their antennas, as attributes.antennas."""
    if not any(children.values()):
        return
    sites: dict[str, list[dict]] = defaultdict(list)
    for f in feats:
        if f["kind"].has_antennas and f["external_id"] and not f["removed"]:
            sites[f["external_id"]].append(f)
    antennas: dict[int, list[dict]] = defaultdict(list)  # id(site feature) -> antennas
    # id(site feature) -> per antenna (in the order of antennas): (its row, the rows of its cells)
    origins: dict[int, list[tuple[dict, list[dict]]]] = defaultdict(list)
    cell_rows: dict[int, list[dict]] = {}  # id(antenna) -> the rows of its cells
    for row in children[SECTORS]:
        site = _site_for(row, sites, report, "sector")
        if site is not None:
            antennas[id(site)] += sectors_to_antennas([row["values"]], row["operator"] or site["operator"])
            origins[id(site)].append((row, [row]))  # sector n: antenna S<n> with one cell, all from one row
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    found_sites: dict[tuple, dict] = {}  # (site id, operator) -> the site feature, once found

    def site_of(row: dict, what: str) -> dict | None:
        key = (row["site"], row["operator"])
        site = found_sites.get(key)
        if site is None:
            site = _site_for(row, sites, report, what)  # reports a row whose site is not found, each row
            if site is not None:
                found_sites[key] = site
        return site

    for row in children[ANTENNAS]:
        site = site_of(row, "antenna")
        if site is None:
            continue
        a = {**row["values"], "cells": []}
        a.setdefault("operator", site["operator"])
        antennas[id(site)].append(a)
        cell_rows[id(a)] = []
        origins[id(site)].append((row, cell_rows[id(a)]))
        by_key[(id(site), a.get("antenna_id"))].append(a)
    found_antennas: dict[tuple, tuple[dict, list[dict]]] = {}  # (site id, operator, antenna id) -> antenna, rows
    for row in children[CELLS]:
        key = (row["site"], row["operator"], row["antenna"])
        hit = found_antennas.get(key)
        if hit is None:
            site = site_of(row, "cell")
            if site is None:
                continue
            found = by_key.get((id(site), row["antenna"]), [])
            if row["operator"] is not None:
                found = [a for a in found if a.get("operator") == row["operator"]]
            if len(found) != 1:
                why = "no antenna" if not found else f"{len(found)} antennas (map the cells' operator column)"
                report.add(
                    row["layer"],
                    row["index"],
                    row["site"],
                    "antenna_id",
                    f"{why} {row['antenna']!r} at site {row['site']!r}",
                )
                continue
            hit = found_antennas[key] = (found[0], cell_rows[id(found[0])])
        hit[0]["cells"].append(dict(row["values"]))
        hit[1].append(row)
    for site_list in sites.values():
        for f in site_list:
            if id(f) in antennas:
                f["attributes"]["antennas"] = antennas[id(f)]
                f["children"] = origins[id(f)]
            elif children[ANTENNAS] or children[SECTORS]:
                f["attributes"]["antennas"] = []  # a child table present without rows for the site: none


CHILD_PATH = re.compile(r"^attributes\.antennas\[(\d+)\](?:\.cells\[(\d+)\])?(?:\.(.+))?$")


def _where(f: dict, field_name: str) -> tuple[str, int, Any, str]:
    """(layer, index, id, field) to report a problem of a site's attributes against: the row of the antenna or cell
    table the problem lies in where the antenna or cell came from a child table (id: site/antenna[/cell], field: the
    attribute of that row), else the site's own row."""
    m = CHILD_PATH.match(field_name)
    rows = f.get("children")
    if m is None or not rows or int(m.group(1)) >= len(rows):
        return f["layer"], f["index"], f["external_id"], field_name
    antenna_row, cells = rows[int(m.group(1))]
    row, rest = antenna_row, m.group(3)
    if m.group(2) is not None and int(m.group(2)) < len(cells):
        row = cells[int(m.group(2))]
    elif m.group(2) is not None:
        return f["layer"], f["index"], f["external_id"], field_name
    v = row["values"]
    if row["target"] == SECTORS:  # a legacy sector: antenna S<n> with cell <n>, one row
        fid = f"{row['site']}/{code_key(v.get('sector'))}"
        rest = "sector" if rest in ("antenna_id", "cell_id") else rest
    else:
        parts = [row["site"], row.get("antenna", v.get("antenna_id"))]
        parts += [v.get("cell_id")] if m.group(2) is not None else []
        fid = "/".join("" if x is None else code_key(x) for x in parts)
    return row["layer"], row["index"], fid, f"attributes.{rest}" if rest else "attributes"


def _check_operators(feats: list[dict], opts: Options, report: Report) -> None:
    """Each row's operator: registered, and the delivering operator's own unless the caller may write any."""
    for f in feats:
        op, layer, i, ext = f["operator"], f["layer"], f["index"], f["external_id"]
        if not op:
            report.add(layer, i, ext, "operator", "required: the profile reads the operator from a column")
        elif opts.operators and op not in opts.operators:
            known = ", ".join(opts.operators)
            report.add(layer, i, ext, "operator", f"unknown operator {op!r}; registered: {known}", "unknown_operator")
        elif op != opts.operator and not opts.any_operator:
            report.add(
                layer,
                i,
                ext,
                "operator",
                f"belongs to operator {op!r}: this key delivers only for {opts.operator!r} (a planner or admin "
                "may load a delivery of several operators)",
                "forbidden",
            )


def _check_antenna_operators(feats: list[dict], opts: Options, report: Report) -> None:
    """Each antenna's operator: registered, and the delivering operator's own unless the caller may write any.
    An antenna of its row's own operator is not named again (_check_operators named the row)."""
    for f in feats:
        for k, a in enumerate(f["attributes"].get("antennas") or [] if f["kind"].has_antennas else []):
            op = a.get("operator")
            if op == f["operator"]:
                continue
            unknown = bool(opts.operators and op and op not in opts.operators)
            if not unknown and not (op and op != opts.operator and not opts.any_operator):
                continue
            where = f"antenna {a.get('antenna_id')!r}"
            layer, i, fid, field_name = _where(f, f"attributes.antennas[{k}].operator")
            if field_name != "attributes.operator":  # an antenna of the site's row: name the antenna's field
                field_name = "operator"
            if unknown:
                known = ", ".join(opts.operators)
                report.add(
                    layer,
                    i,
                    fid,
                    field_name,
                    f"{where}: unknown operator {op!r}; registered: {known}",
                    "unknown_operator",
                )
            elif op and op != opts.operator and not opts.any_operator:
                report.add(
                    layer,
                    i,
                    fid,
                    field_name,
                    f"{where} belongs to operator {op!r}: this key delivers only for {opts.operator!r}",
                    "forbidden",
                )


def _check_assets(feats: list[dict], plan: Plan, report: Report) -> None:
    seen: dict[tuple[str, str, str], tuple[str, int]] = {}
    ids_by_kind: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in feats:
        if f["external_id"]:
            ids_by_kind[(f["kind"].id, f["operator"])].add(f["external_id"])
    for f in feats:
        kind, layer, i, ext = f["kind"], f["layer"], f["index"], f["external_id"]
        key = (kind.id, f["operator"], ext)
        if ext is not None:
            if key in seen:
                first = seen[key]
                report.add(
                    layer, i, ext, "external_id", f"duplicate in the delivery (first at {first[0]!r} #{first[1]})"
                )
                continue
            seen[key] = (layer, i)
        if f["ref"] is not None and code_key(f["ref"]) not in ids_by_kind[(kind.id, f["operator"])]:
            report.add(layer, i, ext, "references", f"refers to {f['ref']!r}, which is not in the delivery")
        fields = {
            k: f[k]
            for k in ("external_id", "name", "status", "sensitivity", "commissioned_on", "decommissioned_on")
            if k != "sensitivity" or f[k] is not None
        }
        problems = check_common(fields)
        if f["removed"]:
            clean: dict[str, Any] = {}
        else:
            clean, p = check_attributes(kind, f["attributes"], f["operator"])
            problems += p
            if f["geom"] is not None:
                problems.append(f["geom"])
        for p in problems:
            report.add(*_where(f, p.field), p.reason)
        if problems:
            continue
        plan.assets[kind.id].append(
            (
                layer,
                i,
                ext,
                f["name"],
                f["status"],
                f["sensitivity"],
                f["commissioned_on"],
                f["decommissioned_on"],
                orjson.dumps(clean).decode(),
                None if f["removed"] else f["wkb"],
                f["removed"],
                f["municipality"],
                f["operator"],
                f["keep"],
            )
        )


def _reference_layer(
    layer: Layer, lm: LayerMap, geoms: np.ndarray, ags: list, plan: Plan, report: Report, opts: Options
) -> None:
    cols, spec = layer.columns, lm.spec
    if lm.target == "districts":
        name = compile_spec(spec.get("name", "name"), cols)
        key = compile_spec(spec.get("key"), cols)
        bounds: dict[str, BaseGeometry] = {}  # each municipality's boundary widened by the tolerance, once
        for i in range(layer.count):
            g, n, k = geoms[i], _text(name(i)), _text(key(i))
            if not n:
                report.add(layer.name, i, None, "name", "required attribute missing")
            elif g is None or shapely.get_type_id(g) not in (3, 6):
                report.add(layer.name, i, n, "geometry", "expected a Polygon or MultiPolygon")
            elif not g.is_valid:
                report.add(layer.name, i, n, "geometry", "invalid geometry (use --repair)")
            elif opts.municipality and ags[i] is None:
                where = f"municipality {opts.municipality}"
                report.add(layer.name, i, n, "geometry", f"district {n!r} lies outside {where}")
            elif ags[i] is not None:
                if ags[i] not in bounds:
                    m = next(m for m in opts.municipalities if m.ags == ags[i])
                    bounds[ags[i]] = m.boundary.buffer(opts.tolerance_m)
                beyond = g.difference(bounds[ags[i]]).area
                if beyond > 0:
                    report.add(
                        layer.name,
                        i,
                        n,
                        "geometry",
                        f"district {n!r} lies partly outside municipality {ags[i]} ({beyond / g.area:.0%} of its "
                        f"area beyond the {opts.tolerance_m:g} m tolerance; check the CRS or the --municipality)",
                    )
                else:
                    plan.districts[ags[i]].append({"name": n, "key": None if k is None else str(k), "boundary": g})
        return
    # buildings
    ext = compile_spec(spec.get("external_id", "id"), cols)
    hh = compile_spec(spec.get("households"), cols)
    get_height, get_levels = compile_spec(spec.get("height"), cols), compile_spec(spec.get("levels"), cols)
    source = spec.get("source") or opts.operator
    seen: set[str] = set()
    # geometry type and validity of the whole layer at once (per feature they cost more than all else here)
    type_ok = np.isin(shapely.get_type_id(geoms), (0, 3, 6)).tolist()
    valid = shapely.is_valid(geoms).tolist()
    for i in range(layer.count):
        e, g = ext(i), geoms[i]
        e = code_key(e) if e not in (None, "") else None
        households = coerce("integer", hh(i))
        height, levels = coerce("number", get_height(i)), coerce("integer", get_levels(i))
        if isinstance(levels, float) and levels.is_integer():
            levels = int(levels)
        if e is None:
            report.add(layer.name, i, None, "external_id", "required attribute missing")
            continue
        if e in seen:
            report.add(layer.name, i, e, "external_id", "duplicate in the delivery")
            continue
        seen.add(e)
        if not type_ok[i]:  # also a missing geometry (type id -1)
            report.add(layer.name, i, e, "geometry", "expected a Polygon, MultiPolygon or Point")
        elif not valid[i]:
            report.add(layer.name, i, e, "geometry", "invalid geometry (use --repair)")
        elif households is not None and (not isinstance(households, int) or households < 0):
            report.add(layer.name, i, e, "households", f"expected a whole number >= 0, got {households!r}")
        elif height is not None and (not isinstance(height, int | float) or not 0 < height < 1000):
            report.add(layer.name, i, e, "height", f"expected metres above ground in (0, 1000), got {height!r}")
        elif levels is not None and (not isinstance(levels, int) or not 0 <= levels < 300):
            report.add(layer.name, i, e, "levels", f"expected a whole number of storeys 0-299, got {levels!r}")
        elif ags[i] is not None:
            plan.buildings[(ags[i], source)].append(
                {"external_id": e, "households": households, "geom": g, "height_m": height, "levels": levels}
            )


def _cells_layer(layer: Layer, lm: LayerMap, profile: Profile, plan: Plan, report: Report) -> None:
    cols, spec = layer.columns, lm.spec
    get_id, pop = compile_spec(spec.get("id"), cols), compile_spec(spec.get("population"), cols)
    x_name = next((n.lower() for n in (spec.get("x") or []) if n.lower() in cols), None)
    y_name = next((n.lower() for n in (spec.get("y") or []) if n.lower() in cols), None)
    res_match = re.search(r"_(\d+)(m|km)(?:_|$)", x_name or "")  # x_mp_100m, x_mp_1km_3035, x_mp_10km
    res_named = int(res_match.group(1)) * (1000 if res_match.group(2) == "km" else 1) if res_match else None
    res_default = spec.get("resolution") or res_named or (100 if x_name else None)
    year = spec.get("year")
    source = spec.get("source") or "Zensus"
    plan.cell_attribution = spec.get("attribution")
    corners = []
    for i in range(layer.count):
        cid = get_id(i)
        if cid:
            m = CELL_ID.match(str(cid).strip())
            if not m:
                report.add(layer.name, i, cid, "id", "not an INSPIRE grid id like CRS3035RES100mN2950800E4200300")
                continue
            res = int(m.group(1)) * (1000 if m.group(2) == "km" else 1)
            n_, e_ = int(m.group(3)), int(m.group(4))
        elif x_name and y_name and res_default:
            x, y = coerce("number", cols[x_name][i]), coerce("number", cols[y_name][i])
            if (
                not isinstance(x, float | int)
                or not isinstance(y, float | int)
                or not (math.isfinite(x) and math.isfinite(y))
            ):
                report.add(layer.name, i, None, x_name, "cell centre coordinates must be numbers")
                continue
            res = int(res_default)
            e_, n_ = round(x - res / 2), round(y - res / 2)
        else:
            report.add(layer.name, i, None, "id", "no INSPIRE id and no cell centre columns (x_mp_*, y_mp_*)")
            continue
        p, secret, problem = population.count(pop(i))
        if problem:
            report.add(layer.name, i, cid, "population", problem)
            continue
        plan.secret_cells += secret
        inspire = f"CRS3035RES{res}mN{n_}E{e_}"
        corners.append((inspire, res, p, e_, n_))
    if not corners:
        return
    boxes = np.array([shapely.box(e, n, e + r, n + r) for _, r, _, e, n in corners], dtype=object)
    boxes = shapely.segmentize(boxes, max(25.0, min(r for _, r, _, _, _ in corners) / 4))
    polys = to_storage(boxes, "EPSG:3035")
    polys = shapely.set_precision(polys, 0.01)
    for (cid, res, p, _, _), g in zip(corners, polys, strict=True):
        plan.cells.append({"id": cid, "resolution_m": res, "population": p, "geom": g, "source": source, "year": year})


def validate(layers: list[Layer], profile: Profile, opts: Options, report: Report) -> Plan:
    """Map every layer through the profile and check everything; the plan is loadable when report.valid."""
    plan = Plan(opts.operator)
    feats: list[dict] = []
    children: dict[str, list] = {SECTORS: [], ANTENNAS: [], CELLS: []}
    matched: list[LayerMap] = []
    for layer in layers:
        lm = profile.layer_map(layer.name, opts.kind)
        if lm is not None:
            matched.append(lm)
        entry = {"name": layer.name, "features": layer.count, "crs": layer.crs, "target": lm.target if lm else None}
        report.layers.append(entry)
        if lm is None:
            report.add(
                layer.name, None, None, "layer", f"matches no layer of profile {profile.name!r}", "unknown_layer"
            )
            continue
        if layer.count == 0:
            continue
        if lm.target in children:
            _child_rows(layer, lm, children, report)
            continue
        if lm.target == "population-cells":
            _cells_layer(layer, lm, profile, plan, report)
            continue
        if lm.target == "district-population":
            population.district_population_layer(layer, lm, opts, plan, report, compile_spec)
            continue
        crs = _layer_crs(layer, profile, opts, report)
        if crs is None:
            continue
        entry["crs"] = crs
        kind = KINDS_BY_ID.get(lm.target)
        geoms, ags = _prepare_geometries(layer, kind.geometry if kind else None, crs, opts, report, True)
        if kind:
            _asset_layer(layer, lm, kind, geoms, ags, feats, opts)
        elif lm.target in REFERENCE_TARGETS:
            _reference_layer(layer, lm, geoms, ags, plan, report, opts)
    if not opts.kind:
        _missing_layers(profile, matched, report)
    _keep_children(profile, matched, feats, report)
    _check_operators(feats, opts, report)
    _join_children(feats, children, report)
    _check_antenna_operators(feats, opts, report)
    _check_assets(feats, plan, report)
    return plan


def _missing_layers(profile: Profile, matched: list[LayerMap], report: Report) -> None:
    """A layer the profile maps but the delivery lacks is an error, unless the profile marks it optional: a
    forgotten file must not pass as "nothing of it"."""
    for lm in profile.layers:
        if lm.optional or "*" in lm.names or any(m is lm for m in matched):
            continue
        report.add(
            lm.label,
            None,
            None,
            "layer",
            f"the profile maps layer {lm.label!r} ({lm.target}) but the delivery has no such layer or file; "
            "deliver it, or mark it `optional: true` in the profile",
            "missing_layer",
        )


def _keep_children(profile: Profile, matched: list[LayerMap], feats: list[dict], report: Report) -> None:
    """Parents whose child tables are not in the delivery keep their registered children: a missing table never
    empties or retires them. (A child table that is present but has no row for a parent does empty it.)"""
    tables: dict[tuple[str, str], list[str]] = defaultdict(list)
    for child, (parent, attribute) in CHILDREN.items():
        tables[(parent, attribute)].append(child)
    for (parent, attribute), childs in tables.items():
        if any(m.target in childs for m in matched):
            continue
        inline = any(m.target == parent and attribute in (m.spec.get("attributes") or {}) for m in matched)
        parents = [f for f in feats if f["kind"].id == parent and not f["removed"]]
        if inline or not parents:
            continue
        # the operators of a site follow from its antennas unless its row states them: a row without them (no
        # column, or an empty cell) keeps the registered operators with the registered antennas
        for f in parents:
            keep_ops = f["kind"].has_antennas and "operators" not in f["attributes"]
            f["keep"] += [attribute, "operators"] if keep_ops else [attribute]
        report.notes.append(
            f"no {' or '.join(childs)} table in the delivery: the {len(parents)} {parent} keep their registered "
            f"{attribute}"
        )
