"""Layer contributions ``c_ℓ = yᵀ G^(ℓ) y`` (paper appendix §13), relative contributions, and intervals over seeds.

Two ways to compute ``c_ℓ``, equal up to rounding:

* from Gram matrices (``gram_forms``): ``c_ℓ = yᵀ G^(ℓ) y``;
* from one gradient (``layer_contributions``): since ``G^(ℓ)_ij = ⟨∇_{θ_ℓ} f(x_i), ∇_{θ_ℓ} f(x_j)⟩``,

      yᵀ G^(ℓ) y = ‖Σ_i y_i ∇_{θ_ℓ} f(x_i)‖² = ‖∇_{θ_ℓ} ⟨y, f(X)⟩‖²,

  the squared norm of the gradient of a single scalar. One backward pass gives every layer's contribution for
  any model, in ``O(n · P)`` time and without the ``n × n`` Grams. This is what the experiments use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jaxtyping import Array, ArrayLike, Float, Real

from spectral_layers import _validation as val
from spectral_layers.layers import (
    Group,
    batch_size,
    check_params,
    compute_dtype,
    discover_layers,
    example_program,
    unbox,
)
from spectral_layers.layers import layer_map as layer_map_of
from spectral_layers.models import declared_input_dim
from spectral_layers.sharding import sharded_rows, sharded_sum

__all__ = [
    "blocked_gram_forms",
    "gram_forms",
    "layer_contributions",
    "layer_gram_diagonals",
    "layer_ratios",
    "stack_layers",
    "t_interval",
]


def gram_forms(
    grams: Mapping[str, Float[ArrayLike, "*s n n"]], y: Float[ArrayLike, "*t n"]
) -> dict[str, Float[Array, "*s *t"]]:
    """``c_ℓ = yᵀ G^(ℓ) y`` for every layer (paper appendix §13).

    Args:
      grams: ``{layer: G}`` with ``G`` of shape ``(n, n)`` or ``(s, n, n)`` (a batch of seeds).
      y: one target ``(n,)`` or several ``(t, n)``.

    Returns:
      ``{layer: c}`` with ``c`` of shape ``[s,] [t]``.
    """
    y = jnp.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have shape (n,) or (t, n), got {y.shape}")
    out = {}
    for name, g in grams.items():
        if g.shape[-1] != y.shape[-1] or g.shape[-2] != y.shape[-1]:
            raise ValueError(f"y has {y.shape[-1]} points but grams[{name!r}] has shape {g.shape}")
        out[name] = jnp.einsum("...n,snm,...m->s...", y, g.reshape(-1, *g.shape[-2:]), y)
        out[name] = out[name].reshape(*g.shape[:-2], *y.shape[:-1])
    return out


def blocked_gram_forms(
    kernel_fn: Callable[[np.ndarray, np.ndarray], Mapping[str, Any]],
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, "t n"],
    *,
    block_size: int,
    layers: Sequence[str] | None = None,
) -> dict[str, Float[np.ndarray, " t"]]:
    """``yᵀ K^(ℓ) y`` for symmetric kernels too large to hold: ``block_size`` rows at a time, in float64.

    ``kernel_fn(x_rows, x_cols) -> {layer: K}`` (e.g. ``lambda a, b: infinite_layer_ntk(a, b, network=…)``)
    is called on the blocks on and right of the diagonal only: ``K`` is symmetric, so the blocks right of the
    diagonal count twice, which halves the kernel evaluations. Memory ``O(block_size · n)``.

    Args:
      kernel_fn: the kernels of a block of rows against a block of columns, ``{layer: (b, m)}``.
      x: points ``(n, d)``.
      y: targets ``(t, n)``.
      block_size: rows per block.
      layers: the layers to keep (default: every layer ``kernel_fn`` returns), in that order.

    Returns:
      ``{layer: (t,)}`` float64.
    """
    block_size = val.check_positive_int(block_size, "block_size")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != x.shape[0]:
        raise ValueError(f"y must have shape (t, n) with n = {x.shape[0]}, got {y.shape}")
    n = x.shape[0]
    out: dict[str, np.ndarray] = {}
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        k = kernel_fn(x[start:stop], x[start:])
        names = list(k) if layers is None else list(layers)
        y_b = y[:, start:stop]
        b = stop - start
        for name in names:
            g = np.asarray(k[name], dtype=np.float64)  # rows start:stop, columns start:
            acc = out.setdefault(name, np.zeros(y.shape[0]))
            acc += np.einsum("tb,bm,tm->t", y_b, g[:, :b], y_b)
            acc += 2 * np.einsum("tb,bm,tm->t", y_b, g[:, b:], y[:, stop:])
    return out


def layer_contributions(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: Any,
    y: Float[ArrayLike, "*t n *out"],
    *,
    stacked: bool = False,
    group: Group | None = None,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
) -> dict[str, Float[Array, "*s *t"]]:
    """``c_ℓ = yᵀ G^(ℓ) y = ‖∇_{θ_ℓ} ⟨y, f(X)⟩‖²`` for every layer, without forming Grams (module docstring).

    For a model with outputs ``(n, *out)`` (logits ``(n, C)``) the target has the same shape and
    ``c_ℓ = Σ_{c,c'} y_cᵀ G^(ℓ)_{cc'} y_{c'}`` (``G_{cc'}`` the ``trace_axes=()`` Grams of ``layer_ntk``), still
    from one backward pass: ``⟨y, f(X)⟩ = Σ_{i,c} y_ic f_c(x_i)``.

    With a ``mesh`` the examples are sharded over its devices: each device computes the gradient of
    ``⟨y_B, f(X_B)⟩`` over its block ``B`` of examples, the per-device gradients are added (``psum``; the
    gradient is a sum over examples), and only then squared, ``c_ℓ = ‖Σ_B ∇_{θ_ℓ} ⟨y_B, f(X_B)⟩‖²``.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)`` or ``(n, *out)``.
      params: any pytree of parameter arrays (leading seed axis on every leaf if ``stacked``).
      x: inputs ``(n, ...)``, or a pytree of arrays sharing the leading axis ``n``.
      y: targets ``(n, *out)``, or several ``(t, n, *out)``.
      stacked: params hold a batch of seeds on a leading axis (vmapped in one call).
      group: ``group(path) -> layer name`` to merge or split layers (``layers.discover_layers``).
      mesh: any ``jax.sharding.Mesh`` (one or several processes, ``spectral_layers.sharding``); the result
        is replicated on its devices. Any ``n``.
      mesh_axis: the mesh axis name (or names) the examples are sharded over; default the first axis.

    Returns:
      ``{layer: c}`` of shape ``[s,] [t]``, layers in call order.
    """
    params = unbox(params)
    leaves, treedef = check_params(params), jax.tree.structure(params)
    in_dim = declared_input_dim(apply_fn)
    x = val.check_batch(x, "x", in_dim=in_dim)
    n = batch_size(x)
    program = example_program(apply_fn, params, x, stacked=stacked)
    out_shape = tuple(program.source.out_avals[0].shape[1:])
    y = jnp.asarray(y)
    k = len(out_shape)
    if y.ndim not in (1 + k, 2 + k) or y.shape[y.ndim - 1 - k :] != (n, *out_shape):
        raise ValueError(
            f"y must have shape (n, *out) or (t, n, *out) with (n, *out) = {(n, *out_shape)} (the "
            f"model's output), got {y.shape}"
        )
    if val.is_concrete(y) and not bool(np.isfinite(np.asarray(y)).all()):
        raise ValueError("y contains NaN or inf values")
    layer_map = layer_map_of(program, params, group)
    if mesh is None:
        out = _contributions_jit(apply_fn, treedef, layer_map.leaves, leaves, x, y, stacked, k)
    else:
        out = _contributions_sharded(
            apply_fn, treedef, layer_map.leaves, leaves, x, y, stacked, mesh, mesh_axis, k
        )
    return dict(zip(layer_map.names, out, strict=True))


def _group_sq_norms(groups, grads):
    """``Σ ‖g‖²`` over the gradient leaves of each layer (``groups``: leaf indices per layer)."""
    return [sum(jnp.sum(grads[i] ** 2) for i in g) for g in groups]


def _sq_norms_of_grad(apply_fn, treedef, groups, leaves, x, y_n):
    grads = jax.grad(lambda lv: jnp.vdot(y_n, apply_fn(jax.tree.unflatten(treedef, lv), x)))(leaves)
    return _group_sq_norms(groups, grads)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6, 7))
def _contributions_jit(apply_fn, treedef, groups, leaves, x, y, stacked, out_ndim):
    y = y.astype(compute_dtype(x, leaves))

    def per_target(lv, y_n):
        return _sq_norms_of_grad(apply_fn, treedef, groups, lv, x, y_n)

    def one(lv):
        if y.ndim == 1 + out_ndim:
            return per_target(lv, y)
        return jax.vmap(per_target, (None, 0))(lv, y)

    return jax.vmap(one)(leaves) if stacked else one(leaves)


def _contributions_sharded(
    apply_fn, treedef, groups, leaves, x, y, stacked, mesh, mesh_axis, out_ndim
):
    """Per-device gradients of ``⟨y_B, f(X_B)⟩`` summed across devices, then squared (``sharded_sum``)."""
    dtype = compute_dtype(x, leaves)
    multi = y.ndim == 2 + out_ndim
    y_nt = jnp.moveaxis(
        jnp.asarray(y, dtype), 1 if multi else 0, 0
    )  # examples first, to shard them
    partial_grads, finalize = _sharded_fns(
        apply_fn, treedef, groups, stacked, multi, jnp.dtype(dtype)
    )
    return sharded_sum(
        partial_grads, (x, y_nt), list(leaves), mesh=mesh, axis=mesh_axis, finalize=finalize
    )


@functools.lru_cache(maxsize=64)
def _sharded_fns(apply_fn, treedef, groups, stacked, multi, dtype):
    """Per-device partial gradients and the squared norms of their sum per layer (one pair per setting,
    so the compilation is reused)."""

    def grad_one(lv, x_b, y_b):
        return jax.grad(lambda q: jnp.vdot(y_b, apply_fn(jax.tree.unflatten(treedef, q), x_b)))(lv)

    def partial_grads(rows, weight, lv):
        x_b, y_b = rows
        w = weight.reshape(-1, *([1] * (y_b.ndim - 1)))
        y_b = (y_b * w).astype(dtype)  # padding rows get weight 0
        if multi:
            y_b = jnp.moveaxis(y_b, 0, 1)  # (t, b, *out)
        per_target = jax.vmap(grad_one, (None, None, 0)) if multi else grad_one
        if stacked:
            return jax.vmap(per_target, (0, None, None))(lv, x_b, y_b)
        return per_target(lv, x_b, y_b)

    def norms(grads):
        return _group_sq_norms(groups, grads)

    finalize = jax.vmap(norms) if multi else norms  # per target
    finalize = jax.vmap(finalize) if stacked else finalize  # per seed
    return partial_grads, finalize


def layer_gram_diagonals(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: Any,
    *,
    stacked: bool = False,
    chunk: int = 512,
    group: Group | None = None,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
) -> dict[str, Float[Array, "*s n"]]:
    """Diagonals ``G^(ℓ)_ii = ‖∇_{θ_ℓ} f(x_i)‖²`` of every layer's Gram, without forming Grams.

    For outputs ``(n, *out)`` this is the diagonal of the traced Gram, ``Σ_c ‖∇_{θ_ℓ} f_c(x_i)‖²``
    (``layer_ntk``'s default ``trace_axes``), from one backward pass per output component.

    Per-example gradients (``vmap`` of ``grad``) over ``chunk`` points at a time (memory
    ``O(chunk · P)``), grouped by layer exactly as ``layer_contributions`` groups them (one per-example
    ``yᵀG y`` with ``y = 1``).

    With a ``mesh`` the examples are sharded over its devices (``sharding.sharded_rows``): each device
    computes the diagonals of its block of examples, ``chunk`` at a time. Each example's gradient is
    the same computation as without a mesh, so the values agree to rounding (XLA may vectorize blocks of
    another size differently in the last bit).

    Args:
      apply_fn, params, x, stacked, group: as in ``layer_contributions``.
      chunk: points per chunk of per-example gradients (per device with a ``mesh``).
      mesh: any ``jax.sharding.Mesh`` (one or several processes, ``spectral_layers.sharding``). The
        result is sharded by examples on its devices when the number of shards divides ``n``, replicated
        otherwise (as ``layer_ntk``'s Grams); ``sharding.gather`` fetches it as NumPy. Any ``n``.
      mesh_axis: the mesh axis name (or names) the examples are sharded over; default the first axis.

    Returns:
      ``{layer: G_ii}`` of shape ``[s,] (n,)``, layers in call order.
    """
    params = unbox(params)
    leaves, treedef = check_params(params), jax.tree.structure(params)
    in_dim = declared_input_dim(apply_fn)
    x = val.check_batch(x, "x", in_dim=in_dim)
    chunk = val.check_positive_int(chunk, "chunk")
    layer_map = discover_layers(apply_fn, params, x, group=group, stacked=stacked)
    if mesh is None:
        out = _diagonals_jit(apply_fn, treedef, layer_map.leaves, leaves, x, stacked, chunk)
    else:
        block = _sharded_diagonals_fn(apply_fn, treedef, layer_map.leaves, stacked, chunk)
        out = sharded_rows(
            block, x, list(leaves), mesh=mesh, row_axis=1 if stacked else 0, axis=mesh_axis
        )
    return dict(zip(layer_map.names, out, strict=True))


def _diagonals(apply_fn, treedef, groups, leaves, x, stacked, chunk):
    """The diagonals of the examples ``x`` (any number), ``min(chunk, n)`` at a time: ``[(*s, n)]``."""
    n = batch_size(x)
    chunk = min(chunk, n)
    pad = (-n) % chunk
    if pad:
        x = jax.tree.map(
            lambda a: jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad, *a.shape[1:]))]), x
        )
    dtype = compute_dtype(x, leaves)

    def sq_norms(lv, xi):
        x_1 = jax.tree.map(lambda a: a[None], xi)
        out_shape = jax.eval_shape(lambda: apply_fn(jax.tree.unflatten(treedef, lv), x_1)).shape[1:]
        if not out_shape:
            return _sq_norms_of_grad(apply_fn, treedef, groups, lv, x_1, jnp.ones(1, dtype))
        size = int(np.prod(out_shape))
        basis = jnp.eye(size, dtype=dtype).reshape(size, 1, *out_shape)
        per_c = jax.vmap(lambda e: _sq_norms_of_grad(apply_fn, treedef, groups, lv, x_1, e))(basis)
        return [jnp.sum(v) for v in per_c]

    def one_params(lv):
        def block(xb):
            return jax.vmap(lambda xi: sq_norms(lv, xi))(xb)

        out = jax.lax.map(block, jax.tree.map(lambda a: a.reshape(-1, chunk, *a.shape[1:]), x))
        return [v.reshape(-1)[:n] for v in out]

    return jax.vmap(one_params)(leaves) if stacked else one_params(leaves)


_diagonals_jit = functools.partial(jax.jit, static_argnums=(0, 1, 2, 5, 6))(_diagonals)


@functools.lru_cache(maxsize=64)
def _sharded_diagonals_fn(apply_fn, treedef, groups, stacked, chunk):
    """``sharded_rows``'s block function (one per setting, so the compilation is reused)."""

    def block(x_b, lv):
        return _diagonals(apply_fn, treedef, groups, lv, x_b, stacked, chunk)

    return block


def layer_ratios(
    forms: Real[ArrayLike, "..."] | Mapping[str, Any],
    *,
    axis: int = -1,
    floor: float | np.ndarray = 0.0,
    rtol: float = 0.0,
    return_resolved: bool = False,
):
    r"""Every layer's form relative to the last layer's, ``form_ℓ / form_{L-1}`` (paper appendix §13).

    The one ratio rule of the package: every figure, verdict, estimator and test computes ratios to the last
    layer with it. NaN policy: the ratio is NaN (never ``±inf``) wherever the last layer's form, the
    denominator, is not resolvable above its floor, i.e. not larger than ``max(floor, rtol · Σ_ℓ |form_ℓ|)``:
    zero, negative (a debiased estimate can have either sign at small ``n``), NaN, or below a resolution
    floor the caller knows (``floor``, e.g. a Mercer eigenvalue's rounding floor from
    ``spectra.layer_mercer_spectrum``) or relative to the forms' size (``rtol``). Elsewhere it is the plain
    quotient. The last layer's own ratio is 1 where resolved, NaN elsewhere.

    Args:
      forms: the forms ``(…, L)`` with the layers along ``axis``, or ``{layer: form}`` in layer order (the
        last entry is the denominator; ``axis`` is then ignored).
      axis: the layer axis of an array ``forms``.
      floor: absolute floor of the denominator: a scalar or an array broadcastable to ``forms`` without
        its layer axis.
      rtol: floor relative to ``Σ_ℓ |form_ℓ|`` (0: none).
      return_resolved: also return the mask of resolved denominators (the reason for every NaN ratio that
        is not a NaN numerator).

    Returns:
      The ratios, float NumPy of the shape of ``forms`` (or ``{layer: ratio}``), and with
      ``return_resolved`` the boolean mask ``(…)`` (``forms`` without its layer axis) of resolved
      denominators.

    Raises:
      ValueError: fewer than one layer, or a negative ``floor`` / ``rtol``.
    """
    names = None
    if isinstance(forms, Mapping):
        names = list(forms)
        if not names:
            raise ValueError("forms must hold at least one layer, got an empty mapping")
        f = np.stack([np.asarray(v) for v in forms.values()], axis=-1)
        axis = -1
    else:
        f = np.asarray(forms)
        if f.ndim == 0 or f.shape[axis] == 0:
            raise ValueError(
                f"forms must have at least one layer along axis {axis}, got shape {f.shape}"
            )
    if not np.issubdtype(f.dtype, np.floating):
        f = f.astype(np.float64)
    if rtol < 0 or np.any(np.asarray(floor) < 0):
        raise ValueError(f"floor and rtol must be >= 0, got floor={floor}, rtol={rtol}")
    f = np.moveaxis(f, axis, -1)
    den = f[..., -1]
    threshold = np.asarray(floor, dtype=f.dtype)
    if rtol:
        threshold = np.maximum(threshold, rtol * sum(np.abs(f[..., i]) for i in range(f.shape[-1])))
    resolved = den > threshold  # False where den or the threshold is NaN
    safe = np.where(resolved, den, 1)
    with np.errstate(invalid="ignore"):
        ratios = np.where(resolved[..., None], f / safe[..., None], np.nan)
    if names is not None:
        out = {name: ratios[..., i] for i, name in enumerate(names)}
    else:
        out = np.moveaxis(ratios, -1, axis)
    return (out, resolved) if return_resolved else out


def stack_layers(contributions: Mapping[str, Any]) -> np.ndarray:
    """Stacks a ``{layer: array}`` dict into one array with the layer axis last."""
    return np.stack([np.asarray(v) for v in contributions.values()], axis=-1)


def t_interval(
    samples: np.ndarray, *, axis: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and two-sided Student-t confidence interval over ``axis`` (seeds).

    The interval is ``mean ± t_{(1+level)/2, s-1} · std / sqrt(s)`` with the unbiased standard deviation over
    ``s`` samples: the usual interval for the mean of i.i.d. (approximately normal) per-seed values. With a single
    sample the interval is ``[mean, mean]``.

    Returns:
      ``(mean, low, high)``, each with ``axis`` removed.
    """
    samples = np.asarray(samples, dtype=float)
    s = samples.shape[axis]
    if s < 1:
        raise ValueError("samples must contain at least one sample along axis")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mean = samples.mean(axis=axis)
    if s == 1:
        return mean, mean.copy(), mean.copy()
    half = scipy.stats.t.ppf(0.5 + level / 2, s - 1) * samples.std(axis=axis, ddof=1) / np.sqrt(s)
    return mean, mean - half, mean + half
