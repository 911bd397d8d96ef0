r"""Hermite coefficients of activations and the power series of the two-layer NTK contributions.

Conventions (paper §5.4.1). ``He_n`` are the probabilists' Hermite polynomials
(``He_{n+1} = w He_n - n He_{n-1}``, ``He_n' = n He_{n-1}``: the paper's Eqs. 14–15) and
``h_n = He_n / sqrt(n!)`` the orthonormal ones in ``L²(N(0, 1))``. An activation is expanded
either way,

.. math::

    σ = \sum_n a_n h_n \quad (a_n = E[σ(w) h_n(w)],\ \text{orthonormal}), \qquad
    σ = \sum_n c_n He_n \quad (c_n = E[σ(w) He_n(w)]/n! = a_n/\sqrt{n!}).

Mehler's formula ``E[h_n(x) h_m(y)] = δ_{nm} ρ^n`` for standard normals with correlation ``ρ`` (the
paper's Eq. 11, which holds for the *orthonormal* ``h_n``; for ``He_n`` it is ``n! ρ^n``) gives the
layer-2 kernel of the two-layer network (paper Eq. 9, unit-norm inputs, ``w ~ N(0, I)``, no bias)

.. math::

    κ^{(1)}(u) = E[σ(w·x) σ(w·x')] = \sum_i a_i^2 u^i = \sum_i i!\, c_i^2 u^i .

Gaussian integration by parts ``E[σ'(w) g(w)] = E[σ(w)(w g(w) - g'(w))]`` with ``w He_n - He_n' =
He_{n+1}`` gives ``E[σ' He_n] = E[σ He_{n+1}]``, so the coefficients of ``σ'`` are

.. math::

    a'_n = \sqrt{n+1}\, a_{n+1} \ \text{(orthonormal)}, \qquad c'_n = (n+1)\, c_{n+1} \
    \text{(un-normalised)}.

The paper's Eq. 16 derives ``a'_n = (n+1) a_{n+1}`` with the ``1/n!`` normalisation, i.e. for
``c_n``, but then uses it in Eq. 17 with the orthonormal Mehler formula (Eq. 12); consistently,

.. math::

    κ^{(0)}(u) = u\, E[σ'(w·x) σ'(w·x')] = u \sum_n (a'_n)^2 u^n = \sum_{i ≥ 1} i\, a_i^2\, u^i,

so the per-degree ratio is ``r(i) = [κ^{(0)}]_i / [κ^{(1)}]_i = i``, **not** ``i²`` (paper Theorem
2). The same follows without Hermite polynomials from Price's theorem ``d/du E[σ(x)σ(y)] =
E[σ'(x)σ'(y)]``: ``κ^{(0)}(u) = u κ^{(1)}{}'(u)``. Derivation and the numbers checked:
``docs/theory.md``.

All functions here compute in float64 NumPy (results do not depend on ``jax_enable_x64``); named
activations use float64 NumPy/SciPy twins of ``activations.ACTIVATIONS``, callables are evaluated on
float64 NumPy arrays (a JAX callable without x64 computes in float32; a warning says so).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from jaxtyping import ArrayLike, Float
from scipy import special

from spectral_layers import _validation as val
from spectral_layers import gegenbauer
from spectral_layers.activations import Activation, numpy_activation, numpy_derivative

__all__ = [
    "Corollary1Margins",
    "corollary1_margins",
    "hermite_coefficients",
    "hermite_polynomials",
    "hermite_ratio",
    "two_layer_kernels",
    "two_layer_power_series",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)

_RULES = ("legendre", "hermite")
_PANEL_NODES, _PANEL_WEIGHTS = np.polynomial.legendre.leggauss(32)


def hermite_polynomials(
    max_degree: int, x: Float[ArrayLike, "..."], *, normalized: bool = True
) -> Float[np.ndarray, "k1 ..."]:
    r"""Table of ``h_0(x) … h_K(x)`` (``normalized=True``) or ``He_0(x) … He_K(x)``.

    The orthonormal ``h_n = He_n/sqrt(n!)`` follow the factorial-free recurrence
    ``h_{n+1} = (x h_n - sqrt(n) h_{n-1}) / sqrt(n+1)`` (from ``He_{n+1} = x He_n - n He_{n-1}``,
    paper Eq. 14).

    Returns:
      float64 array of shape ``(K + 1, *x.shape)``.
    """
    K = val.check_positive_int(max_degree, "max_degree", minimum=0)
    if normalized:
        return gegenbauer._three_term_table(
            K, x, lambda n, x, h, h_prev: (x * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
        )
    return gegenbauer._three_term_table(K, x, lambda n, x, h, h_prev: x * h - n * h_prev)


def _gaussian_rule(
    max_degree: int, rule: str, quadrature_degree: int | None, breakpoints: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) for ``E[f(w)]``, ``w ~ N(0, 1)``."""
    val.check_choice(rule, "rule", _RULES)
    if rule == "hermite":
        q = max(200, 2 * max_degree + 64) if quadrature_degree is None else quadrature_degree
        x, w = special.roots_hermitenorm(val.check_positive_int(q, "quadrature_degree"))
        return x, w / w.sum()
    # Composite Gauss–Legendre on [-L, L], split at the breakpoints (kinks of σ or σ'), each
    # interval into equal panels of 32 nodes. The Gaussian density underflows to 0 beyond |x| ≈
    # 38.6, and h_n(x) e^{-x²/4} is negligible beyond the turning point 2 sqrt(n). (One large
    # Gauss–Legendre rule is not used: numpy's and scipy's nodes/weights for several hundred nodes
    # carry errors ~1e-14 that reach the coefficients.)
    L = max(40.0, 2.0 * math.sqrt(max_degree) + 20.0)
    panels = math.ceil(L) if quadrature_degree is None else quadrature_degree
    panels = val.check_positive_int(panels, "quadrature_degree")
    inner = sorted({float(b) for b in breakpoints if -L < float(b) < L})
    edges = np.concatenate(
        [np.linspace(a, b, panels + 1)[:-1] for a, b in itertools.pairwise([-L, *inner, L])] + [[L]]
    )
    half = np.diff(edges)[:, None] / 2
    x = (half * _PANEL_NODES + (edges[:-1, None] + half)).ravel()
    w = (half * _PANEL_WEIGHTS).ravel() * np.exp(-0.5 * x**2) / _SQRT_2PI
    return x, w


def _coefficients_and_norm(
    fn: Callable[[np.ndarray], np.ndarray],
    max_degree: int,
    *,
    rule: str,
    quadrature_degree: int | None,
    breakpoints: Sequence[float],
) -> tuple[np.ndarray, float]:
    """Orthonormal Hermite coefficients ``a_0 … a_K`` of ``fn`` and ``E[fn(w)²]``, same rule."""
    x, w = _gaussian_rule(max_degree, rule, quadrature_degree, breakpoints)
    f = np.asarray(fn(x), dtype=np.float64)
    if f.shape != x.shape:
        raise ValueError(
            f"activation must be elementwise: shape {x.shape} -> {x.shape}, got {f.shape}"
        )
    live = w > 0
    if not np.isfinite(f[live]).all():
        raise ValueError("activation returned NaN or inf inside the Gaussian quadrature range")
    f = np.where(live, f, 0.0)
    sqrt_w = np.sqrt(w)
    # u_n(x_i) = sqrt(w_i) h_n(x_i): Σ_i u_n(x_i)² = 1, so the recurrence never overflows.
    U = hermite_polynomials(max_degree, x) * sqrt_w
    return U @ (sqrt_w * f), float(w @ f**2)


def hermite_coefficients(
    activation: Activation,
    max_degree: int,
    *,
    normalized: bool = True,
    derivative: bool = False,
    quadrature_degree: int | None = None,
    rule: str = "legendre",
    breakpoints: Sequence[float] = (0.0,),
) -> Float[np.ndarray, " k1"]:
    r"""Hermite coefficients of ``σ`` (or of ``σ'`` with ``derivative=True``) up to degree ``K``.

    ``normalized=True``: ``a_n = E[σ(w) h_n(w)]`` in the orthonormal basis ``h_n = He_n/sqrt(n!)``,
    so ``σ = Σ a_n h_n`` and ``Σ a_n² = E[σ(w)²]`` (Parseval). ``normalized=False``: ``c_n =
    a_n/sqrt(n!)`` with ``σ = Σ c_n He_n`` (probabilists' ``He_n``, the paper's Eq. 16 normalisation
    ``c_n = E[σ He_n]/n!``).

    Quadrature. ``rule="legendre"`` (default): composite Gauss–Legendre (panels of 32 nodes) on
    ``[-L, L]``, ``L = max(40, 2 sqrt(K) + 20)`` (the Gaussian density underflows beyond
    ``|x| ≈ 38.6``), split at ``breakpoints``; exponentially convergent for activations that are
    smooth away from the breakpoints (ReLU and its step derivative: kink/jump at 0). Measured max
    error against the closed forms (ReLU, erf, ``cos``) for ``K`` up to 400: ``≤ 4e-16``.
    ``rule="hermite"``: one Gauss–Hermite rule (``scipy.special.roots_hermitenorm``), exponentially
    convergent for smooth ``σ`` but only ``O(1/q)`` for ReLU (max error ``8e-4`` with ``q = 200``,
    ``5e-5`` with ``q = 3000``, ``K = 100``). ``h_n`` comes from the factorial-free recurrence of
    ``hermite_polynomials`` scaled by the square roots of the weights (``Σ_i w_i h_n(x_i)² = 1``),
    so ``K`` in the hundreds neither overflows nor underflows.

    Args:
      activation: name in ``activations.ACTIVATIONS`` or a callable (NumPy or JAX, elementwise).
      max_degree: largest degree ``K ≥ 0``.
      normalized: orthonormal ``a_n`` (True) or ``He``-coefficients ``c_n`` (False).
      derivative: expand ``σ'`` instead of ``σ`` (closed form for names, ``jax.grad`` for
        callables).
      quadrature_degree: ``"legendre"``: number of 32-node panels on each interval between
        breakpoints (default ``ceil(L)``, panels of width ``≤ 1``); ``"hermite"``: the Gauss–Hermite
        degree (default ``max(200, 2K + 64)``).
      rule: ``"legendre"`` or ``"hermite"``.
      breakpoints: points where ``σ`` (or ``σ'``) is not smooth (``"legendre"`` only).

    Returns:
      float64 NumPy array ``(K + 1,)``.

    Example:
      >>> np.round(hermite_coefficients("relu", 4), 8)  # 1/√(2π), 1/2, 1/(2√π), 0, -1/(4√(3π))
      array([ 0.39894228,  0.5       ,  0.28209479,  0.        , -0.08143375])
    """
    K = val.check_positive_int(max_degree, "max_degree", minimum=0)
    fn = numpy_derivative(activation) if derivative else numpy_activation(activation)
    a, _ = _coefficients_and_norm(
        fn, K, rule=rule, quadrature_degree=quadrature_degree, breakpoints=breakpoints
    )
    if normalized:
        return a
    return a * np.exp(-0.5 * special.gammaln(np.arange(K + 1) + 1.0))


def two_layer_power_series(
    activation: Activation,
    max_degree: int,
    *,
    method: str = "derivative",
    **quadrature: Any,
) -> tuple[Float[np.ndarray, " k1"], Float[np.ndarray, " k1"]]:
    r"""Power-series coefficients of the two layers' NTK contributions (paper Eqs. 8–9, §5.4).

    ``κ^(1)(u) = E[σ(w·x)σ(w·x')] = Σ_i [κ^(1)]_i u^i`` with ``[κ^(1)]_i = a_i²`` (Mehler, paper Eq.
    12) and ``κ^(0)(u) = u E[σ'(w·x)σ'(w·x')]`` with ``[κ^(0)]_i = (a'_{i-1})²`` (``[κ^(0)]_0 =
    0``), ``u = ⟨x, x'⟩`` for unit-norm ``x, x'`` and ``w ~ N(0, I)`` (``models.init_mlp(...,
    depth=2, input_scaling="none")``: ``layer_0`` ↔ ``κ^(0)``, ``layer_1`` ↔ ``κ^(1)``).

    Args:
      activation: name or callable.
      max_degree: largest power ``K ≥ 0``.
      method: ``"derivative"`` (default): ``a'_n`` by quadrature of ``σ'`` itself, independent of
        the relation below; ``"relation"``: ``[κ^(0)]_i = i a_i²`` from ``a'_n = sqrt(n+1) a_{n+1}``
        (module docstring).
      **quadrature: ``quadrature_degree``, ``rule``, ``breakpoints`` of ``hermite_coefficients``.

    Returns:
      ``(k0, k1)``: float64 arrays ``(K + 1,)`` of the coefficients of ``u^0 … u^K``.
    """
    K = val.check_positive_int(max_degree, "max_degree", minimum=0)
    val.check_choice(method, "method", ("derivative", "relation"))
    a = hermite_coefficients(activation, K, **quadrature)
    k1 = a**2
    if method == "relation":
        return np.arange(K + 1) * k1, k1
    k0 = np.zeros(K + 1)
    if K >= 1:
        k0[1:] = hermite_coefficients(activation, K - 1, derivative=True, **quadrature) ** 2
    return k0, k1


def hermite_ratio(
    activation: Activation,
    max_degree: int,
    *,
    zero_tol: float = 1e-10,
    **quadrature: Any,
) -> Float[np.ndarray, " k1"]:
    r"""Per-degree ratio ``r(i) = [κ^(0)]_i / [κ^(1)]_i`` (paper Theorem 2), NaN where undefined.

    Computed from ``two_layer_power_series(method="derivative")`` (``σ'`` expanded directly), so it
    *tests* the relation ``r(i) = i`` rather than assuming it. ``r(i)`` is NaN where
    ``[κ^(1)]_i = a_i²`` is zero or unresolved, ``|a_i| ≤ zero_tol · sqrt(E[σ²])``: odd ``i ≥ 3``
    for ReLU, GELU and softplus (``σ(w) - w/2`` is even for all three), even ``i`` for the odd
    activations tanh, erf, sin. ``[κ^(0)]_0 = 0``, so ``r(0) = 0`` when ``a_0 ≠ 0``. With the
    quadrature's absolute error ``≲ 1e-15 sqrt(E[σ²])`` on ``a_i``, unmasked ratios have relative
    error ``≲ 1e-15/zero_tol``.

    Returns:
      float64 array ``(K + 1,)``.
    """
    K = val.check_positive_int(max_degree, "max_degree", minimum=0)
    tol = val.check_positive_float(zero_tol, "zero_tol")
    k0, k1 = two_layer_power_series(activation, K, **quadrature)
    _, norm_sq = _coefficients_and_norm(
        numpy_activation(activation),
        0,
        rule=quadrature.get("rule", "legendre"),
        quadrature_degree=quadrature.get("quadrature_degree"),
        breakpoints=quadrature.get("breakpoints", (0.0,)),
    )
    defined = np.sqrt(k1) > tol * math.sqrt(norm_sq)
    return np.where(defined, k0 / np.where(defined, k1, 1.0), np.nan)


# ------------------------------------------------------------
# The kernel functions κ^(0)(u), κ^(1)(u) themselves.

_CLOSED_FORMS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    # Cho & Saul (2009), arc-cosine kernels: E[relu relu] = k_1/2, E[step step] = k_0/2.
    "relu": lambda u: (
        (np.pi - np.arccos(u)) / (2 * np.pi),
        (np.sqrt(1 - u**2) + (np.pi - np.arccos(u)) * u) / (2 * np.pi),
    ),
    # Williams (1997): E[erf(x) erf(y)] = (2/π) arcsin(2ρ/3) for unit variances; its u-derivative
    # (Price).
    "erf": lambda u: ((4 / np.pi) / np.sqrt(9 - 4 * u**2), (2 / np.pi) * np.arcsin(2 * u / 3)),
    # E[sin x sin y] = (e^{-(1-ρ)} - e^{-(1+ρ)})/2 = e^{-1} sinh ρ; E[cos x cos y] = e^{-1} cosh ρ.
    "sin": lambda u: (np.cosh(u) / np.e, np.sinh(u) / np.e),
}

_POLAR_GL = np.polynomial.legendre.leggauss(24)


def _polar_rules(radius: float = 14.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Radial rule for ``∫_0^R r e^{-r²/2} f(r) dr`` and a reference rule on [0, 1] for arcs."""
    t, v = _POLAR_GL
    edges = np.linspace(0.0, radius, 4)
    r = np.concatenate([(b - a) / 2 * t + (a + b) / 2 for a, b in itertools.pairwise(edges)])
    wr = np.concatenate([(b - a) / 2 * v for a, b in itertools.pairwise(edges)])
    wr = wr * r * np.exp(-0.5 * r**2)
    # Arcs are split into 3 panels of 24 nodes each, on the reference interval [0, 1].
    e = np.linspace(0.0, 1.0, 4)
    s = np.concatenate([(b - a) / 2 * t + (a + b) / 2 for a, b in itertools.pairwise(e)])
    ws = np.concatenate([(b - a) / 2 * v for a, b in itertools.pairwise(e)])
    return r, wr, s, ws


def _pair_expectations(
    fns: Sequence[Callable[[np.ndarray], np.ndarray]], u: np.ndarray, chunk: int = 32
) -> list[np.ndarray]:
    r"""``E[f(x) f(y)]`` for each ``f`` in ``fns``; ``x, y`` standard normals, correlation ``u``.

    Polar coordinates of a standard 2-D Gaussian: ``x = r cos θ``, ``y = r cos(θ - α)``,
    ``u = cos α``, density ``r e^{-r²/2}/(2π)``. The ``θ`` range ``[-π/2, 3π/2]`` is split at the
    sign changes of ``x`` and ``y`` (``θ = π/2, α ± π/2``), so kinks/jumps of ``f`` at 0 (ReLU,
    step) sit on panel edges: each of the 4 arcs gets 72 Gauss–Legendre nodes, the radius
    ``[0, 14]`` 72 nodes. Measured max error ``≤ 1e-15`` against the closed forms (ReLU, step, erf,
    sin) and against a rule with twice the nodes (tanh, GELU, softplus).
    """
    r, wr, s, ws = _polar_rules()
    out = [np.empty(u.shape) for _ in fns]
    for start in range(0, u.size, chunk):
        uc = u[start : start + chunk]
        alpha = np.arccos(uc)[:, None]
        # Arcs [-π/2, α-π/2], [α-π/2, π/2], [π/2, α+π/2], [α+π/2, 3π/2]: lengths α, π-α, α, π-α.
        lo = np.concatenate([-np.pi / 2 + 0 * alpha, alpha - np.pi / 2, np.pi / 2 + 0 * alpha,
                             alpha + np.pi / 2], axis=1)  # fmt: skip
        length = np.concatenate([alpha, np.pi - alpha, alpha, np.pi - alpha], axis=1)
        theta = (lo[:, :, None] + length[:, :, None] * s).reshape(uc.size, -1)
        w_theta = (length[:, :, None] * ws).reshape(uc.size, -1)
        X = np.cos(theta)[:, :, None] * r
        Y = np.cos(theta - alpha)[:, :, None] * r
        for f, o in zip(fns, out):
            vals = f(X) * f(Y)
            o[start : start + chunk] = np.einsum("ut,utr,r->u", w_theta, vals, wr) / (2 * np.pi)
    return out


def two_layer_kernels(
    activation: Activation, u: Float[ArrayLike, "..."] | float, *, method: str = "auto"
) -> tuple[Float[np.ndarray, "..."], Float[np.ndarray, "..."]]:
    r"""Two-layer NTK contributions ``κ^(0)(u) = u E[σ'(x)σ'(y)]``, ``κ^(1)(u) = E[σ(x)σ(y)]``.

    ``x = w·x₁``, ``y = w·x₂`` with ``w ~ N(0, I)`` and unit-norm inputs, so ``x, y`` are standard
    normals with correlation ``u = ⟨x₁, x₂⟩`` (paper Eqs. 8–9).

    Args:
      activation: name or callable.
      u: correlations in ``[-1, 1]`` (any shape).
      method: ``"quadrature"`` (2-D Gaussian quadrature in polar coordinates,
        ``_pair_expectations``), ``"closed_form"`` (ReLU: arc-cosine kernels, Cho & Saul 2009; erf:
        Williams 1997; sin: ``e^{-1} sinh u`` / ``u e^{-1} cosh u``) or ``"auto"`` (closed form when
        there is one).

    Returns:
      ``(k0, k1)`` float64 arrays of ``u``'s shape.
    """
    val.check_choice(method, "method", ("auto", "closed_form", "quadrature"))
    u_arr = np.asarray(u, dtype=np.float64)
    if not np.isfinite(u_arr).all() or (np.abs(u_arr) > 1 + 1e-12).any():
        raise ValueError("u must be finite correlations in [-1, 1]")
    u_arr = np.clip(u_arr, -1.0, 1.0)
    name = activation if isinstance(activation, str) else None
    if method == "closed_form" and name not in _CLOSED_FORMS:
        raise ValueError(
            f"no closed form for activation {activation!r}; closed forms: {list(_CLOSED_FORMS)}"
        )
    if method != "quadrature" and name in _CLOSED_FORMS:
        dd, k1 = _CLOSED_FORMS[name](u_arr)
        return np.asarray(u_arr * dd), np.asarray(
            k1, dtype=np.float64
        )  # arrays also for a scalar u
    fns = [numpy_derivative(activation), numpy_activation(activation)]
    dd, k1 = _pair_expectations(fns, u_arr.reshape(-1))
    return (u_arr.reshape(-1) * dd).reshape(u_arr.shape), k1.reshape(u_arr.shape)


# ------------------------------------------------------------
# Corollary 1 (paper §5.6) with the corrected factor.


class Corollary1Margins(NamedTuple):
    """Per-degree Mercer eigenvalues of the two layers and the bounds of Corollary 1.

    Attributes:
      degrees: ``k = 0 … K``.
      mu0: eigenvalues ``μ_k^(0)`` of ``κ^(0)`` (first layer) on ``S^{d-1}``, uniform probability
        measure.
      mu1: eigenvalues ``μ_k^(1)`` of ``κ^(1)`` (second layer).
      ratio: ``μ_k^(0)/μ_k^(1)``; NaN where ``μ_k^(1) ≤ 100 error1`` or ``μ_k^(0) ≤ 100 error0``
        (zero or unresolved), so a reported ratio is accurate to ``≲ 2%`` (typically far better).
      bound: the corrected Corollary 1 bound ``k`` (``μ_k^(0) ≥ k μ_k^(1)``).
      paper_bound: the paper's ``k²``.
      error0: absolute error bound (estimate) of ``mu0``.
      error1: absolute error bound (estimate) of ``mu1``.
    """

    degrees: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    ratio: np.ndarray
    bound: np.ndarray
    paper_bound: np.ndarray
    error0: np.ndarray
    error1: np.ndarray


def corollary1_margins(
    activation: Activation,
    dim: int,
    max_degree: int,
    *,
    method: str = "auto",
    kernel_method: str = "auto",
    quadrature_degree: int | None = None,
    series_degree: int | None = None,
) -> Corollary1Margins:
    r"""Checks Corollary 1 (paper §5.6) for the two-layer network on ``S^{d-1}``.

    Corrected statement (``docs/theory.md``): since ``[κ^(0)]_m = m [κ^(1)]_m ≥ k [κ^(1)]_m`` for
    ``m ≥ k`` and ``μ_k = Σ_{m ≥ k} [κ]_m μ_k(t^m)`` with ``μ_k(t^m) ≥ 0`` (Lemma 3's argument),
    ``μ_k^(0) ≥ k μ_k^(1)`` for every ``k`` and ``d``. The ratio is a weighted mean of the degrees
    ``m ≥ k`` (``m ≡ k mod 2``), so it is ``≥ k`` and can be below the paper's ``k²``: for ReLU it
    equals ``(k(k+d-2) + 1)/d`` (``< k²`` for every ``k ≥ 2``; ``2.5`` at ``d = 2``, ``k = 2``).

    Args:
      activation: name or callable.
      dim: input dimension ``d ≥ 2``.
      max_degree: largest harmonic degree ``K``.
      method: ``"quadrature"``: Funk–Hecke quadrature (``funk_hecke_nodes``) of the kernel
        functions ``two_layer_kernels``, error estimate ``32 ε max|κ| / sqrt(N(d, k))`` (2.5 times
        the largest error measured, ``docs/theory.md``); ``"power_series"``:
        ``gegenbauer_eigenvalues_from_power_series`` of ``two_layer_power_series`` up to
        ``series_degree`` (default ``max(4K, K + 200)``) with the rigorous truncation bound of
        ``power_series_tail_bound`` — accurate where the series converges fast (large ``d``) and
        the eigenvalues are far below the quadrature floor; ``"auto"`` (default): both, and per
        degree the one with the smaller relative error bound.
      kernel_method: ``method`` of ``two_layer_kernels``.
      quadrature_degree: nodes of ``gegenbauer_eigenvalues``.
      series_degree: truncation degree ``M`` of the power series.

    Returns:
      ``Corollary1Margins``.
    """
    d = gegenbauer._check_dim(dim)
    K = val.check_positive_int(max_degree, "max_degree", minimum=0)
    val.check_choice(method, "method", ("auto", "quadrature", "power_series"))
    degrees = np.arange(K + 1)
    if method in ("quadrature", "auto"):
        q_mu0, q_mu1, q_err0, q_err1 = _margins_quadrature(
            activation, d, K, kernel_method, quadrature_degree
        )
    if method in ("power_series", "auto"):
        M = max(4 * K, K + 200) if series_degree is None else series_degree
        M = val.check_positive_int(M, "series_degree")
        s_mu0, s_mu1, s_err0, s_err1 = _margins_power_series(activation, d, K, M, kernel_method)
    if method == "quadrature":
        mu0, mu1, err0, err1 = q_mu0, q_mu1, q_err0, q_err1
    elif method == "power_series":
        mu0, mu1, err0, err1 = s_mu0, s_mu1, s_err0, s_err1
    else:  # per degree, the estimate with the smaller relative error bound
        with np.errstate(divide="ignore", invalid="ignore"):
            q_rel = q_err0 / np.abs(q_mu0) + q_err1 / np.abs(q_mu1)
            s_rel = s_err0 / np.abs(s_mu0) + s_err1 / np.abs(s_mu1)
        use_series = np.nan_to_num(s_rel, nan=np.inf) < np.nan_to_num(q_rel, nan=np.inf)
        mu0 = np.where(use_series, s_mu0, q_mu0)
        mu1 = np.where(use_series, s_mu1, q_mu1)
        err0 = np.where(use_series, s_err0, q_err0)
        err1 = np.where(use_series, s_err1, q_err1)
    resolved = (mu1 > 100 * err1) & (mu0 > 100 * err0)
    ratio = np.where(resolved, mu0 / np.where(resolved, mu1, 1.0), np.nan)
    return Corollary1Margins(
        degrees=degrees,
        mu0=mu0,
        mu1=mu1,
        ratio=ratio,
        bound=degrees.astype(np.float64),
        paper_bound=degrees.astype(np.float64) ** 2,
        error0=err0,
        error1=err1,
    )


def _margins_quadrature(
    activation: Activation, d: int, K: int, kernel_method: str, quadrature_degree: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``μ^(0), μ^(1)`` by Funk–Hecke quadrature of ``two_layer_kernels``, with error estimates."""
    q = (
        gegenbauer.default_quadrature_degree(d, K)
        if quadrature_degree is None
        else quadrature_degree
    )
    t, w = gegenbauer.funk_hecke_nodes(d, quadrature_degree=q)
    k0, k1 = two_layer_kernels(activation, t, method=kernel_method)
    P = gegenbauer.gegenbauer_polynomials(K, d, t)
    sqrt_n = np.sqrt([float(gegenbauer.multiplicity(d, k)) for k in range(K + 1)])
    err0 = 32 * _EPS * np.abs(k0).max() / sqrt_n
    err1 = 32 * _EPS * np.abs(k1).max() / sqrt_n
    return P @ (w * k0), P @ (w * k1), err0, err1


def _margins_power_series(
    activation: Activation, d: int, K: int, M: int, kernel_method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``μ^(0), μ^(1)`` from the power series up to ``u^M``, with rigorous truncation bounds."""
    c0, c1 = two_layer_power_series(activation, M)
    mu0 = gegenbauer.gegenbauer_eigenvalues_from_power_series(c0, d, K)
    mu1 = gegenbauer.gegenbauer_eigenvalues_from_power_series(c1, d, K)
    at_one0, at_one1 = (float(v) for v in two_layer_kernels(activation, 1.0, method=kernel_method))
    return mu0, mu1, _series_error(c0, at_one0, d, K), _series_error(c1, at_one1, d, K)


def _series_error(c: np.ndarray, at_one: float, d: int, K: int) -> np.ndarray:
    """Error bound of ``Σ_{n ≤ M} c_n μ_k(t^n)`` as an estimate of ``μ_k`` of ``Σ_n c_n t^n``.

    Truncation: ``power_series_tail_bound`` with the tail mass ``κ(1) - Σ_{n≤M} c_n``. Coefficients:
    ``c_n = a_n²`` with ``|δa_n| ≤ δ = 64 ε sqrt(κ(1))`` (measured ``≤ 2 ε``), so
    ``|δc_n| ≤ 2 sqrt(c_n) δ + δ²``, propagated through the non-negative ``μ_k(t^n)``.
    """
    delta = 64 * _EPS * math.sqrt(max(at_one, 0.0))
    tail = gegenbauer.power_series_tail_bound(max(at_one - float(c.sum()), 0.0), d, c.size)
    coeff_err = gegenbauer.gegenbauer_eigenvalues_from_power_series(
        2 * np.sqrt(c) * delta + delta**2, d, K
    )
    return tail + coeff_err
