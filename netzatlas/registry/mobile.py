"""Mobile sites: the operators that use a site, its antennas and their cells (kinds.ANTENNA_ATTRIBUTES,
kinds.CELL_ATTRIBUTES), validated as one part of the site's attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netzatlas.registry import bands
from netzatlas.registry.kinds import ANTENNA_ATTRIBUTES, CELL_ATTRIBUTES, MAX_ANTENNAS, MAX_CELLS, SECTOR_ATTRIBUTES

MAX_OPERATOR_ID = 200
_UNKNOWN = object()
_CANONICAL: dict[str, Any] = {}  # band code as delivered -> bands.canonical of it (the table is fixed data)


def _canonical_band(code: Any) -> str | None:
    """bands.canonical, remembered per delivered spelling ("B3", "N78", "n78": a few per delivery, each
    repeated on thousands of cells)."""
    if type(code) is not str:
        return bands.canonical(code)
    out = _CANONICAL.get(code, _UNKNOWN)
    if out is _UNKNOWN:
        out = bands.canonical(code)
        if len(_CANONICAL) < 1024:
            _CANONICAL[code] = out
    return out


def sectors_to_antennas(sectors: list[Mapping[str, Any]], operator: str) -> list[dict[str, Any]]:
    """The legacy shape (one band per sector) as antennas: sector n becomes antenna "S<n>" with one cell "<n>"
    (migration 0010 converts registered sites the same way)."""
    out = []
    for s in sectors:
        n = s.get("sector")
        antenna = {
            k: s[k]
            for k in (
                "azimuth_deg",
                "height_m",
                "mech_tilt_deg",
                "elec_tilt_deg",
                "h_beamwidth_deg",
                "v_beamwidth_deg",
            )
            if s.get(k) is not None
        }
        cell = {
            k: s[k]
            for k in ("technology", "band", "frequency_mhz", "bandwidth_mhz", "eirp_dbm")
            if s.get(k) is not None
        }
        out.append({"antenna_id": f"S{n}", "operator": operator, **antenna, "cells": [{"cell_id": str(n), **cell}]})
    return out


def check_site(
    attributes: Mapping[str, Any], check_record: Any, problem: Any, operator: str | None = None
) -> tuple[dict[str, Any], list]:
    """attributes.operators and attributes.antennas of a site: (clean values, problems). Antennas without an
    operator are `operator`'s; legacy `sectors` become antennas (sectors_to_antennas)."""
    problems: list = []
    if "sectors" in attributes:
        sectors = attributes["sectors"]
        if "antennas" in attributes:
            return {}, [problem("attributes.sectors", "give antennas or (the legacy) sectors, not both")]
        if not isinstance(sectors, list) or not all(isinstance(s, Mapping) for s in sectors):
            return {}, [problem("attributes.sectors", "expected a list of sectors")]
        s_problems = []
        for i, s in enumerate(sectors):
            s_problems += check_record(SECTOR_ATTRIBUTES, s, f"attributes.sectors[{i}].")[1]
        numbers = [s.get("sector") for s in sectors]
        if len(numbers) != len(set(numbers)):
            s_problems.append(problem("attributes.sectors", "sector numbers must be unique at a site"))
        if s_problems:
            return {}, s_problems
        attributes = {**attributes, "antennas": sectors_to_antennas(sectors, operator or "")}
    clean: dict[str, Any] = {}
    operators = attributes.get("operators")
    if operators is not None:
        if not isinstance(operators, list) or not all(
            isinstance(o, str) and o.strip() and len(o) <= MAX_OPERATOR_ID and "\x00" not in o for o in operators
        ):
            problems.append(problem("attributes.operators", "expected a list of operator ids"))
            operators = None
        else:
            operators = list(dict.fromkeys(o.strip() for o in operators))
    antennas = attributes.get("antennas", [])
    if not isinstance(antennas, list):
        problems.append(problem("attributes.antennas", "expected a list of antennas"))
        antennas = []
    if len(antennas) > MAX_ANTENNAS:
        problems.append(problem("attributes.antennas", f"{len(antennas):,} antennas, more than {MAX_ANTENNAS}"))
        antennas = []
    clean_antennas = []
    seen: set[tuple] = set()
    band_table = bands.bands()
    for i, antenna in enumerate(antennas):
        where = f"attributes.antennas[{i}]"
        if type(antenna) is not dict and not isinstance(antenna, Mapping):
            problems.append(problem(where, "expected an object"))
            continue
        values = {k: v for k, v in antenna.items() if k != "cells"}
        if values.get("operator") in (None, "") and operator:
            values["operator"] = operator
        a, p = check_record(ANTENNA_ATTRIBUTES, values, f"{where}.")
        problems += p
        if a.get("omnidirectional") and a.get("azimuth_deg") is not None:
            problems.append(problem(f"{where}.azimuth_deg", "an omnidirectional antenna has no azimuth"))
        elif not a.get("omnidirectional") and a.get("azimuth_deg") is None and not p:
            problems.append(problem(f"{where}.azimuth_deg", "required unless omnidirectional is true"))
        if a.get("omnidirectional") is False:
            del a["omnidirectional"]
        key = (a.get("operator"), a.get("antenna_id"))
        if key in seen:
            problems.append(problem(f"{where}.antenna_id", f"{key[1]!r} of {key[0]!r} twice at the site"))
        seen.add(key)
        if operators is not None and a.get("operator") not in (None, *operators):
            problems.append(
                problem(
                    f"{where}.operator", f"{a['operator']!r} is not among the site's operators ({', '.join(operators)})"
                )
            )
        cells = antenna.get("cells", [])
        if not isinstance(cells, list):
            problems.append(problem(f"{where}.cells", "expected a list of cells"))
            cells = []
        if len(cells) > MAX_CELLS:
            problems.append(problem(f"{where}.cells", f"{len(cells):,} cells, more than {MAX_CELLS}"))
            cells = []
        clean_cells = []
        cell_ids: set = set()
        for j, cell in enumerate(cells):
            cwhere = f"{where}.cells[{j}]"
            if type(cell) is not dict and not isinstance(cell, Mapping):
                problems.append(problem(cwhere, "expected an object"))
                continue
            code = cell.get("band")
            if code is not None:
                spelt = _canonical_band(code) or code
                if spelt != code:
                    cell = {**cell, "band": spelt}
            c, p = check_record(CELL_ATTRIBUTES, cell, f"{cwhere}.")
            problems += p
            band = band_table.get(c.get("band"))
            if band is not None:
                if c.get("technology") not in (None, band.technology):
                    problems.append(
                        problem(
                            f"{cwhere}.technology",
                            f"{c['technology']} does not match band {band.code} ({band.technology})",
                        )
                    )
                c["technology"] = band.technology
                f = c.get("frequency_mhz")
                # nominal frequencies ("1800" for B3) are common in registers: 1 % beyond the band passes
                tol = 0.01 * band.dl_low_mhz
                if f is not None and not band.dl_low_mhz - tol <= f <= band.dl_high_mhz + tol:
                    problems.append(
                        problem(
                            f"{cwhere}.frequency_mhz",
                            f"{f:g} MHz lies outside the downlink of band {band.code} "
                            f"({band.dl_low_mhz:g}-{band.dl_high_mhz:g} MHz)",
                        )
                    )
            if c.get("cell_id") in cell_ids:
                problems.append(problem(f"{cwhere}.cell_id", f"{c['cell_id']!r} twice at the antenna"))
            cell_ids.add(c.get("cell_id"))
            clean_cells.append(c)
        a["cells"] = sorted(clean_cells, key=lambda c: str(c.get("cell_id")))
        clean_antennas.append(a)
    clean_antennas.sort(key=lambda a: (str(a.get("operator")), str(a.get("antenna_id"))))
    if operators is None:
        operators = sorted({a["operator"] for a in clean_antennas if a.get("operator")})
    clean["operators"] = operators
    clean["antennas"] = clean_antennas
    return clean, problems
