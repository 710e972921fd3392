"""Coordinate reference systems offered by the API (OGC API Features Part 2), with their axis order."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pyproj import CRS, Transformer

from netzatlas.api.errors import bad_request

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
STORAGE_CODE = 25832
# CRS84 first: it is the default of Part 1. Then WGS 84 (lat/lon), the storage CRS, the INSPIRE grid CRS,
# web mercator, ETRS89 geographic and the older Gauss-Krüger zone 3 still found in Rhineland-Palatinate.
OFFERED = (CRS84, *(EPSG_URI.format(code=c) for c in (4326, STORAGE_CODE, 3035, 3857, 4258, 31467)))


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int  # PostGIS SRID; CRS84 is 4326 with lon/lat order
    swap: bool  # the CRS's first axis is northing/latitude, so PostGIS' x/y must be flipped
    geographic: bool

    @property
    def decimals(self) -> int:
        return 7 if self.geographic else 2

    @property
    def header(self) -> str:
        return f"<{self.uri}>"


@cache
def _describe(uri: str) -> Crs:
    if uri == CRS84:
        return Crs(uri, 4326, swap=False, geographic=True)
    code = int(uri.rsplit("/", 1)[1])
    crs = CRS.from_epsg(code)
    swap = crs.axis_info[0].direction in ("north", "south")
    return Crs(uri, code, swap=swap, geographic=crs.is_geographic)


def resolve(value: str | None, param: str = "crs") -> Crs:
    """Accept the URIs of OFFERED, also written as EPSG:nnnn, [EPSG:nnnn] or OGC:CRS84 (as clients do)."""
    if value is None or value == "":
        return _describe(CRS84)
    v = value.strip().strip("[]<>")
    upper = v.upper()
    if upper in ("OGC:CRS84", "CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84", "URN:OGC:DEF:CRS:OGC::CRS84"):
        v = CRS84
    elif upper.startswith("EPSG:") and upper[5:].isdigit():
        v = EPSG_URI.format(code=int(upper[5:]))
    elif upper.startswith("URN:OGC:DEF:CRS:EPSG:") and upper.rsplit(":", 1)[1].isdigit():
        v = EPSG_URI.format(code=int(upper.rsplit(":", 1)[1]))
    v = v.replace("https://", "http://")
    if v not in OFFERED:
        raise bad_request(f"unsupported {param} {value!r}; supported: {', '.join(OFFERED)}")
    return _describe(v)


# Degrees around the storage CRS's EPSG area of use where the registry still accepts query geometries: UTM
# is usable well beyond its 6° zone, while far from it PROJ refuses points ("outside of projection domain").
AREA_MARGIN = 3.0
Box = tuple[float, float, float, float]


@cache
def storage_area(srid: int) -> Box:
    """The storage CRS's area of use (widened by AREA_MARGIN) as x1, y1, x2, y2 in `srid`, in PostGIS x/y order."""
    a = CRS.from_epsg(STORAGE_CODE).area_of_use
    assert a is not None
    lonlat = (
        a.west - AREA_MARGIN,
        max(a.south - AREA_MARGIN, -89.0),
        a.east + AREA_MARGIN,
        min(a.north + AREA_MARGIN, 89.0),
    )
    if srid == 4326:
        return lonlat
    return Transformer.from_crs(4326, srid, always_xy=True).transform_bounds(*lonlat, densify_pts=21)


def clamp(box: Box, srid: int) -> Box | None:
    """A box (x/y order) of CRS `srid` cut to where the storage CRS is defined; None when nothing is left.

    Transforming the whole box would fail or wrap for parts far outside; no stored geometry lies there."""
    if srid == STORAGE_CODE:
        return box
    a = storage_area(srid)
    out = (max(box[0], a[0]), max(box[1], a[1]), min(box[2], a[2]), min(box[3], a[3]))
    return out if out[0] <= out[2] and out[1] <= out[3] else None


STORAGE = resolve(EPSG_URI.format(code=STORAGE_CODE))
DEFAULT = resolve(None)
