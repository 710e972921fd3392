"""Path loss and sector pattern against hand-computed values; the covered radius of an omni site."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netzatlas.coverage import antenna, defaults, pathloss, radio
from netzatlas.coverage.grid import Grid
from netzatlas.registry import bands

C = 299_792_458.0


def _uma_los(d2d: float, fc: float, hbs: float, hut: float) -> float:
    d3d = math.hypot(d2d, hbs - hut)
    dbp = 4 * (hbs - 1) * (hut - 1) * fc * 1e9 / C
    if d2d <= dbp:
        return 28.0 + 22 * math.log10(d3d) + 20 * math.log10(fc)
    return 28.0 + 40 * math.log10(d3d) + 20 * math.log10(fc) - 9 * math.log10(dbp**2 + (hbs - hut) ** 2)


def _umi_los(d2d: float, fc: float, hbs: float, hut: float) -> float:
    d3d = math.hypot(d2d, hbs - hut)
    dbp = 4 * (hbs - 1) * (hut - 1) * fc * 1e9 / C
    if d2d <= dbp:
        return 32.4 + 21 * math.log10(d3d) + 20 * math.log10(fc)
    return 32.4 + 40 * math.log10(d3d) + 20 * math.log10(fc) - 9.5 * math.log10(dbp**2 + (hbs - hut) ** 2)


# (d2d m, fc GHz, hBS, hUT): the breakpoint for 3.5 GHz, 25 m / 1.5 m is 560 m; for 0.8 GHz 128 m
CASES = [
    (50, 3.5, 25, 1.5),
    (300, 3.5, 25, 1.5),
    (900, 3.5, 25, 1.5),
    (100, 0.8, 25, 1.5),
    (2000, 0.8, 25, 1.5),
    (1500, 1.8, 30, 2.0),
]


def test_breakpoint():
    assert pathloss.breakpoint_m(25, 1.5, 3.5) == pytest.approx(4 * 24 * 0.5 * 3.5e9 / C)
    assert 560 < pathloss.breakpoint_m(25, 1.5, 3.5) < 561


@pytest.mark.parametrize("d, fc, hbs, hut", CASES)
def test_uma(d, fc, hbs, hut):
    assert float(pathloss.uma_los(np.array([d]), fc, hbs, hut)[0]) == pytest.approx(_uma_los(d, fc, hbs, hut), abs=0.01)
    d3d = math.hypot(d, hbs - hut)
    nlos = max(_uma_los(d, fc, hbs, hut), 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc) - 0.6 * (hut - 1.5))
    assert float(pathloss.uma_nlos(np.array([d]), fc, hbs, hut)[0]) == pytest.approx(nlos, abs=0.01)


@pytest.mark.parametrize("d, fc, hbs, hut", [(50, 3.5, 10, 1.5), (200, 3.5, 10, 1.5), (400, 2.0, 10, 1.5)])
def test_umi(d, fc, hbs, hut):
    assert float(pathloss.umi_los(np.array([d]), fc, hbs, hut)[0]) == pytest.approx(_umi_los(d, fc, hbs, hut), abs=0.01)
    d3d = math.hypot(d, hbs - hut)
    nlos = max(_umi_los(d, fc, hbs, hut), 22.4 + 35.3 * math.log10(d3d) + 21.3 * math.log10(fc) - 0.3 * (hut - 1.5))
    assert float(pathloss.umi_nlos(np.array([d]), fc, hbs, hut)[0]) == pytest.approx(nlos, abs=0.01)


def test_breakpoint_sides_differ():
    """Both branches are used: below the breakpoint PL1, above PL2 (different slopes)."""
    dbp = pathloss.breakpoint_m(25, 1.5, 3.5)
    below, above = (
        pathloss.uma_los(np.array([dbp - 100, dbp - 50]), 3.5),
        pathloss.uma_los(np.array([2 * dbp, 4 * dbp]), 3.5),
    )
    assert below[1] - below[0] < above[1] - above[0]


def test_known_value():
    # 28 + 22 log10(sqrt(100^2 + 23.5^2)) + 20 log10(3.5), worked out by hand: 83.138 dB
    assert float(pathloss.uma_los(np.array([100.0]), 3.5, 25, 1.5)[0]) == pytest.approx(83.138, abs=0.01)


@pytest.mark.parametrize(
    "d_km, f, hb, hm, metro",
    [(1, 1800, 30, 1.5, False), (5, 1800, 30, 1.5, True), (10, 1500, 50, 2.0, False), (20, 2000, 100, 1.5, True)],
)
def test_hata(d_km, f, hb, hm, metro):
    a = (1.1 * math.log10(f) - 0.7) * hm - (1.56 * math.log10(f) - 0.8)
    expected = (
        46.3
        + 33.9 * math.log10(f)
        - 13.82 * math.log10(hb)
        - a
        + (44.9 - 6.55 * math.log10(hb)) * math.log10(d_km)
        + (3 if metro else 0)
    )
    got = float(pathloss.hata(np.array([d_km * 1000.0]), f, hb, hm, metro)[0])
    assert got == pytest.approx(expected, abs=0.01)


def test_hata_known_value():
    # f = 1800 MHz, hb = 30 m, hm = 1.5 m, d = 1 km, medium city: 46.3 + 110.354 - 20.414 - 0.043 = 136.197 dB
    assert float(pathloss.hata(np.array([1000.0]), 1800, 30, 1.5)[0]) == pytest.approx(136.197, abs=0.01)


def test_sector_pattern():
    h = antenna.horizontal(np.array([0.0, 32.5, -32.5, 65.0, -65.0, 180.0, 120.0]))
    assert h.tolist() == pytest.approx([0.0, -3.0, -3.0, -12.0, -12.0, -30.0, -30.0])
    # vertical: boresight at the tilt below the horizon, -3 dB half a beamwidth away, capped at 30 dB
    assert float(antenna.vertical(np.array(96.0), 6.0, 10.0)) == pytest.approx(0.0)
    assert float(antenna.vertical(np.array(101.0), 6.0, 10.0)) == pytest.approx(-3.0)
    assert float(antenna.vertical(np.array(0.0), 6.0, 10.0)) == pytest.approx(-30.0)
    # combined: the total is capped at 30 dB
    assert float(antenna.combined(np.array(-30.0), np.array(-30.0))) == pytest.approx(-30.0)
    assert float(antenna.combined(np.array(-3.0), np.array(-3.0))) == pytest.approx(-6.0)


def test_omni_site_radius_matches_analytic_radius():
    res = 10.0
    grid = Grid.cover((-3000, -3000, 3000, 3000), res)
    model = radio.RadioModel(name="uma", los="nlos", ue_height_m=1.5)
    tx = radio.Transmitter(x=0.0, y=0.0, height_m=30.0, frequency_mhz=1800.0, eirp_dbm=60.0, band=0)
    threshold = -80.0
    result = radio.best_server(grid, [tx], model, threshold, 1, workers=1)
    covered = result.levels[0] >= threshold
    xs, ys = np.meshgrid(grid.xs(), grid.ys())
    d = np.hypot(xs, ys)
    radius = radio.analytic_radius(model.loss(tx), 60.0 - threshold)
    assert 500 < radius < 2900
    assert d[covered].max() == pytest.approx(radius, abs=res)
    assert d[~covered].min() == pytest.approx(radius, abs=res)


@pytest.mark.parametrize("bw, n_rb", [(1.4, 6), (3, 15), (5, 25), (10, 50), (15, 75), (20, 100)])
def test_lte_resource_blocks_per_ts_36101_table_5_6_1(bw, n_rb):
    assert radio.resource_blocks("LTE", bw, 1800) == n_rb


@pytest.mark.parametrize(
    "bw, scs, n_rb",
    # 3GPP TS 38.101-1 Table 5.3.2-1, a sample of each row copied from the table by hand
    [
        *[(5, 15, 25), (10, 15, 52), (20, 15, 106), (50, 15, 270), (5, 30, 11), (40, 30, 106), (100, 30, 273)],
        *[(90, 30, 245), (60, 30, 162), (10, 60, 11), (100, 60, 135), (35, 15, 188), (45, 30, 119)],
    ],
)
def test_nr_resource_blocks_per_ts_38101_table_5_3_2_1(bw, scs, n_rb):
    assert radio.resource_blocks("NR", bw, 3600, scs_khz=scs) == n_rb


def test_resource_blocks_default_scs_and_unknown_pairs():
    assert radio.resource_blocks("NR", 100, 3600) == 273  # n78: 30 kHz
    assert radio.resource_blocks("NR", 10, 778) == 52  # n28: 15 kHz
    assert radio.rsrp_offset_db("NR", 100, 3600) == pytest.approx(-10 * math.log10(12 * 273))
    with pytest.raises(ValueError, match=r"NR channel bandwidth 100 MHz at 15 kHz .*38\.101-1 Table 5\.3\.2-1"):
        radio.resource_blocks("NR", 100, 1800)
    with pytest.raises(ValueError, match=r"NR channel bandwidth 5 MHz at 60 kHz"):
        radio.resource_blocks("NR", 5, 3600, scs_khz=60)
    with pytest.raises(ValueError, match=r"LTE channel bandwidth 7 MHz is not in 3GPP TS 36\.101 Table 5\.6-1"):
        radio.resource_blocks("LTE", 7, 800)
    with pytest.raises(ValueError, match="technology 'GSM'"):
        radio.resource_blocks("GSM", 0.2, 900)


def test_default_beamwidths_are_a_panel():
    tx = radio.Transmitter(x=0.0, y=0.0, height_m=30.0, frequency_mhz=1800.0, eirp_dbm=60.0, band=0)
    assert (tx.h_beamwidth_deg, tx.v_beamwidth_deg) == (65.0, 10.0)
    # with a 10 deg vertical beam, 6 deg of tilt costs ~4 dB at the horizon (65 deg: 0.1 dB)
    assert float(antenna.vertical(np.array(90.0), 6.0)) == pytest.approx(-12 * 0.6**2)


@pytest.mark.parametrize(
    "bw, scs, n_rb",
    # 3GPP TS 38.101-2 Table 5.3.2-1 (FR2), every entry copied from the table by hand
    [(50, 60, 66), (100, 60, 132), (200, 60, 264), (50, 120, 32), (100, 120, 66), (200, 120, 132), (400, 120, 264)],
)
def test_nr_fr2_resource_blocks_per_ts_38101_2_table_5_3_2_1(bw, scs, n_rb):
    assert radio.resource_blocks("NR", bw, 25875, scs_khz=scs) == n_rb  # n258 centre


def test_fr2_table_chosen_by_frequency_range():
    assert radio.nr_range(3650) == "FR1" and radio.nr_range(25875) == "FR2"
    assert radio.nr_scs_khz(25875) == 120
    assert radio.resource_blocks("NR", 200, 25875) == 132  # FR2 without a declared SCS: 120 kHz
    assert radio.resource_blocks("NR", 100, 3650, scs_khz=60) == 135  # the FR1 table, not FR2's 132
    with pytest.raises(ValueError, match=r"400 MHz at 60 kHz .*38\.101-2 Table 5\.3\.2-1 \(FR2\)"):
        radio.resource_blocks("NR", 400, 25875, scs_khz=60)
    with pytest.raises(ValueError, match=r"80 MHz at 120 kHz .*38\.101-2 .*known at 120 kHz: 50, 100, 200, 400"):
        radio.resource_blocks("NR", 80, 25875)
    with pytest.raises(ValueError, match=r"15000 MHz lies in no NR frequency range"):
        radio.resource_blocks("NR", 100, 15000)


def test_every_band_default_is_in_the_3gpp_tables():
    """Each band's default bandwidth (and NR subcarrier spacing) is a carrier the N_RB table of its range lists."""
    for code, band in bands.bands().items():
        scs = defaults.SCS_KHZ.get(code)
        assert (scs is not None) == (band.technology == "NR"), code
        n_rb = radio.resource_blocks(band.technology, defaults.BANDWIDTH_MHZ[code], band.dl_centre_mhz, scs)
        assert n_rb > 0, code
    assert defaults.SCS_KHZ["n258"] == 120 and defaults.BANDWIDTH_MHZ["n258"] == 200
    assert radio.resource_blocks("NR", 200, bands.bands()["n258"].dl_centre_mhz, 120) == 132
