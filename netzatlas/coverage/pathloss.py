"""Path loss models, vectorised over distance arrays (dB).

3GPP TR 38.901 V17 table 7.4.1-1 (UMa, UMi street canyon; LOS and NLOS) and COST-231 Hata.
Distances in metres, fc in GHz for 38.901, f in MHz for Hata, heights in metres.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

C = 299_792_458.0  # m/s
MIN_DISTANCE_M = 10.0  # lower validity bound of 38.901 UMa/UMi; closer pixels use this distance
MODELS = ("uma", "umi", "hata")
LOS_MODES = ("los", "nlos")


def breakpoint_m(h_bs: float, h_ut: float, fc_ghz: float) -> float:
    """d'BP = 4 h'BS h'UT fc / c with effective heights h - 1 m (environment height 1 m)."""
    return 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * fc_ghz * 1e9 / C


def _d3d(d2d: np.ndarray, h_bs: float, h_ut: float) -> tuple[np.ndarray, np.ndarray]:
    """(d3D, d2D clamped to the validity bound); float32 input stays float32."""
    d2d = np.maximum(np.asarray(d2d), MIN_DISTANCE_M)
    dh = h_bs - h_ut
    return np.sqrt(d2d * d2d + dh * dh), d2d


def uma_los(d2d: np.ndarray, fc_ghz: float, h_bs: float = 25.0, h_ut: float = 1.5) -> np.ndarray:
    d3d, d2d = _d3d(d2d, h_bs, h_ut)
    dbp = breakpoint_m(h_bs, h_ut, fc_ghz)
    f = 20.0 * np.log10(fc_ghz)
    lg = np.log10(d3d)
    pl1 = 28.0 + 22.0 * lg + f
    pl2 = 28.0 + 40.0 * lg + f - 9.0 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    return np.where(d2d <= dbp, pl1, pl2)


def uma_nlos(d2d: np.ndarray, fc_ghz: float, h_bs: float = 25.0, h_ut: float = 1.5) -> np.ndarray:
    d3d, _ = _d3d(d2d, h_bs, h_ut)
    nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    return np.maximum(uma_los(d2d, fc_ghz, h_bs, h_ut), nlos)


def umi_los(d2d: np.ndarray, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5) -> np.ndarray:
    d3d, d2d = _d3d(d2d, h_bs, h_ut)
    dbp = breakpoint_m(h_bs, h_ut, fc_ghz)
    f = 20.0 * np.log10(fc_ghz)
    lg = np.log10(d3d)
    pl1 = 32.4 + 21.0 * lg + f
    pl2 = 32.4 + 40.0 * lg + f - 9.5 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    return np.where(d2d <= dbp, pl1, pl2)


def umi_nlos(d2d: np.ndarray, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5) -> np.ndarray:
    d3d, _ = _d3d(d2d, h_bs, h_ut)
    nlos = 22.4 + 35.3 * np.log10(d3d) + 21.3 * np.log10(fc_ghz) - 0.3 * (h_ut - 1.5)
    return np.maximum(umi_los(d2d, fc_ghz, h_bs, h_ut), nlos)


def hata(
    d2d: np.ndarray, f_mhz: float, h_bs: float = 30.0, h_ut: float = 1.5, metropolitan: bool = False
) -> np.ndarray:
    """COST-231 Hata (valid f 1500-2000 MHz, d 1-20 km, hb 30-200 m, hm 1-10 m); d in metres here."""
    d_km = np.maximum(np.asarray(d2d), MIN_DISTANCE_M) / 1000.0
    lf = np.log10(f_mhz)
    lhb = np.log10(h_bs)
    a_hm = (1.1 * lf - 0.7) * h_ut - (1.56 * lf - 0.8)
    cm = 3.0 if metropolitan else 0.0
    return 46.3 + 33.9 * lf - 13.82 * lhb - a_hm + (44.9 - 6.55 * lhb) * np.log10(d_km) + cm


def model(name: str, los: str, fc_mhz: float, h_bs: float, h_ut: float, metropolitan: bool = False) -> Callable:
    """Path loss as a function of the 2D distance array, for one transmitter."""
    fc_ghz = fc_mhz / 1000.0
    if name == "uma":
        fn = uma_los if los == "los" else uma_nlos
        return lambda d: fn(d, fc_ghz, h_bs, h_ut)
    if name == "umi":
        fn = umi_los if los == "los" else umi_nlos
        return lambda d: fn(d, fc_ghz, h_bs, h_ut)
    if name == "hata":
        return lambda d: hata(d, fc_mhz, h_bs, h_ut, metropolitan)
    raise ValueError(f"unknown path loss model {name!r}; known: {', '.join(MODELS)}")


def max_range_m(loss: Callable, budget_db: float, limit_m: float) -> float:
    """Largest distance (up to limit_m) at which the path loss stays within budget_db.

    All models here grow monotonically with distance; a 1 m table is searched.
    """
    d = np.arange(MIN_DISTANCE_M, limit_m + 1.0, 1.0)
    ok = np.nonzero(np.asarray(loss(d)) <= budget_db)[0]
    return float(d[ok[-1]]) if ok.size else 0.0
