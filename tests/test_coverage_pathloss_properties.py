"""Cross-checks of the path-loss models that can fail: reference values worked out from the source formulas,
the LOS probability, continuity at the breakpoint and monotonic loss with distance (property-based)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netzatlas.coverage import pathloss

C = 299_792_458.0


def test_reference_points_worked_out_by_hand():
    """1 km, 1.8 GHz, 30 m mast, 1.5 m receiver (the case the review quotes).

    38.901 table 7.4.1-1, UMa: note 1 d'BP = 4 (30-1)(1.5-1) 1.8e9 / c = 348.24 m, so PL_LOS = PL2 =
    28 + 40 log10(d3D) + 20 log10(fc) - 9 log10(d'BP^2 + (hBS - hUT)^2) with d3D = 1000.406 m:
    28 + 120.0071 + 5.1055 - 9 log10(121272 + 812.25) = 107.33 dB; PL'_NLOS = 13.54 + 39.08 log10(d3D)
    + 20 log10(fc) - 0.6 (hUT - 1.5) = 135.89 dB; PL_NLOS = max of the two = 135.89 dB (28.6 dB apart).
    UMi: PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) - 9.5 log10(d'BP^2 + ...) = 109.19 dB;
    PL'_NLOS = 22.4 + 35.3 log10(d3D) + 21.3 log10(fc) = 133.74 dB.
    COST-231 Hata, medium city (COST 231 final report, sec. 4.4.1): a(hm) = (1.1 log f - 0.7) hm
    - (1.56 log f - 0.8) = 0.0428; L = 46.3 + 33.9 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d
    = 46.3 + 110.354 - 20.414 - 0.043 + 0 = 136.20 dB at 1 km; at 5 km + 35.225 log10(5) = 160.82 dB.
    """
    d = np.array([1000.0])
    assert pathloss.breakpoint_m(30, 1.5, 1.8) == pytest.approx(348.24, abs=0.01)
    assert float(pathloss.uma_los(d, 1.8, 30, 1.5)[0]) == pytest.approx(107.33, abs=0.01)
    assert float(pathloss.uma_nlos(d, 1.8, 30, 1.5)[0]) == pytest.approx(135.89, abs=0.01)
    assert float(pathloss.umi_los(d, 1.8, 30, 1.5)[0]) == pytest.approx(109.19, abs=0.01)
    assert float(pathloss.umi_nlos(d, 1.8, 30, 1.5)[0]) == pytest.approx(133.74, abs=0.01)
    assert float(pathloss.hata(d, 1800, 30, 1.5)[0]) == pytest.approx(136.20, abs=0.01)
    assert float(pathloss.hata(d * 5, 1800, 30, 1.5)[0]) == pytest.approx(160.82, abs=0.01)


def test_los_probability_per_table_7_4_2_1():
    # UMi: 18/d + exp(-d/36)(1 - 18/d); UMa (hUT <= 13 m): 18/d + exp(-d/63)(1 - 18/d)
    assert float(pathloss.los_probability("uma", np.array(1000.0))) == pytest.approx(0.018, abs=1e-4)
    assert float(pathloss.los_probability("uma", np.array(100.0))) == pytest.approx(0.18 + math.exp(-100 / 63) * 0.82)
    assert float(pathloss.los_probability("umi", np.array(100.0))) == pytest.approx(0.18 + math.exp(-100 / 36) * 0.82)
    assert pathloss.los_probability("uma", np.array([5.0, 18.0])).tolist() == [1.0, 1.0]
    # UMa, hUT = 18 m: C' = (5/10)^1.5, factor 1 + C' 5/4 (d/100)^3 exp(-d/150) at 200 m
    base = 18 / 200 + math.exp(-200 / 63) * (1 - 18 / 200)
    high = base * (1 + 0.5**1.5 * 1.25 * 8 * math.exp(-200 / 150))
    assert float(pathloss.los_probability("uma", np.array(200.0), 18.0)) == pytest.approx(high)
    with pytest.raises(ValueError, match="no LOS probability for 'hata'"):
        pathloss.los_probability("hata", np.array(100.0))


def test_combined_losses_at_1_km():
    los, nlos, p = 107.33, 135.89, 0.018
    pl = pathloss.model("uma", "expected", 1800, 30, 1.5)(np.array([1000.0]))[0]
    # probability-weighted path gain: far closer to LOS than the 2 % suggests (LOS carries 700x the power)
    assert float(pl) == pytest.approx(-10 * math.log10(p * 10 ** (-los / 10) + (1 - p) * 10 ** (-nlos / 10)), abs=0.02)
    assert float(pathloss.model("uma", "percentile", 1800, 30, 1.5)(np.array([1000.0]))[0]) == pytest.approx(nlos, 0.01)
    near = pathloss.model("uma", "percentile", 1800, 30, 1.5, reliability_pct=10)(np.array([150.0]))[0]
    assert float(near) == pytest.approx(float(pathloss.uma_los(np.array([150.0]), 1.8, 30, 1.5)[0]))


FREQ_GHZ = st.floats(0.5, 100.0)
H_BS = st.floats(10.0, 60.0)
H_UT = st.floats(1.5, 22.5)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["uma", "umi"]), fc=FREQ_GHZ, h_bs=H_BS, h_ut=st.floats(1.5, 9.0))
def test_los_loss_is_continuous_at_the_breakpoint(name, fc, h_bs, h_ut):
    dbp = pathloss.breakpoint_m(h_bs, h_ut, fc)
    fn = pathloss.uma_los if name == "uma" else pathloss.umi_los
    below, above = fn(np.array([dbp * (1 - 1e-9), dbp * (1 + 1e-9)]), fc, h_bs, h_ut)
    assert abs(above - below) < 1e-3


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["uma", "umi", "hata"]),
    los=st.sampled_from(pathloss.LOS_MODES),
    fc=FREQ_GHZ,
    h_bs=H_BS,
    h_ut=H_UT,
    pct=st.floats(1.0, 99.0),
    d1=st.floats(1.0, 20_000.0),
    d2=st.floats(1.0, 20_000.0),
)
def test_loss_never_falls_with_distance(name, los, fc, h_bs, h_ut, pct, d1, d2):
    """The engine's windows assume it; every model and LOS mode, inside and outside the validity ranges."""
    h_ut = min(h_ut, 10.0) if name == "hata" else h_ut
    fn = pathloss.model(name, los, fc * 1000, h_bs, h_ut, reliability_pct=pct)
    near, far = fn(np.array([min(d1, d2), max(d1, d2)]))
    assert near <= far + 1e-9


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["uma", "umi"]), fc=FREQ_GHZ, h_bs=H_BS, h_ut=H_UT, d=st.floats(10.0, 5000.0))
def test_expected_loss_lies_between_los_and_nlos(name, fc, h_bs, h_ut, d):
    arr = np.array([d])
    los = pathloss.model(name, "los", fc * 1000, h_bs, h_ut)(arr)[0]
    nlos = pathloss.model(name, "nlos", fc * 1000, h_bs, h_ut)(arr)[0]
    exp = pathloss.model(name, "expected", fc * 1000, h_bs, h_ut)(arr)[0]
    p = float(pathloss.los_probability(name, arr, h_ut)[0])
    assert 0.0 <= p <= 1.0
    assert los - 1e-9 <= exp <= nlos + 1e-9


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["uma", "umi"]),
    fc=FREQ_GHZ,
    h_bs=H_BS,
    h_ut=H_UT,
    pct=st.floats(1.0, 99.0),
    d=st.floats(1.0, 5000.0),
)
def test_percentile_mode_is_the_los_loss_exactly_where_p_los_reaches_the_share(name, fc, h_bs, h_ut, pct, d):
    arr = np.array([d])
    p = float(pathloss.los_probability(name, arr, h_ut)[0])
    if abs(p - pct / 100) < 1e-6:
        return  # at the switch itself
    want = pathloss.model(name, "los" if p >= pct / 100 else "nlos", fc * 1000, h_bs, h_ut)(arr)[0]
    assert pathloss.model(name, "percentile", fc * 1000, h_bs, h_ut, reliability_pct=pct)(arr)[0] == want
