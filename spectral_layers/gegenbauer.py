r"""Mercer eigenvalues of dot-product kernels on the sphere: Gegenbauer polynomials and Funk–Hecke.

A dot-product kernel ``κ(⟨x, x'⟩)`` on the unit sphere ``S^{d-1}`` with the **uniform probability
measure** has the spherical harmonics of degree ``k`` as eigenfunctions, with eigenvalue (Funk–Hecke
formula; Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere*, 2012, Thm.
2.22; paper §5.6, Lemma 4)

.. math::

    μ_k = \frac{ω_{d-2}}{ω_{d-1}} \int_{-1}^{1} κ(t)\, P_k(t)\, (1 - t^2)^{(d-3)/2}\, dt
        = \frac{\int_0^π κ(\cos θ) P_k(\cos θ) \sin^{d-2} θ\, dθ}{\int_0^π \sin^{d-2} θ\, dθ},

where ``ω_{d-1} = 2π^{d/2}/Γ(d/2)`` is the area of ``S^{d-1}`` and ``P_k`` is the Legendre
(Gegenbauer) polynomial of dimension ``d`` normalised to ``P_k(1) = 1``. Each ``μ_k`` has
multiplicity ``N(d, k)`` (the number of linearly independent degree-``k`` harmonics). With harmonics
``Y_{k,j}`` orthonormal in ``L²`` of the probability measure, the addition theorem
``Σ_j Y_{k,j}(x) Y_{k,j}(x') = N(d, k) P_k(⟨x, x'⟩)`` gives

.. math::

    κ(t) = \sum_k μ_k N(d, k) P_k(t), \qquad \sum_k N(d, k)\, μ_k = κ(1)
    \quad \text{(Mercer trace)}.

The Legendre-series coefficient of the paper (§5.6, ``λ_{ℓ,k}``) is ``N(d, k) μ_k``; ratios of the
two layers' coefficients at the same ``k`` equal ratios of eigenvalues.

For ``d = 2``, ``P_k = T_k`` (Chebyshev), ``N(2, k) = 2`` for ``k ≥ 1`` (eigenfunctions
``√2 cos kθ``, ``√2 sin kθ``) and ``μ_k = (1/π) ∫_0^π κ(cos θ) cos(kθ) dθ``.

Accuracy (measured, float64; ``docs/theory.md``): the error of ``gegenbauer_eigenvalues`` is at the
rounding floor ``|μ_k - μ_k^exact| ≤ 12.4 ε κ(1) / sqrt(N(d, k))`` (``ε = 2.2e-16``) for ``d`` from
2 to 1000 and ``k ≤ 50`` (kernels exp, ``arcsin(2t/3)``, ``sinh``; ReLU arc-cosine kernels at
``d = 2, 3``). Eigenvalues far below that floor (e.g. ``μ_50 ≈ 3e-80`` for ``κ = exp`` on the
circle) are not resolved by any ``L²`` quadrature in double precision; for kernels with a known
non-negative power series ``gegenbauer_eigenvalues_from_power_series`` sums non-negative terms and
keeps the relative accuracy of the coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float
from scipy import special

from spectral_layers import _validation as val

__all__ = [
    "default_quadrature_degree",
    "funk_hecke_monomial",
    "funk_hecke_monomials",
    "funk_hecke_nodes",
    "gegenbauer_eigenvalues",
    "gegenbauer_eigenvalues_from_power_series",
    "gegenbauer_polynomial",
    "gegenbauer_polynomials",
    "mercer_trace",
    "multiplicity",
    "power_series_tail_bound",
    "sphere_moment",
]

_PANEL_NODES = 32
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(_PANEL_NODES)
_METHODS = ("theta", "jacobi")


def _check_dim(dim: Any) -> int:
    return val.check_positive_int(dim, "dim", minimum=2)


def _check_degree(k: Any, name: str) -> int:
    return val.check_positive_int(k, name, minimum=0)


def multiplicity(dim: int, k: int) -> int:
    r"""Number ``N(d, k)`` of independent spherical harmonics of degree ``k`` on ``S^{d-1}``.

    ``N(d, k) = \binom{k+d-1}{d-1} - \binom{k+d-3}{d-1} = \frac{2k+d-2}{k}\binom{k+d-3}{d-2}`` for
    ``k ≥ 1``, ``N(d, 0) = 1`` (Atkinson & Han 2012, Eq. 2.10); e.g. ``N(2, k) = 2``,
    ``N(3, k) = 2k + 1``, ``N(4, k) = (k + 1)²``. Computed with Python integers, so exact for any
    ``d``.

    Args:
      dim: ambient dimension ``d ≥ 2`` (the sphere is ``S^{d-1}``).
      k: degree ``k ≥ 0``.

    Returns:
      ``N(d, k)`` as a Python ``int``.

    Raises:
      ValueError: if ``dim < 2`` or ``k < 0``. TypeError: for non-integers.
    """
    d = _check_dim(dim)
    k = _check_degree(k, "k")
    if k == 0:
        return 1
    return math.comb(k + d - 1, d - 1) - math.comb(k + d - 3, d - 1)


def gegenbauer_polynomials(
    max_degree: int, dim: int, t: Float[ArrayLike, "..."]
) -> Float[np.ndarray, "k1 ..."]:
    r"""Table ``P_0(t) … P_K(t)``: Legendre polynomials of dimension ``d``, ``P_k(1) = 1``.

    Three-term recurrence (Atkinson & Han 2012, Eq. 2.76), stable on ``[-1, 1]``:

    .. math::

        P_{k+1}(t) = \frac{2k + d - 2}{k + d - 2}\, t\, P_k(t) - \frac{k}{k + d - 2}\, P_{k-1}(t),
        \quad P_0 = 1,\ P_1 = t.

    ``P_k = C_k^{(λ)} / C_k^{(λ)}(1)`` with ``λ = (d - 2)/2`` (Gegenbauer); ``d = 2``: Chebyshev
    ``T_k``; ``d = 3``: Legendre.

    Args:
      max_degree: largest degree ``K ≥ 0``.
      dim: dimension ``d ≥ 2``.
      t: points (any shape), normally in ``[-1, 1]``.

    Returns:
      float64 array of shape ``(K + 1, *t.shape)``.
    """
    K = _check_degree(max_degree, "max_degree")
    d = _check_dim(dim)
    return _three_term_table(
        K, t, lambda k, t, p, p_prev: ((2 * k + d - 2) * t * p - k * p_prev) / (k + d - 2)
    )


def _three_term_table(
    max_degree: int,
    t: Float[ArrayLike, "..."],
    step: Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> Float[np.ndarray, "k1 ..."]:
    """Table ``p_0(t) … p_K(t)`` of polynomials with ``p_0 = 1``, ``p_1 = t`` and a three-term recurrence
    ``p_{k+1} = step(k, t, p_k, p_{k-1})`` (Gegenbauer here, Hermite in ``hermite``); float64."""
    t = np.asarray(t, dtype=np.float64)
    P = np.empty((max_degree + 1, *t.shape))
    P[0] = 1.0
    if max_degree >= 1:
        P[1] = t
    for k in range(1, max_degree):
        P[k + 1] = step(k, t, P[k], P[k - 1])
    return P


def gegenbauer_polynomial(k: int, dim: int, t: Float[ArrayLike, "..."]) -> Float[np.ndarray, "..."]:
    """``P_k(t)``: the degree-``k`` Legendre polynomial of dimension ``d`` with ``P_k(1) = 1``.

    See ``gegenbauer_polynomials`` (same recurrence). Returns a float64 array of ``t``'s shape.
    """
    return gegenbauer_polynomials(_check_degree(k, "k"), dim, t)[-1]


def sphere_moment(n: int, dim: int) -> float:
    r"""``E[t^n]`` for ``t = ⟨x, e⟩``, ``x`` uniform on ``S^{d-1}`` (Funk–Hecke moments).

    ``E[t^{2j}] = (1/2)_j / (d/2)_j = B(j + 1/2, (d-1)/2) / B(1/2, (d-1)/2)``; odd moments vanish.
    Used by ``power_series_tail_bound`` (``E|t|^n`` bounds ``|μ_k(t^n)|`` since ``|P_k| ≤ 1``).
    """
    n = _check_degree(n, "n")
    d = _check_dim(dim)
    if n % 2:
        return 0.0
    return math.exp(special.betaln(n / 2 + 0.5, (d - 1) / 2) - special.betaln(0.5, (d - 1) / 2))


def _abs_moment(n: int, d: int) -> float:
    """``E|t|^n`` (any ``n ≥ 0``) for the Funk–Hecke measure of dimension ``d``."""
    return math.exp(special.betaln(n / 2 + 0.5, (d - 1) / 2) - special.betaln(0.5, (d - 1) / 2))


def funk_hecke_monomial(n: int, k: int, dim: int) -> float:
    r"""Closed-form eigenvalue ``μ_k`` of ``κ(t) = t^n`` (uniform probability on ``S^{d-1}``).

    Rodrigues' formula ``P_k(t)(1-t²)^{λ-1/2} = c_k (d/dt)^k (1-t²)^{k+λ-1/2}`` with
    ``c_k = (-1)^k / (2^k (λ+1/2)_k)``, ``λ = (d-2)/2`` (Atkinson & Han 2012, Eq. 2.70), and ``k``
    integrations by parts give ``μ_k(t^n) = 0`` if ``n < k`` or ``n - k`` is odd, and for
    ``n = k + 2j``

    .. math::

        μ_k(t^n) = \frac{n!}{(n-k)!\, 2^k\, ((d-1)/2)_k}
                   \frac{B(j + 1/2,\ k + (d-1)/2)}{B(1/2,\ (d-1)/2)}
                 = \frac{n!}{(n-k)!\, 2^k} \frac{(1/2)_j}{(d/2)_{j+k}} .

    (``k = 0``: the moments ``E[t^{2j}] = (1/2)_j/(d/2)_j`` of ``t = ⟨x, e⟩``.) All non-zero values
    are positive (Schoenberg 1942: ``t^n`` is positive definite on every sphere; these are the
    paper's ``β^n_k ≥ 0`` of Eq. 18 and Lemma 3, up to the factor ``N(d, k)``). Evaluated as a
    product of ratios (relative error ``≲ (n/2) ε``, no overflow; values below ``1e-308`` underflow
    to 0).

    Args:
      n: monomial degree ``n ≥ 0``.
      k: harmonic degree ``k ≥ 0``.
      dim: dimension ``d ≥ 2``.

    Returns:
      ``μ_k(t^n)`` as a float.
    """
    n = _check_degree(n, "n")
    k = _check_degree(k, "k")
    d = _check_dim(dim)
    if n < k or (n - k) % 2:
        return 0.0
    return float(funk_hecke_monomials(n, k, d)[k, n])


def funk_hecke_monomials(max_power: int, max_degree: int, dim: int) -> Float[np.ndarray, "k1 n1"]:
    """Matrix ``B[k, n] = μ_k(t^n)`` for ``k ≤ K``, ``n ≤ max_power`` (``funk_hecke_monomial``).

    Built per ``k`` from ``μ_k(t^k) = Π_{i=1}^{k} i/(d + 2i - 2)`` and the ratio
    ``μ_k(t^{n+2})/μ_k(t^n) = (n+1)(n+2) / (4 (j+1)(d/2 + j + k))`` (``n = k + 2j``), both from the
    closed form; every partial product stays in ``[0, 1]``.
    """
    M = _check_degree(max_power, "max_power")
    K = _check_degree(max_degree, "max_degree")
    d = _check_dim(dim)
    B = np.zeros((K + 1, M + 1))
    for k in range(min(K, M) + 1):
        i = np.arange(1, k + 1, dtype=np.float64)
        start = float(np.prod(i / (d + 2 * i - 2)))
        n = np.arange(k, M - 1, 2, dtype=np.float64)  # n -> n + 2 steps that stay <= M
        j = (n - k) / 2
        steps = (n + 1) * (n + 2) / (4 * (j + 1) * (d / 2 + j + k))
        B[k, k : M + 1 : 2] = start * np.concatenate([[1.0], np.cumprod(steps)])
    return B


def _theta_rule(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre rule on ``[0, π]``: ``ceil(num_nodes/32)`` panels of 32 nodes."""
    panels = max(1, math.ceil(num_nodes / _PANEL_NODES))
    edges = np.linspace(0.0, math.pi, panels + 1)
    half = np.diff(edges)[:, None] / 2
    theta = (half * _GL_NODES + (edges[:-1, None] + half)).ravel()
    weight = (half * _GL_WEIGHTS).ravel()
    return theta, weight


def default_quadrature_degree(dim: int, max_degree: int) -> int:
    """Default node count of ``gegenbauer_eigenvalues``: ``32 × max(32, K/2 + 8, sqrt(d)/2)``."""
    panels = max(32, math.ceil(max_degree / 2) + 8, math.ceil(math.sqrt(dim) / 2))
    return _PANEL_NODES * panels


def _default_nodes(method: str, d: int, K: int) -> int:
    return default_quadrature_degree(d, K) if method == "theta" else max(128, K + 64)


def funk_hecke_nodes(
    dim: int, *, quadrature_degree: int, method: str = "theta"
) -> tuple[Float[np.ndarray, " q"], Float[np.ndarray, " q"]]:
    r"""Nodes ``t_i``, weights ``w_i`` with ``Σ_i w_i f(t_i) ≈ E[f(⟨x, e⟩)]``, ``x ~ U(S^{d-1})``.

    ``method="theta"``: composite Gauss–Legendre in ``θ = arccos t`` on ``[0, π]`` with the weight
    ``sin^{d-2} θ`` folded into ``w_i`` — exact in the limit for kernels that are analytic in ``θ``,
    which includes the arc-cosine kernels whose ``(1 - t²)^{1/2}``, ``arccos t`` singularities at
    ``t = ±1`` slow down any rule in ``t``. ``method="jacobi"``: one Gauss–Jacobi rule in ``t`` with
    weight ``(1 - t²)^{(d-3)/2}``, exact for polynomials of degree ``< 2 × quadrature_degree``
    (``scipy.special.roots_jacobi`` nodes, polished by Newton's method; fine for smooth kernels,
    only algebraically convergent for the ReLU kernels). Weights are normalised to sum to 1 (the
    ``ω_{d-2}/ω_{d-1}`` factor).
    """
    d = _check_dim(dim)
    q = val.check_positive_int(quadrature_degree, "quadrature_degree")
    val.check_choice(method, "method", _METHODS)
    if method == "theta":
        theta, w = _theta_rule(q)
        t = np.cos(theta)
        if d != 2:
            w = w * np.sin(theta) ** (d - 2)
    else:
        alpha = (d - 3) / 2
        t, _ = special.roots_jacobi(q, alpha, alpha)
        if not np.isfinite(t).all():
            raise ValueError(
                f"scipy.special.roots_jacobi failed for dim={d}, quadrature_degree={q}; "
                "use method='theta'"
            )
        # scipy's nodes carry errors up to ~1e-13 (e.g. d = 3, q ≥ 150): polish them by Newton's
        # method on P_q (the Jacobi(α, α) polynomials are the P_k up to scale), with (1-t²) P_q' = q
        # (P_{q-1} - t P_q). Gauss weights: w_i ∝ 1 / ((1 - t_i²) P_q'(t_i)²).
        for _ in range(3):
            P = gegenbauer_polynomials(q, d, t)
            dP = q * (P[q - 1] - t * P[q]) / (1 - t**2)
            t = t - P[q] / dP
        P = gegenbauer_polynomials(q, d, t)
        dP = q * (P[q - 1] - t * P[q]) / (1 - t**2)
        w = 1.0 / ((1 - t**2) * dP**2)
    return t, w / w.sum()


def _evaluate_kernel(kernel: Callable, t: np.ndarray) -> np.ndarray:
    """``kernel(t)`` as float64, checked (shape, finite); warns if it was computed in float32."""
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable of u (vectorised), got {type(kernel).__name__}")
    out = kernel(t)
    val.warn_if_low_precision(
        out, "kernel", "eigenvalues are then only accurate to that precision", stacklevel=3
    )
    values = np.asarray(out, dtype=np.float64)
    if values.shape != t.shape:
        try:
            values = np.broadcast_to(values, t.shape).copy()
        except ValueError:
            raise ValueError(
                f"kernel must map an array of shape {t.shape} to the same shape (vectorised), "
                f"got shape {values.shape}"
            ) from None
    if not np.isfinite(values).all():
        bad = t[~np.isfinite(values)]
        raise ValueError(f"kernel returned NaN or inf, e.g. at u = {bad[:3].tolist()}")
    return values


def gegenbauer_eigenvalues(
    kernel: Callable[[np.ndarray], Any],
    dim: int,
    max_degree: int,
    *,
    quadrature_degree: int | None = None,
    method: str = "theta",
) -> Float[np.ndarray, " k1"]:
    r"""Mercer eigenvalues ``μ_0 … μ_K`` of ``κ(⟨x, x'⟩)`` on ``S^{d-1}`` (uniform probability).

    Funk–Hecke (module docstring): ``μ_k = E_t[κ(t) P_k(t)]`` with ``t = ⟨x, e⟩``, ``x`` uniform,
    computed by quadrature (``funk_hecke_nodes``) and the recurrence of ``gegenbauer_polynomials``.
    Eigenvalue ``μ_k`` has multiplicity ``multiplicity(dim, k)``; ``mercer_trace(μ, dim) → κ(1)`` as
    ``K → ∞``.

    Accuracy: absolute error ``≤ 12.4 ε κ(1)/sqrt(N(d, k))`` measured against exact values for
    ``2 ≤ d ≤ 1000``, ``k ≤ 50`` (the rounding floor of the cancellation in ``∫ κ P_k``;
    ``docs/theory.md``). Relative accuracy is lost once ``μ_k`` is near that floor (smooth kernels
    at large ``k``): see ``gegenbauer_eigenvalues_from_power_series``.

    Args:
      kernel: vectorised callable ``u ↦ κ(u)`` on ``[-1, 1]`` (NumPy or JAX; evaluated on a float64
        NumPy array — a JAX function without x64 computes in float32 and a warning is raised).
      dim: ambient dimension ``d ≥ 2`` (sphere ``S^{d-1}``).
      max_degree: largest degree ``K ≥ 0``.
      quadrature_degree: number of quadrature nodes; default ``default_quadrature_degree(dim, K)``
        (``≥ 1024``) for ``"theta"``, ``max(128, K + 64)`` for ``"jacobi"``.
      method: ``"theta"`` (composite Gauss–Legendre in ``θ``, default; also accurate for kernels
        with ``arccos``/``sqrt(1-t²)`` endpoint singularities such as ReLU's) or ``"jacobi"``
        (Gauss–Jacobi in ``t``).

    Returns:
      float64 array ``(K + 1,)`` of ``μ_k`` (NumPy, so the result does not depend on
      ``jax_enable_x64``).

    Raises:
      TypeError: if ``kernel`` is not callable. ValueError: ``dim < 2``, ``max_degree < 0``, a
        kernel that returns NaN/inf or an array of the wrong shape.
    """
    d = _check_dim(dim)
    K = _check_degree(max_degree, "max_degree")
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable of u (vectorised), got {type(kernel).__name__}")
    q = _default_nodes(method, d, K) if quadrature_degree is None else quadrature_degree
    t, w = funk_hecke_nodes(d, quadrature_degree=q, method=method)
    values = _evaluate_kernel(kernel, t)
    return gegenbauer_polynomials(K, d, t) @ (w * values)


def gegenbauer_eigenvalues_from_power_series(
    coeffs: Sequence[float] | np.ndarray, dim: int, max_degree: int
) -> Float[np.ndarray, " k1"]:
    r"""``μ_k = Σ_n c_n μ_k(t^n)`` for ``κ(t) = Σ_{n ≤ M} c_n t^n`` (paper Eqs. 18–19).

    Uses ``funk_hecke_monomial``. For non-negative ``c_n`` every term is non-negative, so the result
    has the relative accuracy of the coefficients (no cancellation), exact zeros where all
    contributing ``c_n`` vanish, and is a lower bound on the eigenvalues of the untruncated series;
    ``power_series_tail_bound`` bounds the truncation error.

    Args:
      coeffs: power-series coefficients ``c_0 … c_M`` (1-D).
      dim: dimension ``d ≥ 2``.
      max_degree: largest harmonic degree ``K ≥ 0``.

    Returns:
      float64 array ``(K + 1,)``.
    """
    c = np.asarray(coeffs, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"coeffs must be a non-empty 1-D array, got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("coeffs contains NaN or inf values")
    d = _check_dim(dim)
    K = _check_degree(max_degree, "max_degree")
    return funk_hecke_monomials(c.size - 1, K, d) @ c


def power_series_tail_bound(tail_mass: float, dim: int, first_omitted: int) -> float:
    r"""Bound on ``|Σ_{n ≥ M+1} c_n μ_k(t^n)|`` for ``c_n ≥ 0`` with ``Σ_{n > M} c_n = tail_mass``.

    ``|μ_k(t^n)| = |E[t^n P_k(t)]| ≤ E|t|^n ≤ E|t|^{M+1}`` (``|P_k| ≤ 1`` on ``[-1, 1]``, moments
    decrease in ``n``), so the tail is at most ``tail_mass · E|t|^{M+1}`` for every ``k``.
    ``tail_mass = κ(1) - Σ_{n≤M} c_n``.
    """
    if not np.isfinite(tail_mass) or tail_mass < 0:
        raise ValueError(f"tail_mass must be finite and >= 0, got {tail_mass!r}")
    return float(tail_mass) * _abs_moment(
        _check_degree(first_omitted, "first_omitted"), _check_dim(dim)
    )


def mercer_trace(eigenvalues: Sequence[float] | np.ndarray, dim: int) -> float:
    r"""``Σ_{k ≤ K} N(d, k) μ_k``: the truncated Mercer trace, which tends to ``κ(1)``.

    ``N(d, k)`` is exact (Python ``int``) and converted to float per term (finite for ``d`` in the
    hundreds and ``k`` up to a few hundred).
    """
    mu = np.asarray(eigenvalues, dtype=np.float64)
    if mu.ndim != 1:
        raise ValueError(f"eigenvalues must be 1-D (μ_0 … μ_K), got shape {mu.shape}")
    d = _check_dim(dim)
    return float(sum(float(multiplicity(d, k)) * float(m) for k, m in enumerate(mu)))
