"""Open-data downloads: per municipality GeoPackage, GeoJSON and CSV snapshots of the catalogue's datasets.

Everything is read as the anonymous caller, so row-level security (not a filter of ours) keeps internal and
critical assets, unpublished runs and the attributes only they carry out of every file; the columns of a file
are the attribute keys of its public rows. Coverage results are the aggregates (100 m cells, districts), never
rasters. A dataset's files are rebuilt only when its change stamp moved; files of datasets that left the
catalogue (a withdrawn run) are removed. Each municipality's directory has a manifest.json with licence,
attribution, sizes and SHA-256 checksums.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pyogrio.raw import write

from netzatlas.catalog.datasets import Dataset, build, read_public
from netzatlas.config import Settings
from netzatlas.registry import access

FORMATS = {  # suffix: (media type, EU file type)
    "gpkg": ("application/geopackage+sqlite3", "GPKG"),
    "geojson": ("application/geo+json", "GEOJSON"),
    "csv": ("text/csv", "CSV"),
}
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
AGS = re.compile(r"^[0-9]{8}$")
_GEOM = "ST_AsBinary({g}) AS wkb, ST_AsGeoJSON(ST_Transform({g}, 4326), 7) AS geojson, ST_AsText({g}) AS wkt"
# (dataset id prefix, part name, SQL with the dataset's parameters); all read as the anonymous caller
PARTS: dict[str, list[tuple[str, str]]] = {
    "registry": [
        (
            "",
            "SELECT id::text AS id, external_id, name, operator, status, commissioned_on::text AS commissioned_on, "
            "decommissioned_on::text AS decommissioned_on, attributes, " + _GEOM.format(g="geom") + " FROM assets "
            "WHERE kind = %(kind)s AND municipality = %(ags)s AND retired_at IS NULL ORDER BY external_id, id",
        )
    ],
    "coverage": [
        (
            "-cells",
            "SELECT c.cell_id, c.analysis, c.buildings, c.population, c.share_covered, c.metrics AS attributes, "
            + _GEOM.format(g="i.geom")
            + " FROM coverage_cells c JOIN inspire_cells i ON i.id = c.cell_id WHERE c.run_id = %(run)s::uuid"
            " ORDER BY c.cell_id",
        ),
        (
            "-districts",
            "SELECT district_id, name, analysis, buildings, population, share_covered, metrics AS attributes, "
            + _GEOM.format(g="geom")
            + " FROM coverage_districts WHERE run_id = %(run)s::uuid ORDER BY district_id",
        ),
    ],
    "districts": [
        (
            "",
            "SELECT id, name, approximate, " + _GEOM.format(g="boundary") + " FROM districts "
            "WHERE municipality = %(ags)s ORDER BY name",
        )
    ],
}


def root(settings: Settings) -> Path:
    return (settings.opendata_dir or settings.home / "opendata").expanduser().resolve()


def _what(d: Dataset) -> tuple[str, dict[str, str], str] | None:
    """(part family, query parameters, change-stamp layer) of a dataset with downloads, None for the others."""
    if d.id.startswith("registry-") and len(d.municipalities) == 1:
        kind = d.id.removeprefix("registry-").removesuffix(f"-{d.municipalities[0]}")
        return "registry", {"kind": kind, "ags": d.municipalities[0]}, "assets"
    if d.id.startswith("coverage-"):
        return "coverage", {"run": d.id.removeprefix("coverage-")}, "coverage_cells"
    if d.id.startswith("reference-districts-"):
        return "districts", {"ags": d.municipalities[0]}, "districts"
    return None


def _flatten(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and records: the fixed columns plus the keys of `attributes` found in these rows."""
    fixed = [k for k in rows[0] if k not in ("attributes", "wkb", "geojson", "wkt")] if rows else []
    extra: list[str] = []
    for r in rows:
        for k in r.get("attributes") or {}:
            if k not in extra and k not in fixed:
                extra.append(k)
    records = []
    for r in rows:
        rec = {k: r[k] for k in fixed}
        attrs = r.get("attributes") or {}
        for k in extra:
            v = attrs.get(k)
            rec[k] = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
        records.append(rec)
    return fixed + extra, records


def _column(values: list[Any]) -> np.ndarray:
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values) and any(
        v is not None for v in values
    ):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def _write(base: Path, d: Dataset, rows: list[dict[str, Any]], settings_license: str) -> list[Path]:
    cols, records = _flatten(rows)
    meta = {"title": d.title, "license": settings_license, "attribution": d.attribution}
    gj = base.with_suffix(".geojson")
    features = [
        {"type": "Feature", "geometry": json.loads(r["geojson"]), "properties": rec}
        for r, rec in zip(rows, records, strict=True)
    ]
    gj.write_text(
        json.dumps({"type": "FeatureCollection", **meta, "features": features}, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    with base.with_suffix(".csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*cols, "wkt_epsg25832"])
        for r, rec in zip(rows, records, strict=True):
            w.writerow([*("" if rec[c] is None else rec[c] for c in cols), r["wkt"]])
    gpkg = base.with_suffix(".gpkg")
    gpkg.unlink(missing_ok=True)
    write(
        str(gpkg),
        geometry=np.array([bytes(r["wkb"]) for r in rows], dtype=object),
        field_data=[_column([rec[c] for rec in records]) for c in cols],
        fields=cols,
        crs="EPSG:25832",
        driver="GPKG",
        geometry_type="Unknown",
        layer=base.name[:60],
    )
    return [gpkg, gj, base.with_suffix(".csv")]


def _describe(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    media, file_type = FORMATS[path.suffix.lstrip(".")]
    return {
        "file": path.name,
        "media_type": media,
        "file_type": file_type,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"datasets": {}}


def build_all(conn: Any, settings: Settings, out: Path | None = None) -> dict[str, int]:
    """Write the snapshots under `out` (default: <home>/opendata); counts of datasets built, kept and removed."""
    out = out or root(settings)
    rows = read_public(conn)
    datasets, _ = build(rows, settings)
    stamps = {r["layer"]: r["changed_at"].isoformat() for r in rows["changes"]}
    done = {"built": 0, "kept": 0, "removed": 0}
    access.state(conn, access.ANONYMOUS)
    try:
        per_ags: dict[str, list[tuple[Dataset, tuple[str, dict[str, str], str]]]] = {}
        for d in datasets:
            what = _what(d)
            if what and len(d.municipalities) == 1:
                per_ags.setdefault(d.municipalities[0], []).append((d, what))
        for ags, items in per_ags.items():
            directory = out / ags
            directory.mkdir(parents=True, exist_ok=True)
            old = read_manifest(directory)["datasets"]
            manifest: dict[str, Any] = {
                "municipality": ags,
                "generated": dt.datetime.now(dt.UTC).isoformat(),
                "datasets": {},
            }
            for d, (family, params, layer) in items:
                stamp = f"{stamps.get(layer, '')}|{d.modified.isoformat()}"
                before = old.get(d.id)
                if (
                    before
                    and before["stamp"] == stamp
                    and all((directory / f["file"]).exists() for f in before["files"])
                ):
                    manifest["datasets"][d.id] = before
                    done["kept"] += 1
                    continue
                files: list[Path] = []
                for suffix, sql in PARTS[family]:
                    found = conn.execute(sql, params).fetchall()
                    files += _write(directory / f"{d.id}{suffix}", d, found, d.license)
                manifest["datasets"][d.id] = {
                    "title": d.title,
                    "license": d.license,
                    "attribution": d.attribution,
                    "stamp": stamp,
                    "files": [_describe(p) for p in files],
                }
                done["built"] += 1
            keep = {f["file"] for e in manifest["datasets"].values() for f in e["files"]} | {"manifest.json"}
            for p in directory.iterdir():  # datasets that left the catalogue leave the downloads too
                if p.name not in keep:
                    p.unlink()
            done["removed"] += len(set(old) - set(manifest["datasets"]))
            (directory / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for directory in out.iterdir() if out.exists() else ():
            if directory.is_dir() and AGS.match(directory.name) and directory.name not in per_ags:
                for p in directory.iterdir():
                    p.unlink()
                directory.rmdir()
    finally:
        access.state(conn)
    return done


def downloads(settings: Settings, datasets: list[Dataset]) -> dict[str, list[dict[str, Any]]]:
    """The built files per dataset id, from the manifests (only datasets that are in the catalogue now)."""
    out: dict[str, list[dict[str, Any]]] = {}
    base = root(settings)
    for ags in {a for d in datasets for a in d.municipalities}:
        entries = read_manifest(base / ags)["datasets"]
        for d in datasets:
            if d.id in entries and ags in d.municipalities:
                out[d.id] = [{**f, "url": f"/opendata/{ags}/{f['file']}"} for f in entries[d.id]["files"]]
    return out
