"""Points on the sphere and target functions of a given spherical-harmonic degree.

* ``cosine_target``: ``cos kθ`` on S¹ (paper §6.1.1).
* ``gegenbauer_sum_target``: ``Σ_{l=1}^{L} P_k(⟨x, x_l⟩)`` for fixed centres ``x_l`` (paper §6.2). By the
  addition theorem (paper Lemma 4) ``P_k(⟨x, x_l⟩) = N(d,k)^{-1} Σ_j Y_{k,j}(x_l) Y_{k,j}(x)``, so the sum is a
  harmonic of exact degree ``k``.
* ``project_out_lower_degrees``: on a finite sample a degree-``k`` harmonic is *not* orthogonal to lower degrees
  in the empirical measure; this removes its least-squares component on all polynomials of degree ``< k``
  (which, restricted to the sphere, span exactly the harmonics of degree ``< k``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from spectral_layers import _validation as val
from spectral_layers.gegenbauer import gegenbauer_polynomial, multiplicity

__all__ = [
    "cosine_target",
    "equispaced_circle",
    "gegenbauer_sum_target",
    "gegenbauer_target_sq_norm",
    "lower_degree_basis",
    "polynomial_features",
    "project_out_lower_degrees",
    "random_centers",
    "sample_sphere",
    "sphere_target",
]


def sample_sphere(key: jax.Array, n: int, dim: int, *, dtype: Any = None) -> Float[Array, "n dim"]:
    """``n`` points drawn uniformly on the unit sphere ``S^{dim-1}`` (normalised Gaussians)."""
    n = val.check_positive_int(n, "n")
    dim = val.check_positive_int(dim, "dim", minimum=2)
    dtype = jnp.result_type(float) if dtype is None else dtype
    z = jax.random.normal(key, (n, dim), dtype)
    return z / jnp.linalg.norm(z, axis=1, keepdims=True)


def equispaced_circle(n: int, *, offset: float = 0.0, dtype: Any = None) -> Float[Array, "n 2"]:
    """``n`` equispaced points ``(cos θ_j, sin θ_j)``, ``θ_j = offset + 2πj/n`` on S¹.

    On these points the Gram matrix of a dot-product kernel is circulant, so ``cos kθ`` is an exact
    eigenvector of it (the finite-sample bias of the quadratic-form ratio vanishes up to aliasing).
    """
    n = val.check_positive_int(n, "n")
    dtype = jnp.result_type(float) if dtype is None else dtype
    theta = offset + 2 * jnp.pi * jnp.arange(n, dtype=dtype) / n
    return jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)


def _check_degree(k: Any) -> int:
    return val.check_positive_int(k, "k", minimum=0)


def cosine_target(x: Float[ArrayLike, "n 2"], k: int) -> Float[Array, " n"]:
    """``cos kθ`` with ``θ`` the polar angle of ``x ∈ S¹`` (paper §6.1.1)."""
    k = _check_degree(k)
    x = val.check_inputs(x, "x", in_dim=2)
    return jnp.cos(k * jnp.arctan2(x[:, 1], x[:, 0]))


def random_centers(key: jax.Array, dim: int, num_centers: int = 4, *, dtype: Any = None):
    """The paper's ``L = 4`` random centres ``x_l``, uniform on ``S^{dim-1}`` (paper §6.2)."""
    return sample_sphere(key, num_centers, dim, dtype=dtype)


def gegenbauer_sum_target(
    x: Float[ArrayLike, "n d"], k: int, centers: Float[ArrayLike, "c d"]
) -> Float[Array, " n"]:
    """``Σ_l P_k(⟨x, x_l⟩)`` with ``P_k`` the dimension-``d`` Gegenbauer polynomial, ``P_k(1) = 1`` (§6.2)."""
    k = _check_degree(k)
    x = val.check_inputs(x, "x")
    centers = val.check_inputs(centers, "centers", in_dim=x.shape[1])
    u = np.clip(np.asarray(x @ centers.T, dtype=np.float64), -1.0, 1.0)
    y = np.asarray(gegenbauer_polynomial(k, x.shape[1], u)).sum(axis=1)
    return jnp.asarray(y, dtype=x.dtype)


def sphere_target(
    x: Float[ArrayLike, "n d"], k: int, centers: Float[ArrayLike, "c d"] | None = None
) -> Float[Array, " n"]:
    """The paper's degree-``k`` target: ``cos kθ`` for ``d = 2``, the Gegenbauer sum for ``d > 2``."""
    if x.shape[1] == 2:
        return cosine_target(x, k)
    if centers is None:
        raise ValueError("centers are required for d > 2 (see random_centers)")
    return gegenbauer_sum_target(x, k, centers)


def polynomial_features(x: Float[ArrayLike, "n d"], max_degree: int) -> np.ndarray:
    """All monomials of total degree ``<= max_degree`` in the coordinates of ``x``, as columns (float64)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    cols = [np.ones(n)]
    for deg in range(1, max_degree + 1):
        for idx in itertools.combinations_with_replacement(range(d), deg):
            cols.append(np.prod(x[:, idx], axis=1))
    return np.stack(cols, axis=1)


def project_out_lower_degrees(x: Float[ArrayLike, "n d"], y: Float[ArrayLike, "*t n"], k: int):
    """Removes from ``y`` its least-squares fit by polynomials of degree ``< k`` on the sample ``x``.

    On the sphere these polynomials span exactly the harmonics of degree ``< k``, so the result is orthogonal
    (in the empirical measure) to every lower degree: the finite-sample correction of the quadratic-form
    ratio (see ``experiments.protocols.sphere``). ``k = 0`` returns ``y`` unchanged.

    The orthonormal basis of the monomials ``B`` (``polynomial_features``, ``(n, p)``) is built with matrix
    products only (CholeskyQR2 with an eigendecomposition, so that the exact linear dependences of the
    monomials on the sphere are dropped): ``BᵀB = V Λ Vᵀ``, keep ``λ > 1e-12 λ_max`` (the dependences give
    ``λ/λ_max ~ 1e-32``; the smallest kept is ``~3e-4`` for d = 10, k = 4), ``Q = B V Λ^{-1/2}``, then once
    more on ``Q`` to restore orthogonality to rounding level (Fukaya et al., 2014, "CholeskyQR2: a simple and
    communication-avoiding algorithm for computing a tall-skinny QR factorization"). The residual is
    orthogonal to the monomials to ``1e-15`` relative (an SVD of ``B`` with a ``1e-10`` singular-value cut:
    ``4e-8``), and at n = 4096, p = 286 it is several times faster.

    Args:
      x: points ``(n, d)``.
      y: one target ``(n,)`` or several ``(t, n)``.
      k: the lowest degree to keep.

    Returns:
      The residual, shaped and typed like ``y``.

    Raises:
      ValueError: if the number of monomials ``C(d + k - 1, k - 1)`` is not smaller than ``n``.
    """
    k = _check_degree(k)
    if k == 0:
        return y
    Q = lower_degree_basis(x, k)
    y_np = np.asarray(y, dtype=np.float64)
    resid = y_np - (y_np @ Q) @ Q.T
    return jnp.asarray(resid, dtype=jnp.asarray(y).dtype)


def lower_degree_basis(x: Float[ArrayLike, "n d"], k: int) -> Float[np.ndarray, "n p"]:
    """Orthonormal basis ``Q`` (float64, ``QᵀQ = I``) of the polynomials of degree ``< k`` on the sample.

    The basis of ``project_out_lower_degrees`` (CholeskyQR2 of the monomials, exact dependences on the
    sphere dropped; see there): ``y − Q Qᵀ y`` is that projection. On the sphere its rank ``p`` is
    ``Σ_{j<k} N(d, j)`` (e.g. 275 for d = 10, k = 4); ``k = 0`` gives an ``(n, 0)`` array.

    Raises:
      ValueError: if the number of monomials ``C(d + k - 1, k - 1)`` is not smaller than ``n``.
    """
    k = _check_degree(k)
    x_np = np.asarray(x, dtype=np.float64)
    n, d = x_np.shape
    if k == 0:
        return np.zeros((n, 0))
    num_features = math.comb(d + k - 1, k - 1)
    if num_features >= n:
        raise ValueError(
            f"projecting out degrees < {k} in d = {d} needs more than {num_features} points, got n = {n}"
        )
    B = polynomial_features(x_np, k - 1)
    lam, V = np.linalg.eigh(B.T @ B)
    keep = lam > lam[-1] * 1e-12
    Q = B @ (V[:, keep] / np.sqrt(lam[keep]))
    lam, V = np.linalg.eigh(Q.T @ Q)  # second pass: QᵀQ = I + O(cond(B)² ε)
    return Q @ (V / np.sqrt(lam))


def gegenbauer_target_sq_norm(centers: Float[ArrayLike, "c d"], k: int) -> float:
    """``‖g_k‖² = E_x[(Σ_l P_k(⟨x, x_l⟩))²] = Σ_{l,l'} P_k(⟨x_l, x_l'⟩) / N(d, k)`` (uniform ``x`` on the sphere).

    The exact squared ``L²`` norm of ``gegenbauer_sum_target`` under the uniform probability measure, from the
    addition theorem (paper Lemma 4: ``E_x[P_k(⟨x, a⟩) P_k(⟨x, b⟩)] = P_k(⟨a, b⟩) / N(d, k)``).
    """
    k = _check_degree(k)
    c = np.asarray(centers, dtype=np.float64)
    u = np.clip(c @ c.T, -1.0, 1.0)
    return float(np.sum(gegenbauer_polynomial(k, c.shape[1], u)) / multiplicity(c.shape[1], k))
