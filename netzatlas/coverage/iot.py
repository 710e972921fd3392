"""IoT connectivity: devices whose stated connectivity is unavailable where they stand; density gaps.

LoRaWAN: the uplink from the device to the best gateway (device EIRP, path loss with the same radio code as
mobile, gateway antenna gain; omnidirectional gateways), closed at the lowest spreading factor whose 125 kHz
sensitivity it reaches (parameters.LORAWAN_SENSITIVITY_DBM).
NB-IoT, LTE-M: the coupling loss to the best in-service LTE sector against the coverage enhancement levels of
3GPP TR 45.820 (NB-IoT, MCL 164 dB) and TR 36.888 (LTE-M, MCL 155.7 dB).
LTE, 5G: the latest succeeded mobile run (any operator, RSRP >= its threshold).
Fiber: an in-service fiber route or distribution node within the drop distance.
Density gaps: INSPIRE 100 m cells farther than a sensor type's service radius from any sensor of it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import orjson
import rasterio
import shapely

from netzatlas import db
from netzatlas.coverage import clutter, pathloss, radio, rasters, runs, terrain
from netzatlas.coverage.fiber import NODES, ROUTES
from netzatlas.coverage.grid import (
    CELL_M,
    Grid,
    cell_key,
    from_inspire,
    inspire_cells,
    key_to_id,
    merge_cells,
    store_cells,
    to_inspire,
)
from netzatlas.coverage.mobile import load_buildings, load_cells, radio_model, transmitter
from netzatlas.coverage.mobile import model_description as radio_description
from netzatlas.coverage.parameters import ParameterError
from netzatlas.coverage.runs import Context
from netzatlas.registry.columns import attribute_sql

MOBILE_TECH = {"lte": "LTE", "5g": "NR"}
# NB-IoT and LTE-M run in LTE carriers (in-band, guard band or standalone re-farmed LTE spectrum): their coupling
# loss is to the in-service LTE sectors, and each has its own coverage enhancement levels (parameters.py).
CE_PARAM = {"nbiot": "nbiot_ce_coupling_loss_db", "ltem": "ltem_ce_coupling_loss_db"}


def _attr(kind: str, name: str, alias: str = "") -> str:
    return attribute_sql(alias, kind, name)


DEVICES_SQL = f"""
    SELECT id::text AS id, kind,
           coalesce({_attr("sensors", "sensor_type")}, {_attr("actuators", "actuator_type")}) AS device_type,
           {_attr("sensors", "connectivity")} AS connectivity, ST_X(geom) AS x, ST_Y(geom) AS y
    FROM assets
    WHERE kind IN ('sensors', 'actuators') AND status = 'in_service' AND retired_at IS NULL
      AND municipality = %(ags)s
    ORDER BY kind, id
"""
GATEWAYS_SQL = f"""
    SELECT id::text AS id, external_id, ST_X(geom) AS x, ST_Y(geom) AS y,
           {_attr("iot-gateways", "height_m")} AS height_m,
           {_attr("iot-gateways", "frequency_mhz")} AS frequency_mhz, {_attr("iot-gateways", "eirp_dbm")} AS eirp_dbm
    FROM assets
    WHERE kind = 'iot-gateways' AND status = 'in_service' AND retired_at IS NULL
      AND {_attr("iot-gateways", "technology")} = 'lorawan'
      AND ST_DWithin(geom, (SELECT boundary FROM municipalities WHERE ags = %(ags)s), %(range)s)
    ORDER BY id
"""


def _mobile_run(conn: Any, ctx: Context) -> dict[str, Any] | None:
    """The mobile run whose raster gives NB-IoT/LTE-M/LTE/5G levels. A run from public inputs only takes a
    public mobile run only: a published run's raster still holds its non-public sites."""
    public_only = ctx.params.get("inputs") == "public"
    ref = ctx.params["mobile_run"]
    if ref == "latest":
        return runs.latest(conn, "mobile", ctx.municipality, public_only=public_only)
    row = conn.execute(
        "SELECT * FROM coverage_runs WHERE id::text = %s AND analysis = 'mobile' AND status = 'succeeded'"
        " AND (sensitivity = 'public' OR NOT %s)",
        (ref, public_only),
    ).fetchone()
    if row is None:
        public = " public" if public_only else ""
        raise ParameterError(f"mobile_run: no succeeded{public} mobile run {ref!r}")
    return row


def _mobile_levels(run: dict[str, Any], xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
    """Best any-operator level per technology at the points, from the mobile run's raster."""
    if "rsrp" not in run["outputs"]:
        return {}  # the mobile run found no sector (a municipality without sites): no level anywhere
    path = runs.output_dir(run["id"]) / run["outputs"]["rsrp"]["file"]
    out: dict[str, np.ndarray] = {}
    with rasterio.open(path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, xs, ys)
        rows, cols = np.asarray(rows), np.asarray(cols)
        ok = (rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)
        for i, desc in enumerate(ds.descriptions, start=1):
            if not desc or "any operator" not in desc:
                continue
            tech = "NR" if ", NR " in desc else "LTE"
            band = ds.read(i)
            v = np.full(len(xs), -np.inf, np.float32)
            v[ok] = band[rows[ok], cols[ok]]
            v[v <= radio.NODATA] = -np.inf
            out[tech] = np.maximum(out.get(tech, v), v)
    return out


def _coupling_loss(
    lte: list[dict[str, Any]],
    model: radio.RadioModel,
    p: dict[str, Any],
    xs: np.ndarray,
    ys: np.ndarray,
    dem: radio.Terrain | None,
    wanted: list[bool],
    buildings: clutter.Buildings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Least coupling loss (dB) from any in-service LTE sector to each wanted device (inf elsewhere), and the
    index of that sector in `lte` (-1 where none).

    Coupling loss is the loss between the antenna connectors with the antenna gains included (3GPP TR 36.888
    section 5): path loss + indoor loss - the sector antenna's gain towards the device (its boresight gain
    `sector_antenna_gain_dbi` plus the 38.901 pattern) - the device's 0 dBi. With EIRP 0 and the boresight gain
    removed, radio.level gives exactly minus that.
    """
    out = np.full(len(xs), np.inf)
    which = np.full(len(xs), -1, np.int64)
    idx = np.nonzero(np.asarray(wanted, dtype=bool))[0]
    if not len(idx) or not lte:
        return out, which
    best = np.full(len(idx), -np.inf, np.float32)
    arg = np.full(len(idx), -1, np.int64)
    for k, s in enumerate(lte):
        tx = transmitter(s, 0, p["sector_antenna_gain_dbi"], -p["indoor_loss_db"])
        lvl = radio.level(tx, model, xs[idx], ys[idx], dem, buildings)
        arg[lvl > best] = k
        best = np.maximum(best, lvl)
    out[idx] = -best.astype(np.float64)
    which[idx] = arg
    return out, which


def validity_report(
    p: dict[str, Any],
    model: radio.RadioModel,
    dem: radio.Terrain | None,
    gateways: list[dict[str, Any]],
    txs: list[radio.Transmitter],
    reach_m: list[float],
    best_gateway: np.ndarray,
    lte: list[dict[str, Any]],
    best_sector: np.ndarray,
    connectivity: list[str],
    xs: np.ndarray,
    ys: np.ndarray,
) -> dict[str, Any]:
    """Every IoT transmitter used outside its path-loss model's validity ranges (frequency, distance, heights).

    A LoRaWAN gateway is used on the raster up to its reach (where the uplink can reach the slowest SF's
    sensitivity) and at the devices it is the best gateway of; an LTE sector by the NB-IoT and LTE-M devices it
    is the best sector of, at their distances. The device is the receiver of the model (ue_height_m)."""
    flagged: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()

    def served(best: np.ndarray, k: int, tx: radio.Transmitter) -> tuple[np.ndarray, list[str]]:
        on = np.nonzero(best == k)[0]
        d = np.hypot(xs[on] - tx.x, ys[on] - tx.y)
        return d, sorted({connectivity[i] for i in on})

    gw_used = 0
    for k, (g, tx) in enumerate(zip(gateways, txs, strict=True)):
        d, _ = served(best_gateway, k, tx)
        far = max(reach_m[k], float(d.max()) if len(d) else 0.0)
        if far <= 0:
            continue
        gw_used += 1
        near = None if reach_m[k] > 0 else float(d.min())
        outside = radio.validity(tx, model, far, dem, nearest_m=near)
        if outside:
            counts.update(outside.keys())
            flagged.append(
                {
                    "technology": "lorawan",
                    "gateway": g["external_id"] or g["id"],
                    "link": "uplink",
                    "frequency_mhz": tx.frequency_mhz,
                    "height_m": tx.height_m,
                    "outside": outside,
                }
            )
    n_gw = len(flagged)
    lte_used = 0
    for k, s in enumerate(lte):
        tx = transmitter(s, 0, p["sector_antenna_gain_dbi"], 0.0)
        d, techs = served(best_sector, k, tx)
        if not len(d):
            continue
        lte_used += 1
        outside = radio.validity(tx, model, float(d.max()), dem, nearest_m=float(d.min()))
        if outside:
            counts.update(outside.keys())
            flagged.append(
                {
                    "technology": "+".join(techs),
                    "site": s["site_external_id"],
                    "operator": s["operator"],
                    "antenna": s["antenna_id"],
                    "cell": s["cell_id"],
                    "layer": f"{s['technology']} {s['band']}",
                    "link": "coupling loss",
                    "outside": outside,
                }
            )
    return {
        "ranges": {k: list(v) for k, v in pathloss.VALIDITY[p["model"]].items()},
        "gateways_evaluated": gw_used,
        "gateways_outside": n_gw,
        "lte_cells_evaluated": lte_used,
        "lte_cells_outside": len(flagged) - n_gw,
        "transmitters_outside": len(flagged),
        "transmitters_outside_by_quantity": dict(sorted(counts.items())),
        "transmitters": flagged,
    }


def density_gaps(conn: Any, keys: np.ndarray, radii: dict[str, float]) -> dict[str, np.ndarray]:
    """Per sensor type, the keys of cells whose centre is farther than the radius from every sensor of the type."""

    sensors = conn.execute(
        f"""SELECT {_attr("sensors", "sensor_type")} AS type, ST_X(geom) AS x, ST_Y(geom) AS y FROM assets_sensors
           WHERE status = 'in_service' AND retired_at IS NULL"""
    ).fetchall()
    back = from_inspire()
    cx, cy = back.transform((keys % 1_000_000) * CELL_M + CELL_M / 2, (keys // 1_000_000) * CELL_M + CELL_M / 2)
    out = {}
    for t, radius in radii.items():
        pts = np.array([(s["x"], s["y"]) for s in sensors if s["type"] == t], dtype=np.float64).reshape(-1, 2)
        far = np.ones(len(keys), dtype=bool)
        for chunk in np.array_split(pts, max(1, len(pts) // 256)):  # bounded memory: cells x 256 at a time
            if len(chunk):
                d2 = (cx[:, None] - chunk[None, :, 0]) ** 2 + (cy[:, None] - chunk[None, :, 1]) ** 2
                far &= d2.min(axis=1) > radius * radius
        out[t] = np.sort(keys[far])
    return out


def _description(
    p: dict[str, Any],
    thr: float,
    dem: radio.Terrain | None,
    blds: clutter.Buildings | None,
    mobile: dict[str, Any] | None,
    mob_thr: float | None,
    sens: dict[str, float],
    validity: dict[str, Any],
) -> dict[str, Any]:
    """The run's model: the radio model sentence and assumptions, IoT definitions with sources, validity flags."""
    desc = radio_description({**p, "threshold_dbm": thr}, dem is not None, kind="level", buildings=blds)
    desc["assumptions"].pop("population", None)  # the IoT run weights nothing by population
    desc["assumptions"].pop("thresholds_dbm", None)  # replaced by the per-technology definitions below
    model_name = desc["name"]
    desc["name"] = "IoT connectivity"
    desc["description"] = (
        "Devices in service whose stated connectivity is unavailable where they stand. Path loss for LoRaWAN, "
        f"NB-IoT and LTE-M: {model_name} with the "
        "run's LOS and terrain settings and the 3GPP TR 38.901 sector pattern. LoRaWAN: uplink level at the best "
        f"gateway = device EIRP {p['device_eirp_dbm']:g} dBm - path loss - indoor loss + gateway antenna gain "
        f"{p['gateway_antenna_gain_dbi']:g} dBi; the device is served at the lowest spreading factor whose 125 kHz "
        "sensitivity the level reaches. NB-IoT and LTE-M: coupling loss to the best in-service LTE sector against "
        "their coverage enhancement levels. LTE and 5G: any-operator RSRP of "
        + (f"mobile run {mobile['id']}. " if mobile else "no mobile run (not assessed). ")
        + f"Fiber: in-service route or node within {p['drop_distance_m']:g} m. Density gaps: INSPIRE 100 m cells whose "
        "centre is farther than the sensor type's service radius from every in-service sensor of that type."
    )
    desc["definitions"] = {
        "lorawan": {
            "limiting_link": "uplink (device to gateway): a 14 dBm device against a gateway that transmits more",
            "device_eirp_dbm": p["device_eirp_dbm"],
            "gateway_antenna_gain_dbi": p["gateway_antenna_gain_dbi"],
            "gateway_height_m": f"the gateway's height_m, else {p['gateway_height_m']:g} m",
            "sensitivity_dbm": sens,
            "source": "Semtech SX1276/77/78/79 datasheet, LoRa receiver sensitivity at 125 kHz (conservative for "
            "SX130x gateways); 14 dBm: the usual EU868 end-device power (ETSI EN 300 220, 25 mW ERP); gateway "
            "gain: the run's assumption",
        },
        "nbiot": {
            "coverage_enhancement_db": p["nbiot_ce_coupling_loss_db"],
            "source": "3GPP TR 45.820: MCL 164 dB, 20 dB beyond GPRS's 144 dB; the CE0/CE1/CE2 split (144/154/164 dB) "
            "is the run's assumption, networks set it by RSRP thresholds (3GPP TS 36.331)",
        },
        "ltem": {
            "coverage_enhancement_db": p["ltem_ce_coupling_loss_db"],
            "source": "3GPP TR 36.888: LTE's MCL 140.7 dB (FDD) and the 155.7 dB target (+15 dB); the split is "
            "the run's assumption",
        },
        "coupling_loss": "path loss + indoor loss - sector antenna gain towards the device (boresight "
        f"{p['sector_antenna_gain_dbi']:g} dBi, the run's assumption, + 38.901 pattern) - 0 dBi device "
        "(3GPP TR 36.888 section 5)",
        "lte_5g": f"RSRP of the mobile run against its threshold ({mob_thr if mob_thr is not None else 'none'} dBm)",
    }
    desc["validity"] = validity
    return desc


def run(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    model = radio_model(p)
    with db.connect(ctx.url) as conn:
        devices = conn.execute(DEVICES_SQL, {"ags": ctx.municipality}).fetchall()
        gateways = conn.execute(GATEWAYS_SQL, {"ags": ctx.municipality, "range": p["max_range_m"]}).fetchall()
        mobile = _mobile_run(conn, ctx)
        lte = [s for s in load_cells(conn, ctx.municipality, p["max_range_m"])[0] if s["technology"] == "LTE"]
        fiber_ok = {
            r["id"]
            for r in conn.execute(
                f"""SELECT d.id::text AS id FROM assets d WHERE d.kind IN ('sensors', 'actuators')
                    AND d.municipality = %(ags)s AND {_attr("sensors", "connectivity", "d")} = 'fiber' AND EXISTS (
                      SELECT 1 FROM (SELECT geom, status, retired_at FROM {ROUTES} UNION ALL
                                     SELECT geom, status, retired_at FROM {NODES}) a
                      WHERE a.status = 'in_service' AND a.retired_at IS NULL
                        AND ST_DWithin(a.geom, d.geom, %(drop)s))""",
                {"ags": ctx.municipality, "drop": p["drop_distance_m"]},
            ).fetchall()
        }
    grid = Grid.cover(ctx.boundary.bounds, p["resolution_m"])
    dem = terrain.load(p["dem"], grid) if p.get("dem") else None
    blds = load_buildings(ctx, p, grid)
    txs = [
        radio.Transmitter(
            x=g["x"],
            y=g["y"],
            height_m=g["height_m"] or p["gateway_height_m"],
            frequency_mhz=g["frequency_mhz"]
            if g["frequency_mhz"] and g["frequency_mhz"] < 1000
            else p["lorawan_frequency_mhz"],
            # the uplink, by reciprocity of the path loss: the device's EIRP received through the gateway antenna
            eirp_dbm=p["device_eirp_dbm"] + p["gateway_antenna_gain_dbi"],
            band=0,
            offset_db=-p["indoor_loss_db"],
        )
        for g in gateways
    ]
    sens = p["lorawan_sensitivity_dbm"]
    ctx.lap("inputs")
    ctx.report(0.1, f"{len(devices)} devices, {len(txs)} LoRaWAN gateways")
    thr = min(sens.values())  # the most robust spreading factor: the uplink closes at all when it reaches this
    res = radio.best_server(grid, txs, model, thr, 1, terrain=dem, buildings=blds)
    inside = grid.mask(ctx.boundary)
    lora = res.levels[0]
    lora[~inside] = radio.NODATA
    ctx.lap("radio")
    xs = np.array([d["x"] for d in devices], dtype=np.float64)
    ys = np.array([d["y"] for d in devices], dtype=np.float64)
    lora_at = np.full(len(devices), -np.inf, np.float32)
    lora_gw = np.full(len(devices), -1, np.int64)  # the best gateway of each device
    lora_wanted = np.array([d["connectivity"] == "lorawan" for d in devices], dtype=bool)
    for k, tx in enumerate(txs):  # exact levels at the devices (not the pixel value)
        lvl = radio.level(tx, model, xs, ys, dem, blds)
        lora_gw[lvl > lora_at] = k
        lora_at = np.maximum(lora_at, lvl)
    mob = _mobile_levels(mobile, xs, ys) if mobile and devices else {}
    cl_wanted = [d["connectivity"] in CE_PARAM for d in devices]
    cl, cl_sector = _coupling_loss(lte, model, p, xs, ys, dem, cl_wanted, blds)
    validity = validity_report(
        p,
        model,
        dem,
        gateways,
        txs,
        res.reach_m,
        np.where(lora_wanted, lora_gw, -1),
        lte,
        cl_sector,
        [d["connectivity"] for d in devices],
        xs,
        ys,
    )
    mob_thr = mobile["parameters"]["threshold_dbm"] if mobile else None
    rows = []
    for i, d in enumerate(devices):
        c = d["connectivity"]
        level, link, loss, klass = None, None, None, None
        if c == "lorawan":
            level, link = float(lora_at[i]), "uplink"
            klass = next((sf for sf, v in sorted(sens.items(), key=lambda kv: -kv[1]) if level >= v), None)
            ok = klass is not None
            why = (
                f"uplink {level:.1f} dBm at the best gateway closes at {klass} ({sens[klass]:g} dBm)"
                if ok
                else f"uplink {level:.1f} dBm at the best gateway is below the {thr:g} dBm of the slowest SF"
            )
        elif c in CE_PARAM:
            levels = p[CE_PARAM[c]]
            link = "coupling loss"
            if not lte:
                ok, why = False, "no in-service LTE sector within reach"
            else:
                loss = float(cl[i])
                klass = next((k for k, v in sorted(levels.items(), key=lambda kv: kv[1]) if loss <= v), None)
                ok = klass is not None
                mcl = max(levels.values())
                why = (
                    f"coupling loss {loss:.1f} dB to the best LTE sector: {klass} (up to {levels[klass]:g} dB)"
                    if ok
                    else f"coupling loss {loss:.1f} dB to the best LTE sector exceeds the MCL of {mcl:g} dB"
                )
        elif c in MOBILE_TECH:
            tech = MOBILE_TECH[c]
            if mobile is None:
                ok, why = None, "no succeeded mobile run for this municipality"
            elif tech not in mob:
                ok, why = False, f"no {tech} sector in mobile run {mobile['id']}"
            else:
                level, link = float(mob[tech][i]), "downlink"
                ok = level >= mob_thr
                why = f"{tech} best server {level:.1f} dBm vs threshold {mob_thr:g} dBm (mobile run {mobile['id']})"
        elif c == "fiber":
            ok = d["id"] in fiber_ok
            why = (
                f"in-service fiber within {p['drop_distance_m']:g} m"
                if ok
                else f"no in-service fiber within {p['drop_distance_m']:g} m"
            )
        elif c == "wifi":
            ok, why = None, "not assessed: the registry holds no Wi-Fi access points"
        else:
            ok, why = None, "no connectivity stated"
        rows.append(
            (
                ctx.run_id,
                d["id"],
                d["kind"],
                d["device_type"],
                c,
                ok,
                None if level is None or not np.isfinite(level) else round(level, 2),
                why,
                link,
                None if loss is None or not np.isfinite(loss) else round(loss, 2),
                klass,
            )
        )
    ctx.report(0.5, "devices assessed")
    desc = _description(p, thr, dem, blds, mobile, mob_thr, sens, validity)
    outputs = {
        "lorawan": rasters.write_cog(
            ctx.out_dir / "lorawan.tif",
            grid,
            lora,
            [f"LoRaWAN uplink level at the best gateway dBm ({p['lorawan_frequency_mhz']:g} MHz)"],
            radio.NODATA,
            {
                "netzatlas_model": orjson.dumps(desc).decode(),
                "netzatlas_parameters": orjson.dumps(p, option=orjson.OPT_SORT_KEYS).decode(),
            },
        )
    }
    ctx.lap("rasters")
    covered = lora >= thr
    cells, keys = inspire_cells(ctx.boundary)
    ckeys = grid.cell_keys()
    kid, ksum = rasters.zone_sums(ckeys, inside, {"px": np.ones(inside.shape), "cov": covered.astype(np.float64)})
    share = dict(zip(kid.tolist(), (ksum["cov"] / np.maximum(ksum["px"], 1)).tolist(), strict=True))
    dkeys = cell_key(*reversed(to_inspire().transform(xs, ys))) if devices else np.zeros(0, np.int64)
    per_cell = Counter(dkeys.tolist())
    unavailable = Counter(k for k, r in zip(dkeys.tolist(), rows, strict=True) if r[5] is False)
    with db.transaction(ctx.url) as conn:
        conn.execute("SET LOCAL jit = off")
        rasters.copy_rows(
            conn,
            "coverage_devices",
            (
                "run_id",
                "asset_id",
                "kind",
                "device_type",
                "connectivity",
                "available",
                "level_dbm",
                "reason",
                "link",
                "coupling_loss_db",
                "link_class",
            ),
            rows,
        )
        store_cells(conn, cells)
        conn.execute(
            "CREATE TEMP TABLE iot_cells (cell_id text, lorawan float8, devices int, unavailable int) ON COMMIT DROP"
        )
        with conn.cursor().copy("COPY iot_cells FROM STDIN") as copy:
            for cid, k in zip(cells, keys.tolist(), strict=True):
                copy.write_row((cid, share.get(k), per_cell.get(k, 0), unavailable.get(k, 0)))
        radii = p["service_radius_m"]
        missing = density_gaps(conn, keys, radii)
        conn.execute("CREATE TEMP TABLE iot_missing (cell_id text, type text) ON COMMIT DROP")
        with conn.cursor().copy("COPY iot_missing FROM STDIN") as copy:
            for t, ks in missing.items():
                for k in ks.tolist():
                    copy.write_row((key_to_id(k), t))
        conn.execute(
            """INSERT INTO coverage_cells (run_id, analysis, cell_id, share_covered, metrics)
               SELECT %(run)s, 'iot', c.cell_id, c.lorawan,
                      jsonb_build_object('lorawan_share_area', round(c.lorawan::numeric, 6),
                          'sensor_types_missing', coalesce(m.types, '[]'),
                          'devices', c.devices, 'devices_unavailable', c.unavailable)
               FROM iot_cells c
               LEFT JOIN (SELECT cell_id, jsonb_agg(type ORDER BY type) AS types FROM iot_missing GROUP BY cell_id) m
                 USING (cell_id)
               ORDER BY c.cell_id""",
            {"run": ctx.run_id},
        )
        for t in sorted(radii):
            merged = merge_cells(missing[t])
            for _poly, m in merged:
                m.update(service_radius_m=radii[t])
            rasters.write_gaps(conn, ctx.run_id, "iot", f"density:{t}", merged)
        polys = rasters.polygons(grid, inside & ~covered, min_pixels=4)
        if polys:
            conn.execute(
                """INSERT INTO coverage_gaps (run_id, analysis, gap, area_m2, metrics, geom)
                   SELECT %s, 'iot', 'lorawan', ST_Area(g), '{}', ST_Multi(g)
                   FROM (SELECT ST_SetSRID(ST_GeomFromWKB(w), 25832) AS g FROM unnest(%s::bytea[]) w) s""",
                (ctx.run_id, [shapely.to_wkb(q) for q in polys]),
            )
        conn.execute(
            """INSERT INTO coverage_districts (run_id, analysis, district_id, name, buildings, population,
                                               share_covered,
                                               metrics, geom)
               SELECT %(run)s, 'iot', dt.id, dt.name, NULL, NULL, NULL,
                      jsonb_build_object('devices', count(d.asset_id),
                                         'devices_unavailable', count(d.asset_id) FILTER (WHERE d.available = false),
                                         'devices_not_assessed', count(d.asset_id) FILTER (WHERE d.available IS NULL)),
                      dt.boundary
               FROM districts dt
               LEFT JOIN assets a ON a.kind IN ('sensors', 'actuators') AND ST_Intersects(dt.boundary, a.geom)
               LEFT JOIN coverage_devices d ON d.asset_id = a.id AND d.run_id = %(run)s
               WHERE dt.municipality = %(ags)s GROUP BY dt.id, dt.name, dt.boundary""",
            {"run": ctx.run_id, "ags": ctx.municipality},
        )
        by_conn = conn.execute(
            """SELECT connectivity, count(*) AS devices, count(*) FILTER (WHERE available) AS available,
                      count(*) FILTER (WHERE available = false) AS unavailable,
                      count(*) FILTER (WHERE available IS NULL) AS not_assessed
               FROM coverage_devices WHERE run_id = %s GROUP BY connectivity ORDER BY connectivity""",
            (ctx.run_id,),
        ).fetchall()
        gaps = conn.execute(
            "SELECT gap, count(*) AS n, round(sum(area_m2)::numeric, 1)::float8 AS area FROM coverage_gaps "
            "WHERE run_id = %s GROUP BY gap ORDER BY gap",
            (ctx.run_id,),
        ).fetchall()
    ctx.lap("results")
    ctx.report(1.0, "iot done")
    return {
        "model": desc,
        "input_counts": {
            "devices": len(devices),
            "lte_sectors": len(lte),
            "lorawan_gateways": len(txs),
            "mobile_run": str(mobile["id"]) if mobile else None,
            "cells": len(cells),
        },
        "statistics": {
            "devices": len(devices),
            "by_connectivity": {
                r["connectivity"]: {k: int(v) for k, v in r.items() if k != "connectivity"} for r in by_conn
            },
            "lorawan_share_area": round(float(covered[inside].mean()), 6) if inside.any() else None,
            "gaps": {g["gap"]: {"polygons": g["n"], "area_m2": g["area"]} for g in gaps},
            "pixel_sector_evaluations": res.evaluations,
            "transmitters_outside_validity": validity["transmitters_outside"],
            "gateways_outside_validity": validity["gateways_outside"],
            "lte_cells_outside_validity": validity["lte_cells_outside"],
        },
        "outputs": outputs,
    }
