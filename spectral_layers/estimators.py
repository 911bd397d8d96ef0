r"""Estimators of layer-wise ratios from finite samples, and the statistics of their convergence.

* ``layer_ratios`` / ``layer_forms``: the ratio ``c_ℓ / c_{L-1}`` of a network's layer contributions along
  a target, by one of three estimators (``ESTIMATORS``), all Gram-free (``docs/theory.md`` §9):

  - ``"paper"``: ``yᵀG^(ℓ)y / yᵀG^(L-1)y`` (paper appendix §13);
  - ``"projected"``: the same with the degrees ``< k`` removed from ``y`` on the sample
    (``targets.project_out_lower_degrees``; points on the unit sphere);
  - ``"debiased"``: projected, then the self-pairs ``Σ_i G_ii y_i²`` removed and their degree-``< k``
    part (which the projection had already removed) added back, estimated from the sample:

        F_ℓ = y_pᵀG y_p − Σ_i G_ii y_{p,i}² + κ̂^{<k} ‖y_p‖²,
        κ̂^{<k} = tr(G)/n − tr(P G P)/(n − p),   P = I − QQᵀ,  p = rank Q,

    whose ratio converges to the Mercer ratio ``μ_k^(ℓ)/μ_k^(L-1)`` without the ``O(κ(1)/(n μ_k))``
    bias of the other two.

* ``debiased_ratio_se`` / ``layer_ratios(..., return_se=True)``: one network's standard error of its debiased
  ratio, estimated from that network and that sample (its diagonal width term, ``docs/theory.md`` §9.3);
  ``seed_ratio_se`` / ``se_method="seeds"``: from the spread of several networks on the sample, every
  width term, any estimator.
* ``paper_estimate``: the paper's §5.3 estimator of ``λ^(ℓ1)/λ^(ℓ2)`` from per-point values.
* ``fitted_slope``: the rate ``err ∝ n^slope`` of an estimator's error, with a bootstrap interval.
* ``theorem1_bounds``: the paper's Theorem 1 bound as printed and the corrected one (``docs/theory.md``).
* ``loglog_slope`` / ``octave_slopes``: power-law fits ``y ∝ x^slope`` over all points and between
  consecutive points (local rates, e.g. per octave of width); ``level_crossing`` /
  ``power_law_crossing``: where a decaying quantity falls below a level, measured (interpolated) and
  from a fit (``docs/theory.md`` §10).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from spectral_layers import _validation as val
from spectral_layers import contributions, sharding, targets
from spectral_layers.contributions import layer_contributions, layer_gram_diagonals
from spectral_layers.gegenbauer import multiplicity

__all__ = [
    "ESTIMATORS",
    "RatiosWithSE",
    "debiased_ratio_se",
    "estimator_forms",
    "fitted_slope",
    "gram_estimator_forms",
    "layer_forms",
    "layer_ratios",
    "level_crossing",
    "loglog_slope",
    "octave_slopes",
    "paper_estimate",
    "power_law_crossing",
    "ratios_from_forms",
    "seed_ratio_se",
    "theorem1_bounds",
]

ESTIMATORS = ("paper", "projected", "debiased")
"""Names of the ratio estimators of ``layer_ratios`` (module docstring)."""

SE_METHODS = ("diagonal", "seeds")
"""Standard errors of ``layer_ratios(..., return_se=True)``: ``debiased_ratio_se``, ``seed_ratio_se``."""

TARGET_MEMORY_BUDGET = 2**27
"""Automatic ``target_chunk``: at most this many floats of per-target activations (``n × Σ widths``)
in flight per chunk (1 GiB in float64)."""


def _auto_target_chunk(params: Mapping[str, Any], n: int, num_targets: int, stacked: bool) -> int:
    """Targets per ``layer_contributions`` call so that ``chunk · n · Σ widths · seeds`` fits the budget.

    ``Σ widths`` is estimated by the sum of the last-axis sizes of the parameter leaves (the output width
    of every dense kernel and bias): a vmapped backward pass holds about that many floats per point and
    target.
    """
    leaves = jax.tree.leaves(params)
    seeds = leaves[0].shape[0] if stacked and leaves else 1
    widths = sum(int(leaf.shape[-1]) if leaf.ndim > (1 if stacked else 0) else 1 for leaf in leaves)
    per_target = max(1, n * widths * seeds)
    return int(max(1, min(num_targets, TARGET_MEMORY_BUDGET // per_target)))


def _chunked_contributions(apply_fn, params, x, Y, stacked, target_chunk, mesh, mesh_axis):
    """``layer_contributions`` on the rows of ``Y`` (t, n), ``target_chunk`` rows per call: ``{layer: (*s, t)}``.

    With a ``mesh``, each call's (replicated) result is fetched (``sharding.gather``) and the chunks are
    joined on this process's default device; the automatic chunk counts the examples of one device.
    """
    t, n = Y.shape
    if target_chunk is None:
        if mesh is not None:
            n = -(-n // sharding.row_mesh(mesh, mesh_axis)[2])  # examples per device
        target_chunk = _auto_target_chunk(params, n, t, stacked)
    parts = []
    for i in range(0, t, target_chunk):
        c = layer_contributions(
            apply_fn,
            params,
            x,
            Y[i : i + target_chunk],
            stacked=stacked,
            mesh=mesh,
            mesh_axis=mesh_axis,
        )
        parts.append(c if mesh is None else sharding.gather(c))
    return {name: jnp.concatenate([p[name] for p in parts], axis=-1) for name in parts[0]}


def _check_sphere(x: jax.Array) -> None:
    norms = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)
    if np.abs(norms - 1).max() > 1e-6:
        raise ValueError(
            "x must lie on the unit sphere for the 'projected' and 'debiased' estimators (degrees "
            f"are spherical-harmonic degrees); got norms in [{norms.min():.3g}, {norms.max():.3g}]"
        )


def layer_forms(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "*t n"],
    *,
    estimator: str,
    **kwargs: Any,
) -> dict[str, Float[Array, "*s *t"]]:
    """The forms of one estimator: ``estimator_forms(..., estimators=(estimator,), **kwargs)[estimator]``.

    Args:
      apply_fn, params, x, y: as in ``estimator_forms``.
      estimator: a name in ``ESTIMATORS``.
      **kwargs: the keywords of ``estimator_forms`` (``degree``, ``stacked``, ``target_chunk``,
        ``trace_probes``, ``key``, ``diagonal_chunk``, ``mesh``, ``mesh_axis``).
    """
    val.check_choice(estimator, "estimator", ESTIMATORS)
    return estimator_forms(apply_fn, params, x, y, estimators=(estimator,), **kwargs)[estimator]


def estimator_forms(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "*t n"],
    *,
    estimators: Sequence[str] = ESTIMATORS,
    degree: int | Sequence[int] | None = None,
    stacked: bool = False,
    target_chunk: int | None = None,
    trace_probes: int | None = None,
    key: jax.Array | None = None,
    diagonal_chunk: int = 512,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
) -> dict[str, dict[str, Float[Array, "*s *t"]]]:
    r"""The per-layer quadratic forms whose ratios ``layer_ratios`` returns (module docstring).

    Several estimators at once share their backward passes (the projected targets serve ``"projected"``
    and ``"debiased"``).

    ``"paper"``: ``yᵀG^(ℓ)y``; ``"projected"``: ``y_pᵀG^(ℓ)y_p``; ``"debiased"``: ``F_ℓ`` of the module
    docstring (derivation: ``docs/theory.md`` §9). Gram-free: every term is a ``layer_contributions`` call
    (one backward pass per target, targets in chunks of ``target_chunk``) or a per-example gradient norm
    (``contributions.layer_gram_diagonals``).

    With a ``mesh``, every Gram-free term (each ``layer_contributions`` call and the Gram diagonals) has
    its examples sharded over the mesh's devices; the rest acts on ``(n,)`` vectors and ``(*s, t)`` forms
    and runs unsharded in every process: the projection of the targets (the basis of
    ``targets.project_out_lower_degrees``, ``targets.lower_degree_basis``), the Hutchinson probes, and
    the arithmetic combining the terms. The forms equal those without a mesh up to rounding (the order of
    the ``psum`` over devices): for ``"debiased"``, rounding relative to its terms (``Σ_i G_ii y_{p,i}²``,
    ``κ̂^{<k} ‖y_p‖²``), which at small ``n`` can be far larger than ``F_ℓ``. Across several processes every
    process passes the same arguments (``key`` included) and gets the whole result.

    Args:
      apply_fn, params, x, stacked: as in ``contributions.layer_contributions``.
      y: one target ``(n,)`` or several ``(t, n)``.
      estimators: names in ``ESTIMATORS``.
      degree: the harmonic degree ``k`` of the target(s) (``"projected"``, ``"debiased"``): an int, or one
        per row of ``y``.
      target_chunk: targets per backward pass (memory ``O(target_chunk · n · Σ widths)``); default:
        automatic, within ``TARGET_MEMORY_BUDGET`` floats.
      trace_probes: ``"debiased"`` only. ``None``: ``tr(QᵀGQ)`` exactly, from the ``p`` basis vectors of the
        degrees ``< k`` as extra targets (``p = 275`` for d = 10, k = 4). An int ``r``: ``tr(PGP)``
        estimated without bias from ``r`` Gaussian probes ``z_j ~ N(0, I_n)`` (``jax.random.normal(key,
        (r, n))``, the same for every degree) as ``mean_j (Pz_j)ᵀG(Pz_j)`` (Hutchinson); its relative
        error ``≈ (2Σ_{j≥k} N_j μ_j² / r)^{1/2} / Σ_{j≥k} N_j μ_j``, a few percent for one probe.
      key: PRNG key of the probes (required with ``trace_probes``).
      diagonal_chunk: points per chunk of the per-example gradients (per device with a ``mesh``).
      mesh: any ``jax.sharding.Mesh`` (``sharding.make_mesh()``, ``jax.make_mesh(...)``; one or several
        processes, ``spectral_layers.sharding``) to shard the examples of the Gram-free terms over; any
        ``n``. Default: no sharding.
      mesh_axis: the mesh axis name (or names) the examples are sharded over; default the mesh's first axis.

    Returns:
      ``{estimator: {layer: form}}``, each form of shape ``[s,] [t]``, layers in layer order; arrays of
      this process (with a ``mesh`` too: gathered, usable by NumPy in every process).

    Raises:
      ValueError: on an unknown estimator, a missing or negative degree, points off the sphere, too few
        points to project out the degrees ``< k`` (``targets.lower_degree_basis``), or a ``mesh_axis``
        that names no axis of ``mesh``.
      TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.
    """
    estimators = tuple(val.check_choice(e, "estimators", ESTIMATORS) for e in estimators)
    if mesh is not None:
        sharding.row_mesh(mesh, mesh_axis)  # a bad mesh or axis fails before any work
    x = val.check_inputs(x, "x")
    y = jnp.asarray(y)
    if y.ndim not in (1, 2) or y.shape[-1] != x.shape[0]:
        raise ValueError(f"y must have shape (n,) or (t, n) with n = {x.shape[0]}, got {y.shape}")
    single = y.ndim == 1
    Y = y[None] if single else y
    t, n = Y.shape
    if target_chunk is not None:
        target_chunk = val.check_positive_int(target_chunk, "target_chunk")
    projected = [e for e in estimators if e != "paper"]
    dtype = jnp.result_type(x, *jax.tree.leaves(params))
    rows, out = [], {}
    if "paper" in estimators:
        rows.append(np.asarray(Y, dtype=np.float64))
    if projected:
        degrees = _check_degrees(degree, t)
        debias = "debiased" in estimators
        if debias and trace_probes is not None:
            trace_probes = val.check_positive_int(trace_probes, "trace_probes")
            if key is None:
                raise ValueError("key is required with trace_probes (the probes are random)")
        _check_sphere(x)
        Y_np = np.asarray(Y, dtype=np.float64)
        bases = {k: targets.lower_degree_basis(x, k) for k in sorted(set(degrees))}
        Yp = np.stack([Y_np[i] - (Y_np[i] @ bases[k]) @ bases[k].T for i, k in enumerate(degrees)])
        rows.append(Yp)
        if debias:
            if trace_probes is None:  # the basis vectors: Σ_c q_cᵀ G q_c = tr(QᵀGQ)
                rows += [bases[k].T for k in bases]
            else:
                Z = np.asarray(jax.random.normal(key, (trace_probes, n), dtype), dtype=np.float64)
                rows += [Z - (Z @ bases[k]) @ bases[k].T for k in bases]
    all_rows = jnp.asarray(np.concatenate(rows), dtype=dtype)
    c = _chunked_contributions(
        apply_fn, params, x, all_rows, stacked, target_chunk, mesh, mesh_axis
    )
    start = 0
    if "paper" in estimators:
        out["paper"] = {name: v[..., :t] for name, v in c.items()}
        start = t
    if projected:
        proj = {name: v[..., start : start + t] for name, v in c.items()}
        start += t
        if "projected" in estimators:
            out["projected"] = proj
    if projected and debias:
        diag = layer_gram_diagonals(
            apply_fn,
            params,
            x,
            stacked=stacked,
            chunk=diagonal_chunk,
            mesh=mesh,
            mesh_axis=mesh_axis,
        )
        if mesh is not None:
            diag = {name: jnp.asarray(v) for name, v in sharding.gather(diag).items()}
        yp_sq = jnp.asarray(Yp**2, dtype=dtype)  # (t, n)
        out["debiased"] = {}
        for name, v in c.items():
            trace_g = jnp.sum(diag[name], axis=-1)  # tr(G), (*s,)
            pos, high = start, {}
            for k, Q in bases.items():
                width = Q.shape[1] if trace_probes is None else trace_probes
                block = v[..., pos : pos + width]
                pos += width
                trace_pgp = trace_g - block.sum(-1) if trace_probes is None else block.mean(-1)
                high[k] = trace_pgp / (n - Q.shape[1])  # κ̂^{≥k}: mean diagonal of PGP
            high_t = jnp.stack([high[k] for k in degrees], axis=-1)  # (*s, t)
            low_t = trace_g[..., None] / n - high_t  # κ̂^{<k}
            self_pairs = diag[name] @ yp_sq.T  # Σ_i G_ii y_{p,i}², (*s, t)
            y_sq = jnp.broadcast_to(jnp.sum(yp_sq, axis=-1), low_t.shape)  # ‖y_p‖², (*s, t)
            out["debiased"][name] = proj[name] - self_pairs + low_t * y_sq
    if single:
        out = {e: {name: v[..., 0] for name, v in f.items()} for e, f in out.items()}
    return {e: out[e] for e in estimators}


def gram_estimator_forms(
    grams: Mapping[str, Float[ArrayLike, "*s n n"]],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "*t n"],
    *,
    estimators: Sequence[str] = ESTIMATORS,
    degree: int | Sequence[int] | None = None,
) -> dict[str, dict[str, Float[Array, "*s *t"]]]:
    r"""The forms of ``estimator_forms`` from per-layer Grams, with exact traces (no probes).

    The Gram route of the same estimators (definitions: module docstring and ``docs/theory.md`` §9.2), for
    finite-width Grams from ``layer_ntk`` (``n`` up to a few thousand) or infinite-width kernels: ``yᵀGy``;
    ``y_pᵀGy_p`` with ``y_p = (I − QQᵀ)y`` and ``Q = targets.lower_degree_basis(x, k)``; and
    ``y_pᵀGy_p − Σ_i G_ii y_{p,i}² + (tr G/n − tr(PGP)/(n − p))‖y_p‖²`` with
    ``tr(PGP) = tr G − tr(QᵀGQ)`` exactly. Cost ``O(n² p)`` per Gram for ``p = dim Q``; above a few
    thousand points use the Gram-free ``estimator_forms``.

    Args:
      grams: ``{layer: G}``, each ``(n, n)`` or stacked ``(s, n, n)``, layers in layer order.
      x: the points (on the unit sphere for ``"projected"`` and ``"debiased"``).
      y: one target ``(n,)`` or several ``(t, n)``.
      estimators: names in ``ESTIMATORS``.
      degree: as in ``estimator_forms``.

    Returns:
      ``{estimator: {layer: form}}``, each form of shape ``[s,] [t]``.
    """
    estimators = tuple(val.check_choice(e, "estimators", ESTIMATORS) for e in estimators)
    x = val.check_inputs(x, "x")
    Y = jnp.asarray(y)
    single = Y.ndim == 1
    Y = Y[None] if single else Y
    if Y.ndim != 2 or Y.shape[-1] != x.shape[0]:
        raise ValueError(f"y must have shape (n,) or (t, n) with n = {x.shape[0]}, got {y.shape}")
    t, n = Y.shape
    for name, g in grams.items():
        if g.shape[-2:] != (n, n):
            raise ValueError(f"grams[{name!r}] must end in ({n}, {n}), got {g.shape}")

    def form(g, a, b):
        return jnp.einsum("tn,...nm,tm->...t", a, g, b)

    out = {}
    if "paper" in estimators:
        out["paper"] = {name: form(g, Y, Y) for name, g in grams.items()}
    if any(e != "paper" for e in estimators):
        degrees = _check_degrees(degree, t)
        _check_sphere(x)
        bases = {k: targets.lower_degree_basis(x, k) for k in sorted(set(degrees))}
        Y_np = np.asarray(Y, dtype=np.float64)
        Yp = jnp.asarray(
            np.stack([Y_np[i] - (Y_np[i] @ bases[k]) @ bases[k].T for i, k in enumerate(degrees)]),
            dtype=Y.dtype,
        )
        proj = {name: form(g, Yp, Yp) for name, g in grams.items()}
        if "projected" in estimators:
            out["projected"] = proj
        if "debiased" in estimators:
            out["debiased"] = {}
            for name, g in grams.items():
                diag = jnp.diagonal(g, axis1=-2, axis2=-1)  # (*s, n)
                trace_g = diag.sum(-1)
                high = {}
                for k, q in bases.items():
                    q = jnp.asarray(q, dtype=g.dtype)
                    gq = g @ q  # (*s, n, r)
                    trace_pgp = trace_g - jnp.sum(jnp.broadcast_to(q, gq.shape) * gq, axis=(-2, -1))
                    high[k] = trace_pgp / (n - q.shape[1])
                low_t = trace_g[..., None] / n - jnp.stack([high[k] for k in degrees], axis=-1)
                self_pairs = diag @ (Yp**2).T  # (*s, t)
                y_sq = jnp.broadcast_to(jnp.sum(Yp**2, axis=-1), low_t.shape)  # ‖y_p‖², (*s, t)
                out["debiased"][name] = proj[name] - self_pairs + low_t * y_sq
    if single:
        out = {e: {name: v[..., 0] for name, v in f.items()} for e, f in out.items()}
    return {e: out[e] for e in estimators}


def _check_degrees(degree: int | Sequence[int] | None, t: int) -> list[int]:
    """One degree per target row (``degree`` an int or a sequence of ``t`` ints ``>= 0``)."""
    if degree is None:
        raise ValueError("degree is required for the 'projected' and 'debiased' estimators")
    degrees = [int(degree)] * t if np.ndim(degree) == 0 else [int(k) for k in degree]
    if len(degrees) != t or min(degrees) < 0:
        raise ValueError(f"degree must be an int >= 0 or one per target ({t}), got {degree}")
    return degrees


def ratios_from_forms(
    forms: Mapping[str, Any], *, rtol: float = 1e-10
) -> dict[str, Float[np.ndarray, "..."]]:
    """``form_ℓ / form_{L-1}`` for every layer but the last; NaN where the denominator vanishes.

    ``contributions.layer_ratios`` (the one ratio rule) with ``rtol``: the denominator counts as vanishing
    (NaN, never ``±inf``) where it is not larger than ``rtol · Σ_ℓ |form_ℓ|``: zero, rounding-level, or
    (for ``"debiased"``, an estimate that can have either sign at small ``n``) negative.
    """
    names = list(forms)
    if len(names) < 2:
        raise ValueError(f"need at least two layers for a ratio, got {names}")
    f = {k: np.asarray(v, dtype=np.float64) for k, v in forms.items()}
    ratios = contributions.layer_ratios(f, rtol=rtol)  # the one ratio rule
    return {k: ratios[k] for k in names[:-1]}


class RatiosWithSE(NamedTuple):
    """``layer_ratios(..., return_se=True)``: the ratios and their estimated standard errors.

    Attributes:
      ratio: ``{layer: ratio}`` as ``layer_ratios`` returns without ``return_se``.
      se: ``{layer: standard error}``, same keys (``debiased_ratio_se``: the ratios' shapes;
        ``seed_ratio_se``: ``[t]``, one per sample and target).
    """

    ratio: dict[str, np.ndarray]
    se: dict[str, np.ndarray]


def _degree_blocks(x: np.ndarray) -> list[np.ndarray]:
    """Nested on-sample orthonormal bases ``Q_j`` of the polynomials of degree ``< j``, ``j = 1 … J + 1``.

    ``J`` is the largest degree whose ``C(d + J, J)`` monomials are at most ``n / 2`` (at least 0) and
    whose basis has its full rank ``Σ_{i ≤ J} N(d, i)`` on the sample (``targets.lower_degree_basis`` drops
    directions at its rounding floor: on the circle the monomials of degree ~20 and more): the blocks
    ``span Q_{j+1} ⊖ span Q_j`` are the sampled harmonics of degree ``j ≤ J``; the rest of ``R^n`` is one
    residual block.
    """
    n, d = x.shape
    blocks, rank = [], 0
    for j in itertools.count(1):
        rank += multiplicity(d, j - 1)
        if j > 1 and math.comb(d + j - 1, j - 1) > n // 2:
            break
        Q = targets.lower_degree_basis(x, j)
        if Q.shape[1] != rank:
            break
        blocks.append(Q)
    return blocks


def debiased_ratio_se(
    forms: Mapping[str, Any],
    diagonals: Mapping[str, Any],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "*t n"],
    *,
    degree: int | Sequence[int],
    rtol: float = 1e-10,
) -> dict[str, Float[np.ndarray, "*s *t"]]:
    r"""Standard error of each network's debiased ratio, from that network and that sample alone.

    The leading term of ``docs/theory.md`` §9.3: the debiased form ``F_ℓ`` removes the per-example
    diagonal ``Σ_i G_ii y_{p,i}²`` and adds back a constant, so every network carries the error
    ``−Σ_i δ_i y_{p,i}²`` with ``δ_i = G_ii − mean_i G_ii`` — zero at infinite width (``G_ii = κ(1)`` on
    the sphere), ``O(κ(1)/√m)`` per point at width ``m``, and not divided by ``n μ_k``. The ratio
    ``R = F_ℓ/F_{L−1}`` inherits ``−(δ^(ℓ) − R δ^(L−1))ᵀ y_p² / F_{L−1}``. The law of the field ``x ↦ δ(x)``
    over initialisations is rotation invariant, so its coefficients in each block of sampled harmonics of
    one degree ``j`` are exchangeable with a common variance, estimated by the block's energy per dimension
    ``v_j = ‖B_jᵀ δ_R‖² / N_j`` (``B_j``: on-sample orthonormal basis of degree ``j``, ``_degree_blocks``;
    all higher degrees form one residual block). Hence

        se(R)² = Σ_j v_j ‖B_jᵀ y_p²‖² / F_{L−1}²,   δ_R = δ^(ℓ) − R δ^(L−1).

    The terms left out (the off-diagonal width noise, partly anti-correlated with this one, and the
    point-sampling U-statistic) are measured in ``docs/theory.md`` §9.3; the calibration against the
    seed spread is ``tests/test_estimators.py`` and ``benchmarks/bench_debiased_se.py``. The SE is that of
    a linearisation: where ``se / R`` is not small the ratio's spread is heavy-tailed (the denominator can
    approach 0).

    Args:
      forms: ``{layer: F}`` of the ``"debiased"`` estimator, each ``[s,] [t]`` (``estimator_forms``,
        ``gram_estimator_forms``), layers in layer order.
      diagonals: ``{layer: G_ii}`` of the same networks, each ``[s,] n``
        (``contributions.layer_gram_diagonals``, or a Gram's diagonal).
      x: the points, on the unit sphere.
      y: the target(s) ``(n,)`` or ``(t, n)`` as given to the estimator (projected here as there).
      degree: as in ``estimator_forms``.
      rtol: as in ``ratios_from_forms``; the SE is NaN where the ratio is.

    Returns:
      ``{layer: se}`` for every layer but the last, float64 of the ratios' shape ``[s,] [t]``.

    Raises:
      ValueError: mismatched layers or shapes, points off the sphere, a bad ``degree``.
    """
    names = list(forms)
    if list(diagonals) != names:
        raise ValueError(f"diagonals must have the layers of forms {names}, got {list(diagonals)}")
    x = val.check_inputs(x, "x")
    _check_sphere(x)
    x_np = np.asarray(x, dtype=np.float64)
    n = x_np.shape[0]
    Y = np.asarray(y, dtype=np.float64)
    if Y.ndim not in (1, 2) or Y.shape[-1] != n:
        raise ValueError(f"y must have shape (n,) or (t, n) with n = {n}, got {Y.shape}")
    single = Y.ndim == 1
    Y = Y[None] if single else Y
    degrees = _check_degrees(degree, Y.shape[0])
    bases = {k: targets.lower_degree_basis(x_np, k) for k in sorted(set(degrees))}
    W = np.stack([(Y[i] - (Y[i] @ bases[k]) @ bases[k].T) ** 2 for i, k in enumerate(degrees)])
    D = {k: np.asarray(v, dtype=np.float64) for k, v in diagonals.items()}
    for k, v in D.items():
        if v.shape[-1] != n:
            raise ValueError(f"diagonals[{k!r}] must end in n = {n}, got {v.shape}")
    D = {k: v - v.mean(-1, keepdims=True) for k, v in D.items()}  # δ (*s, n)
    ratios = ratios_from_forms(forms, rtol=rtol)
    last = names[-1]
    den = np.asarray(forms[last], dtype=np.float64)
    den = den[..., None] if single else den  # (*s, t)
    blocks = _degree_blocks(x_np)

    def block_energies(a, b):
        """``[(B_jᵀa)·(B_jᵀb)]_j`` over the blocks (degree 0 … J, residual), summed over the last axis."""
        out, prev = [], 0.0
        for Q in blocks:
            cur = np.sum((a @ Q) * (b @ Q), axis=-1)
            out.append(cur - prev)
            prev = cur
        out.append(np.sum(a * b, axis=-1) - prev)
        return out

    dims = np.diff([0] + [Q.shape[1] for Q in blocks] + [n])
    e_w = block_energies(W, W)  # each (t,)
    e_ll = block_energies(D[last], D[last])  # each (*s,)
    se = {}
    for name in names[:-1]:
        r = ratios[name][..., None] if single else ratios[name]  # (*s, t)
        e_aa = block_energies(D[name], D[name])
        e_al = block_energies(D[name], D[last])
        var = 0.0
        for j in range(1, len(dims)):  # δ has no degree-0 part (mean removed)
            v_j = e_aa[j][..., None] - 2 * r * e_al[j][..., None] + r**2 * e_ll[j][..., None]
            var = var + np.maximum(v_j, 0.0) / dims[j] * e_w[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sqrt(var) / np.abs(den)
        s = np.where(np.isfinite(r), s, np.nan)
        se[name] = s[..., 0] if single else s
    return se


def seed_ratio_se(
    forms: Mapping[str, Any], *, rtol: float = 1e-10
) -> dict[str, Float[np.ndarray, " *t"]]:
    r"""Standard error of one network's ratio from the spread of ``s >= 2`` networks on the same sample.

    The networks (seeds) are independent draws of the initialisation, so the spread of their forms is the
    width noise of one network's ratio, every term of ``docs/theory.md`` §9.3 but the point sampling (i)
    that they share. On the linearised scale of the ratio ``R̄ = mean_s F_ℓ / mean_s F_{L−1}`` (the ratio of
    the seed-mean forms, as the figures report):

        se(R)² = Var_s(F_ℓ − R̄ F_{L−1}) / (mean_s F_{L−1})²,   Var_s with the ``s − 1`` divisor,

    the standard error of one network's ratio; that of ``R̄`` is ``se/√s``. Unlike ``debiased_ratio_se`` it
    needs several networks, and it serves every estimator.

    Args:
      forms: ``{layer: F}`` of any estimator, each ``(s, [t])`` with ``s >= 2`` seeds first
        (``layer_forms(..., stacked=True)``), layers in layer order.
      rtol: as in ``ratios_from_forms`` (applied to the seed-mean forms); the SE is NaN where ``R̄`` is.

    Returns:
      ``{layer: se}`` for every layer but the last, float64 of shape ``[t]``.

    Raises:
      ValueError: fewer than two layers or two seeds, or forms of different shapes.
    """
    names = list(forms)
    if len(names) < 2:
        raise ValueError(f"need at least two layers for a ratio, got {names}")
    f = {k: np.asarray(v, dtype=np.float64) for k, v in forms.items()}
    shape = f[names[0]].shape
    if any(v.shape != shape for v in f.values()) or len(shape) not in (1, 2) or shape[0] < 2:
        raise ValueError(
            "forms must be (s, [t]) arrays of one shape with s >= 2 seeds first (stacked networks), "
            f"got shapes {[v.shape for v in f.values()]}"
        )
    mean = {k: v.mean(0) for k, v in f.items()}
    ratio = ratios_from_forms(mean, rtol=rtol)
    den = mean[names[-1]]
    se = {}
    for name in names[:-1]:
        lin = f[name] - ratio[name] * f[names[-1]]
        with np.errstate(invalid="ignore", divide="ignore"):
            se[name] = np.std(lin, axis=0, ddof=1) / np.abs(den)
    return se


def layer_ratios(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "*t n"],
    *,
    estimator: str,
    degree: int | Sequence[int] | None = None,
    stacked: bool = False,
    target_chunk: int | None = None,
    trace_probes: int | None = None,
    key: jax.Array | None = None,
    rtol: float = 1e-10,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
    return_se: bool = False,
    se_method: str = "diagonal",
) -> dict[str, Float[np.ndarray, "*s *t"]] | RatiosWithSE:
    r"""Ratio of every layer's contribution to the last layer's along ``y``, by ``estimator``.

    ``layer_forms`` (every argument but ``rtol``) then ``ratios_from_forms``: ``{layer: ratio}`` for every
    layer but the last, float64 NumPy of shape ``[s,] [t]``, NaN where the denominator vanishes (relative
    to ``rtol``). ``"debiased"`` estimates the Mercer ratio ``μ_k^(ℓ)/μ_k^(L-1)`` consistently
    (``docs/theory.md`` §9); ``"paper"`` and ``"projected"`` carry an ``O(κ(1)/(n μ_k))`` bias.

    Args:
      apply_fn, params, x, y, degree, stacked, target_chunk, trace_probes, key: as in
        ``estimator_forms``.
      estimator: a name in ``ESTIMATORS``.
      rtol: a denominator not above ``rtol · Σ_ℓ |form_ℓ|`` gives NaN (``ratios_from_forms``).
      mesh: any ``jax.sharding.Mesh`` (one or several processes) to shard the examples of the Gram-free
        terms over (``estimator_forms``); the projection and the Hutchinson probes act on ``(n,)``
        vectors and stay unsharded. The ratios equal those without a mesh up to rounding, as NumPy
        arrays in every process.
      mesh_axis: the mesh axis name (or names) the examples are sharded over; default the first axis.
      return_se: ``True``: return ``RatiosWithSE(ratio, se)``, ``se`` a standard error of each network's
        ratio by ``se_method``.
      se_method: ``"diagonal"`` (``"debiased"`` only): from each network and the sample alone, the diagonal
        width term of ``docs/theory.md`` §9.3 (``debiased_ratio_se``; one more per-example gradient pass for
        the Gram diagonals), an underestimate where the off-diagonal term dominates (small ``k``);
        ``"seeds"`` (any estimator, ``stacked`` with ``s >= 2`` networks): from the spread of the networks
        (``seed_ratio_se``), every width term, shape ``[t]`` (the same for every network).

    Returns:
      ``{layer: ratio}``; with ``return_se``, ``RatiosWithSE`` of two such dicts.

    Raises:
      ValueError: as ``estimator_forms``; an unknown ``se_method``; ``se_method="diagonal"`` with an
        estimator other than ``"debiased"``; ``se_method="seeds"`` without ``stacked`` networks.

    Example:
      >>> net = Network(depth=3, width=64, input_scaling="none")
      >>> apply_fn, params = net.init(jax.random.key(0), 10)
      >>> x = targets.sample_sphere(jax.random.key(1), 512, 10)
      >>> y = targets.gegenbauer_sum_target(x, 2, targets.random_centers(jax.random.key(2), 10))
      >>> r = layer_ratios(apply_fn, params, x, y, estimator="debiased", degree=2)
      >>> list(r)
      ['layer_0', 'layer_1']
    """
    se_method = val.check_choice(se_method, "se_method", SE_METHODS)
    if return_se and se_method == "diagonal" and estimator != "debiased":
        raise ValueError(
            f"return_se with se_method='diagonal' needs estimator='debiased', got estimator={estimator!r} "
            "(se_method='seeds' serves every estimator)"
        )
    if return_se and se_method == "seeds" and not stacked:
        raise ValueError("return_se with se_method='seeds' needs stacked=True (several networks)")
    forms = layer_forms(
        apply_fn,
        params,
        x,
        y,
        estimator=estimator,
        degree=degree,
        stacked=stacked,
        target_chunk=target_chunk,
        trace_probes=trace_probes,
        key=key,
        mesh=mesh,
        mesh_axis=mesh_axis,
    )
    ratios = ratios_from_forms(forms, rtol=rtol)
    if not return_se:
        return ratios
    if se_method == "seeds":
        return RatiosWithSE(ratios, seed_ratio_se(forms, rtol=rtol))
    diag = layer_gram_diagonals(
        apply_fn, params, x, stacked=stacked, mesh=mesh, mesh_axis=mesh_axis
    )
    if mesh is not None:
        diag = sharding.gather(diag)
    return RatiosWithSE(ratios, debiased_ratio_se(forms, diag, x, y, degree=degree, rtol=rtol))


def paper_estimate(
    g: Float[ArrayLike, " n"], t_g1: Float[ArrayLike, " n"], t_g2: Float[ArrayLike, " n"]
) -> float:
    """The paper's §5.3 estimator ``Σ_i φ_1(x_i) / Σ_i φ_2(x_i)`` with ``φ_ℓ = g · T_ℓ g`` at ``x_i``.

    Args:
      g: the target at the sample points.
      t_g1, t_g2: the integral operators of the two layer kernels applied to ``g``, at the same points.
    """
    return float(np.sum(g * t_g1) / np.sum(g * t_g2))


def loglog_slope(x: Real[ArrayLike, " m"], y: Real[ArrayLike, " m"]) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line ``log y ≈ slope · log x + intercept``.

    The one slope fit (convergence rates against ``n`` or the width): over the points where both ``x`` and
    ``y`` are finite and ``> 0``; NaN slope and intercept when fewer than two such points remain.

    Raises:
      ValueError: ``x`` and ``y`` are not 1-D arrays of one length.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of one length, got shapes {x.shape} and {y.shape}")
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return np.nan, np.nan
    slope, intercept = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(slope), float(intercept)


def fitted_slope(
    n: Real[ArrayLike, " m"], err: Float[ArrayLike, "s m"], *, num_boot: int = 400
) -> tuple[float, float, float]:
    """Least-squares slope of ``log mean_s |err|`` against ``log n``, with a 95% bootstrap interval.

    Args:
      n: sample sizes ``(m,)``.
      err: errors of ``s`` independent samples at each size, ``(s, m)``; columns with NaN (estimator
        undefined at that ``n``) are left out.
      num_boot: bootstrap resamples of the ``s`` samples (fixed generator: reproducible numbers).

    Returns:
      ``(slope, low, high)``; NaN when fewer than two columns are usable or a mean error is zero.
    """
    cols = np.all(np.isfinite(err), axis=0)
    a = np.abs(err[:, cols])
    x = np.asarray(n)[cols].astype(float)
    if cols.sum() < 2 or not np.all(a.mean(0) > 0):
        return np.nan, np.nan, np.nan
    slope = float(loglog_slope(x, a.mean(0))[0])
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(num_boot):
        m = a[rng.integers(0, a.shape[0], a.shape[0])].mean(0)
        if np.all(m > 0):
            boot.append(loglog_slope(x, m)[0])
    lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return slope, float(lo), float(hi)


def theorem1_bounds(
    n: Real[ArrayLike, " m"],
    *,
    kernel_sup: tuple[float, float],
    eigenvalue_sums: tuple[float, float],
    target_sup: float,
    delta: float,
) -> dict[str, np.ndarray]:
    r"""Theorem 1 (paper §5.3) for a mixed target: the bound as printed (absolute) and the corrected one.

    With ``A_ℓ ≥ sup |κ^(ℓ)|`` (``κ^(ℓ)(1)`` for a positive-definite dot-product kernel), ``C ≥ sup |g|`` and
    ``λ_ℓ = Σ_j μ_j^(ℓ)`` over the target's degrees, the printed bound on the error of the estimator is
    ``log(4/δ)/sqrt(n) · max_ℓ sqrt(A_ℓ C² / (2 λ_ℓ²))``; the corrected bound on the *relative* error
    (Hoeffding with the right range; ``docs/theory.md``) is ``sqrt(32 log(4/δ) / n) · max_ℓ A_ℓ C² / λ_ℓ``.

    Args:
      n: sample sizes.
      kernel_sup: ``(A_ℓ1, A_ℓ2)``.
      eigenvalue_sums: ``(λ_ℓ1, λ_ℓ2)``.
      target_sup: ``C``.
      delta: failure probability ``δ ∈ (0, 1)``.

    Returns:
      ``{"printed_abs": (m,), "corrected_rel": (m,)}``.
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    (a1, a2), (l1, l2), c = kernel_sup, eigenvalue_sums, float(target_sup)
    n = np.asarray(n, dtype=float)
    log_term = math.log(4 / delta)
    printed = (
        log_term
        / np.sqrt(n)
        * max(math.sqrt(a1 * c**2 / (2 * l1**2)), math.sqrt(a2 * c**2 / (2 * l2**2)))
    )
    corrected = np.sqrt(32 * log_term / n) * max(a1 * c**2 / l1, a2 * c**2 / l2)
    return {"printed_abs": printed, "corrected_rel": corrected}


# ------------------------------------------------------------------------------------------------
# power-law rates per octave and level crossings (the slope rule: ``loglog_slope``)


def _positive_log(a: np.ndarray) -> np.ndarray:
    """``log a`` where ``a`` is finite and ``> 0``, NaN elsewhere (no warnings)."""
    a = np.asarray(a, dtype=float)
    ok = np.isfinite(a) & (a > 0)
    return np.where(ok, np.log(np.where(ok, a, 1.0)), np.nan)


def octave_slopes(
    x: Real[ArrayLike, " m"], y: Real[ArrayLike, "*batch m"]
) -> Float[np.ndarray, "*batch m-1"]:
    """Local power-law rates between consecutive points: ``Δ log y / Δ log x`` along the last axis.

    With ``x`` in octaves (``x_{j+1} = 2 x_j``) entry ``j`` is the rate over octave ``[x_j, x_{j+1}]``;
    it is ``loglog_slope`` of the two points ``j, j + 1``.

    Args:
      x: strictly increasing positive abscissae ``(m,)``, ``m >= 2``.
      y: values ``(*batch, m)``.

    Returns:
      Slopes ``(*batch, m − 1)``; NaN where either end point is not finite and ``> 0``.

    Raises:
      ValueError: ``x`` not 1-D, strictly increasing and positive with ``m >= 2``, or ``y``'s last axis
        not of length ``m``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or len(x) < 2 or not np.all(x > 0) or not np.all(np.diff(x) > 0):
        raise ValueError(f"x must be >= 2 strictly increasing positive numbers, got {x}")
    y = np.asarray(y, dtype=float)
    if y.ndim < 1 or y.shape[-1] != len(x):
        raise ValueError(
            f"y's last axis must have length {len(x)} (that of x), got shape {y.shape}"
        )
    return np.diff(_positive_log(y), axis=-1) / np.diff(np.log(x))


def level_crossing(x: Real[ArrayLike, " m"], y: Real[ArrayLike, " m"], level: float) -> float:
    """Where ``y`` falls below ``level`` for good, interpolated linearly in ``(log x, log y)``.

    The crossing is taken between the last point with ``y >= level`` and the next one, provided every
    later point is below ``level`` (a curve that dips below and comes back has not crossed yet).

    Args:
      x: strictly increasing positive abscissae ``(m,)``.
      y: values ``(m,)``; a non-finite or non-positive value makes the answer NaN.
      level: the level ``> 0``.

    Returns:
      The interpolated ``x`` of the crossing; ``inf`` if the last point is still ``>= level`` (not
      reached within ``x``); NaN if every point is already below ``level`` (crossed before ``x_0``) or
      some value is not finite and positive.

    Raises:
      ValueError: bad ``x`` / ``y`` shapes (``octave_slopes``) or ``level <= 0``.
    """
    if not (isinstance(level, int | float) and level > 0):
        raise ValueError(f"level must be a positive number, got {level!r}")
    octave_slopes(x, y)  # validates the shapes
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if y.ndim != 1 or not np.all(np.isfinite(y) & (y > 0)):
        return np.nan
    above = np.flatnonzero(y >= level)
    if len(above) == 0:
        return np.nan
    j = int(above[-1])
    if j == len(y) - 1:
        return np.inf
    lx, ly = np.log(x[j : j + 2]), np.log(y[j : j + 2])
    frac = (math.log(level) - ly[0]) / (ly[1] - ly[0])
    return float(np.exp(lx[0] + frac * (lx[1] - lx[0])))


def power_law_crossing(slope: float, intercept: float, level: float) -> float:
    """``x`` at which the fit ``y = exp(intercept) · x^slope`` equals ``level``.

    Returns:
      ``exp((log level − intercept) / slope)``; NaN if the fit is undefined or ``slope >= 0`` (the fit
      does not decay).

    Raises:
      ValueError: ``level <= 0``.
    """
    if not (isinstance(level, int | float) and level > 0):
        raise ValueError(f"level must be a positive number, got {level!r}")
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope >= 0:
        return np.nan
    return float(np.exp((math.log(level) - intercept) / slope))
