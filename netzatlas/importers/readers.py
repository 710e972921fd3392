"""Readers: every layer of a delivery as arrays (pyogrio/GDAL), and CSV with WKT or coordinate columns.

A layer is its name, its CRS as read (None when the file has none), shapely geometries in that CRS and
its columns by lower-cased field name, values as plain Python objects (None for null).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyogrio.raw import read as ogr_read

from netzatlas.importers.files import Delivery, DeliveryError

WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "wkt_geom", "geometrie")
LON_NAMES = ("lon", "lng", "long", "longitude", "laenge", "länge")
LAT_NAMES = ("lat", "latitude", "breite")
X_NAMES = ("x", "rechtswert", "easting", "east")
Y_NAMES = ("y", "hochwert", "northing", "north")
LATLON_NAMES = ("lat,lon", "latlon", "lat_lon", "lat lon", "lat/lon", "koordinaten", "coordinates", "position")
DELIMITERS = (";", "\t", ",", "|")
WGS84 = "EPSG:4326"  # lon/lat columns are geographic WGS 84 by their name
MAX_CSV_FIELD = 1 << 20


@dataclass
class Layer:
    name: str
    source: Path
    crs: str | None
    geoms: np.ndarray  # shapely geometries or None, in `crs`
    columns: dict[str, list[Any]]  # lower-cased field name -> values
    count: int
    lonlat: bool = False  # geometry built from lon/lat columns (axis order stated by the column names)


def _plain(values: np.ndarray) -> list[Any]:
    out = values.tolist()
    if values.dtype.kind == "f":
        out = [None if isinstance(v, float) and math.isnan(v) else v for v in out]
    elif values.dtype.kind == "M":
        out = [None if v is None else v for v in out]
    return out


def _read_ogr(source: Path, encoding: str | None) -> list[Layer]:
    try:
        names = [str(n) for n in pyogrio.list_layers(source)[:, 0]]
    except Exception as e:
        raise DeliveryError(f"{source.name}: cannot be read ({str(e).splitlines()[0]})") from None
    layers = []
    for name in names:
        try:
            meta, _fids, wkb, fields = ogr_read(source, layer=name, encoding=encoding)
        except UnicodeDecodeError as e:
            raise DeliveryError(
                f"{source.name}: text is not UTF-8 ({e.reason} at byte {e.start}); give the encoding"
            ) from None
        except Exception as e:
            raise DeliveryError(f"{source.name}, layer {name!r}: cannot be read ({str(e).splitlines()[0]})") from None
        n = len(wkb) if wkb is not None else (len(fields[0]) if fields else 0)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else np.full(n, None, dtype=object)
        columns = {str(f).lower(): _plain(v) for f, v in zip(meta["fields"], fields, strict=True)}
        layers.append(Layer(name, source, meta.get("crs"), geoms, columns, n))
    return layers


def _decode(raw: bytes, encoding: str | None, name: str) -> str:
    if encoding:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as e:
            raise DeliveryError(f"{name}: cannot be decoded as {encoding} ({e})") from None
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(enc)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DeliveryError(
            f"{name}: text is not UTF-8 (byte {raw[e.start]:#04x} at position {e.start}); "
            "save it as UTF-8 or give its encoding (e.g. --encoding cp1252)"
        ) from None


def _delimiter(header: str) -> str:
    return max(DELIMITERS, key=lambda d: len(next(csv.reader([header], delimiter=d))))


def _find(names: list[str], candidates: tuple[str, ...], wanted: str | None = None) -> str | None:
    if wanted:
        if wanted.lower() not in names:
            raise DeliveryError(f"column {wanted!r} named by the profile is not in the file")
        return wanted.lower()
    return next((c for c in candidates if c in names), None)


def _float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        return (
            float(str(v).replace(",", ".")) if isinstance(v, str) and v.count(",") == 1 and "." not in v else float(v)
        )
    except ValueError:
        return math.nan


def read_csv(
    source: Path, encoding: str | None = None, delimiter: str | None = None, geometry: dict[str, str] | None = None
) -> Layer:
    """A CSV as one layer. Geometry from a WKT column, x/y or lon/lat columns, or one "lat,lon" column."""
    text = _decode(source.read_bytes(), encoding, source.name)
    header = text.split("\n", 1)[0]
    delimiter = delimiter or _delimiter(header)
    csv.field_size_limit(MAX_CSV_FIELD)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as e:
        raise DeliveryError(f"{source.name}: not a readable CSV ({e})") from None
    if not rows or not any(rows[0]):
        raise DeliveryError(f"{source.name}: no header row")
    names = [h.strip().lower() for h in rows[0]]
    body = [r for r in rows[1:] if "".join(r).strip()]  # rows with anything but whitespace
    width = len(names)
    for i, r in enumerate(body):
        if len(r) != width:
            raise DeliveryError(
                f"{source.name}: row {i + 2} has {len(r)} fields, the header {len(names)} (delimiter {delimiter!r})"
            )
    fields = list(zip(*body, strict=True)) if body else [() for _ in names]  # column by column
    columns = {n: [v.strip() or None for v in fields[i]] for i, n in enumerate(names)}
    g = geometry or {}
    n = len(body)
    geoms: np.ndarray = np.full(n, None, dtype=object)
    lonlat = False
    crs = None
    wkt = _find(names, WKT_NAMES, g.get("wkt"))
    latlon = _find(names, LATLON_NAMES, g.get("latlon"))
    lon = _find(names, LON_NAMES, g.get("lon"))
    lat = _find(names, LAT_NAMES, g.get("lat"))
    x = _find(names, X_NAMES, g.get("x"))
    y = _find(names, Y_NAMES, g.get("y"))
    if wkt:
        geoms = shapely.from_wkt(np.array(columns.pop(wkt), dtype=object), on_invalid="ignore")
    elif latlon:
        pairs = [(v or "").replace(";", ",").split(",") for v in columns.pop(latlon)]
        la = np.array([_float(p[0]) if len(p) == 2 else math.nan for p in pairs], dtype=float)
        lo = np.array([_float(p[1]) if len(p) == 2 else math.nan for p in pairs], dtype=float)
        geoms, lonlat, crs = shapely.points(lo, la), True, WGS84
    elif lon and lat:
        lo = np.array([_float(v) for v in columns.pop(lon)], dtype=float)
        la = np.array([_float(v) for v in columns.pop(lat)], dtype=float)
        geoms, lonlat, crs = shapely.points(lo, la), True, WGS84
    elif x and y:
        xs = np.array([_float(v) for v in columns.pop(x)], dtype=float)
        ys = np.array([_float(v) for v in columns.pop(y)], dtype=float)
        geoms = shapely.points(xs, ys)
    if len(geoms) and geoms.dtype != object:
        geoms = geoms.astype(object)
    return Layer(source.stem, source, crs, geoms, columns, n, lonlat)


def read_layers(delivery: Delivery, encoding: str | None = None, delimiter: str | None = None) -> list[Layer]:
    layers: list[Layer] = []
    for source in delivery.sources:
        if delivery.format == "csv":
            layers.append(read_csv(source, encoding, delimiter))
        else:
            layers += _read_ogr(source, encoding)
    if not any(layer.count for layer in layers):
        raise DeliveryError(f"{delivery.path.name}: no features")
    return layers
