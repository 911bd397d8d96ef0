"""Power-law rates and level crossings (``estimators.loglog_slope``, ``octave_slopes``,
``level_crossing``, ``power_law_crossing``): exact on exact power laws, against an independent
computation (closed forms, ``scipy.stats.linregress``) otherwise."""

import math

import numpy as np
import pytest
from scipy import stats

from spectral_layers import estimators

WIDTHS = 16.0 * 2.0 ** np.arange(8)  # 16 … 2048


def test_loglog_slope_recovers_an_exact_power_law_and_matches_linregress_on_noise():
    y = 3.0 * WIDTHS**-0.75
    slope, intercept = estimators.loglog_slope(WIDTHS, y)
    assert slope == pytest.approx(-0.75, abs=1e-12)
    assert intercept == pytest.approx(math.log(3.0), abs=1e-12)
    noisy = y * np.exp(np.random.default_rng(0).normal(0, 0.3, len(y)))
    ref = stats.linregress(np.log(WIDTHS), np.log(noisy))
    got = estimators.loglog_slope(WIDTHS, noisy)
    np.testing.assert_allclose(got, (ref.slope, ref.intercept), rtol=1e-12)


def test_loglog_slope_leaves_out_unusable_points_and_is_nan_below_two():
    y = WIDTHS**-1.0
    bad = y.copy()
    bad[[1, 4]] = [np.nan, -1.0]
    keep = np.ones(len(y), bool)
    keep[[1, 4]] = False
    np.testing.assert_allclose(
        estimators.loglog_slope(WIDTHS, bad), estimators.loglog_slope(WIDTHS[keep], y[keep])
    )
    only_one = np.full(len(y), np.nan)
    only_one[3] = 1.0
    assert np.isnan(estimators.loglog_slope(WIDTHS, only_one)).all()
    with pytest.raises(ValueError, match="x and y"):
        estimators.loglog_slope(WIDTHS, y[:-1])


def test_octave_slopes_are_the_local_rates_of_a_broken_power_law():
    # y ∝ m^{-1/2} up to 256, then m^{-1}: continuous at the break
    y = np.where(WIDTHS <= 256, WIDTHS**-0.5, 256**0.5 * WIDTHS**-1.0)
    got = estimators.octave_slopes(WIDTHS, np.stack([y, 2 * y]))
    expected = np.where(WIDTHS[1:] <= 256, -0.5, -1.0)
    np.testing.assert_allclose(got, np.stack([expected, expected]), atol=1e-12)
    # each entry is the two-point loglog_slope
    for j in range(len(WIDTHS) - 1):
        s, _ = estimators.loglog_slope(WIDTHS[j : j + 2], y[j : j + 2])
        assert got[0, j] == pytest.approx(s, abs=1e-12)
    y_bad = y.copy()
    y_bad[2] = 0.0
    s = estimators.octave_slopes(WIDTHS, y_bad)
    assert np.isnan(s[[1, 2]]).all() and np.isfinite(np.delete(s, [1, 2])).all()
    with pytest.raises(ValueError, match="strictly increasing"):
        estimators.octave_slopes(WIDTHS[::-1], y)
    with pytest.raises(ValueError, match="last axis"):
        estimators.octave_slopes(WIDTHS, y[:-1])


def test_level_crossing_interpolates_in_log_log_and_reports_out_of_range():
    y = 4.0 * WIDTHS**-0.5  # crosses 0.1 at m = 1600 exactly
    assert estimators.level_crossing(WIDTHS, y, 0.1) == pytest.approx(1600.0, rel=1e-12)
    # a dip below the level that comes back does not count: the crossing is the last one
    dip = y.copy()
    dip[5] = 0.05  # width 512 below 0.1, 1024 above again
    assert estimators.level_crossing(WIDTHS, dip, 0.1) == pytest.approx(1600.0, rel=1e-12)
    assert estimators.level_crossing(WIDTHS, 10 * y, 0.1) == np.inf  # not reached
    assert np.isnan(estimators.level_crossing(WIDTHS, y / 100, 0.1))  # below everywhere
    assert np.isnan(estimators.level_crossing(WIDTHS, np.where(WIDTHS == 64, np.nan, y), 0.1))
    with pytest.raises(ValueError, match="level"):
        estimators.level_crossing(WIDTHS, y, 0.0)


def test_power_law_crossing_inverts_the_fit():
    slope, intercept = estimators.loglog_slope(WIDTHS, 4.0 * WIDTHS**-0.5)
    assert estimators.power_law_crossing(slope, intercept, 0.1) == pytest.approx(1600.0, rel=1e-10)
    assert np.isnan(estimators.power_law_crossing(0.2, 1.0, 0.1))  # not decaying
    assert np.isnan(estimators.power_law_crossing(np.nan, 1.0, 0.1))
    with pytest.raises(ValueError, match="level"):
        estimators.power_law_crossing(-1.0, 1.0, -0.1)
