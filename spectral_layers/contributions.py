"""Layer contributions ``c_ℓ = yᵀ G^(ℓ) y`` (paper appendix §13), relative contributions, and intervals over seeds.

Two ways to compute ``c_ℓ``, equal up to rounding:

* from Gram matrices (``quadratic_forms``): ``c_ℓ = yᵀ G^(ℓ) y``;
* from one gradient (``layer_contributions``): since ``G^(ℓ)_ij = ⟨∇_{θ_ℓ} f(x_i), ∇_{θ_ℓ} f(x_j)⟩``,

      yᵀ G^(ℓ) y = ‖Σ_i y_i ∇_{θ_ℓ} f(x_i)‖² = ‖∇_{θ_ℓ} ⟨y, f(X)⟩‖²,

  the squared norm of the gradient of a single scalar. One backward pass gives every layer's contribution for
  any model, in ``O(n · P)`` time and without the ``n × n`` Grams. This is what the experiments use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from spectral_layers import _validation as val
from spectral_layers.layers import Group, check_params, discover_layers
from spectral_layers.models import MLPApply


def quadratic_forms(
    grams: Mapping[str, Float[Array, "*s n n"]], y: Float[Array, "*t n"]
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


def layer_contributions(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: Float[Array, "n ..."],
    y: Float[Array, "*t n"],
    *,
    stacked: bool = False,
    group: Group | None = None,
) -> dict[str, Float[Array, "*s *t"]]:
    """``c_ℓ = yᵀ G^(ℓ) y = ‖∇_{θ_ℓ} ⟨y, f(X)⟩‖²`` for every layer, without forming Grams (module docstring).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: any pytree of parameter arrays (leading seed axis on every leaf if ``stacked``).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)`` or ``(t, n)``.
      stacked: params hold a batch of seeds on a leading axis (vmapped in one call).
      group: ``group(path) -> layer name`` to merge or split layers (``layers.discover_layers``).

    Returns:
      ``{layer: c}`` of shape ``[s,] [t]``, layers in call order.
    """
    leaves, treedef = check_params(params), jax.tree.structure(params)
    in_dim = apply_fn.spec.in_dim if isinstance(apply_fn, MLPApply) else None
    x = val.check_batch(x, "x", in_dim=in_dim)
    y = jnp.asarray(y)
    if y.ndim not in (1, 2) or y.shape[-1] != x.shape[0]:
        raise ValueError(f"y must have shape (n,) or (t, n) with n = {x.shape[0]}, got {y.shape}")
    if val.is_concrete(y) and not bool(np.isfinite(np.asarray(y)).all()):
        raise ValueError("y contains NaN or inf values")
    layer_map = discover_layers(apply_fn, params, x, group=group, stacked=stacked)
    out = _contributions_jit(apply_fn, treedef, layer_map.leaves, leaves, x, y, stacked)
    return dict(zip(layer_map.names, out, strict=True))


def _sq_norms_of_grad(apply_fn, treedef, groups, leaves, x, y_n):
    grads = jax.grad(lambda lv: jnp.vdot(y_n, apply_fn(jax.tree.unflatten(treedef, lv), x)))(leaves)
    return [sum(jnp.sum(grads[i] ** 2) for i in g) for g in groups]


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6))
def _contributions_jit(apply_fn, treedef, groups, leaves, x, y, stacked):
    y = y.astype(jnp.result_type(x, *leaves))

    def per_target(lv, y_n):
        return _sq_norms_of_grad(apply_fn, treedef, groups, lv, x, y_n)

    def one(lv):
        return per_target(lv, y) if y.ndim == 1 else jax.vmap(per_target, (None, 0))(lv, y)

    return jax.vmap(one)(leaves) if stacked else one(leaves)


def relative_contributions(
    contributions: Mapping[str, jax.Array | np.ndarray], reference: str | None = None
) -> dict[str, np.ndarray]:
    """``c_ℓ / c_ref`` for every layer; the reference defaults to the last layer (paper appendix §13)."""
    names = list(contributions)
    reference = names[-1] if reference is None else reference
    if reference not in contributions:
        raise ValueError(f"reference must be one of {names}, got {reference!r}")
    ref = np.asarray(contributions[reference])
    return {name: np.asarray(c) / ref for name, c in contributions.items()}


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
    import scipy.stats  # lazy: scipy.stats takes about a second to import

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
