"""CQL2 filters (OGC API Features Part 3) translated to parameterised PostGIS SQL.

`cql2` parses and normalises cql2-text and cql2-json into one JSON tree; we translate that tree ourselves
because `Expr.to_sql()` writes literals into the SQL text and drops the SRID. Property names map to trusted
SQL expressions through the collection's queryables, and every client value becomes a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import cql2
import numpy as np
import shapely
import shapely.geometry
from pyproj import CRS

from netzatlas.api.crs import clamp, storage_area

QueryableType = Literal["string", "integer", "number", "boolean", "date", "timestamp", "geometry"]

# Deeper trees are rejected: cql2's parser overflows the native stack (killing the process) at a few
# thousand levels, and no sensible filter comes near this.
MAX_DEPTH = 100

# Projected coordinates beyond this (metres; 25 times the Earth's circumference) are refused: they mean
# nothing, and GEOS overflows clipping near the float limit.
MAX_PROJECTED = 1e9

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection")  # fmt: skip


@dataclass(frozen=True)
class Queryable:
    name: str  # property name as clients use it
    sql: str  # trusted SQL expression, e.g. "t.status" or "(t.attributes->>'fibre_count')::integer"
    type: QueryableType
    title: str = ""
    codes: tuple[str, ...] | None = None  # enum in the JSON schema of /queryables
    unit: str | None = None
    # A uuid column that `name=value` compares with directly, so that its index serves the filter (`sql` casts it
    # to text, which no index covers); a value that is no UUID matches nothing.
    uuid_column: str | None = None


class FilterError(ValueError):
    """A filter the API cannot evaluate; the message is shown to the client in a 400 response."""


# --------------------------------------------------------------------------------------------------------------
# parsing


def parse(text: str, lang: str = "cql2-text") -> dict[str, Any] | bool:
    """Parse a filter in `lang` ("cql2-text" or "cql2-json") into cql2's normalised JSON tree.

    The result is a dict for every real filter; a bare boolean literal (`true`) comes back as a bool.
    """
    name = (lang or "").strip().lower()
    if name == "cql2-text":
        if _text_depth(text) > MAX_DEPTH:
            raise FilterError(f"filter is nested too deeply (more than {MAX_DEPTH} levels)")
        parser: Callable[[str], Any] = cql2.parse_text
    elif name == "cql2-json":
        parser = cql2.parse_json
    else:
        raise FilterError(f"unknown filter-lang {lang!r}; use cql2-text or cql2-json")
    try:
        tree = parser(text).to_json()
    except Exception as e:  # ParseError, and whatever else the native parser throws at odd input
        raise FilterError(_parse_message(name, text, e)) from None
    if not isinstance(tree, dict | bool):
        raise FilterError("a filter must be a condition, not a single value")
    return tree


def _parse_message(lang: str, text: str, e: Exception) -> str:
    """The parser's own words, without echoing a long input line back in full."""
    msg = str(e)
    pos = re.search(r"-->\s*(\d+):(\d+)", msg)
    what = re.findall(r"^\s*=\s*(.+?)\s*$", msg, re.M)
    if pos and what:
        line, col = int(pos.group(1)), int(pos.group(2))
        lines = text.splitlines() or [""]
        src = lines[min(line, len(lines)) - 1]
        near = src[max(col - 1, 0) : col + 29]
        where = f"near {near!r}" if near.strip() else "at the end"
        return f"cannot parse {lang} at line {line}, column {col} ({where}): {what[-1]}"
    msg = " ".join(msg.split())
    return f"cannot parse {lang}: {msg[:300] + '…' if len(msg) > 300 else msg}"


_TOKEN = re.compile(
    r"""'(?:[^']|'')*'?            # string literal (an unterminated one runs to the end)
      | "(?:[^"]|"")*"?            # quoted identifier
      | [A-Za-z_][A-Za-z0-9_.:]*   # keyword, identifier or function name
      | \d+\.?\d*(?:[eE][+-]?\d+)? | \.\d+(?:[eE][+-]?\d+)?
      | <>|<=|>=|!=|[=<>+\-*/%^(),]
    """,
    re.X,
)
# Operators that can nest without parentheses (comparisons chain right-deep in cql2); AND and OR are
# flattened by cql2 and separate the operands counted here.
_NESTING_WORDS = frozenset({"NOT", "LIKE", "IN", "BETWEEN", "IS", "DIV"})


def _text_depth(text: str) -> int:
    """A cheap upper estimate of the tree depth of a cql2-text filter, computed before cql2 sees it."""
    # Per open parenthesis: [operators in the current operand, deepest child in it, deepest operand so far,
    # inside BETWEEN (whose AND does not separate operands)]
    stack: list[list[int]] = [[0, 0, 0, 0]]

    def end_operand(f: list[int]) -> None:
        f[2] = max(f[2], f[0] + f[1])
        f[0] = f[1] = 0

    def close() -> int:
        f = stack.pop()
        end_operand(f)
        return 1 + f[2]

    for m in _TOKEN.finditer(text):
        tok = m.group()
        top = stack[-1]
        if tok[0] in "'\"" or tok[0].isdigit() or tok[0] == ".":
            continue
        if tok[0].isalpha() or tok[0] == "_":
            word = tok.upper()
            if word == "AND" and top[3]:
                top[3] = 0
            elif word in ("AND", "OR"):
                end_operand(top)
            elif word in _NESTING_WORDS:
                top[0] += 1
                top[3] = top[3] or word == "BETWEEN"
        elif tok == "(":
            stack.append([0, 0, 0, 0])
        elif tok == ")":
            if len(stack) > 1:
                depth = close()
                stack[-1][1] = max(stack[-1][1], depth)
        elif tok == ",":
            end_operand(top)
        else:
            top[0] += 1
    while len(stack) > 1:  # unbalanced: the parser will complain, but only if it survives
        depth = close()
        stack[-1][1] = max(stack[-1][1], depth)
    return close()


# --------------------------------------------------------------------------------------------------------------
# translation


def to_sql(
    tree: Mapping[str, Any] | bool,
    queryables: Mapping[str, Queryable],
    *,
    filter_srid: int = 4326,
    swap_axes: bool = False,
    storage_srid: int = 25832,
    param_prefix: str = "f",
) -> tuple[str, dict[str, Any]]:
    """An SQL boolean expression with psycopg named placeholders (%(f0)s, ...) and its parameters.

    Geometry literals are in `filter_srid` (axis order flipped first when `swap_axes`, e.g. EPSG:4326 given
    as lat/lon) and are transformed to `storage_srid`, so geometry columns are compared untransformed and
    their GiST index applies. Distances of S_DWITHIN are measured in the storage CRS, which must be metric.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", param_prefix):
        raise ValueError(f"bad param_prefix {param_prefix!r}")
    t = _Translator(queryables, int(filter_srid), bool(swap_axes), int(storage_srid), param_prefix)
    return t.predicate(tree, 0), t.params


@dataclass
class _Operand:
    """A scalar argument: SQL that is ready (property, function, bound value) or a literal awaiting its type."""

    sql: str | None  # None: a literal still to be bound, once the other side says which type it must have
    type: str | None  # queryable type; None for a plain literal (string, number, boolean, null)
    value: Any = None
    literal: bool = False
    label: str = ""  # for messages


@dataclass(frozen=True)
class _End:
    """One end of a time interval: SQL, or an open end (-1 or +1 for '..' at the start or end)."""

    sql: str | None
    open: int = 0
    literal: bool = False


_COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
    "s_equals": "ST_Equals",
    "s_touches": "ST_Touches",
    "s_crosses": "ST_Crosses",
    "s_overlaps": "ST_Overlaps",
}
_BOX_IMPLIED = frozenset(_SPATIAL) - {"s_disjoint"}
# Allen's relations as in CQL2: a = first argument, b = second; each condition compares an end of a with an end
# of b ("s" start, "e" end). An instant is an interval whose start and end coincide.
_TEMPORAL: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "t_after": ("and", (("s", ">", "e"),)),
    "t_before": ("and", (("e", "<", "s"),)),
    "t_contains": ("and", (("s", "<", "s"), ("e", ">", "e"))),
    "t_disjoint": ("or", (("s", ">", "e"), ("e", "<", "s"))),
    "t_during": ("and", (("s", ">", "s"), ("e", "<", "e"))),
    "t_equals": ("and", (("s", "=", "s"), ("e", "=", "e"))),
    "t_finishedby": ("and", (("s", "<", "s"), ("e", "=", "e"))),
    "t_finishes": ("and", (("s", ">", "s"), ("e", "=", "e"))),
    "t_intersects": ("and", (("s", "<=", "e"), ("e", ">=", "s"))),
    "t_meets": ("and", (("e", "=", "s"),)),
    "t_metby": ("and", (("s", "=", "e"),)),
    "t_overlappedby": ("and", (("s", ">", "s"), ("s", "<", "e"), ("e", ">", "e"))),
    "t_overlaps": ("and", (("s", "<", "s"), ("e", ">", "s"), ("e", "<", "e"))),
    "t_startedby": ("and", (("s", "=", "s"), ("e", ">", "e"))),
    "t_starts": ("and", (("s", "=", "s"), ("e", "<", "e"))),
}
_UNITS = {
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), 1.0),
    **dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), 1000.0),
}
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "div"})
_SQL_TYPE = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
}
_TYPE_WORD = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "date": "a date",
    "timestamp": "a timestamp",
    "geometry": "a geometry",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _compatible(a: str, b: str) -> bool:
    return a == b or {a, b} <= {"integer", "number"} or {a, b} <= {"date", "timestamp"}


def _natural_type(value: Any) -> str | None:
    """The type of a plain literal; None for null, which goes with everything."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    raise FilterError(f"unexpected value {value!r}")


def _parse_instant(text: str, kind: str | None = None) -> dt.date | dt.datetime:
    """A date (YYYY-MM-DD) or an RFC 3339 timestamp; timestamps without an offset are UTC."""
    try:
        if kind == "date" or (kind is None and _DATE.fullmatch(text)):
            if not _DATE.fullmatch(text):
                raise ValueError
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text)
    except (ValueError, TypeError):
        word = {"date": "date", "timestamp": "timestamp"}.get(kind or "", "date or timestamp")
        raise FilterError(f"{text!r} is not a valid {word}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _number(value: Any) -> float | None:
    """A finite number from a number or a numeric string; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _coerce(value: Any, type_: str, label: str, shown: str | None = None) -> tuple[Any, str]:
    """A literal as a Python value of the queryable's type, and the SQL type to cast its placeholder to."""

    def mismatch() -> FilterError:
        return FilterError(f"{label} is {_TYPE_WORD[type_]}; {shown or _short(value)} is not")

    if type_ == "geometry":
        raise FilterError(f"{label} is a geometry; compare it with a spatial function such as S_INTERSECTS")
    if type_ == "string":
        if not isinstance(value, str):
            raise mismatch()
        return value, "text"
    if type_ in ("integer", "number"):
        number = _number(value)
        if number is None:
            raise mismatch()
        # Integral values keep the integer type so that an index on an integer column applies.
        if type_ == "integer" and number.is_integer() and abs(number) < 2**63:
            return int(number), "bigint"
        return number, "double precision"
    if type_ == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise mismatch()
        return value, "boolean"
    if type_ in ("date", "timestamp"):
        if isinstance(value, str):
            value = _parse_instant(value)
        if isinstance(value, dt.datetime):
            return value, "timestamptz"
        if isinstance(value, dt.date):
            return value, "date"
        raise mismatch()
    raise FilterError(f"{label} has an unsupported type {type_!r}")


class _Translator:
    def __init__(
        self, queryables: Mapping[str, Queryable], filter_srid: int, swap: bool, storage_srid: int, prefix: str
    ) -> None:
        self.queryables = queryables
        self.filter_srid = filter_srid
        self.swap = swap
        self.storage_srid = storage_srid
        self.prefix = prefix
        self.params: dict[str, Any] = {}

    # -- helpers -------------------------------------------------------------------------------------------

    def bind(self, value: Any, sql_type: str) -> str:
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL: nothing could match
            raise FilterError("strings must not contain NUL bytes")
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s::{sql_type}"

    def queryable(self, name: Any) -> Queryable:
        if not isinstance(name, str):
            raise FilterError(f"property name must be a string, not {name!r}")
        q = self.queryables.get(name)
        if q is None:
            matches = [v for k, v in self.queryables.items() if k.lower() == name.lower()]
            if len(matches) > 1:
                raise FilterError(f"property {name!r} is ambiguous: {', '.join(m.name for m in matches)}")
            if not matches:
                raise FilterError(f"unknown property {name!r}; queryables are: {', '.join(sorted(self.queryables))}")
            q = matches[0]
        return q

    @staticmethod
    def sql_of(q: Queryable) -> str:
        # The filter is run with parameters, so a literal % in a trusted expression must be doubled.
        return f"({q.sql.replace('%', '%%')})"

    @staticmethod
    def args(node: Mapping[str, Any], op: str, counts: Sequence[int]) -> list[Any]:
        args = node.get("args")
        if not isinstance(args, list) or len(args) not in counts:
            want = " or ".join(map(str, counts))
            raise FilterError(f"{op.upper()} takes {want} arguments")
        return args

    @staticmethod
    def check_depth(depth: int) -> None:
        if depth > MAX_DEPTH:
            raise FilterError(f"filter is nested too deeply (more than {MAX_DEPTH} levels)")

    # -- conditions ----------------------------------------------------------------------------------------

    def predicate(self, node: Any, depth: int) -> str:
        self.check_depth(depth)
        if isinstance(node, bool):
            return self.bind(node, "boolean")
        if not isinstance(node, Mapping):
            raise FilterError(f"expected a condition, not {_short(node)}")
        if "property" in node and "op" not in node:
            q = self.queryable(node["property"])
            if q.type != "boolean":
                raise FilterError(f"property {q.name!r} is {_TYPE_WORD[q.type]}, not a condition; compare it")
            return self.sql_of(q)
        op = node.get("op")
        if not isinstance(op, str):
            raise FilterError(f"expected a condition, not {_short(node)}")
        op = op.lower()
        if op in ("and", "or"):
            args = node.get("args")
            if not isinstance(args, list) or not args:
                raise FilterError(f"{op.upper()} needs arguments")
            return "(" + f" {op.upper()} ".join(self.predicate(a, depth + 1) for a in args) + ")"
        if op == "not":
            (arg,) = self.args(node, op, (1,))
            return f"(NOT {self.predicate(arg, depth + 1)})"
        if op in _COMPARISONS:
            a, b = self.args(node, op, (2,))
            left, right = self.typed([self.operand(a, depth + 1), self.operand(b, depth + 1)], op)
            return f"({left} {_COMPARISONS[op]} {right})"
        if op == "isnull":
            (arg,) = self.args(node, op, (1,))
            (sql,) = self.typed([self.operand(arg, depth + 1)], "IS NULL", allow_geometry=True)
            return f"({sql} IS NULL)"
        if op == "like":
            return self.like(node, depth)
        if op == "between":
            a, lo, hi = self.args(node, op, (3,))
            x, y, z = self.typed([self.operand(v, depth + 1) for v in (a, lo, hi)], op)
            return f"({x} BETWEEN {y} AND {z})"
        if op == "in":
            return self.in_list(node, depth)
        if op in _SPATIAL or op == "s_dwithin":
            return self.spatial(node, op, depth)
        if op in _TEMPORAL:
            return self.temporal(node, op, depth)
        if op in ("casei", "accenti"):
            raise FilterError(f"{op.upper()}() gives a string, not a condition; compare it with something")
        raise FilterError(_unsupported(op))

    def like(self, node: Mapping[str, Any], depth: int) -> str:
        a, b = self.args(node, "like", (2,))
        value, pattern = self.operand(a, depth + 1), self.operand(b, depth + 1)
        if pattern.literal:
            text = pattern.value
            if not isinstance(text, str):
                raise FilterError(f"LIKE needs a string pattern, not {text!r}")
            # PostgreSQL rejects a pattern ending in its escape character (\) with an error, not a 400.
            if (len(text) - len(text.rstrip("\\"))) % 2:
                raise FilterError(f"LIKE pattern {text!r} ends with an unfinished escape (\\)")
        for o in (value, pattern):
            if o.type not in (None, "string"):
                raise FilterError(f"LIKE works on strings; {o.label} is {_TYPE_WORD[o.type]}")
        left, right = self.typed([value, pattern], "like")
        return f"({left} LIKE {right})"

    def in_list(self, node: Mapping[str, Any], depth: int) -> str:
        a, items = self.args(node, "in", (2,))
        if not isinstance(items, list):
            raise FilterError("IN needs a list of values")
        value = self.operand(a, depth + 1)
        if value.type == "geometry":
            raise FilterError(_coerce_geometry_message(value))
        if not items:
            return "FALSE"
        operands = [self.operand(i, depth + 2) for i in items]
        for o in operands:
            if not o.literal:
                raise FilterError(f"IN lists hold values only, not {o.label}")
        if value.type and not value.literal and all(o.sql is None and o.value is not None for o in operands):
            # One array parameter instead of a placeholder per item keeps long lists within psycopg's limits.
            coerced = [_coerce(o.value, value.type, value.label, o.label) for o in operands]
            sql_types = {sql_type for _, sql_type in coerced}
            if len(sql_types) == 1:
                array = self.bind([v for v, _ in coerced], sql_types.pop() + "[]")
                return f"({value.sql} = ANY({array}))"
        sqls = self.typed([value, *operands], "in")
        return f"({sqls[0]} IN ({', '.join(sqls[1:])}))"

    # -- scalar operands -----------------------------------------------------------------------------------

    def operand(self, node: Any, depth: int) -> _Operand:
        self.check_depth(depth)
        if node is None or isinstance(node, bool | str):
            return _Operand(None, None, node, literal=True, label=_short(node))
        if isinstance(node, int | float):
            if not math.isfinite(node):
                raise FilterError(f"{node!r} is not a usable number")
            return _Operand(None, None, node, literal=True, label=_short(node))
        if isinstance(node, list):
            raise FilterError("a list of values is only allowed after IN")
        if not isinstance(node, Mapping):
            raise FilterError(f"unexpected value {_short(node)}")
        if "property" in node and "op" not in node:
            q = self.queryable(node["property"])
            return _Operand(self.sql_of(q), q.type, label=f"property {q.name!r}")
        if "date" in node or "timestamp" in node:
            kind = "date" if "date" in node else "timestamp"
            text = node[kind]
            if not isinstance(text, str):
                raise FilterError(f"{kind.upper()}() needs a string")
            return _Operand(None, kind, _parse_instant(text, kind), literal=True, label=f"{kind.upper()}({text!r})")
        if "interval" in node:
            raise FilterError("INTERVAL() can only be used in temporal functions such as T_INTERSECTS")
        if "bbox" in node or "type" in node:
            raise FilterError("a geometry can only be used in spatial functions such as S_INTERSECTS")
        op = node.get("op")
        if not isinstance(op, str):
            raise FilterError(f"unexpected value {_short(node)}")
        op = op.lower()
        if op == "casei":
            (arg,) = self.args(node, op, (1,))
            inner = self.operand(arg, depth + 1)
            if inner.type not in (None, "string") or (inner.literal and not isinstance(inner.value, str)):
                raise FilterError(f"CASEI() works on strings, not on {inner.label}")
            sql = inner.sql if inner.sql is not None else self.bind(inner.value, "text")
            return _Operand(f"lower({sql})", "string", inner.value, inner.literal, f"CASEI({inner.label})")
        if op == "accenti":
            raise FilterError("ACCENTI() is not supported")
        if op in _COMPARISONS or op in ("and", "or", "not", "isnull", "like", "between", "in"):
            raise FilterError(f"a condition ({op.upper()}) cannot be used as a value here")
        raise FilterError(_unsupported(op))

    def typed(self, operands: list[_Operand], op: str, allow_geometry: bool = False) -> list[str]:
        """SQL for operands that must share a type: literals take the type of the first non-literal."""
        anchor = next((o for o in operands if not o.literal and o.type), None)
        anchor = anchor or next((o for o in operands if o.type), None)
        if anchor is None:  # literals only: their own types must agree
            types = [t for t in (_natural_type(o.value) for o in operands) if t]
            if any(not _compatible(types[0], t) for t in types):
                raise FilterError(f"cannot apply {op.upper()} to {' and '.join(o.label for o in operands)}")
            return [self.literal_sql(o.value, _natural_type(o.value)) for o in operands]
        assert anchor.type is not None
        if anchor.type == "geometry" and not allow_geometry:
            raise FilterError(_coerce_geometry_message(anchor))
        out = []
        for o in operands:
            if o.sql is not None:
                if o.type and not _compatible(o.type, anchor.type):
                    raise FilterError(f"cannot compare {anchor.label} ({anchor.type}) with {o.label} ({o.type})")
                out.append(o.sql)
            elif o.value is None:
                out.append("NULL")
            else:
                what = anchor.label if not anchor.literal else f"the value of {anchor.label}"
                value, sql_type = _coerce(o.value, anchor.type, what, o.label)
                out.append(self.bind(value, sql_type))
        return out

    def literal_sql(self, value: Any, type_: str | None) -> str:
        if value is None or type_ is None:
            return "NULL"
        if type_ == "number":
            return self.bind(float(value), "double precision")
        if type_ in ("date", "timestamp"):
            return self.bind(value, "timestamptz" if isinstance(value, dt.datetime) else "date")
        return self.bind(value, _SQL_TYPE[type_])

    # -- spatial -------------------------------------------------------------------------------------------

    def spatial(self, node: Mapping[str, Any], op: str, depth: int) -> str:
        args = self.args(node, op, (3, 4) if op == "s_dwithin" else (2,))
        (a, a_is_column), (b, b_is_column) = (self.geometry(g, op, depth + 1) for g in args[:2])
        if not (a_is_column or b_is_column):
            raise FilterError(f"{op.upper()} needs a geometry property as one of its arguments")
        # Under row-level security only leakproof conditions reach an index, and of these functions only the
        # box operator && is (migration 0006): each relation that implies overlapping boxes states it too.
        if op in _BOX_IMPLIED:
            return f"({a} && {b} AND {_SPATIAL[op]}({a}, {b}))"
        if op != "s_dwithin":
            return f"{_SPATIAL[op]}({a}, {b})"
        distance = _number(args[2]) if not isinstance(args[2], str) else None
        if distance is None or distance < 0:
            raise FilterError(f"S_DWITHIN needs a distance of zero or more, not {args[2]!r}")
        unit: Any = args[3] if len(args) == 4 else "meters"
        if isinstance(unit, Mapping) and set(unit) == {"property"}:
            unit = unit["property"]  # cql2-text reads a bare unit word (meters) as a property name
        if not isinstance(unit, str) or unit.lower() not in _UNITS:
            raise FilterError(f"unknown distance unit {unit!r}; use meters or kilometers")
        # The storage CRS is metric, so ST_DWithin on the untransformed column measures metres and uses the index.
        d = self.bind(distance * _UNITS[unit.lower()], "double precision")
        column, other = (a, b) if a_is_column else (b, a)
        return f"({column} && ST_Expand({other}, {d}) AND ST_DWithin({a}, {b}, {d}))"

    def geometry(self, node: Any, op: str, depth: int) -> tuple[str, bool]:
        """SQL of a geometry argument in the storage CRS, and whether it is a column."""
        self.check_depth(depth)
        if isinstance(node, Mapping) and "property" in node and "op" not in node:
            q = self.queryable(node["property"])
            if q.type != "geometry":
                raise FilterError(f"{op.upper()} needs geometries; property {q.name!r} is {_TYPE_WORD[q.type]}")
            return self.sql_of(q), True
        if isinstance(node, Mapping) and "bbox" in node:
            return self.envelope(node["bbox"]), False
        if isinstance(node, Mapping) and node.get("type") in GEOMETRY_TYPES:
            return self.geojson(node), False
        if isinstance(node, Mapping) and isinstance(node.get("op"), str):
            raise FilterError(_unsupported(node["op"].lower()))
        raise FilterError(f"{op.upper()} needs geometries, not {_short(node)}")

    def to_storage(self, geom: str) -> str:
        if self.filter_srid != self.storage_srid:
            geom = f"ST_Transform({geom}, {self.storage_srid})"
        return once(geom)

    def geojson(self, node: Mapping[str, Any]) -> str:
        kind = node.get("type")
        try:
            # shapely validates the structure (PostGIS would raise a server error) and closes open rings.
            shape = shapely.geometry.shape(node)
        except Exception as e:
            raise FilterError(f"invalid {kind} geometry: {e}") from None
        coords = shapely.get_coordinates(shape)
        if not np.isfinite(coords).all():
            raise FilterError(f"{kind} coordinates must be finite numbers")
        if self.swap:  # lat/lon (or northing/easting) order: PostGIS wants x/y
            shape = shapely.transform(shape, lambda xy: xy[:, ::-1])
            coords = coords[:, ::-1]
        if _geographic(self.filter_srid):
            if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
                raise FilterError(
                    f"{kind} coordinates are outside longitude -180..180 / latitude -90..90 of EPSG:{self.filter_srid}"
                )
        elif (np.abs(coords) > MAX_PROJECTED).any():
            raise FilterError(f"{kind} coordinates must lie within ±{MAX_PROJECTED:.0e} of EPSG:{self.filter_srid}")
        if not shapely.is_valid(shape):
            raise FilterError(f"invalid {kind} geometry: {shapely.is_valid_reason(shape)}")
        if self.filter_srid != self.storage_srid:
            # Cut to where the storage CRS is defined (nothing is stored beyond), so the transformation succeeds.
            shape = shapely.clip_by_rect(shape, *storage_area(self.filter_srid))
            if shape.is_empty:
                return once(f"ST_GeomFromText('GEOMETRYCOLLECTION EMPTY', {self.storage_srid})")
        text = shapely.to_geojson(shape)
        geom = f"ST_SetSRID(ST_GeomFromGeoJSON({self.bind(text, 'text')}), {self.filter_srid})"
        return self.to_storage(geom)

    def envelope(self, bbox: Any) -> str:
        numbers = [_number(v) if isinstance(v, int | float) else None for v in bbox] if isinstance(bbox, list) else []
        if len(numbers) not in (4, 6) or any(n is None for n in numbers):
            raise FilterError("BBOX needs 4 or 6 numbers")
        if len(numbers) == 6:  # minx, miny, minz, maxx, maxy, maxz: heights do not matter in 2D
            numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
        x1, y1, x2, y2 = numbers
        if self.swap:  # lat/lon (or northing/easting) order: PostGIS wants x/y
            x1, y1, x2, y2 = y1, x1, y2, x2
        x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)  # as ST_MakeEnvelope reads it
        clamped = (
            clamp((x1, y1, x2, y2), self.filter_srid) if self.filter_srid != self.storage_srid else (x1, y1, x2, y2)
        )
        if clamped is None:  # wholly outside the storage CRS's area, where nothing is stored
            return once(f"ST_GeomFromText('POLYGON EMPTY', {self.storage_srid})")
        x1, y1, x2, y2 = clamped
        p = [self.bind(v, "double precision") for v in (x1, y1, x2, y2)]
        return storage_envelope(p, self.filter_srid, self.storage_srid)

    # -- temporal ------------------------------------------------------------------------------------------

    def temporal(self, node: Mapping[str, Any], op: str, depth: int) -> str:
        a, b = self.args(node, op, (2,))
        (a_start, a_end), (b_start, b_end) = self.period(a, op, depth + 1), self.period(b, op, depth + 1)
        ends = {"a": {"s": a_start, "e": a_end}, "b": {"s": b_start, "e": b_end}}
        join, conditions = _TEMPORAL[op]
        parts = [_compare_ends(ends["a"][x], cmp, ends["b"][y]) for x, cmp, y in conditions]
        return _join(parts, join)

    def period(self, node: Any, op: str, depth: int) -> tuple[_End, _End]:
        """Start and end of a temporal argument; an instant is an interval of length zero."""
        self.check_depth(depth)
        if isinstance(node, Mapping) and "interval" in node:
            ends = node["interval"]
            if not isinstance(ends, list) or len(ends) != 2:
                raise FilterError("INTERVAL() needs a start and an end")
            return self.interval_end(ends[0], -1, op), self.interval_end(ends[1], 1, op)
        end = self.instant(node, op)
        return end, end

    def interval_end(self, node: Any, side: int, op: str) -> _End:
        if node == "..":
            return _End(None, side)
        return self.instant(node, op)

    def instant(self, node: Any, op: str) -> _End:
        if isinstance(node, Mapping) and "property" in node and "op" not in node:
            q = self.queryable(node["property"])
            if q.type not in ("date", "timestamp"):
                raise FilterError(
                    f"{op.upper()} needs dates or timestamps; property {q.name!r} is {_TYPE_WORD[q.type]}"
                )
            return _End(self.sql_of(q))
        if isinstance(node, Mapping) and ("date" in node or "timestamp" in node):
            kind = "date" if "date" in node else "timestamp"
            value = _parse_instant(node[kind], kind) if isinstance(node[kind], str) else None
            if value is None:
                raise FilterError(f"{kind.upper()}() needs a string")
        elif isinstance(node, str):
            value = _parse_instant(node)
        else:
            raise FilterError(f"{op.upper()} needs a date or timestamp property, DATE(), TIMESTAMP() or INTERVAL()")
        sql_type = "timestamptz" if isinstance(value, dt.datetime) else "date"
        return _End(self.bind(value, sql_type), literal=True)


def _compare_ends(x: _End, cmp: str, y: _End) -> str:
    """x cmp y, where an open end ('..') lies before or after every instant."""
    if not x.open and not y.open:
        return f"{x.sql} {cmp} {y.sql}"
    holds = {"<": x.open < y.open, "<=": x.open <= y.open, ">": x.open > y.open, ">=": x.open >= y.open,
             "=": x.open == y.open}[cmp]  # fmt: skip
    if not holds:
        return "FALSE"
    # Known to hold for any instant, but a missing (NULL) instant still matches nothing.
    known = dict.fromkeys(f"{e.sql} IS NOT NULL" for e in (x, y) if not e.open and not e.literal)
    return " AND ".join(known) or "TRUE"


def _join(parts: list[str], how: str) -> str:
    if how == "and":
        if "FALSE" in parts:
            return "FALSE"
        parts = list(dict.fromkeys(p for p in parts if p != "TRUE"))
        return f"({' AND '.join(parts)})" if parts else "TRUE"
    if "TRUE" in parts:
        return "TRUE"
    parts = list(dict.fromkeys(p for p in parts if p != "FALSE"))
    return f"({' OR '.join(f'({p})' for p in parts)})" if parts else "FALSE"


def _unsupported(op: str) -> str:
    if op in _ARITHMETIC:
        return f"arithmetic ({op}) is not supported"
    if op.startswith("a_"):
        return f"array function {op.upper()} is not supported"
    return f"function or operator {op!r} is not supported"


def _coerce_geometry_message(o: _Operand) -> str:
    return f"{o.label} is a geometry; use a spatial function such as S_INTERSECTS"


def _short(node: Any) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:80] + "…"


# --------------------------------------------------------------------------------------------------------------
# /queryables


def once(sql: str) -> str:
    """A scalar subquery becomes an InitPlan: computed once per execution, also in a generic plan
    (a bare function of parameters would be recomputed for every row there)."""
    return f"(SELECT {sql})"


@cache
def _geographic(srid: int) -> bool:
    return CRS.from_epsg(srid).is_geographic


def storage_envelope(p: list[str], srid: int, storage_srid: int) -> str:
    """The box x1, y1, x2, y2 (SQL expressions, in x/y order) of CRS `srid` as a polygon in the storage CRS.

    Edges are densified before the transformation (to about 1 km, short enough to bend as they should),
    so that the column is compared untransformed and its spatial index applies."""
    env = f"ST_MakeEnvelope({p[0]}, {p[1]}, {p[2]}, {p[3]}, {srid})"
    if srid != storage_srid:
        step = 0.01 if _geographic(srid) else 1000.0
        env = f"ST_Transform(ST_Segmentize({env}, {step}), {storage_srid})"
    return once(env)


def queryables_schema(queryables: Mapping[str, Queryable], id_url: str, title: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a collection's queryables, as OGC API Features Part 3 describes it."""
    properties: dict[str, Any] = {}
    primary = True
    for name, q in queryables.items():
        prop: dict[str, Any] = {"title": q.title or name}
        if q.type == "geometry":
            # Collections put their geometry type into the title; a known one narrows the format.
            gtype = next((t for t in GEOMETRY_TYPES if t.lower() == (q.title or "").lower()), None)
            prop["format"] = f"geometry-{gtype.lower()}" if gtype else "geometry-any"
            prop["$ref"] = f"https://geojson.org/schema/{gtype or 'Geometry'}.json"
            if primary:
                prop["x-ogc-role"] = "primary-geometry"
                primary = False
        elif q.type == "date":
            prop.update(type="string", format="date")
        elif q.type == "timestamp":
            prop.update(type="string", format="date-time")
        else:
            prop["type"] = q.type
        if q.codes:
            prop["enum"] = list(q.codes)
        if q.unit:
            prop["x-ogc-unit"] = q.unit
        properties[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": id_url,
        "type": "object",
        "title": title,
        "properties": properties,
        "additionalProperties": False,
    }
