"""Mobile coverage (LTE/NR): best server per operator and band on a raster, cells, districts, gaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from psycopg.types.json import Jsonb

from netzatlas import db
from netzatlas.coverage import antenna, clutter, defaults, pathloss, radio, rasters, terrain
from netzatlas.coverage.grid import POPULATION_RULE, Grid, key_to_id, population_cells
from netzatlas.coverage.runs import Context

# Every cell of an in-service site within reach, with its antenna (radio_cells, migration 0010). Missing values
# come from the declared defaults (coverage/defaults.py), listed in the run's assumptions.
CELLS_SQL = """
    SELECT site_id, site_external_id, operator, antenna_id, cell_id, technology, band,
           dl_frequency_mhz AS frequency_mhz, azimuth_deg, coalesce(omnidirectional, false) AS omnidirectional,
           mech_tilt_deg, elec_tilt_deg, height_m, h_beamwidth_deg, v_beamwidth_deg, gain_dbi,
           eirp_dbm, tx_power_dbm, bandwidth_mhz, structure,
           ST_X(geom) AS x, ST_Y(geom) AS y
    FROM radio_cells
    WHERE status = 'in_service' AND site_status = 'in_service'
      AND ST_DWithin(geom, (SELECT boundary FROM municipalities WHERE ags = %(ags)s), %(range)s)
    ORDER BY operator, technology, band, site_id, antenna_no, cell_id
"""


def load_cells(conn: Any, ags: str, range_m: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The in-service cells within range of the municipality, completed with the declared defaults; and the
    defaults used (quantity, value, what they applied to, cells, source)."""
    used = defaults.Used()
    cells = [defaults.fill(dict(c), used) for c in conn.execute(CELLS_SQL, {"ags": ags, "range": range_m})]
    return cells, used.listed()


def transmitter(c: dict[str, Any], band: int, eirp_dbm: float, offset_db: float) -> radio.Transmitter:
    """The radio transmitter of a cell; an omnidirectional antenna has no pattern."""
    omni = bool(c["omnidirectional"])
    return radio.Transmitter(
        x=c["x"],
        y=c["y"],
        height_m=c["height_m"],
        frequency_mhz=c["frequency_mhz"],
        eirp_dbm=eirp_dbm,
        band=band,
        azimuth_deg=None if omni else c["azimuth_deg"],
        tilt_deg=c["tilt_deg"],
        h_beamwidth_deg=c.get("h_beamwidth_deg") or antenna.DEFAULT_H_BEAMWIDTH_DEG,
        v_beamwidth_deg=c.get("v_beamwidth_deg") or antenna.DEFAULT_V_BEAMWIDTH_DEG,
        offset_db=offset_db,
    )


@dataclass(frozen=True)
class Layer:
    operator: str  # "any" for the best over all operators
    technology: str
    band: str
    frequency_mhz: float

    @property
    def label(self) -> str:
        return f"{self.operator} {self.technology} {self.band}"

    @property
    def description(self) -> str:
        who = "any operator" if self.operator == "any" else f"operator {self.operator}"
        return f"best-server RSRP dBm, {who}, {self.technology} {self.band} ({self.frequency_mhz:g} MHz)"


def layered_transmitters(
    sectors: list[dict[str, Any]], indoor_loss_db: float
) -> tuple[
    list[str],
    list[tuple[str, str, float]],
    list[Layer],
    dict[tuple[str, str, str, float], int],
    list[radio.Transmitter],
]:
    """The run's operators, bands, output layers (operator x technology, band and frequency) with their index, and
    each cell's transmitter in its layer with the cell's RSRP offset less the indoor loss."""
    operators = sorted({s["operator"] for s in sectors})
    bands = sorted({(s["technology"], s["band"], float(s["frequency_mhz"])) for s in sectors})
    layers = [Layer(o, t, b, f) for o in operators for (t, b, f) in bands]
    index = {(lay.operator, lay.technology, lay.band, lay.frequency_mhz): i for i, lay in enumerate(layers)}
    txs = [
        transmitter(
            s,
            index[(s["operator"], s["technology"], s["band"], float(s["frequency_mhz"]))],
            s["eirp_dbm"],
            _rsrp_offset(s) - indoor_loss_db,
        )
        for s in sectors
    ]
    return operators, bands, layers, index, txs


def radio_model(p: dict[str, Any]) -> radio.RadioModel:
    return radio.RadioModel(
        name=p["model"],
        los=p["los"],
        ue_height_m=p["ue_height_m"],
        metropolitan=p["hata_environment"] == "metropolitan",
        max_range_m=p["max_range_m"],
        reliability_pct=p["los_reliability_pct"],
    )


def load_buildings(ctx: Context, p: dict[str, Any], grid: Grid) -> clutter.Buildings | None:
    """The buildings on the run's raster with their heights, when the run tests LOS against them."""
    if p.get("los") != radio.BUILDINGS:
        return None
    with db.connect(ctx.url) as conn:
        return clutter.load(conn, grid, p["building_height_m"])


def model_description(
    p: dict[str, Any], dem: bool, kind: str = "RSRP", buildings: clutter.Buildings | None = None
) -> dict[str, Any]:
    names = {
        "uma": "3GPP TR 38.901 UMa",
        "umi": "3GPP TR 38.901 UMi street canyon",
        "hata": f"COST-231 Hata ({p['hata_environment']} city)",
    }
    los = {
        "percentile": f"3GPP TR 38.901 table 7.4.2-1 LOS probability P_LOS(d): the level reached at "
        f"{p['los_reliability_pct']:g} % of locations at each distance, i.e. the LOS loss where P_LOS >= "
        f"{p['los_reliability_pct'] / 100:g} and the NLOS loss (max(LOS, NLOS)) elsewhere",
        "expected": "3GPP TR 38.901 table 7.4.2-1 LOS probability P_LOS(d): expected received level, "
        "PL = -10 log10(P_LOS 10^(-PL_LOS/10) + (1 - P_LOS) 10^(-PL_NLOS/10))",
        "los": "every path assumed line of sight of the clutter (LOS formula)",
        "nlos": "every path assumed non line of sight of the clutter (NLOS = max(LOS, NLOS))",
        "buildings": "each path's clutter state from the registry's buildings, not from the LOS probability: the "
        "LOS formula where "
        + clutter.RULE
        + "; NLOS (max(LOS, NLOS)) where a building blocks it. Heights: "
        + clutter.height_rule(p.get("building_height_m", 0.0)),
    }[p["los"]]
    if p["model"] == "hata":
        los = "COST-231 Hata is an empirical model of mixed urban paths: no LOS/NLOS states"
    relief = (
        f"DEM {p['dem']}: the clutter loss uses the antenna's height above the receiver's ground, plus the terrain's "
        f"diffraction loss, ITU-R P.526-15 section 4.5.1 Bullington (knife-edge J(nu) of eq. 31) over "
        f"{radio.PROFILE_SAMPLES} profile intervals per path, earth radius 8,500 km, less the Bullington loss of a "
        "smooth profile between the two grounds (the delta-Bullington split of P.452-16 section 4.2.3), at least 0; "
        "terrain never switches the clutter model to its LOS formula"
        if dem
        else "no DEM: flat terrain"
    )
    return {
        "name": names[p["model"]],
        "description": (
            f"Received level per pixel = EIRP - path loss ({names[p['model']]}; {_clutter_state(p)}) + 3GPP TR "
            "38.901 table 7.3-1 sector "
            "pattern (A_H with the sector's horizontal beamwidth, A_V with its vertical beamwidth and tilt = "
            f"mechanical + electrical, 30 dB cap); {kind} = level - 10 log10(12 N_RB) - indoor loss; best server "
            "per pixel over all in-service cells per operator, technology and band, and over all operators; each cell "
            "is a transmitter at its antenna's position, height, azimuth and tilt."
        ),
        "assumptions": {
            "los": los,
            "terrain": relief,
            "receiver_height_m": p["ue_height_m"],
            "antenna_heights": "height_m of each antenna above ground; where the delivery gives none, the declared "
            "default of the site's structure (listed under defaults)",
            "omnidirectional": "an omnidirectional antenna (indoor systems, small cells) radiates with no pattern: "
            "its EIRP in every direction",
            "thresholds_dbm": {k: p[k] for k in p if k.endswith("threshold_dbm")},
            "indoor_loss_db": p["indoor_loss_db"],
            "n_rb": "3GPP TS 36.101 Table 5.6-1 (LTE), TS 38.101-1 Table 5.3.2-1 (NR, FR1) and TS 38.101-2 Table "
            f"5.3.2-1 (NR, FR2) for the cell's channel bandwidth; {radio.NR_SCS_RULE}; a bandwidth the tables do not "
            "list fails the run",
            "beamwidths": f"each antenna's own; where the delivery gives none, horizontal "
            f"{antenna.DEFAULT_H_BEAMWIDTH_DEG:g} deg and vertical {antenna.DEFAULT_V_BEAMWIDTH_DEG:g} deg (a macro "
            "panel, 3GPP TR 36.814 table A.2.1.1-2)",
            "distances": f"2D distances below {pathloss.MIN_DISTANCE_M:g} m use {pathloss.MIN_DISTANCE_M:g} m; "
            f"no transmitter is evaluated beyond {p['max_range_m']:g} m or where it cannot reach the threshold",
            "validity": "38.901 UMa/UMi (table 7.4.1-1): 0.5-100 GHz, 10 m - 5 km, receiver 1.5-22.5 m; COST-231 "
            "Hata: 1500-2000 MHz, 1-20 km, hb 30-200 m, hm 1-10 m; a sector evaluated outside them is an "
            "extrapolation and is listed under validity with what lies outside",
            "raster": f"EPSG:25832 at {p['resolution_m']:g} m, pixel centres; levels below the threshold are nodata",
            "population": POPULATION_RULE + "; a cell's people are spread evenly over the pixels whose centre it holds",
            **({"buildings": _buildings_assumption(p, buildings)} if buildings is not None else {}),
        },
        **({"definitions": definitions(p)} if kind == "RSRP" else {}),
    }


def _clutter_state(p: dict[str, Any]) -> str:
    """How the run decides each path's LOS or NLOS state, for the model sentence."""
    if p["model"] == "hata":
        return "no LOS/NLOS states"
    if p["los"] == radio.BUILDINGS:
        return (
            "LOS where the line from the antenna's top to the receiver clears the registry's buildings with their "
            "heights, NLOS where a building blocks it"
        )
    if p["los"] in ("los", "nlos"):
        return f"every path {p['los'].upper()}"
    return f"LOS and NLOS combined by the LOS probability of table 7.4.2-1 ({p['los']})"


def _buildings_assumption(p: dict[str, Any], b: clutter.Buildings) -> dict[str, Any]:
    """What the building-aware LOS test read: footprints, how each height was set, pixels in buildings."""
    return {
        "rule": clutter.RULE,
        "heights": clutter.height_rule(p["building_height_m"]),
        "level_height_m": clutter.LEVEL_HEIGHT_M,
        "default_height_m": p["building_height_m"],
        **b.counts,
    }


# The classes the dashboard shows, with their source. The Mobilfunk-Monitoring of the Bundesnetzagentur
# (https://www.bundesnetzagentur.de/mobilfunkmonitoring) maps areas without 4G or 5G from any operator as white
# spots ("weiße Flecken") and areas with 4G/5G from at least one but not all operators as grey spots ("graue
# Flecken"). It publishes no RSRP value for "covered", so the thresholds are the run's own assumption.
def definitions(p: dict[str, Any]) -> dict[str, Any]:
    thr = f"RSRP >= {p['threshold_dbm']:g} dBm"
    source = "Bundesnetzagentur, Mobilfunk-Monitoring (white and grey spots, 4G/5G)"
    return {
        "covered": {
            "definition": f"4G (LTE) or 5G (NR) from at least one operator: best-server {thr} in some band",
            "source": "the run's threshold (see thresholds)",
        },
        "white_spot": {
            "definition": f"no 4G/5G from any operator ({thr} in no band of any operator)",
            "source": source,
        },
        "grey_spot": {
            "definition": f"4G/5G ({thr}) from at least one but not from all operators of the run",
            "source": source,
        },
        "thresholds": {
            "LTE": {
                "threshold_dbm": p["threshold_dbm"],
                "good_threshold_dbm": p["good_threshold_dbm"],
                "quantity": "RSRP, 3GPP TS 36.214 section 5.1.1",
            },
            "NR": {
                "threshold_dbm": p["threshold_dbm"],
                "good_threshold_dbm": p["good_threshold_dbm"],
                "quantity": "SS-RSRP, 3GPP TS 38.215 section 5.1.1",
            },
            "source": "the run's assumption: no official RSRP value defines coverage (the Mobilfunk-Monitoring maps "
            "the operators' own coverage data); the same values apply to LTE and NR unless set otherwise",
        },
        "operators": "every operator with an in-service sector within reach of the municipality",
    }


def run(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    model = radio_model(p)
    with db.connect(ctx.url) as conn:
        sectors, used = load_cells(conn, ctx.municipality, p["max_range_m"])
        inputs = _inputs(conn, ctx)
    grid = Grid.cover(ctx.boundary.bounds, p["resolution_m"])
    operators, bands, layers, index, txs = layered_transmitters(sectors, p["indoor_loss_db"])
    dem = terrain.load(p["dem"], grid) if p.get("dem") else None
    blds = load_buildings(ctx, p, grid)
    ctx.lap("inputs")
    ctx.report(0.05, f"{len(txs)} cells over {grid.pixels:,} pixels")
    res = radio.best_server(
        grid,
        txs,
        model,
        p["threshold_dbm"],
        max(len(layers), 1),
        terrain=dem,
        progress=lambda done, total: ctx.report(0.05 + 0.6 * done / max(total, 1), f"cell {done}/{total}"),
        buildings=blds,
    )
    ctx.lap("radio")
    described = model_description(p, dem is not None, buildings=blds)
    described["assumptions"]["defaults"] = used
    described["validity"] = validity_report(p, model, txs, sectors, res.reach_m, dem)
    inside = grid.mask(ctx.boundary)
    levels = res.levels[: len(layers)]
    outside = ~inside
    for lvl in levels:  # one layer at a time: no mask of every layer at once
        lvl[outside] = radio.NODATA
    del outside
    # any operator per technology and band: computed band by band where needed (rasters, coverage), never all
    # bands at once; max is exact, so the values equal those of a stacked max
    any_layers = [Layer("any", t, b, f) for (t, b, f) in bands]

    def any_level(t: str, b: str, f: float, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        out = levels[index[(operators[0], t, b, f)], rows, cols].copy()
        for o in operators[1:]:
            np.maximum(out, levels[index[(o, t, b, f)], rows, cols], out=out)
        return out

    covered_any = np.zeros((len(bands), grid.height, grid.width), bool)  # per band
    good_any = np.zeros(inside.shape, bool)
    for j, band in enumerate(bands):
        best = any_level(*band)
        np.greater_equal(best, p["threshold_dbm"], out=covered_any[j])
        good_any |= best >= p["good_threshold_dbm"]
        del best
    op_covered = np.zeros((len(operators), grid.height, grid.width), bool)
    for i, o in enumerate(operators):
        for t, b, f in bands:
            op_covered[i] |= levels[index[(o, t, b, f)]] >= p["threshold_dbm"]
    n_ops = op_covered.sum(axis=0, dtype=np.uint8)
    # 0 white spot (no 4G/5G from any operator), 1 grey spot (only some operators), 2 all operators
    klass = np.where(n_ops == 0, 0, np.where(n_ops < max(len(operators), 1), 1, 2)).astype(np.uint8)
    klass[~inside] = 255
    ctx.report(0.7, "writing rasters")
    tags = {
        "netzatlas_model": orjson.dumps(described).decode(),
        "netzatlas_parameters": orjson.dumps(p, option=orjson.OPT_SORT_KEYS).decode(),
    }
    out = ctx.out_dir
    outputs = {}
    if bands:
        rsrp_bands = [
            *levels,
            *(lambda r0, r1, c0, c1, band=band: any_level(*band, slice(r0, r1), slice(c0, c1)) for band in bands),
        ]
        outputs["rsrp"] = rasters.write_cog(
            out / "rsrp.tif",
            grid,
            rsrp_bands,
            [lay.description for lay in [*layers, *any_layers]],
            radio.NODATA,
            tags,
            dtype=levels.dtype.name,
        )
        del rsrp_bands
    outputs["classes"] = rasters.write_cog(
        out / "classes.tif",
        grid,
        np.stack([klass, np.where(inside, n_ops, 255).astype(np.uint8)]),
        ["class: 0 white spot (no 4G/5G), 1 grey spot (some operators), 2 all operators", "operators with 4G/5G"],
        255,
        tags,
    )
    ctx.lap("rasters")
    ctx.report(0.8, "cells and districts")
    stats = _aggregate(ctx, grid, inside, covered_any, any_layers, klass, good_any, op_covered, operators)
    stats["radio_cells"] = len(txs)
    stats["antennas"] = len({(s["site_id"], s["operator"], s["antenna_id"]) for s in sectors})
    stats["radio_cells_reaching_threshold"] = res.transmitters
    stats["pixel_cell_evaluations"] = res.evaluations
    stats["radio_cells_outside_validity"] = described["validity"]["cells_outside"]
    stats["pixels"] = int(inside.sum())
    if blds is not None:
        stats["pixels_in_buildings"] = int((inside & (blds.label > 0)).sum())
        stats["buildings_height_defaulted"] = blds.counts["height_defaulted"]
    ctx.lap("aggregates")
    ctx.report(1.0, "mobile done")
    inputs.update(radio_cells_in_service=len(txs), sites=len({s["site_id"] for s in sectors}), operators=len(operators))
    return {
        "model": described,
        "input_counts": inputs,
        "statistics": stats,
        "outputs": outputs,
    }


def validity_report(
    p: dict[str, Any],
    model: radio.RadioModel,
    txs: list[radio.Transmitter],
    sectors: list[Any],
    reach_m: list[float],
    dem: radio.Terrain | None,
) -> dict[str, Any]:
    """Every evaluated cell used outside its model's validity ranges, with counts per quantity."""
    flagged = []
    for tx, s, r in zip(txs, sectors, reach_m, strict=True):
        outside = radio.validity(tx, model, r, dem) if r > 0 else {}
        if outside:
            flagged.append(
                {
                    "site": s["site_external_id"],
                    "operator": s["operator"],
                    "antenna": s["antenna_id"],
                    "cell": s["cell_id"],
                    "layer": f"{s['technology']} {s['band']}",
                    "outside": outside,
                }
            )
    counts: dict[str, int] = {}
    for f in flagged:
        for k in f["outside"]:
            counts[k] = counts.get(k, 0) + 1
    return {
        "ranges": {k: list(v) for k, v in pathloss.VALIDITY[p["model"]].items()},
        "cells_evaluated": sum(1 for r in reach_m if r > 0),
        "cells_outside": len(flagged),
        "cells_outside_by_quantity": dict(sorted(counts.items())),
        "cells": flagged,
    }


def _rsrp_offset(s: Any) -> float:
    """RSRP offset of a cell; a bandwidth the 3GPP N_RB tables do not list fails the run naming the cell."""
    try:
        return radio.rsrp_offset_db(s["technology"], s["bandwidth_mhz"], s["frequency_mhz"], s.get("scs_khz"))
    except ValueError as e:
        raise ValueError(
            f"site {s['site_external_id']} ({s['operator']}) antenna {s['antenna_id']} cell {s['cell_id']} "
            f"({s['band']}): {e}"
        ) from None


def _inputs(conn: Any, ctx: Context) -> dict[str, int]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM buildings WHERE municipality = %(ags)s) AS buildings,
                  (SELECT count(*) FROM population_cells) AS population_cells,
                  (SELECT count(*) FROM districts WHERE municipality = %(ags)s) AS districts""",
        {"ags": ctx.municipality},
    ).fetchone()
    return {k: int(v) for k, v in row.items()}


def weights(conn: Any, ctx: Context, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Any]]:
    """Population per pixel, buildings per pixel, district label raster and district rows."""
    # each population cell's effective people (grid.POPULATION_RULE) over the pixels it is the finest cell of:
    # finer cells are burnt last and win, so a coarser cell keeps exactly the pixels of its uncovered area
    x1, y2 = grid.x0, grid.y0
    x2, y1 = grid.x0 + grid.width * grid.res, grid.y0 - grid.height * grid.res
    cells = population_cells(conn, (x1, y1, x2, y2))
    pop = np.zeros((grid.height, grid.width), np.float64)
    keep = [i for i, p in enumerate(cells.population) if p > 0]
    if keep:
        order = sorted(keep, key=lambda i: -cells.resolution_m[i])
        geoms = {
            r["id"]: shapely.from_wkb(bytes(r["g"]))
            for r in conn.execute(
                "SELECT id, ST_AsBinary(geom) AS g FROM population_cells WHERE id = ANY(%s)",
                ([cells.ids[i] for i in order],),
            ).fetchall()
        }
        lab = grid.labels([(geoms[cells.ids[i]], k + 1) for k, i in enumerate(order)])
        counts = np.bincount(lab.ravel(), minlength=len(order) + 1)
        # a cell reaching beyond the raster spreads its people over its whole (uncovered) area, not over the
        # pixels inside: pixels it would have = its area share / pixel area, at least the pixels it has
        extent = shapely.box(x1, y1, x2, y2)
        full = np.array(
            [0.0]
            + [
                counts[k + 1]
                if shapely.within(geoms[cells.ids[i]], extent)
                else max(counts[k + 1], geoms[cells.ids[i]].area * cells.uncovered_share[i] / grid.pixel_area_m2)
                for k, i in enumerate(order)
            ]
        )
        people = np.r_[0.0, [cells.population[i] for i in order]]
        pop = np.where(lab > 0, people[lab] / np.maximum(full[lab], 1), 0.0)
    pts = conn.execute(
        "SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (SELECT ST_PointOnSurface(geom) AS p FROM buildings "
        "WHERE municipality = %s) s",
        (ctx.municipality,),
    ).fetchall()
    bld = np.zeros((grid.height, grid.width), np.float64)
    if pts:
        r, c, ok = grid.index(np.array([p["x"] for p in pts]), np.array([p["y"] for p in pts]))
        np.add.at(bld, (r[ok], c[ok]), 1.0)
    drows = conn.execute(
        "SELECT id, name, ST_AsBinary(boundary) AS g FROM districts WHERE municipality = %s ORDER BY id",
        (ctx.municipality,),
    ).fetchall()
    dlab = grid.labels([(shapely.from_wkb(bytes(d["g"])), d["id"]) for d in drows])
    return pop, bld, dlab, {d["id"]: d for d in drows}


def _aggregate(
    ctx: Context,
    grid: Grid,
    inside: np.ndarray,
    covered: np.ndarray,
    any_layers: list[Layer],
    klass: np.ndarray,
    good: np.ndarray,
    op_covered: np.ndarray,
    operators: list[str],
) -> dict[str, Any]:
    with db.connect(ctx.url) as conn:
        pop, bld, dlab, _districts = weights(conn, ctx, grid)
    one = np.ones(inside.shape, np.float64)
    cov4g5g = (klass == 1) | (klass == 2)
    values: dict[str, np.ndarray] = {"pixels": one, "population": pop, "buildings": bld}
    masks = {"covered": cov4g5g, "good": good, "white": klass == 0, "grey": klass == 1}
    for lay, m in zip(any_layers, covered, strict=True):
        masks[f"{lay.technology} {lay.band}"] = m
    for o, m in zip(operators, op_covered, strict=True):
        masks[f"operator {o}"] = m
    area = grid.pixel_area_m2

    def table(sums: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        """Metrics per zone, computed column-wise (numpy), then turned into plain dicts."""
        cols: dict[str, list] = {"area_m2": np.round(sums["pixels"] * area, 1).tolist()}
        for name in masks:
            for w, label in (
                ("pixels", "share_area"),
                ("population", "share_population"),
                ("buildings", "share_buildings"),
            ):
                den = sums[w]
                share = np.round(np.divide(sums[f"{name}|{w}"], den, out=np.full(den.shape, np.nan), where=den > 0), 6)
                cols[f"{name}|{label}"] = share.tolist()
        out = []
        for i in range(len(sums["pixels"])):
            m: dict[str, Any] = {"area_m2": cols["area_m2"][i]}
            for name in masks:
                entry = {}
                for label in ("share_area", "share_population", "share_buildings"):
                    v = cols[f"{name}|{label}"][i]
                    if v == v:  # not NaN
                        entry[label] = v
                m[name] = entry
            out.append(m)
        return out

    keys = grid.cell_keys()
    ids, sums = rasters.masked_zone_sums(keys, inside, values, masks)
    cell_metrics = table(sums)
    cells = [
        (key_to_id(k), int(b), round(pop_, 2), m["covered"].get("share_area"), m)
        for k, b, pop_, m in zip(
            ids.tolist(), sums["buildings"].tolist(), sums["population"].tolist(), cell_metrics, strict=True
        )
    ]
    did, dsums = rasters.masked_zone_sums(dlab, inside & (dlab > 0), values, masks)
    total_ids, tsums = rasters.masked_zone_sums(np.zeros(inside.shape, np.int32), inside, values, masks)
    total = table(tsums)[0] if len(total_ids) else {}
    dmetrics = table(dsums)
    with db.transaction(ctx.url) as conn:
        rasters.write_cells(conn, ctx.run_id, ctx.analysis, cells)
        for i, d in enumerate(did):
            conn.execute(
                """INSERT INTO coverage_districts (run_id, analysis, district_id, name, buildings, population,
                       share_covered, metrics, geom)
                   SELECT %s, %s, id, name, %s, %s, %s, %s, boundary FROM districts WHERE id = %s""",
                (
                    ctx.run_id,
                    ctx.analysis,
                    int(dsums["buildings"][i]),
                    round(float(dsums["population"][i]), 2),
                    dmetrics[i]["covered"].get("share_area"),
                    Jsonb(dmetrics[i]),
                    int(d),
                ),
            )
        gaps = _write_gaps(conn, ctx, grid, {"white_spot": klass == 0, "grey_spot": klass == 1})
    return {
        "area_km2": round(float(inside.sum()) * area / 1e6, 4),
        "population": round(float(pop[inside].sum()), 2),
        "buildings": int(bld[inside].sum()),
        "coverage": total,
        "cells": len(cells),
        "gaps": gaps,
    }


def _write_gaps(conn: Any, ctx: Context, grid: Grid, masks: dict[str, np.ndarray]) -> dict[str, Any]:
    out = {}
    for gap, m in masks.items():
        polys = rasters.polygons(grid, m, min_pixels=4)
        if polys:
            conn.execute(
                """INSERT INTO coverage_gaps (run_id, analysis, gap, area_m2, metrics, geom)
                   SELECT %s, %s, %s, ST_Area(g), jsonb_build_object('pixels', round(ST_Area(g) / %s)),
                          ST_Multi(g)
                   FROM (SELECT ST_SetSRID(ST_GeomFromWKB(w), 25832) AS g FROM unnest(%s::bytea[]) w) s""",
                (ctx.run_id, ctx.analysis, gap, grid.pixel_area_m2, [shapely.to_wkb(p) for p in polys]),
            )
        out[gap] = {"polygons": len(polys), "area_m2": round(sum(p.area for p in polys), 1)}
    return out
