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
from netzatlas.coverage.grid import Grid

NODATA = -999.0
LOS_SAMPLES = 16  # terrain samples along each path when a DEM is given


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
    los: str = "nlos"  # los | nlos (without a DEM: the assumption for every path)
    ue_height_m: float = 1.5
    metropolitan: bool = False  # Hata Cm = 3 dB
    max_range_m: float = 5000.0

    def loss(self, tx: Transmitter, los: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
        return pathloss.model(
            self.name, los or self.los, tx.frequency_mhz, tx.height_m, self.ue_height_m, self.metropolitan
        )


@dataclass
class Terrain:
    """Ground height (m) on the analysis grid, from a DEM."""

    grid: Grid
    z: np.ndarray  # float32, height x width

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r, c, _ = self.grid.index(x, y)
        return self.z[r, c]


def level(
    tx: Transmitter, model: RadioModel, x: np.ndarray, y: np.ndarray, terrain: Terrain | None = None
) -> np.ndarray:
    """Received level (dBm) at points x, y (broadcastable arrays): EIRP - PL + pattern gain + offset."""
    dx = (np.asarray(x) - tx.x).astype(np.float32)
    dy = (np.asarray(y) - tx.y).astype(np.float32)
    d2d = np.sqrt(dx * dx + dy * dy)
    if terrain is None:
        pl = model.loss(tx)(d2d)
        dh = np.float32(tx.height_m - model.ue_height_m)
    else:
        pl, dh = _terrain_loss(tx, model, np.broadcast_to(dx, d2d.shape), np.broadcast_to(dy, d2d.shape), terrain)
    out = (tx.eirp_dbm + tx.offset_db) - pl
    if tx.azimuth_deg is not None:
        phi = antenna.wrap_deg(np.degrees(np.arctan2(dx, dy)) - np.float32(tx.azimuth_deg))
        theta = 90.0 + np.degrees(np.arctan2(dh, np.maximum(d2d, np.float32(pathloss.MIN_DISTANCE_M))))
        out += antenna.gain(phi, theta, tx.tilt_deg, tx.h_beamwidth_deg, tx.v_beamwidth_deg)
    return out.astype(np.float32, copy=False)


def _terrain_loss(
    tx: Transmitter, model: RadioModel, dx: np.ndarray, dy: np.ndarray, terrain: Terrain
) -> tuple[np.ndarray, np.ndarray]:
    """Path loss with terrain: heights relative to the receiver's ground, LOS where no sample blocks the ray."""
    g_tx = float(terrain.at(np.array([tx.x]), np.array([tx.y]))[0])
    g_rx = terrain.at(tx.x + dx, tx.y + dy).astype(np.float32)
    top = np.float32(g_tx + tx.height_m)
    ue = np.float32(model.ue_height_m)
    los = np.ones(dx.shape, dtype=bool)
    for k in range(1, LOS_SAMPLES):
        t = np.float32(k / LOS_SAMPLES)
        ray = top + (g_rx + ue - top) * t
        los &= terrain.at(tx.x + dx * t, tx.y + dy * t) < ray
    h_bs = np.maximum(top - g_rx, ue + 1.0)  # antenna height above the receiver's ground
    d2d = np.sqrt(dx * dx + dy * dy)
    pl_los = _loss_heights(model, tx, d2d, h_bs, "los")
    pl_nlos = _loss_heights(model, tx, d2d, h_bs, "nlos")
    return np.where(los, pl_los, pl_nlos), h_bs - ue


def _loss_heights(model: RadioModel, tx: Transmitter, d2d: np.ndarray, h_bs: np.ndarray, los: str) -> np.ndarray:
    fc = tx.frequency_mhz / 1000.0
    if model.name == "hata":
        return pathloss.hata(d2d, tx.frequency_mhz, h_bs, model.ue_height_m, model.metropolitan)
    fn = {
        ("uma", "los"): pathloss.uma_los,
        ("uma", "nlos"): pathloss.uma_nlos,
        ("umi", "los"): pathloss.umi_los,
        ("umi", "nlos"): pathloss.umi_nlos,
    }[(model.name, los)]
    return fn(d2d, fc, h_bs, model.ue_height_m)


def reach(tx: Transmitter, model: RadioModel, threshold_dbm: float) -> tuple[float, float, float, float] | None:
    """Box (x1, y1, x2, y2) outside which the transmitter stays below the threshold; None if nowhere above.

    The horizontal pattern bounds the total gain from above (A <= A_H), and the path loss grows with
    distance, so the range in each direction is where PL = budget + A_H(direction).
    """
    budget = tx.eirp_dbm + tx.offset_db - threshold_dbm
    step = 1.0
    d = np.arange(pathloss.MIN_DISTANCE_M, model.max_range_m + step, step)
    # the most optimistic loss of the two LOS modes when a terrain model may choose either
    pl = np.asarray(model.loss(tx)(d), dtype=np.float64)
    pl = np.maximum.accumulate(pl)
    if tx.azimuth_deg is None:
        n = np.searchsorted(pl, budget, side="right")
        if n == 0:
            return None
        r = d[n - 1] + step
        return tx.x - r, tx.y - r, tx.x + r, tx.y + r
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
    )


@dataclass
class Result:
    levels: np.ndarray  # float32 (bands, height, width); NODATA where below the threshold or out of reach
    evaluations: int  # pixel-transmitter evaluations
    transmitters: int  # transmitters that reach the threshold somewhere in the grid


def best_server(
    grid: Grid,
    transmitters: Sequence[Transmitter],
    model: RadioModel,
    threshold_dbm: float,
    bands: int,
    terrain: Terrain | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Best received level per pixel and band over all transmitters; levels below the threshold are NODATA."""
    out = np.full((bands, grid.height, grid.width), -np.inf, dtype=np.float32)
    locks = [threading.Lock() for _ in range(bands)]
    counter = threading.Lock()
    state = {"done": 0, "evals": 0, "reaching": 0}

    def one(tx: Transmitter) -> None:
        box = reach(tx, model, threshold_dbm)
        win = grid.window(*box) if box else None
        if win is not None:
            r0, r1, c0, c1 = win
            lvl = level(tx, model, grid.xs(c0, c1)[None, :], grid.ys(r0, r1)[:, None], terrain)
            with locks[tx.band]:
                view = out[tx.band, r0:r1, c0:c1]
                np.maximum(view, lvl, out=view)
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
            list(pool.map(one, transmitters))
    else:
        for tx in transmitters:
            one(tx)
    out[out < threshold_dbm] = NODATA
    return Result(out, state["evals"], state["reaching"])


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
NR_SCS_RULE = "NR subcarrier spacing 15 kHz below 3 GHz (FDD bands), 30 kHz at 3 GHz and above (n77/n78 TDD)"


def nr_scs_khz(frequency_mhz: float) -> int:
    """The registry has no subcarrier spacing per sector; the usual one of the band (NR_SCS_RULE)."""
    return 15 if frequency_mhz < 3000 else 30


def resource_blocks(technology: str, bandwidth_mhz: float, frequency_mhz: float, scs_khz: int | None = None) -> int:
    """N_RB of a carrier from the 3GPP tables; a bandwidth (and SCS) the table does not list is a ValueError."""
    bw = float(bandwidth_mhz)
    if technology == "LTE":
        if bw not in LTE_N_RB:
            raise ValueError(
                f"LTE channel bandwidth {bw:g} MHz is not in 3GPP TS 36.101 Table 5.6-1 "
                f"(known: {', '.join(f'{b:g}' for b in LTE_N_RB)} MHz)"
            )
        return LTE_N_RB[bw]
    if technology == "NR":
        scs = scs_khz if scs_khz is not None else nr_scs_khz(frequency_mhz)
        n = NR_N_RB.get(scs, {}).get(bw)
        if n is None:
            known = ", ".join(f"{b:g}" for b in NR_N_RB.get(scs, {}))
            raise ValueError(
                f"NR channel bandwidth {bw:g} MHz at {scs} kHz subcarrier spacing is not in 3GPP TS 38.101-1 "
                f"Table 5.3.2-1" + (f" (known at {scs} kHz: {known} MHz)" if known else "")
            )
        return n
    raise ValueError(f"no resource-block table for technology {technology!r} (known: LTE, NR)")


def rsrp_offset_db(technology: str, bandwidth_mhz: float, frequency_mhz: float) -> float:
    """RSRP relative to the total received level: the power of one of the carrier's 12 N_RB subcarriers."""
    return -10 * math.log10(12 * resource_blocks(technology, bandwidth_mhz, frequency_mhz))
