"""``spectral_layers.activations``: the named activations, their NumPy twins and derivatives, and the dual
kernels ``E[φ(u)φ(v)]``, ``E[φ'(u)φ'(v)]`` for ``(u, v) ~ N(0, [[q1, c], [c, q2]])`` (closed forms, 2-D
quadrature), each against a second route (float64)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers import activations as A

Z = np.linspace(-3.0, 3.0, 41)


@pytest.mark.parametrize("name", sorted(A.ACTIVATIONS))
def test_numpy_twins_equal_the_jax_activation_and_its_autodiff_derivative(name):
    """``numpy_activation`` / ``numpy_derivative`` (closed forms) against the JAX function and
    ``jax.grad`` of it at every point: two independent routes to σ and σ'."""
    phi = A.resolve_activation(name)
    np.testing.assert_allclose(
        A.numpy_activation(name)(Z), phi(jnp.asarray(Z)), rtol=1e-14, atol=1e-15
    )
    grad = np.array([jax.grad(phi)(z) for z in Z])
    np.testing.assert_allclose(A.numpy_derivative(name)(Z), grad, rtol=1e-13, atol=1e-14)
    # jax_derivative (forward mode, one pass) equals reverse mode entry by entry
    np.testing.assert_allclose(A.jax_derivative(phi)(jnp.asarray(Z)), grad, rtol=1e-14, atol=1e-15)


def test_callables_pass_through_and_bad_activations_are_rejected():
    def square(z):
        return z * z

    assert A.resolve_activation(square) is square
    np.testing.assert_allclose(A.numpy_activation(square)(Z), Z * Z, rtol=1e-15)
    np.testing.assert_allclose(A.numpy_derivative(square)(Z), 2 * Z, rtol=1e-15)
    with pytest.raises(ValueError, match="activation"):
        A.resolve_activation("swish")
    with pytest.raises(ValueError, match="activation"):
        A.numpy_derivative("swish")
    with pytest.raises(TypeError, match="activation"):
        A.resolve_activation(3)


def test_relu_dual_exact_values():
    """Arc-cosine kernels (Cho & Saul 2009) where they are elementary: identical points
    (``E[relu(u)²] = q/2``, ``P(u > 0) = 1/2``) and independent ones (``c = 0``: the product of
    ``E[relu(u)] = sqrt(q/(2π))`` and ``P(u > 0) P(v > 0) = 1/4``)."""
    q1, q2 = jnp.array([0.7, 2.0]), jnp.array([1.3, 0.5])
    k, k_dot = A.relu_dual(q1, q1, q1)
    np.testing.assert_allclose(k, q1 / 2, rtol=1e-15)
    np.testing.assert_allclose(k_dot, 0.5, rtol=1e-15)
    k, k_dot = A.relu_dual(jnp.zeros(2), q1, q2)
    np.testing.assert_allclose(k, np.sqrt(q1 * q2) / (2 * np.pi), rtol=1e-15)
    np.testing.assert_allclose(k_dot, 0.25, rtol=1e-15)
    k, k_dot = A.relu_dual(-q1, q1, q1)  # v = −u: relu(u) relu(−u) = 0, 1(u>0) 1(−u>0) = 0
    np.testing.assert_allclose(k, 0.0, atol=1e-15)
    np.testing.assert_allclose(k_dot, 0.0, atol=1e-15)


def test_erf_dual_at_independent_inputs():
    """``c = 0``: ``E[erf(u) erf(v)] = 0`` (odd) and ``E[erf'(u)] E[erf'(v)]`` with
    ``E[erf'(u)] = (2/√π) E[e^{-u²}] = (2/√π) / sqrt(1 + 2 q)`` (a Gaussian integral)."""
    q1, q2 = jnp.array([0.3, 1.7]), jnp.array([2.2, 0.4])
    k, k_dot = A.erf_dual(jnp.zeros(2), q1, q2)
    np.testing.assert_allclose(k, 0.0, atol=1e-16)
    e1 = 2 / np.sqrt(np.pi) / np.sqrt(1 + 2 * q1)
    e2 = 2 / np.sqrt(np.pi) / np.sqrt(1 + 2 * q2)
    np.testing.assert_allclose(k_dot, e1 * e2, rtol=1e-14)


def _gauss_hermite_dual(phi, d_phi, c, q1, q2, degree=300):
    """Independent route: a 2-D probabilists' Gauss–Hermite tensor rule in NumPy after the Cholesky step
    (for tanh, poles at distance π/2 from the real axis, its error decays like ``e^{-(π/2) sqrt(2 degree)}``:
    ~1e-17 at 300 nodes)."""
    xi, w = np.polynomial.hermite_e.hermegauss(degree)
    w = w / w.sum()
    rho = c / np.sqrt(q1 * q2)
    u = np.sqrt(q1) * xi[:, None]
    v = np.sqrt(q2) * (rho * xi[:, None] + np.sqrt(1 - rho**2) * xi[None, :])
    ww = w[:, None] * w[None, :]
    return np.sum(ww * phi(u) * phi(v)), np.sum(ww * d_phi(u) * d_phi(v))


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_closed_form_duals_equal_quadrature(name):
    """``relu_dual`` / ``erf_dual`` against ``quadrature_dual`` of the same activation, and ``dual_kernels``
    picks the closed form for these two names."""
    dual, closed = A.dual_kernels(name, degree=64)
    assert closed and dual is {"relu": A.relu_dual, "erf": A.erf_dual}[name]
    c, q1, q2 = jnp.array([0.3, -0.5, 0.9]), jnp.array([1.0, 0.8, 1.2]), jnp.array([0.6, 1.1, 1.0])
    k, k_dot = dual(c, q1, q2)
    phi = A.resolve_activation(name)
    kq, kq_dot = A.quadrature_dual(phi, c, q1, q2, degree=400)
    # the trapezoid rule converges slowly for relu's kink: 1e-4 is its error at 400 nodes, not rounding
    tol = 1e-4 if name == "relu" else 1e-10
    np.testing.assert_allclose(kq, k, rtol=tol, atol=tol)
    if (
        name == "erf"
    ):  # relu' is a step: its quadrature is first order, compared above through k only
        np.testing.assert_allclose(kq_dot, k_dot, rtol=tol, atol=tol)


def test_quadrature_dual_against_numpy_gauss_hermite():
    """tanh (no closed form): ``dual_kernels`` → ``quadrature_dual`` (trapezoid rule, JAX) against a 2-D
    Gauss–Hermite rule written here in NumPy; shapes broadcast (a (3, 1) covariance against (4,) variances)."""
    dual, closed = A.dual_kernels("tanh", degree=200)
    assert not closed
    c = jnp.array([[0.1], [-0.4], [0.7]])
    q1 = jnp.array([1.0, 0.9, 1.4, 1.1]).reshape(1, 4)
    q2 = jnp.full((1, 4), 1.2)
    k, k_dot = dual(c, q1, q2)
    assert k.shape == k_dot.shape == (3, 4)
    d_tanh = A.numpy_derivative("tanh")
    for i in range(3):
        for j in range(4):
            ref, ref_dot = _gauss_hermite_dual(
                np.tanh, d_tanh, float(c[i, 0]), float(q1[0, j]), 1.2
            )
            np.testing.assert_allclose(k[i, j], ref, rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(k_dot[i, j], ref_dot, rtol=1e-11, atol=1e-13)


def test_quadrature_rules_integrate_gaussian_moments():
    """``E ξ² = 1``, ``E ξ⁴ = 3``: exact for Gauss–Hermite (degree < 2·nodes); for the trapezoid rule (second
    moment exact by construction) to its truncation error ``O(e^{-T²/2})``."""
    for rule, tol4 in (("gauss_hermite", 1e-13), ("trapezoid", 1e-12)):
        nodes, weights = A.quadrature_rule(
            rule, 200
        )  # trapezoid: T = (2π·199)^{1/3} ≈ 10.8, e^{-T²/2} ≈ 1e-25
        assert math.isclose(weights.sum(), 1.0, rel_tol=1e-15)
        np.testing.assert_allclose(np.sum(weights * nodes**2), 1.0, rtol=1e-13)
        np.testing.assert_allclose(np.sum(weights * nodes**4), 3.0, rtol=tol4)


def test_nt_activation_maps_names_to_stax_layers():
    """``nt_activation`` picks NT's closed form by name and ``ElementwiseNumerical`` otherwise (a stand-in
    ``stax`` records which constructor is called, so neural-tangents is not needed)."""

    class Stax:
        def __getattr__(self, attr):
            return lambda *args, **kwargs: (attr, args, kwargs)

    stax = Stax()
    assert A.nt_activation(stax, "relu", 10, False) == ("Relu", (), {})
    assert A.nt_activation(stax, "gelu", 10, False) == ("Gelu", (), {"approximate": False})
    kind, _, kwargs = A.nt_activation(stax, "tanh", 12, False)
    assert kind == "ElementwiseNumerical" and kwargs["deg"] == 12
