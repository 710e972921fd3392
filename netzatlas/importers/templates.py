"""Empty delivery templates per asset kind (GeoPackage or CSV), derived from the kind declaration.

The columns are those the built-in `registry` profile reads (netzatlas.importers.profiles), so a filled-in
template imports without a profile file.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
from pyogrio.raw import write

from netzatlas.importers.profiles import COMMON_FIELDS, REMOVED_FIELD, SITE_FIELD
from netzatlas.registry.kinds import ANTENNA_ATTRIBUTES, CELL_ATTRIBUTES, Attribute, get_kind

NUMPY = {"string": object, "integer": np.int64, "number": np.float64, "boolean": np.bool_, "date": object}
FORMATS = ("gpkg", "csv")


def columns(kind_id: str) -> list[tuple[str, str]]:
    kind = get_kind(kind_id)
    common = [(f, "date" if f.endswith("_on") else "string") for f in COMMON_FIELDS]
    extra = [("operators", "string")] if kind.has_antennas else []
    return [*common, *((a.name, a.type) for a in kind.attributes), *extra, (REMOVED_FIELD, "boolean")]


def _child_columns() -> dict[str, list[tuple[str, str]]]:
    """The antennas and cells tables of mobile sites, as the registry profile reads them."""
    antennas = [(SITE_FIELD, "string"), *((a.name, a.type) for a in ANTENNA_ATTRIBUTES)]
    cells = [(SITE_FIELD, "string"), ("operator", "string"), ("antenna_id", "string")]
    cells += [(a.name, a.type) for a in CELL_ATTRIBUTES]
    return {"antennas": antennas, "cells": cells}


def _empty(cols: list[tuple[str, str]]) -> list[np.ndarray]:
    return [np.array([], dtype=NUMPY[t]) for _, t in cols]


def write_template(kind_id: str, fmt: str, out: Path) -> Path:
    """Write the template for a kind; mobile sites get layers (GeoPackage) or files (CSV) for antennas and cells."""
    kind = get_kind(kind_id)
    if fmt not in FORMATS:
        raise ValueError(f"unknown template format {fmt!r}; use {' or '.join(FORMATS)}")
    cols = columns(kind_id)
    out = Path(out)
    if fmt == "csv":
        with out.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["wkt", *(n for n, _ in cols)])
        if kind.has_antennas:
            for table, cols_ in _child_columns().items():
                with out.with_name(f"{out.stem}-{table}.csv").open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerow([n for n, _ in cols_])
        return out
    if out.exists():
        out.unlink()
    write(
        out,
        np.array([], dtype=object),
        _empty(cols),
        fields=[n for n, _ in cols],
        geometry_type=kind.geometry,
        crs="EPSG:25832",
        driver="GPKG",
        layer=kind.id,
    )
    if kind.has_antennas:
        for table, sc in _child_columns().items():
            write(out, None, _empty(sc), fields=[n for n, _ in sc], driver="GPKG", layer=table, append=True)
    return out


def template_bytes(kind_id: str, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = write_template(kind_id, fmt, Path(d) / f"{kind_id}.{fmt}")
        return p.read_bytes()


def describe(attr: Attribute) -> str:
    return attr.title + (f" ({', '.join(attr.codes)})" if attr.codes else "")
