"""Parsing of the query parameters of OGC API Features; each bad value is a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from netzatlas.api.errors import bad_request

LIMIT_DEFAULT = 10
LIMIT_MAX = 10_000
# Deeper offsets are refused: they would scan that many rows for nothing, and offset + limit must stay a bigint.
OFFSET_MAX = 1_000_000_000
# The query parameters of items, in the order the OpenAPI document lists them (queryables come on top).
ITEM_PARAMETERS = (
    "limit",
    "offset",
    "cursor",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "skipGeometry",
    "asOf",
    "f",
)


def limit(value: str | None) -> int:
    if value is None:
        return LIMIT_DEFAULT
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f"limit must be an integer between 1 and {LIMIT_MAX}, got {value!r}") from None
    if not 1 <= n <= LIMIT_MAX:
        raise bad_request(f"limit must be between 1 and {LIMIT_MAX}, got {n}")
    return n


def offset(value: str | None) -> int:
    if value is None:
        return 0
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f"offset must be an integer between 0 and {OFFSET_MAX}, got {value!r}") from None
    if not 0 <= n <= OFFSET_MAX:
        raise bad_request(f"offset must be an integer between 0 and {OFFSET_MAX}, got {value!r}")
    return n


def bbox(value: str) -> tuple[float, float, float, float]:
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise bad_request(f"bbox must be 4 or 6 comma-separated numbers, got {value!r}") from None
    if len(nums) not in (4, 6) or not all(math.isfinite(n) for n in nums):
        raise bad_request(f"bbox must be 4 or 6 comma-separated finite numbers, got {value!r}")
    if len(nums) == 6:  # drop heights: the registry is 2D
        nums = [nums[0], nums[1], nums[3], nums[4]]
    x1, y1, x2, y2 = nums
    if x1 > x2 or y1 > y2:
        raise bad_request(f"bbox lower corner must not exceed the upper corner, got {value!r}")
    return x1, y1, x2, y2


def timestamp(value: str, name: str) -> dt.datetime:
    """RFC 3339 date-time or date; a value without zone is UTC."""
    v = value.strip()
    try:
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 date or date-time, got {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def interval(value: str, name: str = "datetime") -> tuple[dt.datetime | None, dt.datetime | None]:
    """An instant or an interval 'start/end' with '..' or '' for an open end."""
    if "/" in value:
        start_s, _, end_s = value.partition("/")
        start = None if start_s in ("", "..") else timestamp(start_s, name)
        end = None if end_s in ("", "..") else timestamp(end_s, name)
        if start is None and end is None:
            raise bad_request(f"{name}: an interval needs at least one bound, got {value!r}")
        if start and end and start > end:
            raise bad_request(f"{name}: start after end in {value!r}")
        return start, end
    t = timestamp(value, name)
    return t, t


def boolean(value: str | None, name: str) -> bool:
    if value is None:
        return False
    v = value.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise bad_request(f"{name} must be true or false, got {value!r}")


def typed(value: str, type_: str, name: str) -> Any:
    """A query-string value converted to a queryable's type."""
    try:
        if type_ == "integer":
            return int(value)
        if type_ == "number":
            n = float(value)
            if not math.isfinite(n):
                raise ValueError
            return n
        if type_ == "boolean":
            return boolean(value, name)
        if type_ == "date":
            return dt.date.fromisoformat(value)
        if type_ == "timestamp":
            return timestamp(value, name)
        if type_ == "uuid":
            return uuid.UUID(value)
    except ValueError:
        raise bad_request(f"{name} must be of type {type_}, got {value!r}") from None
    if "\x00" in value:  # PostgreSQL text cannot hold NUL, so no stored value has one
        raise bad_request(f"{name} must not contain NUL bytes")
    return value


def csv_list(value: str | None) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()] if value else []
