"""Coordinate reference systems offered by the API (OGC API Features Part 2), with their axis order."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pyproj import CRS

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


STORAGE = resolve(EPSG_URI.format(code=STORAGE_CODE))
DEFAULT = resolve(None)
