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

* ``paper_estimate``: the paper's §5.3 estimator of ``λ^(ℓ1)/λ^(ℓ2)`` from per-point values.
* ``fitted_slope``: the rate ``err ∝ n^slope`` of an estimator's error, with a bootstrap interval.
* ``theorem1_bounds``: the paper's Theorem 1 bound as printed and the corrected one (``docs/theory.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from spectral_layers import _validation as val
from spectral_layers import sharding, targets
from spectral_layers.contributions import layer_contributions, layer_gram_diagonals

__all__ = [
    "ESTIMATORS",
    "estimator_forms",
    "fitted_slope",
    "gram_forms",
    "layer_forms",
    "layer_ratios",
    "paper_estimate",
    "ratios_from_forms",
    "theorem1_bounds",
]

ESTIMATORS = ("paper", "projected", "debiased")
"""Names of the ratio estimators of ``layer_ratios`` (module docstring)."""

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


def gram_forms(
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

    The denominator counts as vanishing (NaN, never ``±inf``) where it is not larger than
    ``rtol · Σ_ℓ |form_ℓ|``: zero, rounding-level, or (for ``"debiased"``, an estimate that can have
    either sign at small ``n``) negative.
    """
    names = list(forms)
    if len(names) < 2:
        raise ValueError(f"need at least two layers for a ratio, got {names}")
    f = {k: np.asarray(v, dtype=np.float64) for k, v in forms.items()}
    den = f[names[-1]]
    scale = sum(np.abs(v) for v in f.values())
    ok = den > rtol * scale
    safe = np.where(ok, den, 1.0)
    return {k: np.where(ok, f[k] / safe, np.nan) for k in names[:-1]}


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
) -> dict[str, Float[np.ndarray, "*s *t"]]:
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

    Example:
      >>> net = Network(depth=3, width=64, input_scaling="none")
      >>> apply_fn, params = net.init(jax.random.key(0), 10)
      >>> x = targets.sample_sphere(jax.random.key(1), 512, 10)
      >>> y = targets.gegenbauer_sum_target(x, 2, targets.random_centers(jax.random.key(2), 10))
      >>> r = layer_ratios(apply_fn, params, x, y, estimator="debiased", degree=2)
      >>> list(r)
      ['layer_0', 'layer_1']
    """
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
    return ratios_from_forms(forms, rtol=rtol)


def paper_estimate(
    g: Float[ArrayLike, " n"], t_g1: Float[ArrayLike, " n"], t_g2: Float[ArrayLike, " n"]
) -> float:
    """The paper's §5.3 estimator ``Σ_i φ_1(x_i) / Σ_i φ_2(x_i)`` with ``φ_ℓ = g · T_ℓ g`` at ``x_i``.

    Args:
      g: the target at the sample points.
      t_g1, t_g2: the integral operators of the two layer kernels applied to ``g``, at the same points.
    """
    return float(np.sum(g * t_g1) / np.sum(g * t_g2))


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
    x = np.log(np.asarray(n)[cols].astype(float))
    if cols.sum() < 2 or not np.all(a.mean(0) > 0):
        return np.nan, np.nan, np.nan
    slope = float(np.polyfit(x, np.log(a.mean(0)), 1)[0])
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(num_boot):
        m = a[rng.integers(0, a.shape[0], a.shape[0])].mean(0)
        if np.all(m > 0):
            boot.append(np.polyfit(x, np.log(m), 1)[0])
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
