"""Estimators and convergence statistics (``spectral_layers.estimators``)."""

import math

import numpy as np
import pytest

from spectral_layers import estimators


def test_fitted_slope_of_an_exact_power_law():
    n = np.array([64, 128, 256, 512])
    err = np.stack([n**-0.5, 2 * n**-0.5])
    s, lo, hi = estimators.fitted_slope(n, err)
    assert s == pytest.approx(-0.5, abs=1e-12)
    assert lo == pytest.approx(-0.5, abs=1e-12) and hi == pytest.approx(-0.5, abs=1e-12)


def test_fitted_slope_is_nan_without_two_finite_columns():
    n = np.array([64, 128, 256])
    err = np.array([[np.nan, np.nan, 0.1]])
    assert all(math.isnan(v) for v in estimators.fitted_slope(n, err))


def test_theorem1_bounds_closed_form():
    """Both bounds by hand at one n (formulas of the docstring)."""
    n = np.array([100.0])
    out = estimators.theorem1_bounds(
        n, kernel_sup=(2.0, 1.0), eigenvalue_sums=(0.5, 0.25), target_sup=3.0, delta=0.05
    )
    log_term = math.log(4 / 0.05)
    printed = log_term / 10 * max(math.sqrt(2 * 9 / (2 * 0.25)), math.sqrt(9 / (2 * 0.0625)))
    corrected = math.sqrt(32 * log_term / 100) * max(2 * 9 / 0.5, 9 / 0.25)
    assert out["printed_abs"][0] == pytest.approx(printed, rel=1e-14)
    assert out["corrected_rel"][0] == pytest.approx(corrected, rel=1e-14)
    with pytest.raises(ValueError, match="delta"):
        estimators.theorem1_bounds(
            n, kernel_sup=(1, 1), eigenvalue_sums=(1, 1), target_sup=1, delta=1.5
        )


def test_paper_estimate_is_a_ratio_of_sums():
    g = np.array([1.0, -2.0, 0.5])
    assert estimators.paper_estimate(g, 3 * g, g) == pytest.approx(3.0, rel=1e-15)
