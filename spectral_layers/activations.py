r"""Named activations and everything the package knows about them, in one place.

* the JAX functions used by the networks (``ACTIVATIONS``, ``resolve_activation``) and their derivatives
  by forward-mode autodiff (``jax_derivative``);
* float64 NumPy/SciPy twins and closed-form derivatives (``numpy_activation``, ``numpy_derivative``), used by
  the Hermite expansions, which compute in float64 whatever ``jax_enable_x64`` says;
* the dual kernels ``(Σ12, Σ11, Σ22) -> (E[φ(u)φ(v)], E[φ'(u)φ'(v)])`` of the infinite-width recursion:
  closed forms for ReLU (Cho & Saul, 2009) and erf (Williams, 1997), a 2-D Gaussian quadrature for any other
  activation (``dual_kernels``);
* the matching neural-tangents ``stax`` layer (``nt_activation``), for the cross-check.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from spectral_layers import _validation as val

__all__ = [
    "ACTIVATIONS",
    "NUMPY_ACTIVATIONS",
    "NUMPY_DERIVATIVES",
    "QUADRATURE_RULES",
    "Activation",
    "dual_kernels",
    "erf_dual",
    "jax_derivative",
    "nt_activation",
    "numpy_activation",
    "numpy_derivative",
    "quadrature_dual",
    "quadrature_rule",
    "relu_dual",
    "resolve_activation",
]

Activation = str | Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "erf": jax.scipy.special.erf,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "softplus": jax.nn.softplus,
    "sin": jnp.sin,
    "identity": lambda z: z,
}
"""Named activations. ``gelu`` is the exact (erf) GELU, as in neural-tangents' ``stax.Gelu``."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)

NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "erf": special.erf,
    "gelu": lambda x: x * special.ndtr(x),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sin": np.sin,
    "identity": lambda x: np.asarray(x, dtype=np.float64),
}
"""Float64 NumPy twins of ``ACTIVATIONS`` (``gelu`` is the exact ``x Φ(x)``)."""

NUMPY_DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: (x > 0).astype(np.float64),
    "tanh": lambda x: 1.0 / np.cosh(x) ** 2,
    "erf": lambda x: (2.0 / math.sqrt(math.pi)) * np.exp(-(x**2)),
    "gelu": lambda x: special.ndtr(x) + x * np.exp(-0.5 * x**2) / _SQRT_2PI,
    "softplus": special.expit,
    "sin": np.cos,
    "identity": lambda x: np.ones_like(x, dtype=np.float64),
}
"""Closed-form derivatives ``σ'`` (ReLU: the step ``1[x > 0]``, ``0`` at ``0`` as ``jax.grad``)."""

QUADRATURE_RULES = ("trapezoid", "gauss_hermite")


def resolve_activation(activation: Activation) -> Callable[[jax.Array], jax.Array]:
    """Returns the JAX activation function for a name in ``ACTIVATIONS`` or a callable.

    Raises:
      ValueError: for an unknown name.
      TypeError: for anything that is neither a string nor a callable.
    """
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}"
            )
        return ACTIVATIONS[activation]
    if callable(activation):
        return activation
    raise TypeError(f"activation must be a string or a callable, got {type(activation).__name__}")


# --------------------------------------------------------------------------------------------------
# float64 NumPy forms


def _as_float64(out: Any, what: str) -> np.ndarray:
    val.warn_if_low_precision(
        out, what, "results are only accurate to that precision", stacklevel=4
    )
    return np.asarray(out, dtype=np.float64)


def numpy_activation(activation: Activation) -> Callable[[np.ndarray], np.ndarray]:
    """Float64 ``σ`` on NumPy arrays: the NumPy twin for names, else the callable (cast to float64).

    Raises:
      ValueError / TypeError: as ``resolve_activation``.
    """
    if isinstance(activation, str):
        resolve_activation(activation)  # raises the standard error for unknown names
        return NUMPY_ACTIVATIONS[activation]
    fn = resolve_activation(activation)
    return lambda x: _as_float64(fn(x), "activation")


def numpy_derivative(activation: Activation) -> Callable[[np.ndarray], np.ndarray]:
    """``σ'`` as a float64 function of a NumPy array.

    Closed forms for the names in ``ACTIVATIONS``; for a callable, ``jax.vmap(jax.grad(σ))``.

    Raises:
      ValueError / TypeError: as ``resolve_activation``.
    """
    if isinstance(activation, str):
        resolve_activation(activation)
        return NUMPY_DERIVATIVES[activation]
    fn = resolve_activation(activation)
    grad = jax.vmap(jax.grad(lambda z: jnp.sum(fn(z))))

    def derivative(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = jnp.asarray(x.reshape(-1), dtype=jnp.result_type(float))
        return _as_float64(grad(flat), "activation derivative").reshape(x.shape)

    return derivative


# --------------------------------------------------------------------------------------------------
# dual kernels: (Σ12, Σ11, Σ22) -> (E[φ(u)φ(v)], E[φ'(u)φ'(v)])


def _safe_correlation(c, q1, q2):
    """``ρ = c / sqrt(q1 q2)`` clipped to ``[-1, 1]``, ``0`` where a variance is zero (no NaN)."""
    norm = jnp.sqrt(q1 * q2)
    positive = norm > 0
    rho = jnp.where(positive, c / jnp.where(positive, norm, 1), 0)
    return jnp.clip(rho, -1, 1), norm


def relu_dual(c, q1, q2):
    r"""ReLU dual kernels (Cho & Saul, 2009, arc-cosine kernels of degree 1 and 0).

    With ``cos θ = c / sqrt(q1 q2)``:
    ``E[relu(u) relu(v)] = sqrt(q1 q2) (sin θ + (π − θ) cos θ) / (2π)
    = (sqrt(q1 q2 − c²) + (π − θ) c) / (2π)`` and ``E[1(u>0) 1(v>0)] = (π − θ) / (2π)``, with
    ``θ = atan2(sqrt(q1 q2 − c²), c)``. ``q1 q2 − c²`` is evaluated as ``(r − c)(r + c)``,
    ``r = sqrt(q1 q2)``, clipped at 0: exactly 0 when ``c = q1 = q2`` (identical points; written as
    ``q1 q2 − c c`` a fused multiply-add leaves a rounding residual, and ``θ`` then ~1e-8 instead of
    0). ``θ = π/2`` when both vanish (a zero-variance input), as in NT.
    """
    r = jnp.sqrt(q1 * q2)
    s = jnp.sqrt(jnp.maximum((r - c) * (r + c), 0))
    theta = jnp.where((s == 0) & (c == 0), jnp.pi / 2, jnp.arctan2(s, c))
    k_dot = (jnp.pi - theta) / (2 * jnp.pi)
    k = s / (2 * jnp.pi) + k_dot * c
    return k, k_dot


def erf_dual(c, q1, q2):
    r"""erf dual kernels (Williams, 1997; the derivative kernel by a Gaussian integral).

    ``E[erf(u) erf(v)] = (2/π) arcsin(2c / sqrt((1 + 2 q1)(1 + 2 q2)))``. With
    ``erf'(z) = (2/sqrt π) e^{-z²}``: ``E[erf'(u) erf'(v)] = (4/π) E[e^{-u²-v²}] =
    (4/π) det(I + 2Σ)^{-1/2}``, ``det(I + 2Σ) = (1 + 2 q1)(1 + 2 q2) − 4c²``. Clipping ``|c|`` to
    ``sqrt(q1 q2)`` keeps the determinant ``≥ 1 + 2 q1 + 2 q2``; ``arcsin`` is a stable ``arctan2``.
    """
    rho, norm = _safe_correlation(c, q1, q2)
    c = rho * norm
    det = jnp.maximum((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c, 1)
    k = (2 / jnp.pi) * jnp.arctan2(2 * c, jnp.sqrt(det))
    k_dot = (4 / jnp.pi) / jnp.sqrt(det)
    return k, k_dot


@functools.lru_cache(maxsize=64)
def quadrature_rule(rule: str, degree: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes ``ξ_a`` and weights ``w_a`` (sum one) with ``E_{ξ~N(0,1)} g(ξ) ≈ Σ_a w_a g(ξ_a)``.

    * ``"trapezoid"`` (default): ``degree`` equispaced nodes on ``[-T, T]``,
      ``T = (2π (degree − 1))^{1/3}``, weights ``∝ e^{-ξ²/2}``. For ``g`` analytic in the strip
      ``|Im ξ| < a`` the error is ``O(e^{-2πa/h}) + O(e^{-T²/2})``, ``h = 2T / (degree − 1)``
      (Trefethen & Weideman, 2014, "The exponentially convergent trapezoidal rule", SIAM Rev.
      56(3)); this ``T`` balances the two terms for ``a ≈ 1``. Far better than Gauss–Hermite for
      activations with complex poles near the real axis (tanh: ``a = π/2``), for which the
      Gauss–Hermite error only decays like ``e^{-a sqrt(2 degree)}``.
    * ``"gauss_hermite"``: probabilists' Gauss–Hermite (``numpy.polynomial.hermite_e.hermegauss``),
      exact for polynomials of degree ``< 2 degree``; the rule of NT's ``ElementwiseNumerical``.
    """
    if rule == "gauss_hermite":
        nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    elif degree == 1:
        nodes, weights = np.zeros(1), np.ones(1)
    else:
        half_width = (2 * np.pi * (degree - 1)) ** (1 / 3)
        nodes = np.linspace(-half_width, half_width, degree)
        weights = np.exp(-(nodes**2) / 2)
        weights /= weights.sum()
        nodes /= np.sqrt(np.sum(weights * nodes**2))  # exact second moment (truncation ~e^{-T²/2})
    nodes, weights = nodes.astype(np.float64), weights / weights.sum()
    nodes.setflags(write=False)  # cached: read-only
    weights.setflags(write=False)
    return nodes, weights


def jax_derivative(
    phi: Callable[[jax.Array], jax.Array],
) -> Callable[[jax.Array], jax.Array]:
    """``φ'`` of an elementwise activation by forward-mode autodiff.

    ``jax.jvp(φ, (z,), (1,))``: for an elementwise ``φ`` the same numbers as ``jax.grad``
    vectorised over every entry (``jnp.vectorize(jax.grad(φ))``), in one pass and with one trace.
    """

    def d_phi(z):
        return jax.jvp(phi, (z,), (jnp.ones_like(z),))[1]

    return d_phi


def quadrature_dual(phi, c, q1, q2, degree: int, rule: str = "trapezoid", d_phi=None):
    r"""``E[φ(u)φ(v)]`` and ``E[φ'(u)φ'(v)]`` by tensor-product quadrature after a Cholesky step.

    The Cholesky factor of ``[[q1, c], [c, q2]]`` gives ``u = sqrt(q1) ξ``,
    ``v = sqrt(q2) (ρ ξ + sqrt(1 − ρ²) η)`` with ``ξ, η`` independent standard normal and
    ``ρ = c / sqrt(q1 q2)`` clipped to ``[-1, 1]``, so
    ``E[g(u) g(v)] ≈ Σ_ab w_a w_b g(u_a) g(v_ab)`` with the 1-D rule
    ``quadrature_rule(rule, degree)`` in each variable. At ``ρ = ±1`` the inner sum collapses to the
    1-D rule (the weights sum to one): no NaN on the diagonal.

    Args:
      phi: elementwise activation.
      c, q1, q2: covariance and variances, broadcastable to a common shape ``S``.
      degree: nodes per variable (cost ``O(degree²)`` evaluations per entry).
      rule: ``"trapezoid"`` or ``"gauss_hermite"`` (``quadrature_rule``).
      d_phi: derivative of ``phi``; default ``jax_derivative(phi)``.

    Returns:
      ``(K, K_dot)``, each of shape ``S``.
    """
    d_phi = jax_derivative(phi) if d_phi is None else d_phi
    rho, _ = _safe_correlation(c, q1, q2)
    shape = jnp.broadcast_shapes(jnp.shape(c), jnp.shape(q1), jnp.shape(q2))
    dtype = jnp.result_type(c, q1, q2)
    nodes, weights = (jnp.asarray(a, dtype) for a in quadrature_rule(rule, degree))
    s1 = jnp.broadcast_to(jnp.sqrt(jnp.maximum(q1, 0)), shape)
    s2 = jnp.broadcast_to(jnp.sqrt(jnp.maximum(q2, 0)), shape)[..., None]
    rho_c = jnp.sqrt(jnp.maximum(1 - rho * rho, 0))[..., None]
    s2_rho, s2_rho_c = s2 * rho[..., None], s2 * rho_c
    nodes_b = nodes.reshape((1,) * len(shape) + nodes.shape)  # (1, …, 1, b): the b axis of v_b
    weights_b = weights.reshape(nodes_b.shape)

    def outer_node(acc, node):  # one ξ_a at a time: memory O(|S| · degree), not O(|S| · degree²)
        xi_a, w_a = node
        v_b = s2_rho * xi_a + s2_rho_c * nodes_b  # (..., b)
        u = s1 * xi_a
        k = acc[0] + w_a * phi(u) * jnp.sum(weights_b * phi(v_b), axis=-1)
        k_dot = acc[1] + w_a * d_phi(u) * jnp.sum(weights_b * d_phi(v_b), axis=-1)
        return (k, k_dot), None

    zero = jnp.zeros(shape, dtype)
    (k, k_dot), _ = jax.lax.scan(outer_node, (zero, zero), (nodes, weights))
    return k, k_dot


def dual_kernels(activation: Activation, degree: int, rule: str = "trapezoid"):
    """``(dual, closed)``: ``dual(c, q1, q2) -> (E[φ(u)φ(v)], E[φ'(u)φ'(v)])``.

    ``closed`` says whether ``dual`` is a closed form (``"relu"``, ``"erf"``); any other activation (a
    callable included, differentiated by autodiff) uses ``quadrature_dual`` with ``degree`` nodes per
    variable of ``rule``.
    """
    if isinstance(activation, str) and activation == "relu":
        return relu_dual, True
    if isinstance(activation, str) and activation == "erf":
        return erf_dual, True
    phi = resolve_activation(activation)
    d_phi = jax_derivative(phi)
    return lambda c, q1, q2: quadrature_dual(phi, c, q1, q2, degree, rule, d_phi), False


# --------------------------------------------------------------------------------------------------
# neural-tangents


def nt_activation(stax: Any, activation: Activation, degree: int, numerical: bool) -> Any:
    """The ``stax`` layer of an activation: NT's closed form, else ``ElementwiseNumerical(deg=degree)``.

    ``stax`` is ``neural_tangents.stax`` (from ``nt_compat``); it is passed in so that this module does not
    import neural-tangents.
    """
    closed = {
        "relu": stax.Relu,
        "erf": stax.Erf,
        "gelu": lambda: stax.Gelu(approximate=False),
        "sin": stax.Sin,
        "identity": stax.Identity,
    }
    if isinstance(activation, str) and activation in closed and not numerical:
        return closed[activation]()
    phi = resolve_activation(activation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NT warns at every ElementwiseNumerical
        return stax.ElementwiseNumerical(phi, deg=degree)
