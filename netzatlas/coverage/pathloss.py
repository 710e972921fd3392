"""Path loss models, vectorised over distance arrays (dB).

3GPP TR 38.901 V17 table 7.4.1-1 (UMa, UMi street canyon; LOS and NLOS), its LOS probability (table
7.4.2-1) and COST-231 Hata. Distances in metres, fc in GHz for 38.901, f in MHz for Hata, heights in metres.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

C = 299_792_458.0  # m/s
MIN_DISTANCE_M = 10.0  # lower validity bound of 38.901 UMa/UMi; closer pixels use this distance
MODELS = ("uma", "umi", "hata")
# How 38.901's LOS and NLOS losses combine on a path whose clutter state is unknown:
# percentile: the level reached at `reliability` % of locations at that distance, i.e. the LOS loss where
#   P_LOS >= reliability/100 and the NLOS loss elsewhere (the state is LOS with probability P_LOS);
# expected: the probability-weighted path gain, PL = -10 log10(P_LOS 10^(-PL_LOS/10) + (1-P_LOS) 10^(-PL_NLOS/10));
# los / nlos: every path in that state (nlos uses 38.901's max(PL_LOS, PL'_NLOS)).
LOS_MODES = ("percentile", "expected", "los", "nlos")

# Validity ranges as the sources state them (a run flags every sector used outside them).
# 38.901 table 7.4.1-1: 0.5-100 GHz, d2D 10 m-5 km, h_UT 1.5-22.5 m (the table's h_BS of 25 m / 10 m is the
# scenario's typical height; the sector's own height is used). COST-231 Hata (COST Action 231 final report,
# ch. 4.4): 1500-2000 MHz, 1-20 km, h_b 30-200 m, h_m 1-10 m.
VALIDITY: dict[str, dict[str, tuple[float, float]]] = {
    "uma": {"frequency_mhz": (500.0, 100_000.0), "distance_m": (10.0, 5000.0), "ue_height_m": (1.5, 22.5)},
    "umi": {"frequency_mhz": (500.0, 100_000.0), "distance_m": (10.0, 5000.0), "ue_height_m": (1.5, 22.5)},
    "hata": {
        "frequency_mhz": (1500.0, 2000.0),
        "distance_m": (1000.0, 20_000.0),
        "bs_height_m": (30.0, 200.0),
        "ue_height_m": (1.0, 10.0),
    },
}


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


def uma_nlos(
    d2d: np.ndarray, fc_ghz: float, h_bs: float = 25.0, h_ut: float = 1.5, pl_los: np.ndarray | None = None
) -> np.ndarray:
    d3d, _ = _d3d(d2d, h_bs, h_ut)
    nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    return np.maximum(uma_los(d2d, fc_ghz, h_bs, h_ut) if pl_los is None else pl_los, nlos)


def umi_los(d2d: np.ndarray, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5) -> np.ndarray:
    d3d, d2d = _d3d(d2d, h_bs, h_ut)
    dbp = breakpoint_m(h_bs, h_ut, fc_ghz)
    f = 20.0 * np.log10(fc_ghz)
    lg = np.log10(d3d)
    pl1 = 32.4 + 21.0 * lg + f
    pl2 = 32.4 + 40.0 * lg + f - 9.5 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    return np.where(d2d <= dbp, pl1, pl2)


def umi_nlos(
    d2d: np.ndarray, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5, pl_los: np.ndarray | None = None
) -> np.ndarray:
    d3d, _ = _d3d(d2d, h_bs, h_ut)
    nlos = 22.4 + 35.3 * np.log10(d3d) + 21.3 * np.log10(fc_ghz) - 0.3 * (h_ut - 1.5)
    return np.maximum(umi_los(d2d, fc_ghz, h_bs, h_ut) if pl_los is None else pl_los, nlos)


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


def los_probability(name: str, d2d: np.ndarray, h_ut: float = 1.5) -> np.ndarray:
    """P_LOS of 3GPP TR 38.901 table 7.4.2-1 (outdoor users): 1 up to 18 m, then
    UMi street canyon: 18/d + exp(-d/36) (1 - 18/d);
    UMa: [18/d + exp(-d/63) (1 - 18/d)] [1 + C'(h_UT) 5/4 (d/100)^3 exp(-d/150)],
    C'(h_UT) = 0 for h_UT <= 13 m, ((h_UT - 13)/10)^1.5 for 13-23 m."""
    d = np.maximum(np.asarray(d2d), 18.0)
    if name == "umi":
        return 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    if name != "uma":
        raise ValueError(f"38.901 defines no LOS probability for {name!r}")
    p = 18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)
    c = 0.0 if h_ut <= 13.0 else ((min(h_ut, 23.0) - 13.0) / 10.0) ** 1.5
    if c:
        p = p * (1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    return np.minimum(p, 1.0)  # the UMa factor exceeds 1 just beyond 18 m for h_UT > 13 m


def _distance_of_probability(name: str, h_ut: float, q: float) -> float:
    """Largest distance (to 1 mm) where a monotonically falling P_LOS is still >= q."""
    lo, hi = 18.0, 1e6
    if float(los_probability(name, np.array(hi), h_ut)) >= q:
        return hi
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(los_probability(name, np.array(mid), h_ut)) >= q else (lo, mid)
    return lo


def combine(
    pl_los: np.ndarray, pl_nlos: np.ndarray, p_los: np.ndarray, mode: str, reliability_pct: float
) -> np.ndarray:
    """LOS and NLOS losses of the same paths combined by their LOS probability (see LOS_MODES)."""
    if mode == "percentile":
        return np.where(p_los >= reliability_pct / 100.0, pl_los, pl_nlos)
    # pl_nlos >= pl_los (38.901's NLOS is max(LOS, NLOS')), so the power sum is written without overflow
    gap = np.asarray(pl_nlos - pl_los)
    return pl_los - 10.0 * np.log10(p_los + (1.0 - p_los) * np.power(10.0, -gap / 10.0, dtype=gap.dtype))


def model(
    name: str,
    los: str,
    fc_mhz: float,
    h_bs: float | np.ndarray,
    h_ut: float,
    metropolitan: bool = False,
    reliability_pct: float = 50.0,
) -> Callable:
    """Path loss as a function of the 2D distance array, for one transmitter (h_bs may be an array per point)."""
    fc_ghz = fc_mhz / 1000.0
    if name in ("uma", "umi"):
        fl, fn = (uma_los, uma_nlos) if name == "uma" else (umi_los, umi_nlos)
        if los == "los":
            return lambda d: fl(d, fc_ghz, h_bs, h_ut)
        if los == "nlos":
            return lambda d: fn(d, fc_ghz, h_bs, h_ut)
        if los not in LOS_MODES:
            raise ValueError(f"unknown LOS mode {los!r}; known: {', '.join(LOS_MODES)}")
        if los == "percentile" and (name == "umi" or h_ut <= 13.0):
            # P_LOS falls monotonically with distance here (C'(h_UT) = 0): LOS up to the distance where it
            # reaches the share, found once, instead of evaluating P_LOS at every point
            d_q = _distance_of_probability(name, h_ut, reliability_pct / 100.0)

            def pl(d: np.ndarray) -> np.ndarray:
                pl_l = fl(d, fc_ghz, h_bs, h_ut)
                return np.where(np.asarray(d) <= d_q, pl_l, fn(d, fc_ghz, h_bs, h_ut, pl_l))

            return pl

        def pl_mixed(d: np.ndarray) -> np.ndarray:
            pl_l = fl(d, fc_ghz, h_bs, h_ut)
            p_los = los_probability(name, d, h_ut).astype(np.asarray(d).dtype, copy=False)
            return combine(pl_l, fn(d, fc_ghz, h_bs, h_ut, pl_l), p_los, los, reliability_pct)

        return pl_mixed
    if name == "hata":  # an empirical model of mixed urban paths: no LOS/NLOS states
        return lambda d: hata(d, fc_mhz, h_bs, h_ut, metropolitan)
    raise ValueError(f"unknown path loss model {name!r}; known: {', '.join(MODELS)}")


def max_range_m(loss: Callable, budget_db: float, limit_m: float) -> float:
    """Largest distance (up to limit_m) at which the path loss stays within budget_db.

    All models here grow monotonically with distance; a 1 m table is searched.
    """
    d = np.arange(MIN_DISTANCE_M, limit_m + 1.0, 1.0)
    ok = np.nonzero(np.asarray(loss(d)) <= budget_db)[0]
    return float(d[ok[-1]]) if ok.size else 0.0
