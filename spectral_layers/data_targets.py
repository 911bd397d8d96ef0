"""Target functions of increasing "frequency" on real data (paper §6.3 settings 1–3, App. 14–15).

On MNIST/CIFAR there is no Mercer basis in closed form, so the paper probes frequency with three
families:

1. ``radial_sinusoid``: radial waves ``sin(k‖x‖)`` (Rahaman et al., 2019, "On the spectral bias of
   neural networks": radial noise ``sin(k‖x‖)`` added to MNIST targets).
2. ``principal_component_sinusoid``: ``sin(k t)`` / ``cos(k t)`` with ``t`` the projection on the
   first principal component of the data (Xu, 2020, "Frequency principle: Fourier analysis sheds
   light on deep neural networks": Fourier analysis along the first PC).
3. ``kernel_eigenvectors``: eigenvectors of the full network's empirical NTK Gram matrix ranked by
   eigenvalue (paper Fig. 6: "degree" = rank of the eigenvalue, from the largest).

Scaling conventions (the paper does not state them; chosen so that degree ``k`` means ``k`` periods
over the data):

* radial, ``scale="range"`` (default): ``r = ‖x − x̄‖`` (``x̄`` the sample mean; ``center=False``
  uses ``‖x‖``) is mapped affinely from ``[r_min, r_max]`` (the sample's, or ``radius_range``) onto
  ``[0, 2π]`` and the target is ``sin(k r̃)``: exactly ``k`` periods between the innermost and
  outermost point, ``2k − 1`` sign changes in between. ``scale="raw"`` is Rahaman et al.'s literal
  ``sin(k r)`` (with ``center=False``: ``sin(k‖x‖)``); its number of periods,
  ``k (r_max − r_min) / 2π``, then depends on the preprocessing (and is 0 for data on a sphere,
  where ``‖x‖ = 1``: use the centred radius or compute the target before normalising).
* principal component, ``scale="range"`` (default): ``t = (x − x̄)·v`` with ``v`` the unit first PC
  is mapped affinely from ``[t_min, t_max]`` onto ``[−π, π]``: ``sin(k t̃)`` has ``2k − 1`` sign
  changes and ``cos(k t̃)`` has ``2k``, i.e. ``k`` periods over the data. ``scale="raw"`` uses ``t``
  itself.

Both families are computed on whatever ``x`` is passed: the experiments pass the preprocessed inputs
the network sees (App. 14: flattened, 1000 sampled points), so the frequency is measured in the
network's input space.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from spectral_layers import _validation as val

__all__ = [
    "SIGN_CONVENTION",
    "first_principal_component",
    "kernel_eigenvectors",
    "principal_component_projection",
    "principal_component_sinusoid",
    "radial_sinusoid",
]

SCALES = ("range", "raw")
KINDS = ("sin", "cos")


def _rescale(
    v: jax.Array, value_range: tuple[float, float] | None, lo_to: float, hi_to: float, name: str
):
    """Maps ``v`` affinely from ``value_range`` (default: its min and max) onto ``[lo_to, hi_to]``.

    A range narrower than ``1000 · eps · max(|lo|, |hi|)`` is rejected: rescaling it would only
    amplify rounding errors (e.g. the radii of points on a sphere).
    """
    if value_range is None:
        lo, hi = jnp.min(v), jnp.max(v)
    else:
        if len(value_range) != 2:
            raise ValueError(f"{name}_range must be a pair (low, high), got {value_range!r}")
        lo, hi = (jnp.asarray(b, v.dtype) for b in value_range)
    if val.is_concrete(lo) and val.is_concrete(hi):
        lo_f, hi_f = float(lo), float(hi)
        tol = 1e3 * float(jnp.finfo(v.dtype).eps) * max(abs(lo_f), abs(hi_f))
        if not hi_f - lo_f > tol:
            raise ValueError(
                f"cannot rescale: the {name} spans [{lo_f!r}, {hi_f!r}], an empty or numerically "
                "negligible interval (all points at the same radius / the same projection?)"
            )
    return lo_to + (hi_to - lo_to) * (v - lo) / (hi - lo)


def radial_sinusoid(
    x: Float[ArrayLike, "n d"],
    k: int,
    *,
    center: bool = True,
    scale: str = "range",
    radius_range: tuple[float, float] | None = None,
) -> Float[Array, " n"]:
    """Radial wave ``sin(k r̃(x))`` (Rahaman et al., 2019; paper §6.3 setting 1).

    Args:
      x: inputs ``(n, d)``.
      k: frequency, ``>= 1``.
      center: measure the radius from the sample mean (``‖x − x̄‖``) rather than the origin
        (``‖x‖``).
      scale: ``"range"``: ``r̃ = 2π (r − r_min) / (r_max − r_min)``, i.e. ``k`` periods over the
        data (module docstring); ``"raw"``: ``r̃ = r``.
      radius_range: ``(r_min, r_max)`` for ``scale="range"`` (default: the sample's); pass the
        training range to evaluate the same function on other points.

    Returns:
      ``(n,)`` target values in ``[−1, 1]``, dtype of ``x``.
    """
    k = val.check_positive_int(k, "k")
    val.check_choice(scale, "scale", SCALES)
    x = val.check_inputs(x, "x")
    xc = x - x.mean(axis=0, keepdims=True) if center else x
    r = jnp.linalg.norm(xc, axis=1)
    if scale == "range":
        r = _rescale(r, radius_range, 0.0, 2 * jnp.pi, "radius")
    return jnp.sin(k * r)


def first_principal_component(x: Float[ArrayLike, "n d"]) -> Float[Array, " d"]:
    """Unit first principal component of ``x``: the top right-singular vector of the centred data.

    Sign convention (the sign of a PC is otherwise arbitrary): see ``SIGN_CONVENTION``.

    Raises:
      ValueError: if ``x`` has fewer than 2 points or all points are equal.
    """
    x = val.check_inputs(x, "x")
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 points for a principal component, got {x.shape[0]}")
    xc = x - x.mean(axis=0, keepdims=True)
    _, s, vt = jnp.linalg.svd(xc, full_matrices=False)
    if val.is_concrete(s) and not float(s[0]) > 0:
        raise ValueError("x has zero variance: its principal component is undefined")
    return _fix_sign(vt[0])


SIGN_CONVENTION = (
    "the first entry whose magnitude is within a relative 1e-6 of the largest magnitude is positive"
)
"""How ``first_principal_component`` and ``kernel_eigenvectors`` fix the sign of a vector.

Ties in magnitude are common (e.g. eigenvectors of symmetric structures come in ``±`` pairs), so
"the entry of largest magnitude" alone would depend on rounding; the first near-maximal one does
not.
"""


def _fix_sign(v: jax.Array) -> jax.Array:
    """``v`` (or each column of ``v``) with the sign fixed by ``SIGN_CONVENTION``."""
    mag = jnp.abs(v)
    near_max = mag >= (1 - 1e-6) * jnp.max(mag, axis=0, keepdims=True)
    idx = jnp.argmax(near_max, axis=0)  # first True
    # (1, r): one pivot per column, broadcast over the rows; a scalar for a vector
    pivot = jnp.take_along_axis(v, jnp.expand_dims(idx, 0), axis=0) if v.ndim == 2 else v[idx]
    return v * jnp.where(pivot < 0, -1, 1).astype(v.dtype)


def principal_component_projection(
    x: Float[ArrayLike, "n d"], *, pc: Float[ArrayLike, " d"] | None = None, center: bool = True
) -> Float[Array, " n"]:
    """``t = (x − x̄)·v``, ``v`` the unit first principal component (or ``pc``, normalised)."""
    x = val.check_inputs(x, "x")
    if pc is None:
        v = first_principal_component(x)
    else:
        v = jnp.asarray(pc, x.dtype)
        if v.shape != (x.shape[1],):
            raise ValueError(f"pc must have shape ({x.shape[1]},), got {v.shape}")
        norm = jnp.linalg.norm(v)
        if val.is_concrete(norm) and not (np.isfinite(float(norm)) and float(norm) > 0):
            raise ValueError("pc must be a finite, non-zero vector")
        v = v / norm
    xc = x - x.mean(axis=0, keepdims=True) if center else x
    return xc @ v


def principal_component_sinusoid(
    x: Float[ArrayLike, "n d"],
    k: int,
    *,
    kind: str = "sin",
    pc: Float[ArrayLike, " d"] | None = None,
    center: bool = True,
    scale: str = "range",
    proj_range: tuple[float, float] | None = None,
) -> Float[Array, " n"]:
    """``sin(k t̃)`` or ``cos(k t̃)`` along the first principal component (paper §6.3 setting 2).

    Following Xu (2020); used for MNIST (paper App. 14, Fig. 5) and CIFAR-10 (App. 15, Fig. 7).

    Args:
      x: inputs ``(n, d)``.
      k: degree; ``>= 1`` for ``sin``, ``>= 0`` for ``cos`` (``cos 0 = 1``).
      kind: ``"sin"`` or ``"cos"``.
      pc: the direction ``v`` (default: ``first_principal_component(x)``); pass the training PC to
        evaluate the same function on other points.
      center: project ``x − x̄`` (default) or ``x``.
      scale: ``"range"``: ``t̃ = −π + 2π (t − t_min) / (t_max − t_min)``, ``k`` periods over the
        data; ``"raw"``: ``t̃ = t``.
      proj_range: ``(t_min, t_max)`` for ``scale="range"`` (default: the sample's).

    Returns:
      ``(n,)`` target values, dtype of ``x``.
    """
    val.check_choice(kind, "kind", KINDS)
    val.check_choice(scale, "scale", SCALES)
    k = val.check_positive_int(k, "k", minimum=1 if kind == "sin" else 0)
    t = principal_component_projection(x, pc=pc, center=center)
    if scale == "range":
        t = _rescale(t, proj_range, -jnp.pi, jnp.pi, "projection")
    return jnp.sin(k * t) if kind == "sin" else jnp.cos(k * t)


def kernel_eigenvectors(
    K_nn: Float[ArrayLike, "n n"],
    ranks: int | Sequence[int],
    *,
    return_eigenvalues: bool = False,
) -> Float[Array, "n r"] | tuple[Float[Array, "n r"], Float[Array, " r"]]:
    """Eigenvectors of a symmetric Gram matrix, by rank of eigenvalue (paper §6.3 setting 3).

    ``K_nn`` is symmetrised as ``(K + Kᵀ)/2`` and diagonalised with ``eigh``; eigenvalues are ranked
    in decreasing order (algebraic, which for a PSD NTK Gram is the order of magnitudes used by the
    paper, Fig. 6). Rank ``0`` is the top eigenvector; the paper's "degree" ``j`` (1-based) is
    rank ``j − 1``. Each column is unit-norm, its sign fixed by ``SIGN_CONVENTION``. Within a
    repeated eigenvalue the basis is arbitrary (LAPACK's).

    Args:
      K_nn: symmetric ``(n, n)`` matrix, e.g. ``full_ntk(apply_fn, params, x)``.
      ranks: an int ``m`` (ranks ``0 … m−1``) or a sequence of distinct ranks in ``[0, n)``; the
        columns follow this order.
      return_eigenvalues: also return the eigenvalues of the selected ranks.

    Returns:
      ``V`` ``(n, r)`` with orthonormal columns (``Vᵀ V = I``), dtype of ``K_nn``; with
      ``return_eigenvalues``, ``(V, λ)``.

    Raises:
      ValueError: non-square, non-finite or non-symmetric ``K_nn`` (relative asymmetry above
        ``sqrt(eps)``); ranks out of range or repeated.
    """
    K = jnp.asarray(K_nn)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"K_nn must be a non-empty square matrix, got shape {K.shape}")
    if not jnp.issubdtype(K.dtype, jnp.floating):
        K = K.astype(jnp.result_type(float))
    n = K.shape[0]
    if val.is_concrete(K):
        K_np = np.asarray(K)
        if not np.isfinite(K_np).all():
            raise ValueError("K_nn contains NaN or inf values")
        scale_ = np.linalg.norm(K_np)
        asym = np.linalg.norm(K_np - K_np.T)
        if asym > np.sqrt(np.finfo(K_np.dtype).eps) * scale_:
            raise ValueError(f"K_nn is not symmetric: ‖K − Kᵀ‖_F / ‖K‖_F = {asym / scale_:.3g}")
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        m = val.check_positive_int(ranks, "ranks")
        if m > n:
            raise ValueError(f"ranks={m} exceeds the matrix size n={n}")
        sel = list(range(m))
    else:
        try:
            sel = [int(r) for r in ranks]
        except TypeError as e:
            raise TypeError(f"ranks must be an int or a sequence of ints, got {ranks!r}") from e
        if not sel:
            raise ValueError("ranks must not be empty")
        if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) for r in ranks):
            raise TypeError(f"ranks must be integers, got {ranks!r}")
        if min(sel) < 0 or max(sel) >= n:
            raise ValueError(f"ranks must lie in [0, {n}), got {sel}")
        if len(set(sel)) != len(sel):
            raise ValueError(f"ranks must be distinct, got {sel}")
    evals, evecs = jnp.linalg.eigh((K + K.T) / 2)  # ascending
    order = jnp.arange(n - 1, -1, -1)  # descending
    idx = order[jnp.asarray(sel)]
    V = _fix_sign(evecs[:, idx])
    if return_eigenvalues:
        return V, evals[idx]
    return V
