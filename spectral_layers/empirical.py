"""Per-layer empirical NTK Gram matrices ``G^(ℓ)_ij = ⟨∇_{θ_ℓ} f(x_i), ∇_{θ_ℓ} f(x'_j)⟩`` (paper Eq. 1).

Three methods give the same numbers:

* ``"structured"`` (default for networks built by ``init_mlp``): no Jacobian. For a Dense layer
  ``z = s_w h W + s_b b`` the gradient of ``f`` w.r.t. ``W`` at input ``x`` is the outer product
  ``s_w h(x) δ(x)ᵀ`` with ``δ = ∂f/∂z``, so

      G^(ℓ) = s_w² (H_ℓ H'_ℓᵀ) ∘ (Δ_ℓ Δ'_ℓᵀ) + s_b² Δ_ℓ Δ'_ℓᵀ,

  ``H_ℓ`` (n × n_ℓ) the layer's inputs and ``Δ_ℓ`` (n × m_ℓ) the back-propagated gradients at its
  pre-activations. One forward and one backward pass give every ``H_ℓ`` and ``Δ_ℓ``: ``Δ_ℓ`` is the gradient of
  ``Σ_i f(x_i)`` w.r.t. a zero perturbation added to the pre-activations (examples do not interact).
* ``"jacobian"`` / ``"jacobian_fwd"``: per-layer Jacobians ``J_ℓ`` (n × P_ℓ) from ``jax.jacrev`` / ``jax.jacfwd``
  contracted as ``J_ℓ J'_ℓᵀ``. Works for any ``apply_fn(params, x)`` whose ``params`` is a dict of layer
  subtrees (convolutional networks included). The reference.
* ``"nt"``: neural-tangents' ``empirical_ntk_fn`` on each subtree (needs neural-tangents, see ``nt_compat``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from spectral_layers import _validation as val
from spectral_layers._rows import map_rows
from spectral_layers.models import (
    MLPApply,
    MLPSpec,
    dense_apply,
    layer_name,
    layer_names,
    resolve_activation,
)
from spectral_layers.sharding import sharded_rows

METHODS = ("structured", "jacobian", "jacobian_fwd", "nt")
NT_IMPLEMENTATIONS = (
    "NTK_VECTOR_PRODUCTS",
    "JACOBIAN_CONTRACTION",
    "STRUCTURED_DERIVATIVES",
    "AUTO",
)
_HIGHEST = jax.lax.Precision.HIGHEST


def layer_ntk(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x1: Float[Array, "n1 d"],
    x2: Float[Array, "n2 d"] | None = None,
    *,
    method: str | None = None,
    block_size: int | None = None,
    stacked: bool = False,
    nt_implementation: str = "NTK_VECTOR_PRODUCTS",
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
) -> dict[str, Float[Array, "n1 n2"]]:
    """Per-layer empirical NTK Grams ``G^(ℓ)`` (paper Eq. 1), ordered like the layers.

    Args:
      apply_fn: ``apply_fn(params, x) -> f(x)`` of shape ``(n,)``, e.g. from ``init_mlp``.
      params: dict of per-layer subtrees ``{"layer_0": …, …}``; with ``stacked=True`` every leaf has a leading
        seed axis.
      x1: inputs, shape ``(n1, d)``.
      x2: second inputs, shape ``(n2, d)``; default ``x1`` (the Gram matrix).
      method: ``"structured"`` (default for ``init_mlp`` networks, which it requires), ``"jacobian"``
        (default otherwise), ``"jacobian_fwd"`` or ``"nt"``.
      block_size: if given, rows of the result are computed ``block_size`` at a time (``lax.map``), bounding
        the memory of intermediates to ``O(block_size · n2)`` per layer. The result is identical.
      stacked: ``params`` holds a batch of seeds on a leading axis; the Grams then have shape ``(s, n1, n2)``
        and are computed in one vmapped call.
      nt_implementation: with ``method="nt"``, the name of an ``nt.NtkImplementation``.
      mesh: any ``jax.sharding.Mesh`` (``sharding.make_mesh()``, ``jax.make_mesh(...)``; one or several
        processes): rows of the Grams are computed on its devices in parallel and the result stays sharded
        by rows (``spectral_layers.sharding``; ``sharding.gather`` fetches it). Any ``n1``.
      mesh_axis: the mesh axis name (or names) the rows are sharded over; default the mesh's first axis.

    Returns:
      ``{layer_name: G}`` with ``G`` of shape ``(n1, n2)`` (``(s, n1, n2)`` when stacked), in the dtype of the
      inputs and parameters. ``Σ_ℓ G^(ℓ)`` is the full empirical NTK.

    Raises:
      ValueError / TypeError: on bad inputs, an unknown method, or params without layer subtrees.
    """
    names = layer_names(params)
    spec = apply_fn.spec if isinstance(apply_fn, MLPApply) else None
    if method is None:
        method = "structured" if spec is not None else "jacobian"
    val.check_choice(method, "method", METHODS)
    if method == "structured" and spec is None:
        raise ValueError(
            "method='structured' needs a network built by init_mlp (an MLPApply apply_fn); "
            "use method='jacobian' for other models"
        )
    if method == "nt":
        val.check_choice(nt_implementation, "nt_implementation", NT_IMPLEMENTATIONS)
    in_dim = spec.in_dim if spec is not None else None
    x1 = val.check_inputs(x1, "x1", in_dim=in_dim)
    same = x2 is None
    x2 = x1 if same else val.check_inputs(x2, "x2", in_dim=in_dim)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"x1 and x2 must have the same number of features, got {x1.shape} and {x2.shape}"
        )
    if block_size is not None:
        block_size = val.check_positive_int(block_size, "block_size")
    if spec is not None and set(names) != {layer_name(i) for i in range(spec.depth)}:
        raise ValueError(
            f"params has layers {names} but the network has depth {spec.depth} "
            f"(expected layer_0 … layer_{spec.depth - 1})"
        )
    if mesh is not None:
        rows = _rows_fn(apply_fn, method, block_size, stacked, nt_implementation)
        grams = sharded_rows(
            rows, x1, params, x2, mesh=mesh, row_axis=1 if stacked else 0, axis=mesh_axis
        )
    else:
        grams = _layer_ntk_jit(
            apply_fn,
            params,
            x1,
            None if same else x2,
            method,
            block_size,
            stacked,
            nt_implementation,
        )
    return {name: grams[name] for name in names}


@functools.lru_cache(maxsize=64)
def _rows_fn(apply_fn, method, block_size, stacked, nt_implementation):
    """The per-device block of ``layer_ntk`` (one function per setting, so its compilation is reused)."""

    def rows(x_block, params, x2):
        return _layer_ntk_jit(
            apply_fn, params, x_block, x2, method, block_size, stacked, nt_implementation
        )

    return rows


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _layer_ntk_jit(apply_fn, params, x1, x2, method, block_size, stacked, nt_implementation):
    fn = functools.partial(
        _layer_ntk_single,
        apply_fn,
        method=method,
        block_size=block_size,
        nt_implementation=nt_implementation,
    )
    if stacked:
        return jax.vmap(fn, in_axes=(0, None, None))(params, x1, x2)
    return fn(params, x1, x2)


def _layer_ntk_single(apply_fn, params, x1, x2, *, method, block_size, nt_implementation):
    if method == "structured":
        return _structured(apply_fn.spec, params, x1, x2, block_size)
    if method in ("jacobian", "jacobian_fwd"):
        jac = jax.jacrev if method == "jacobian" else jax.jacfwd
        return _jacobian(apply_fn, params, x1, x2, block_size, jac)
    return _nt(apply_fn, params, x1, x2, block_size, nt_implementation)


# ----------------------------------------------------------------------------------------------------------
# structured path


def mlp_layer_features(
    spec: MLPSpec, params: Mapping[str, Any], x: Float[Array, "n d"]
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Inputs ``H_ℓ`` and output gradients ``Δ_ℓ`` of every layer, from one forward and one backward pass.

    Returns:
      ``(H, Δ)``: lists over layers of arrays ``H_ℓ`` of shape ``(n, n_ℓ)`` (layer inputs, ``H_0 = x``) and
      ``Δ_ℓ = ∂f/∂z^(ℓ)`` of shape ``(n, m_ℓ)`` (``Δ_{L-1}`` is all ones).
    """
    phi = resolve_activation(spec.activation)
    dtype = jnp.result_type(x, *jax.tree.leaves(params))
    x = x.astype(dtype)

    def forward(eps):
        hs = []
        h = x
        for i in range(spec.depth):
            hs.append(h)
            z = dense_apply(spec, i, params[layer_name(i)], h) + eps[i]
            h = phi(z) if i < spec.depth - 1 else z
        return jnp.sum(h), hs

    eps = [jnp.zeros((x.shape[0], w), dtype) for w in spec.widths]
    deltas, hs = jax.grad(forward, has_aux=True)(eps)
    return hs, deltas


def _structured(spec, params, x1, x2, block_size):
    h1, d1 = mlp_layer_features(spec, params, x1)
    h2, d2 = (h1, d1) if x2 is None else mlp_layer_features(spec, params, x2)
    out = {}
    for i in range(spec.depth):
        s_w2 = spec.weight_scale(i) ** 2
        s_b2 = spec.bias_scale**2 if spec.use_bias else None

        def gram(rows, i=i, s_w2=s_w2, s_b2=s_b2):
            h_r, d_r = rows
            dd = jnp.matmul(d_r, d2[i].T, precision=_HIGHEST)
            g = s_w2 * jnp.matmul(h_r, h2[i].T, precision=_HIGHEST) * dd
            return g if s_b2 is None else g + s_b2 * dd

        out[layer_name(i)] = map_rows(gram, (h1[i], d1[i]), block_size)
    return out


# ----------------------------------------------------------------------------------------------------------
# Jacobian path (the reference)


def _flat_jacobian(apply_fn, params, name, x, jac):
    def f_sub(sub):
        return apply_fn({**params, name: sub}, x)

    j = jac(f_sub)(params[name])
    return jnp.concatenate([leaf.reshape(x.shape[0], -1) for leaf in jax.tree.leaves(j)], axis=1)


def _jacobian(apply_fn, params, x1, x2, block_size, jac):
    out = {}
    for name in layer_names(params):
        j2 = _flat_jacobian(apply_fn, params, name, x1 if x2 is None else x2, jac)

        def gram(x_r, name=name, j2=j2):
            j_r = _flat_jacobian(apply_fn, params, name, x_r, jac)
            return jnp.matmul(j_r, j2.T, precision=_HIGHEST)

        if x2 is None and block_size is None:
            out[name] = jnp.matmul(j2, j2.T, precision=_HIGHEST)
        else:
            out[name] = map_rows(gram, x1, block_size)
    return out


# ----------------------------------------------------------------------------------------------------------
# neural-tangents path


def _nt(apply_fn, params, x1, x2, block_size, implementation):
    from spectral_layers import nt_compat

    nt = nt_compat.import_neural_tangents()
    out = {}
    for name in layer_names(params):

        def f_sub(sub, x, name=name):
            return apply_fn({**params, name: sub}, x)

        kernel_fn = nt.empirical_ntk_fn(
            f_sub,
            trace_axes=(),
            vmap_axes=0,
            implementation=getattr(nt.NtkImplementation, implementation),
        )
        x2_ = x1 if x2 is None else x2
        out[name] = map_rows(
            lambda x_r, k=kernel_fn, name=name, x2_=x2_: k(x_r, x2_, params[name]), x1, block_size
        )
    return out


def full_ntk(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x1: Float[Array, "n1 d"],
    x2: Float[Array, "n2 d"] | None = None,
) -> Float[Array, "n1 n2"]:
    """Full empirical NTK from one Jacobian w.r.t. all parameters (brute force, for checks).

    Independent of ``layer_ntk``: ``Σ_ℓ G^(ℓ)`` must equal it (paper Eq. 1).
    """
    layer_names(params)
    x1 = val.check_inputs(x1, "x1")
    x2 = x1 if x2 is None else val.check_inputs(x2, "x2")

    def flat(x):
        j = jax.jacrev(apply_fn)(params, x)
        return jnp.concatenate(
            [leaf.reshape(x.shape[0], -1) for leaf in jax.tree.leaves(j)], axis=1
        )

    return jnp.matmul(flat(x1), flat(x2).T, precision=_HIGHEST)
