"""Writes the files of the invented Musterstadt (AGS 07999001) that README.md, "A municipality of your own", walks
through: boundary, districts, Zensus 2022 grid, district population, buildings and a mobile network in the
three-table shape partners deliver, with the profile that maps it.

Everything is invented and deterministic: the same files on every run. Musterstadt lies around 49.12 N 8.20 E
(Rhineland-Palatinate, some 57 km south of Worms); no real town, grid, building or radio site is described.

    .venv/bin/python examples/musterstadt/make_examples.py [OUT_DIR]   # default: this directory
"""

from __future__ import annotations

import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import orjson
import shapely
from pyogrio.raw import write
from pyproj import Transformer
from shapely.geometry import Point, Polygon, mapping

HERE = Path(__file__).resolve().parent
AGS = "07999001"
CENTRE = (441_600.0, 5_441_100.0)  # EPSG:25832, about 49.12 N 8.20 E
RADIUS_M = 2_000.0  # the outline's mean radius: some 13 km²
SEED = 7999001
# district key, name, and the compass sector (degrees clockwise from north) of the outer districts
OUTER = (("02", "Nordheim", 300, 60), ("03", "Am Mühlbach", 60, 180), ("04", "Südweiler", 180, 300))
YEARS = (2022, 2023)
GROWTH = 1.012  # population 2023 = 2022 x this, per district, rounded
ZIP_DATE = (2026, 1, 1, 0, 0, 0)

# The mobile network: operators as the partners' export names them, and the ids they are registered under.
OPERATORS = {"Telekom": "telekom", "Vodafone": "vodafone", "Telefónica": "telefonica"}
# bands an operator's macro antennas carry, most used first: (band as written, technology, bandwidth, EIRP);
# empty fields are left to the coverage engine's declared defaults
BANDS = {
    "Telekom": [("B20", "LTE", "10", "59"), ("B3", "LTE", "20", "61"), ("B1", "", "", ""), ("N78", "NR", "80", "66")],
    "Vodafone": [("B20", "", "10", ""), ("B3", "LTE", "20", "61"), ("B32", "", "", ""), ("N78", "", "", "")],
    "Telefónica": [("B20", "LTE", "10", "58"), ("B3", "", "", "60"), ("B1", "LTE", "15", "")],
}
INDOOR_BANDS = [("B3", "LTE", "10", ""), ("N78", "", "", "")]
# site: (dx, dy) from the centre in metres, structure, status, operators sharing it (the first runs the structure)
SITES = (
    ((-150, 120), "Dach", "in Betrieb", ["Telekom", "Vodafone"]),
    ((260, -180), "Dach", "in Betrieb", ["Telefónica"]),
    ((40, -30), "Indoor", "in Betrieb", ["Telekom", "Vodafone"]),  # the town hall's indoor system
    ((-380, -420), "Dach", "in Betrieb", ["Vodafone"]),
    ((-600, 1250), "Mast", "in Betrieb", ["Telekom", "Telefónica"]),
    ((500, 1500), "Mast", "in Betrieb", ["Vodafone"]),
    ((-1300, 700), "Turm", "in Betrieb", ["Telekom", "Vodafone", "Telefónica"]),
    ((1350, 500), "Mast", "in Betrieb", ["Telekom"]),
    ((1600, -500), "Mast", "in Betrieb", ["Vodafone", "Telefónica"]),
    ((900, -1200), "Dach", "in Betrieb", ["Telefónica"]),
    ((-250, -1250), "Mast", "in Betrieb", ["Telekom", "Vodafone"]),
    ((-1350, -800), "Mast", "in Betrieb", ["Telefónica"]),
    ((-1700, 100), "Mast", "geplant", ["Telekom"]),
    ((700, 350), "Indoor", "in Betrieb", ["Telefónica"]),  # the station's indoor system
    ((200, 800), "Dach", "in Betrieb", ["Telekom"]),
)

PROFILE = """\
# Profile of Musterstadt's mobile network delivery (funknetz.zip): three tables as partners export them,
# one zip for every operator (a site register of the city). Use: netzatlas import funknetz.zip --profile
# funknetz-profil.yaml --operator stadt-musterstadt --municipality 07999001
name: funknetz-musterstadt
title: Mobilfunkstandorte, Antennen und Zellen (Musterstadt, alle Netzbetreiber)
crs: EPSG:4326  # the "lat,lon" column is WGS 84
x-operators: &ops {Telekom: telekom, Vodafone: vodafone, "Telefónica": telefonica}
layers:
  - layer: standorte
    target: mobile-sites
    operator: {column: standortbetreiber, map: *ops}
    external_id: standort-id
    name: bezeichnung
    status: {field: zustand, map: {in Betrieb: in_service, geplant: planned}}
    attributes:
      structure: {field: bauart, map: {Dach: rooftop, Mast: mast, Turm: tower, Indoor: indoor}}
      operators: {field: netzbetreiber, map: *ops}
  - layer: antennen
    target: antennas
    site: standort-id
    operator: {column: netzbetreiber, map: *ops}
    attributes:
      antenna_id: antenne
      azimuth_deg: azimut
      omnidirectional: {field: rundstrahler, map: {ja: true, nein: false}}
      height_m: hoehe_m
      elec_tilt_deg: tilt_el
  - layer: zellen
    target: cells
    site: standort-id
    antenna: antenne
    operator: {column: netzbetreiber, map: *ops}
    attributes:
      cell_id: zelle
      technology: technik
      band: band
      frequency_mhz: frequenz_mhz
      bandwidth_mhz: bandbreite_mhz
      eirp_dbm: eirp_dbm
"""

README_TXT = """\
Musterstadt (AGS 07999001): Mobilfunkstandorte aller Netzbetreiber, Stand 2026-01.
Erfunden: kein realer Standort. Drei Tabellen, Semikolon, UTF-8; Position als "lat,lon" (WGS 84).
"""

TO_4326 = Transformer.from_crs(25832, 4326, always_xy=True)
TO_25833 = Transformer.from_crs(25832, 25833, always_xy=True)
TO_3035 = Transformer.from_crs(25832, 3035, always_xy=True)
FROM_3035 = Transformer.from_crs(3035, 25832, always_xy=True)


def _moved(g: shapely.Geometry, t: Transformer) -> shapely.Geometry:
    return shapely.transform(g, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def _round(g: shapely.Geometry, digits: int) -> shapely.Geometry:
    return shapely.set_precision(g, 10.0**-digits) if digits > 0 else shapely.set_precision(g, 1.0)


def outline() -> Polygon:
    """An irregular outline around CENTRE (a wobbly circle, longer east-west), EPSG:25832, whole metres."""
    a = np.linspace(0, 2 * math.pi, 121)[:-1]
    r = RADIUS_M * (1 + 0.10 * np.sin(3 * a + 0.7) + 0.06 * np.cos(5 * a) + 0.03 * np.sin(9 * a + 1.3))
    return Polygon(np.round(np.c_[CENTRE[0] + 1.2 * r * np.sin(a), CENTRE[1] + 0.85 * r * np.cos(a)]))


def districts(town: Polygon) -> list[tuple[str, str, shapely.Geometry]]:
    """(key, name, polygon): the Altstadt in the middle and three outer districts, covering the outline exactly."""
    inner = _round(Point(CENTRE).buffer(700, 24).intersection(town), 0)
    out = [("01", "Altstadt", inner)]
    for key, name, a0, a1 in OUTER:
        arc = np.radians(np.linspace(a0, a1 if a1 > a0 else a1 + 360, 32))
        wedge = Polygon([CENTRE, *zip(CENTRE[0] + 9e3 * np.sin(arc), CENTRE[1] + 9e3 * np.cos(arc), strict=True)])
        out.append((key, name, _round(wedge.intersection(town).difference(inner), 0)))
    return out


def population_grid(town: Polygon, rng: np.random.Generator) -> list[tuple[int, int, int | None]]:
    """Inhabited 100 m cells (EPSG:3035 lower-left corner, population or None when kept secret) whose centre lies
    in the town: dense in the Altstadt, a village core in each outer district, fields in between (not listed,
    as Destatis lists inhabited cells only)."""
    cores = [(CENTRE, 45.0, 500.0)]
    for _, _, a0, a1 in OUTER:
        mid = math.radians((a0 + (a1 if a1 > a0 else a1 + 360)) / 2)
        cores.append(((CENTRE[0] + 1400 * math.sin(mid), CENTRE[1] + 1050 * math.cos(mid)), 25.0, 260.0))
    xs, ys = TO_3035.transform(*np.array(town.exterior.coords).T)
    cells = []
    for n in range(int(min(ys) // 100) * 100, int(max(ys)) + 100, 100):
        for e in range(int(min(xs) // 100) * 100, int(max(xs)) + 100, 100):
            x, y = FROM_3035.transform(e + 50.0, n + 50.0)
            if not shapely.contains_xy(town, x, y):
                continue
            density = sum(peak * math.exp(-math.hypot(x - cx, y - cy) / scale) for (cx, cy), peak, scale in cores)
            value = round(density * rng.lognormal(0, 0.35))
            if density < 3 or value < 1:  # fields and woods
                continue
            cells.append((e, n, None if value <= 2 and rng.random() < 0.6 else value))
    return cells


def buildings(cells: list[tuple[int, int, int | None]], rng: np.random.Generator) -> list[tuple[Polygon, int, int]]:
    """Footprints (EPSG:25832) with households and storeys: about one building per 4 households in each cell."""
    out = []
    for e, n, pop in cells:
        people = pop if pop is not None else 2
        households = max(1, round(people / 2.1))
        k = min(16, max(1, round(households / 4)))  # detached houses outside, blocks of flats in the centre
        x, y = FROM_3035.transform(e + 50.0, n + 50.0)
        spots = rng.permutation(16)[:k]  # 4 x 4 plots per cell, 25 m apart
        shares = np.bincount(rng.integers(0, k, households), minlength=k)
        for s, h in zip(spots, shares, strict=True):
            px, py = x - 37.5 + 25 * (s % 4), y - 37.5 + 25 * (s // 4)
            w, d = 9 + 5 * rng.random(), 8 + 4 * rng.random()
            levels = 1 + min(5, int(h // 3)) if h else 1
            out.append((_round(shapely.box(px - w / 2, py - d / 2, px + w / 2, py + d / 2), 1), int(h), levels))
    return out


def network() -> dict[str, str]:
    """The three tables as CSV text (`;`, German column names, the position as one "lat,lon" column)."""
    sites = ['Standort-ID;Standortbetreiber;Netzbetreiber;Bezeichnung;Bauart;Zustand;"lat,lon"']
    antennas = ["Standort-ID;Netzbetreiber;Antenne;Azimut;Rundstrahler;Hoehe_m;Tilt_el"]
    cells = ["Standort-ID;Netzbetreiber;Antenne;Zelle;Band;Technik;Frequenz_MHz;Bandbreite_MHz;EIRP_dBm"]
    for s, ((dx, dy), structure, status, ops) in enumerate(SITES):
        sid = f"MS-{101 + s}"
        lon, lat = TO_4326.transform(CENTRE[0] + dx, CENTRE[1] + dy)
        sites.append(f'{sid};{ops[0]};{"/".join(ops)};Standort {s + 1};{structure};{status};"{lat:.6f},{lon:.6f}"')
        for o, op in enumerate(ops):
            if structure == "Indoor":
                antennas.append(f"{sid};{op};I1;;ja;;")
                cells += [f"{sid};{op};I1;{j + 1};{b};{t};;{w};{p}" for j, (b, t, w, p) in enumerate(INDOOR_BANDS)]
                continue
            n_ant = 2 if s % 5 == 3 else 3
            height = {"Dach": 24, "Mast": 32, "Turm": 45}[structure] - 2 * o
            for a in range(n_ant):
                azimuth = (20 * s + 40 * o + a * 360 // n_ant) % 360
                antennas.append(f"{sid};{op};A{a + 1};{azimuth};nein;{'' if s % 4 == 1 else height};{3 + a % 2}")
                bands = BANDS[op][: 4 if a == 0 else 3]
                cells += [f"{sid};{op};A{a + 1};{j + 1};{b};{t};;{w};{p}" for j, (b, t, w, p) in enumerate(bands)]
    return {
        "standorte": "\n".join(sites) + "\n",
        "antennen": "\n".join(antennas) + "\n",
        "zellen": "\n".join(cells) + "\n",
    }


def _german(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def write_all(out: Path) -> dict[str, object]:
    """Write every file into `out`; returns the figures the README walk checks."""
    os.environ["OGR_CURRENT_DATE"] = "2026-01-01T00:00:00Z"  # fixed GeoPackage timestamps
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    town = outline()

    # boundary: GeoJSON in WGS 84 (RFC 7946), as a state's open-data portal publishes municipal boundaries
    feature = {
        "type": "Feature",
        "properties": {"AGS": AGS, "GEN": "Musterstadt", "BEZ": "Stadt"},
        "geometry": mapping(_round(_moved(shapely.segmentize(town, 50), TO_4326), 6)),
    }
    (out / "grenze.geojson").write_bytes(
        orjson.dumps({"type": "FeatureCollection", "name": "grenze", "features": [feature]}) + b"\n"
    )

    # districts: a GeoPackage in EPSG:25833, as a city east of the 12th meridian would deliver it
    parts = districts(town)
    gpkg = out / "ortsbezirke.gpkg"
    gpkg.unlink(missing_ok=True)
    geoms = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for _, _, g in parts]
    geoms = [_round(_moved(shapely.segmentize(g, 50), TO_25833), 2) for g in geoms]
    write(
        gpkg,
        shapely.to_wkb(np.array(geoms, dtype=object)),
        [np.array([k for k, _, _ in parts], dtype=object), np.array([n for _, n, _ in parts], dtype=object)],
        fields=["nummer", "ortsbezirk"],
        geometry_type="MultiPolygon",
        crs="EPSG:25833",
        driver="GPKG",
        layer="ortsbezirke",
    )

    # Zensus 2022 population, 100 m grid, as Destatis publishes it (– for a cell kept secret)
    cells = population_grid(town, rng)
    rows = ["GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner"]
    rows += [f"CRS3035RES100mN{n}E{e};{e + 50};{n + 50};{'–' if p is None else p}" for e, n, p in cells]
    (out / "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    # population per district and year from the city's statistics office (German thousands separators)
    per_district = {}
    for key, name, geom in parts:
        inside = [
            (p if p is not None else 2)
            for e, n, p in cells
            if shapely.contains_xy(geom, *FROM_3035.transform(e + 50.0, n + 50.0))
        ]
        per_district[name] = (key, sum(inside))
    table = ["Ortsbezirk;Nr;Einwohner;Jahr"]
    for year in YEARS:
        for name, (key, n) in per_district.items():
            table.append(f"{name};{key};{_german(round(n * GROWTH) if year == 2023 else n)};{year}")
    (out / "einwohner_ortsbezirke.csv").write_text("\n".join(table) + "\n", encoding="utf-8")

    # buildings: footprints with households and storeys (GeoJSON, WGS 84)
    houses = buildings(cells, rng)
    feats = [
        {
            "type": "Feature",
            "properties": {"id": f"G{i + 1:05d}", "haushalte": h, "geschosse": lv},
            "geometry": mapping(_round(_moved(g, TO_4326), 6)),
        }
        for i, (g, h, lv) in enumerate(houses)
    ]
    (out / "gebaeude.geojson").write_bytes(
        orjson.dumps({"type": "FeatureCollection", "name": "gebaeude", "features": feats}) + b"\n"
    )

    # the mobile network: one zip of three tables and a note, as a site register of every operator comes
    assert all(shapely.contains_xy(town, CENTRE[0] + dx, CENTRE[1] + dy) for (dx, dy), *_ in SITES)
    tables = network()
    with zipfile.ZipFile(out / "funknetz.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in [*((f"{k}.csv", v) for k, v in tables.items()), ("liesmich.txt", README_TXT)]:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, text.encode("utf-8"))
    (out / "funknetz-profil.yaml").write_text(PROFILE, encoding="utf-8")

    return {
        "area_km2": town.area / 1e6,
        "districts": {name: key for name, (key, _) in per_district.items()},
        "population_2023": sum(round(n * GROWTH) for _, n in per_district.values()),
        "grid_cells": len(cells),
        "grid_secret": sum(p is None for _, _, p in cells),
        "buildings": len(houses),
        "households": sum(h for _, h, _ in houses),
        "sites": len(SITES),
        "antennas": len(tables["antennen"].splitlines()) - 1,
        "cells": len(tables["zellen"].splitlines()) - 1,
    }


if __name__ == "__main__":
    figures = write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
