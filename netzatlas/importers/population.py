"""Population as German cities have it: Zensus grid values (with cells kept secret) and a table of population
per district from the city's statistics office (profile `district-population`).

A secret Zensus cell (Destatis writes `–`, an en dash, or `-`; Zensus 2011 wrote -1) is stored without a
population (NULL) and counted as secret, never as 0. A district table names each district by name or by its
key (districts.key); an unknown district is an error listing the known ones. The latest year per district is
the one that counts (netzatlas.registry.municipalities.population).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netzatlas.importers.profiles import LayerMap
    from netzatlas.importers.readers import Layer
    from netzatlas.importers.report import Report
    from netzatlas.importers.validate import Options, Plan

SECRET = ("–", "-", "—", ".", "/", "x")  # Destatis: – (en dash); . and / and x in older tables: kept secret
GERMAN_THOUSANDS = re.compile(r"^\d{1,3}(\.\d{3})+$")  # 12.345 is twelve thousand in a German table
YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
KNOWN_LISTED = 40  # district names listed in an error at most


def count(value: Any) -> tuple[int | None, bool, str | None]:
    """A head count: (value, kept secret, error). Secret cells are (None, True, None), never 0."""
    if value is None:
        return None, False, None
    if isinstance(value, bool):
        return None, False, f"expected a whole number, got {value!r}"
    if isinstance(value, int):
        return (None, True, None) if value < 0 else (value, False, None)  # Zensus 2011: -1 = kept secret
    if isinstance(value, float):
        if value.is_integer():
            return (None, True, None) if value < 0 else (int(value), False, None)
        return None, False, f"expected a whole number, got {value!r}"
    s = str(value).strip()
    if s == "":
        return None, False, None
    if s in SECRET:
        return None, True, None
    if GERMAN_THOUSANDS.match(s):
        s = s.replace(".", "")
    s = s.replace("\u202f", "").replace(" ", "")
    try:
        n = int(s)
    except ValueError:
        try:
            f = float(s.replace(",", "."))
        except ValueError:
            return None, False, f"expected a whole number or – (kept secret), got {str(value)[:40]!r}"
        if not f.is_integer():
            return None, False, f"expected a whole number, got {str(value)[:40]!r}"
        n = int(f)
    return (None, True, None) if n < 0 else (n, False, None)


def _year(value: Any) -> int | None:
    if isinstance(value, dt.date):
        return value.year
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    m = YEAR.search(str(value or ""))  # "2023", "31.12.2023", "2023-12-31"
    return int(m.group(1)) if m else None


def _norm(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def district_population_layer(
    layer: Layer, lm: LayerMap, opts: Options, plan: Plan, report: Report, compile_spec: Callable
) -> None:
    """Rows of (district, population, year) matched to the registered districts of the delivery's municipality."""
    spec, cols = lm.spec, layer.columns
    get_district = compile_spec(spec.get("district", "district"), cols)
    get_pop = compile_spec(spec.get("population", "population"), cols)
    get_year = compile_spec(spec.get("year", "year"), cols)
    for field, getter in (("district", get_district), ("population", get_pop), ("year", get_year)):
        if layer.count and all(getter(i) is None for i in range(layer.count)):
            report.add(layer.name, None, None, field, f"no column for {field} (or it is empty everywhere)")
            return
    areas = [m for m in opts.municipalities if opts.municipality in (None, m.ags)]
    by_key: dict[str, list[tuple[str, int, str]]] = {}
    by_name: dict[str, list[tuple[str, int, str]]] = {}
    for m in areas:
        for d in m.districts:
            entry = (m.ags, d["id"], d["name"])
            by_name.setdefault(_norm(d["name"]), []).append(entry)
            if d.get("key"):
                by_key.setdefault(str(d["key"]).strip(), []).append(entry)
    known = sorted({name for m in areas for name in (d["name"] for d in m.districts)})
    if not known:
        where = f"municipality {opts.municipality}" if opts.municipality else "any registered municipality"
        report.add(
            layer.name, None, None, "district", f"{where} has no districts; load them first (--profile districts)"
        )
        return
    listed = ", ".join(known[:KNOWN_LISTED]) + (f", ... ({len(known)} in all)" if len(known) > KNOWN_LISTED else "")
    source = spec.get("source") or report.file or layer.name
    seen: dict[tuple[int, int], int] = {}
    for i in range(layer.count):
        raw = get_district(i)
        label = None if raw is None else (str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw))
        label = label.strip() if label else None
        if not label:
            report.add(layer.name, i, None, "district", "required: the district's name or key")
            continue
        hits = by_key.get(label) or by_name.get(_norm(label)) or []
        if not hits:
            report.add(layer.name, i, label, "district", f"unknown district {label!r}; known: {listed}")
            continue
        if len({h[0] for h in hits}) > 1:
            report.add(
                layer.name,
                i,
                label,
                "district",
                f"district {label!r} is in several municipalities ({', '.join(sorted({h[0] for h in hits}))}); "
                "give --municipality",
            )
            continue
        _ags, district_id, name = hits[0]
        year = _year(get_year(i))
        if year is None or not 1800 <= year <= 2200:
            report.add(layer.name, i, label, "year", f"expected a year such as 2023, got {get_year(i)!r}")
            continue
        pop, secret, problem = count(get_pop(i))
        if problem or secret or pop is None:
            reason = problem or ("kept secret: a district table needs the figure" if secret else "required")
            report.add(layer.name, i, label, "population", reason)
            continue
        if (district_id, year) in seen:
            report.add(
                layer.name, i, label, "year", f"{name} {year} appears twice (rows {seen[(district_id, year)]} and {i})"
            )
            continue
        seen[(district_id, year)] = i
        plan.district_population.append(
            {"district_id": district_id, "year": year, "population": pop, "source": str(source)}
        )
