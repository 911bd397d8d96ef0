"""Per-layer Mercer spectra (``spectral_layers.spectra``)."""

import numpy as np
import pytest

from spectral_layers import gegenbauer, hermite, spectra
from spectral_layers.infinite import sphere_layer_kernels
from spectral_layers.models import Network


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_two_layer_network_matches_hermite_route(act):
    """The §5.4 two-layer network's layer kernels have the eigenvalues of ``hermite.corollary1_margins``
    (an independent route: Hermite coefficients and Funk–Hecke of monomials; closed-form duals)."""
    net = Network(depth=2, activation=act, input_scaling="none")
    out = spectra.layer_mercer_eigenvalues(3, 10, network=net)
    m = hermite.corollary1_margins(act, 3, 10, method="quadrature")
    assert list(out) == ["layer_0", "layer_1"]
    np.testing.assert_allclose(out["layer_0"], m.mu0, atol=1e-15)
    np.testing.assert_allclose(out["layer_1"], m.mu1, atol=1e-15)


def test_each_layer_is_funk_hecke_of_its_kernel():
    """Every layer's eigenvalues equal ``gegenbauer_eigenvalues`` of that layer's kernel function."""
    net = Network(depth=3, activation="tanh", use_bias=True)
    out = spectra.layer_mercer_eigenvalues(5, 6, network=net, method="jacobi")
    for name, mu in out.items():
        ref = gegenbauer.gegenbauer_eigenvalues(
            lambda u, name=name: np.asarray(sphere_layer_kernels(u, dim=5, network=net)[name]),
            5,
            6,
            method="jacobi",
        )
        np.testing.assert_allclose(mu, ref, rtol=0, atol=1e-15)


def test_mercer_trace_and_kernel_at_one():
    """``Σ_k N(d, k) μ_k^(ℓ) → κ^(ℓ)(1)`` from below (Mercer trace, non-negative eigenvalues).

    ReLU in d = 3: the kernels are not smooth at u = ±1, so the tail decays slowly (measured: 1% of κ(1)
    left at K = 60 for the first layer); the deficit must shrink from K = 30 to K = 60.
    """
    net = Network(depth=3, activation="relu", input_scaling="none")
    mu = spectra.layer_mercer_eigenvalues(3, 60, network=net)
    at_one = spectra.layer_kernels_at_one(3, network=net)
    for name in mu:
        deficit60 = at_one[name] - gegenbauer.mercer_trace(mu[name], 3)
        deficit30 = at_one[name] - gegenbauer.mercer_trace(mu[name][:31], 3)
        assert 0 <= deficit60 < deficit30
        assert deficit60 < 0.02 * at_one[name]


def test_price_gap_is_rounding_without_bias():
    """``κ^(0)(u) = u dκ^(L-1)/du`` without bias (Price's theorem, docs/theory.md); not with bias."""
    assert spectra.price_gap(3, network=Network(depth=4, input_scaling="none")) < 1e-12
    assert (
        spectra.price_gap(3, network=Network(depth=4, input_scaling="none", use_bias=True)) > 1e-3
    )


def test_layer_mercer_spectrum_carries_the_floor_that_separates_parity_zeros():
    """erf without bias is odd: every even-degree eigenvalue vanishes exactly (docs/theory.md §9.1) and lies
    below the spectrum's floor; every odd-degree one lies far above it."""
    net = Network(depth=3, width=16, activation="erf", input_scaling="none")
    spec = spectra.layer_mercer_spectrum(10, 7, network=net)
    mu = spectra.layer_mercer_eigenvalues(10, 7, network=net)
    one = spectra.layer_kernels_at_one(10, network=net)
    assert spec.layers == tuple(mu)
    np.testing.assert_array_equal(spec.eigenvalues, np.stack(list(mu.values())))
    np.testing.assert_array_equal(spec.kernel_at_one, list(one.values()))
    np.testing.assert_array_equal(
        spec.multiplicity, [gegenbauer.multiplicity(10, k) for k in range(8)]
    )
    resolved = np.abs(spec.eigenvalues) > spec.floor
    assert not resolved[:, 0::2].any()
    assert resolved[:, 1::2].all()
    assert np.all(np.abs(spec.eigenvalues[:, 1::2]) > 1e3 * spec.floor[:, 1::2])
