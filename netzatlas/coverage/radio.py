"""Received level per pixel from transmitters: path loss + sector pattern, best server per band.

Vectorised with numpy over the pixels of each transmitter's window; transmitters run on a thread pool
(numpy releases the GIL in its ufuncs), and each result is max-reduced into its output band under a
per-band lock. Max is order-independent, so the result does not depend on thread scheduling.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from netzatlas.coverage import antenna, pathloss
from netzatlas.coverage.clutter import Buildings
from netzatlas.coverage.grid import Grid

NODATA = -999.0
PROFILE_SAMPLES = 16  # intervals of each path's terrain profile when a DEM is given (15 interior points)
EFFECTIVE_EARTH_RADIUS_M = 8_500_000.0  # k = 4/3 (ITU-R P.452/P.526 median refractivity)
HEIGHT_STEP_M = 0.5  # antenna heights sampled when a window is sized over a DEM's range of heights
BUILDINGS = "buildings"  # LOS mode: each path's clutter state from the registry's buildings (coverage/clutter.py)


@dataclass(frozen=True)
class Transmitter:
    x: float
    y: float
    height_m: float  # antenna above ground
    frequency_mhz: float
    eirp_dbm: float  # at boresight
    band: int  # output band (best server group)
    azimuth_deg: float | None = None  # None: omnidirectional
    tilt_deg: float = 0.0  # mechanical + electrical downtilt
    h_beamwidth_deg: float = antenna.DEFAULT_H_BEAMWIDTH_DEG
    v_beamwidth_deg: float = antenna.DEFAULT_V_BEAMWIDTH_DEG
    offset_db: float = 0.0  # added to the level: -10 log10(12 N_RB) for RSRP, minus indoor loss


@dataclass(frozen=True)
class RadioModel:
    name: str = "uma"  # uma | umi | hata
    los: str = "percentile"  # pathloss.LOS_MODES: how 38.901's LOS probability combines LOS and NLOS
    ue_height_m: float = 1.5
    metropolitan: bool = False  # Hata Cm = 3 dB
    max_range_m: float = 5000.0
    reliability_pct: float = 50.0  # percentile mode: share of locations at a distance where the level is reached

    def loss(
        self, tx: Transmitter, los: str | None = None, h_bs: float | np.ndarray | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Clutter path loss (no terrain) as a function of 2D distance; h_bs defaults to the sector's height.

        With los="buildings" the state of each path comes from the building test (see level); this function then
        needs an explicit "los" or "nlos"."""
        mode = los or self.los
        if mode == BUILDINGS:
            raise ValueError("los=buildings decides LOS per path from the buildings: ask for 'los' or 'nlos' loss")
        return pathloss.model(
            self.name,
            mode,
            tx.frequency_mhz,
            tx.height_m if h_bs is None else h_bs,
            self.ue_height_m,
            self.metropolitan,
            self.reliability_pct,
        )


@dataclass
class Terrain:
    """Ground height (m) on the analysis grid, from a DEM."""

    grid: Grid
    z: np.ndarray  # float32, height x width

    @property
    def zmin(self) -> float:
        return float(self.z.min())

    @property
    def zmax(self) -> float:
        return float(self.z.max())

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r, c, _ = self.grid.index(x, y)
        return self.z[r, c]

    def along(self, x: float, y: float, dx: np.ndarray, dy: np.ndarray) -> Callable[[float], np.ndarray]:
        """Ground at (x + t dx, y + t dy) as a function of t: the profile lookups of every path of a window,
        in pixel units (int32 indices into the flat raster; points off the grid take its edge)."""
        g = self.grid
        c0, r0 = np.float32((x - g.x0) / g.res), np.float32((g.y0 - y) / g.res)
        dc, dr = (dx / np.float32(g.res)).astype(np.float32), (-dy / np.float32(g.res)).astype(np.float32)
        flat = self.z.ravel()

        def ground(t: float) -> np.ndarray:
            c = np.clip(np.floor(c0 + dc * np.float32(t)), 0, g.width - 1).astype(np.int32)
            r = np.clip(np.floor(r0 + dr * np.float32(t)), 0, g.height - 1).astype(np.int32)
            return flat[r * g.width + c]

        return ground


def level(
    tx: Transmitter,
    model: RadioModel,
    x: np.ndarray,
    y: np.ndarray,
    terrain: Terrain | None = None,
    buildings: Buildings | None = None,
    threshold_dbm: float | None = None,
) -> np.ndarray:
    """Received level (dBm) at points x, y (broadcastable arrays): EIRP - PL + pattern gain + offset.

    With model.los == "buildings" each path's clutter state comes from the building test (LOS formula where the
    line clears every building, NLOS elsewhere); with a threshold, paths whose LOS level stays below it are not
    tested (their NLOS level is lower still)."""
    dx = (np.asarray(x) - tx.x).astype(np.float32)
    dy = (np.asarray(y) - tx.y).astype(np.float32)
    d2d = np.sqrt(dx * dx + dy * dy)
    if model.los == BUILDINGS:
        if buildings is None:
            raise ValueError("los=buildings needs the run's buildings")
        return _level_buildings(tx, model, dx, dy, d2d, terrain, buildings, threshold_dbm)
    if terrain is None:
        pl = model.loss(tx)(d2d)
        dh = np.float32(tx.height_m - model.ue_height_m)
    else:
        pl, dh = _terrain_loss(tx, model, np.broadcast_to(dx, d2d.shape), np.broadcast_to(dy, d2d.shape), terrain)
    return _finish(tx, model, pl, dx, dy, d2d, dh)


def _finish(
    tx: Transmitter,
    model: RadioModel,
    pl: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    d2d: np.ndarray,
    dh: np.ndarray | np.float32,
) -> np.ndarray:
    """EIRP + offset - path loss + the sector pattern's gain towards each point."""
    out = (tx.eirp_dbm + tx.offset_db) - pl
    if tx.azimuth_deg is not None:
        phi = antenna.wrap_deg(np.degrees(np.arctan2(dx, dy)) - np.float32(tx.azimuth_deg))
        theta = 90.0 + np.degrees(np.arctan2(dh, np.maximum(d2d, np.float32(pathloss.MIN_DISTANCE_M))))
        out += antenna.gain(phi, theta, tx.tilt_deg, tx.h_beamwidth_deg, tx.v_beamwidth_deg)
    return out.astype(np.float32, copy=False)


def _level_buildings(
    tx: Transmitter,
    model: RadioModel,
    dx: np.ndarray,
    dy: np.ndarray,
    d2d: np.ndarray,
    terrain: Terrain | None,
    buildings: Buildings,
    threshold_dbm: float | None,
) -> np.ndarray:
    """The level with each path's LOS state from the buildings: the LOS level first, then the building test only
    where that level reaches the threshold, the NLOS level where the path is blocked."""
    dx, dy = np.broadcast_to(dx, d2d.shape), np.broadcast_to(dy, d2d.shape)
    if terrain is None:
        dh = np.float32(tx.height_m - model.ue_height_m)
        los_lvl = _finish(tx, model, model.loss(tx, "los")(d2d), dx, dy, d2d, dh)
        nlos_pl = model.loss(tx, "nlos")
        top, ground = np.float32(tx.height_m), None
    else:
        pl, dh = _terrain_loss(tx, model, dx, dy, terrain, "los")
        los_lvl = _finish(tx, model, pl, dx, dy, d2d, dh)
        top = np.float32(terrain.at(np.array([tx.x]), np.array([tx.y]))[0] + tx.height_m)
        ground = terrain.at
    need = None if threshold_dbm is None else los_lvl >= np.float32(threshold_dbm)
    zmax = terrain.zmax if terrain is not None else 0.0
    clear = buildings.line_of_sight(tx.x, tx.y, float(top), dx, dy, model.ue_height_m, need, ground, zmax)
    blocked = ~clear
    if need is not None:
        blocked &= need
    if not blocked.any():
        return los_lvl
    if terrain is None:
        nlos_lvl = _finish(tx, model, nlos_pl(d2d[blocked]), dx[blocked], dy[blocked], d2d[blocked], dh)
    else:
        pl, dh = _terrain_loss(tx, model, dx[blocked], dy[blocked], terrain, "nlos")
        nlos_lvl = _finish(tx, model, pl, dx[blocked], dy[blocked], d2d[blocked], dh)
    out = np.array(los_lvl, dtype=np.float32)
    out[blocked] = nlos_lvl
    return out


def knife_edge_db(nu: np.ndarray) -> np.ndarray:
    """ITU-R P.526-15 eq. (31): J(nu) = 6.9 + 20 log10(sqrt((nu - 0.1)^2 + 1) + nu - 0.1) for nu > -0.78, else 0."""
    nu = np.asarray(nu)
    j = 6.9 + 20.0 * np.log10(np.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)
    return np.where(nu > -0.78, j, 0.0).astype(nu.dtype, copy=False)


def _terrain_loss(
    tx: Transmitter, model: RadioModel, dx: np.ndarray, dy: np.ndarray, terrain: Terrain, los: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Clutter loss at the antenna's height above the receiver's ground, plus the terrain's diffraction loss.

    The terrain's loss is the Bullington loss of the DEM profile less that of a smooth profile (the straight
    line between the two grounds), at least 0: the split of the delta-Bullington method (ITU-R P.452-16
    section 4.2.3, P.526-15 section 4.5), with the clutter model in the role of the smooth-earth loss, so what
    38.901 or Hata already include for flat ground is not counted twice. Terrain never switches the clutter
    model to its LOS formula.
    """
    g_tx = np.float32(terrain.at(np.array([tx.x]), np.array([tx.y]))[0])
    g_rx = terrain.at(tx.x + dx, tx.y + dy).astype(np.float32)
    hts = g_tx + np.float32(tx.height_m)  # antenna above sea level
    ue = np.float32(model.ue_height_m)
    hrs = g_rx + ue
    d = np.maximum(np.sqrt(dx * dx + dy * dy), np.float32(pathloss.MIN_DISTANCE_M))
    lam = np.float32(pathloss.C / (tx.frequency_mhz * 1e6))
    actual = bullington(d, hts, hrs, lam, lambda t: terrain.at(tx.x + dx * np.float32(t), tx.y + dy * np.float32(t)))
    smooth = bullington(d, hts, hrs, lam, lambda t: g_tx + (g_rx - g_tx) * np.float32(t))
    h_bs = np.maximum(hts - g_rx, ue + 1.0)  # antenna height above the receiver's ground
    pl = model.loss(tx, los, h_bs=h_bs)(np.sqrt(dx * dx + dy * dy))
    return (pl + np.maximum(actual - smooth, 0)).astype(np.float32, copy=False), h_bs - ue


def bullington(
    d: np.ndarray,
    hts: np.ndarray,
    hrs: np.ndarray,
    lam: float,
    ground: Callable[[float], np.ndarray],
    samples: int = PROFILE_SAMPLES,
) -> np.ndarray:
    """Bullington diffraction loss (dB) of paths of length d (m) between antennas at hts and hrs (m above sea
    level) over the profile ground(t), t = k/samples: ITU-R P.526-15 section 4.5.1, written out as in
    P.452-16 section 4.2.1 (eq. numbers below), in metres, on an earth of radius 8,500 km (k = 4/3)."""
    s_tr = (hrs - hts) / d  # eq. 15: slope of the direct ray
    s_tim = np.full(d.shape, -np.inf, np.float32)  # eq. 14: steepest slope from the transmitter to a point
    s_rim = np.full(d.shape, -np.inf, np.float32)  # eq. 18: steepest slope from the receiver to a point
    nu_max = np.full(d.shape, -np.inf, np.float32)  # eq. 17: largest nu on a line-of-sight path
    for k in range(1, samples):
        t = k / samples
        di, dj = d * np.float32(t), d * np.float32(1 - t)
        hi = ground(t) + di * dj / np.float32(2 * EFFECTIVE_EARTH_RADIUS_M)
        np.maximum(s_tim, (hi - hts) / di, out=s_tim)
        np.maximum(s_rim, (hi - hrs) / dj, out=s_rim)
        ray = hts + (hrs - hts) * np.float32(t)
        np.maximum(nu_max, (hi - ray) * np.sqrt(2 * d / (lam * di * dj)), out=nu_max)
    # eqs. 19-20: on a transhorizon path, the Bullington point where the two steepest lines meet
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d_bp = np.clip((hrs - hts + s_rim * d) / (s_tim + s_rim), d / samples, d * (1 - 1 / samples))
        nu_b = (hts + s_tim * d_bp - (hts * (d - d_bp) + hrs * d_bp) / d) * np.sqrt(2 * d / (lam * d_bp * (d - d_bp)))
        l_uc = knife_edge_db(np.where(s_tim < s_tr, nu_max, nu_b))  # eqs. 17/21 with J of P.526 eq. 31
    return l_uc + (1 - np.exp(-l_uc / np.float32(6))) * (10 + np.float32(0.02e-3) * d)  # eq. 22 (d in km there)


def _optimistic_loss(tx: Transmitter, model: RadioModel, d: np.ndarray, terrain: Terrain | None) -> np.ndarray:
    """A lower bound of the loss the run can apply at each distance: the run's own clutter loss (diffraction
    is >= 0); over a DEM, the least loss over every antenna height above a receiver's ground the DEM allows
    (sampled every HEIGHT_STEP_M, less half the largest change between neighbouring samples)."""
    los = "los" if model.los == BUILDINGS else None  # any path may clear the buildings
    if terrain is None:
        return np.asarray(model.loss(tx, los)(d), dtype=np.float64)
    g_tx = float(terrain.at(np.array([tx.x]), np.array([tx.y]))[0])
    top, floor = g_tx + tx.height_m, model.ue_height_m + 1.0
    h_lo, h_hi = max(top - terrain.zmax, floor), max(top - terrain.zmin, floor)
    hs = np.linspace(h_lo, h_hi, max(2, math.ceil((h_hi - h_lo) / HEIGHT_STEP_M) + 1))
    pls = np.asarray(model.loss(tx, los, h_bs=hs[:, None])(d[None, :]), dtype=np.float64)
    return pls.min(axis=0) - np.abs(np.diff(pls, axis=0)).max(axis=0) / 2


def reach(
    tx: Transmitter, model: RadioModel, threshold_dbm: float, terrain: Terrain | None = None
) -> tuple[float, float, float, float, float] | None:
    """Box (x1, y1, x2, y2) outside which the transmitter stays below the threshold, and its farthest range
    (m); None if nowhere above.

    The horizontal pattern bounds the total gain from above (A <= A_H), and the lower bound of the loss is
    made non-decreasing with distance, so the range in each direction is where PL = budget + A_H(direction).
    """
    budget = tx.eirp_dbm + tx.offset_db - threshold_dbm
    step = 1.0
    d = np.arange(pathloss.MIN_DISTANCE_M, model.max_range_m + step, step)
    # the running minimum from the far end: a loss that dips again further out still opens the window
    pl = np.minimum.accumulate(_optimistic_loss(tx, model, d, terrain)[::-1])[::-1]
    if tx.azimuth_deg is None:
        n = np.searchsorted(pl, budget, side="right")
        if n == 0:
            return None
        r = d[n - 1] + step
        return tx.x - r, tx.y - r, tx.x + r, tx.y + r, float(r)
    rel = np.arange(-180.0, 180.0, 1.0)
    ranges = np.searchsorted(pl, budget + antenna.horizontal(rel, tx.h_beamwidth_deg), side="right")
    if not ranges.any():
        return None
    r = np.where(ranges > 0, d[np.maximum(ranges - 1, 0)] + step, pathloss.MIN_DISTANCE_M) * 1.02
    az = np.radians(rel + tx.azimuth_deg)
    px, py = tx.x + r * np.sin(az), tx.y + r * np.cos(az)
    return (
        float(min(px.min(), tx.x)),
        float(min(py.min(), tx.y)),
        float(max(px.max(), tx.x)),
        float(max(py.max(), tx.y)),
        float(r.max()),
    )


def validity(
    tx: Transmitter,
    model: RadioModel,
    reach_m: float,
    terrain: Terrain | None = None,
    nearest_m: float | None = None,
) -> dict[str, str]:
    """Where a transmitter's use leaves its model's validity ranges (pathloss.VALIDITY): {quantity: what}.

    Distances are those evaluated (MIN_DISTANCE_M, or nearest_m where only some points were evaluated, up to
    reach_m, the farthest range where the threshold can be reached or the farthest point evaluated); over a DEM
    the antenna height is its height above a receiver's ground, over the DEM's range.
    """
    ranges = pathloss.VALIDITY[model.name]
    out: dict[str, str] = {}

    def check(key: str, lo_v: float, hi_v: float, unit: str) -> None:
        lo, hi = ranges[key]
        if lo_v < lo or hi_v > hi:
            span = f"{lo_v:g}" if lo_v == hi_v else f"{lo_v:g}-{hi_v:g}"
            out[key.rsplit("_", 1)[0]] = f"{span} {unit} outside {lo:g}-{hi:g} {unit}"

    check("frequency_mhz", tx.frequency_mhz, tx.frequency_mhz, "MHz")
    if reach_m > 0:
        near = pathloss.MIN_DISTANCE_M if nearest_m is None else max(round(nearest_m), pathloss.MIN_DISTANCE_M)
        check("distance_m", near, round(reach_m), "m")
    if "bs_height_m" in ranges:
        h_lo = h_hi = tx.height_m
        if terrain is not None:
            top = float(terrain.at(np.array([tx.x]), np.array([tx.y]))[0]) + tx.height_m
            floor = model.ue_height_m + 1.0
            h_lo, h_hi = round(max(top - terrain.zmax, floor), 1), round(max(top - terrain.zmin, floor), 1)
        check("bs_height_m", h_lo, h_hi, "m")
    check("ue_height_m", model.ue_height_m, model.ue_height_m, "m")
    return out


@dataclass
class Result:
    levels: np.ndarray  # float32 (bands, height, width); NODATA where below the threshold or out of reach
    evaluations: int  # pixel-transmitter evaluations
    transmitters: int  # transmitters that reach the threshold somewhere in the grid
    reach_m: list[float]  # per transmitter (input order): farthest distance evaluated, 0 where none


def best_server(
    grid: Grid,
    transmitters: Sequence[Transmitter],
    model: RadioModel,
    threshold_dbm: float,
    bands: int,
    terrain: Terrain | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    buildings: Buildings | None = None,
) -> Result:
    """Best received level per pixel and band over all transmitters; levels below the threshold are NODATA."""
    out = np.full((bands, grid.height, grid.width), -np.inf, dtype=np.float32)
    locks = [threading.Lock() for _ in range(bands)]
    counter = threading.Lock()
    state = {"done": 0, "evals": 0, "reaching": 0}
    reach_m = [0.0] * len(transmitters)

    def one(i: int) -> None:
        tx = transmitters[i]
        box = reach(tx, model, threshold_dbm, terrain)
        win = grid.window(*box[:4]) if box else None
        if win is not None:
            r0, r1, c0, c1 = win
            lvl = level(
                tx, model, grid.xs(c0, c1)[None, :], grid.ys(r0, r1)[:, None], terrain, buildings, threshold_dbm
            )
            with locks[tx.band]:
                view = out[tx.band, r0:r1, c0:c1]
                np.maximum(view, lvl, out=view)
            reach_m[i] = box[4]
        with counter:
            state["done"] += 1
            if win is not None:
                state["evals"] += (win[1] - win[0]) * (win[3] - win[2])
                state["reaching"] += 1
            done = state["done"]
        if progress:
            progress(done, len(transmitters))

    workers = workers or min(len(transmitters), os.cpu_count() or 1) or 1
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(transmitters))))
    else:
        for i in range(len(transmitters)):
            one(i)
    for band in out:  # one band at a time: no mask of every band at once
        band[band < threshold_dbm] = NODATA
    return Result(out, state["evals"], state["reaching"], reach_m)


def analytic_radius(loss: Callable[[np.ndarray], np.ndarray], budget_db: float) -> float:
    """Distance where the (monotonic) path loss equals the budget, by bisection to a millimetre."""
    lo, hi = pathloss.MIN_DISTANCE_M, 1e6
    if float(loss(np.array(lo))) > budget_db:
        return 0.0
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(loss(np.array(mid))) <= budget_db else (lo, mid)
    return lo


# 3GPP TS 36.101 Table 5.6-1: transmission bandwidth configuration N_RB of an E-UTRA channel bandwidth (MHz).
LTE_N_RB: dict[float, int] = {1.4: 6, 3.0: 15, 5.0: 25, 10.0: 50, 15.0: 75, 20.0: 100}
# 3GPP TS 38.101-1 (V17) Table 5.3.2-1: maximum transmission bandwidth configuration N_RB (FR1) per
# subcarrier spacing (kHz) and channel bandwidth (MHz); pairs the table marks N/A are absent.
# Columns: channel bandwidth (MHz); rows: SCS (kHz), None where the table says N/A.
_NR_BW = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100)
_NR_ROWS: dict[int, tuple[int | None, ...]] = {
    15: (25, 52, 79, 106, 133, 160, 188, 216, 242, 270, None, None, None, None, None),
    30: (11, 24, 38, 51, 65, 78, 92, 106, 119, 133, 162, 189, 217, 245, 273),
    60: (None, 11, 18, 24, 31, 38, 44, 51, 58, 65, 79, 93, 107, 121, 135),
}
NR_N_RB: dict[int, dict[float, int]] = {
    scs: {float(bw): n for bw, n in zip(_NR_BW, row, strict=True) if n is not None} for scs, row in _NR_ROWS.items()
}
# 3GPP TS 38.101-2 (V17) Table 5.3.2-1: maximum transmission bandwidth configuration N_RB (FR2, e.g. n258) per
# subcarrier spacing (kHz) and channel bandwidth (MHz); 60 kHz has no 400 MHz carrier.
NR_N_RB_FR2: dict[int, dict[float, int]] = {
    60: {50.0: 66, 100.0: 132, 200.0: 264},
    120: {50.0: 32, 100.0: 66, 200.0: 132, 400.0: 264},
}
# NR frequency ranges (MHz): FR1 3GPP TS 38.101-1 section 5.1, FR2 (FR2-1) TS 38.101-2 section 5.1.
NR_RANGES: dict[str, tuple[float, float, str, dict[int, dict[float, int]]]] = {
    "FR1": (410.0, 7125.0, "3GPP TS 38.101-1 Table 5.3.2-1", NR_N_RB),
    "FR2": (24250.0, 52600.0, "3GPP TS 38.101-2 Table 5.3.2-1", NR_N_RB_FR2),
}
NR_SCS_RULE = (
    "NR subcarrier spacing: the band's declared default (listed under defaults); without one 15 kHz below 3 GHz "
    "(FDD bands), 30 kHz from 3 GHz in FR1 (n77/n78 TDD), 120 kHz in FR2 (n258)"
)


def nr_range(frequency_mhz: float) -> str:
    """FR1 or FR2 of an NR carrier frequency; a frequency in neither is a ValueError."""
    for name, (lo, hi, _, _) in NR_RANGES.items():
        if lo <= frequency_mhz <= hi:
            return name
    raise ValueError(
        f"NR carrier frequency {frequency_mhz:g} MHz lies in no NR frequency range "
        f"(FR1 410-7125 MHz, 3GPP TS 38.101-1; FR2 24250-52600 MHz, TS 38.101-2)"
    )


def nr_scs_khz(frequency_mhz: float) -> int:
    """The usual subcarrier spacing at a frequency (NR_SCS_RULE), where the band declares none."""
    if nr_range(frequency_mhz) == "FR2":
        return 120
    return 15 if frequency_mhz < 3000 else 30


def resource_blocks(technology: str, bandwidth_mhz: float, frequency_mhz: float, scs_khz: int | None = None) -> int:
    """N_RB of a carrier from the 3GPP tables (NR: the table of the carrier's frequency range); a bandwidth (and
    SCS) the table does not list is a ValueError."""
    bw = float(bandwidth_mhz)
    if technology == "LTE":
        if bw not in LTE_N_RB:
            raise ValueError(
                f"LTE channel bandwidth {bw:g} MHz is not in 3GPP TS 36.101 Table 5.6-1 "
                f"(known: {', '.join(f'{b:g}' for b in LTE_N_RB)} MHz)"
            )
        return LTE_N_RB[bw]
    if technology == "NR":
        fr = nr_range(frequency_mhz)
        _, _, table_name, table = NR_RANGES[fr]
        scs = scs_khz if scs_khz is not None else nr_scs_khz(frequency_mhz)
        n = table.get(scs, {}).get(bw)
        if n is None:
            known = ", ".join(f"{b:g}" for b in table.get(scs, {}))
            raise ValueError(
                f"NR channel bandwidth {bw:g} MHz at {scs} kHz subcarrier spacing is not in {table_name} ({fr})"
                + (
                    f" (known at {scs} kHz: {known} MHz)"
                    if known
                    else f" (SCS there: {', '.join(map(str, table))} kHz)"
                )
            )
        return n
    raise ValueError(f"no resource-block table for technology {technology!r} (known: LTE, NR)")


def rsrp_offset_db(technology: str, bandwidth_mhz: float, frequency_mhz: float, scs_khz: int | None = None) -> float:
    """RSRP relative to the total received level: the power of one of the carrier's 12 N_RB subcarriers."""
    return -10 * math.log10(12 * resource_blocks(technology, bandwidth_mhz, frequency_mhz, scs_khz))
