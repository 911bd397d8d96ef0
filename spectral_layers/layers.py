"""Layers of any model: the modules that own parameters, in the order the forward pass uses them.

A **layer** is a module that owns parameter leaves directly: the leaf ``Block_0/Dense_1/kernel`` belongs to the
layer ``Block_0/Dense_1`` (its path without the last key, joined with ``/``). A leaf directly at the top of
the params pytree (``{"w": …}`` or a list of arrays) is a layer of its own. A leading ``params`` key (a linen
variables dict) is dropped from the names. ``group=`` (a callable from a leaf's path, such as
``"Block_0/Dense_1/kernel"``, to a layer name) merges or splits layers.

The order is the model's own: layers are sorted by the first equation of the forward pass (``jax.make_jaxpr``
with calls and ``remat`` inlined, ``_jaxpr``) that reads one of their leaves, looking inside the bodies of
``scan`` (``nn.scan``, ``nnx.scan``), ``cond``, ``while`` and custom-derivative calls, never by their names;
JAX's tree functions sort dict keys, so the insertion order of a params dict says nothing. Leaves the forward
pass never reads come last, in pytree order. Boxed parameters (``nn.with_logical_partitioning``) are unboxed
first (``unbox``).

NNX modules: ``apply_fn, params = from_nnx(model)`` gives a pure ``apply_fn(params, x)`` and a plain nested dict of
the ``nnx.Param`` values (paths such as ``layers/0/kernel``); the other state (batch statistics, RNG counters)
is held fixed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.core import meta

from spectral_layers import _jaxpr

__all__ = [
    "LayerMap",
    "NNXApply",
    "discover_layers",
    "from_nnx",
    "layer_map",
    "layer_names",
    "leaf_paths",
    "unbox",
]

Group = Callable[[str], str]


def leaf_paths(params: Any) -> list[str]:
    """The path of every leaf of ``params`` joined with ``/``, in ``jax.tree.leaves`` order.

    A leading ``params`` key shared by all leaves (a linen variables dict) is dropped.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    paths = [tuple(_key_str(k) for k in path) for path, _ in flat]
    if paths and all(len(p) > 1 and p[0] == "params" for p in paths):
        paths = [p[1:] for p in paths]
    return ["/".join(p) for p in paths]


def _key_str(key: Any) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _default_group(path: str) -> str:
    head, sep, _ = path.rpartition("/")
    return head if sep else path


@dataclasses.dataclass(frozen=True)
class LayerMap:
    """Which leaves (indices into ``jax.tree.leaves(params)``) form which layer, layers in call order.

    Attributes:
      names: layer names in call order.
      leaves: for each layer, the indices of its leaves.
      paths: the path of every leaf (``leaf_paths``).
    """

    names: tuple[str, ...]
    leaves: tuple[tuple[int, ...], ...]
    paths: tuple[str, ...]

    def indices(self, name: str) -> tuple[int, ...]:
        """The leaf indices of layer ``name``."""
        return self.leaves[self.names.index(name)]


def check_params(params: Any) -> list[jax.Array]:
    """The leaves of ``params``; raises ``TypeError`` unless it is a non-empty pytree of float arrays."""
    if isinstance(params, jax.Array | float | int):
        raise TypeError(
            "params must be a pytree (dict, list, NNX state) of parameter arrays, "
            f"got a single {type(params).__name__}"
        )
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise TypeError(f"params must contain at least one array, got {params!r:.80}")
    for path, leaf in zip(leaf_paths(params), leaves, strict=True):
        if not hasattr(leaf, "dtype") or not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"params leaf {path!r} must be a floating-point array, got {type(leaf).__name__}"
            )
    return leaves


def unbox(params: Any) -> Any:
    """``params`` with Flax's boxed leaves replaced by their values.

    ``nn.with_logical_partitioning`` / ``nn.with_partitioning`` make ``init`` return ``nn.LogicallyPartitioned``
    / ``nn.Partitioned`` boxes (``flax.core.meta.AxisMetadata``), whose value would otherwise be a leaf of its
    own (a layer ``Dense_0/kernel``); a linen ``apply`` takes the unboxed values as they are.
    """

    def is_box(a):
        return isinstance(a, meta.AxisMetadata)

    if not any(is_box(a) for a in jax.tree.leaves(params, is_leaf=is_box)):
        return params
    return meta.unbox(params)


def batch_size(x: Any) -> int:
    """The number of examples: the leading axis shared by every leaf of ``x``."""
    return jax.tree.leaves(x)[0].shape[0]


def compute_dtype(x: Any, leaves: Sequence[Any]) -> Any:
    """The float dtype of a computation on inputs ``x`` (any pytree) and parameter ``leaves``.

    Integer inputs (token ids, labels) do not take part: they stay integers.
    """
    floats = [a for a in jax.tree.leaves(x) if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.result_type(*floats, *leaves)


def cast_inputs(x: Any, dtype: Any) -> Any:
    """``x`` with its floating leaves cast to ``dtype`` and integer leaves unchanged."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.inexact) else a, x)


def example_program(
    apply_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    x: Any,
    *,
    stacked: bool = False,
    batch: int = 1,
) -> _jaxpr.Program:
    """Flat program of ``apply_fn`` on ONE example (a batch of size 1), inputs ``(*leaves, *x_leaves)``.

    Leaves and the floating leaves of ``x`` (any pytree of arrays with a leading example axis) are cast to
    their common float dtype (Flax creates float32 parameters even under x64); integer leaves stay integers.
    ``batch`` traces a batch of that many examples instead.
    """
    leaves, treedef = jax.tree.flatten(params)
    dtype = compute_dtype(x, leaves)
    avals = tuple(
        jax.ShapeDtypeStruct(leaf.shape[1:] if stacked else leaf.shape, dtype) for leaf in leaves
    )
    x_avals, x_treedef = jax.tree.flatten(
        jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(
                (batch, *a.shape[1:]), dtype if jnp.issubdtype(a.dtype, jnp.inexact) else a.dtype
            ),
            x,
        )
    )
    key = (treedef, avals, x_treedef, tuple(x_avals))
    try:
        hash(apply_fn)
    except TypeError:
        return _program(apply_fn, *key)
    return _cached_program(apply_fn, *key)


@functools.lru_cache(maxsize=64)
def _cached_program(apply_fn, treedef, avals, x_treedef, x_avals):
    return _program(apply_fn, treedef, avals, x_treedef, x_avals)


def _program(apply_fn, treedef, avals, x_treedef, x_avals):
    def fn(leaves, *x_leaves):
        return apply_fn(
            jax.tree.unflatten(treedef, leaves), jax.tree.unflatten(x_treedef, x_leaves)
        )

    return _jaxpr.trace(fn, list(avals), *x_avals)


def discover_layers(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: jax.Array,
    *,
    group: Group | None = None,
    stacked: bool = False,
) -> LayerMap:
    """The layers of ``params`` in the order ``apply_fn(params, x)`` first uses them (module docstring).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: any pytree of parameter arrays (leading seed axis on every leaf if ``stacked``).
      x: example inputs ``(n, ...)`` (only their shape and dtype are used).
      group: optional ``group(path) -> layer name`` for every leaf path (default: the path without its
        last key).
      stacked: ``params`` has a leading seed axis.
    """
    params = unbox(params)
    check_params(params)
    return layer_map(example_program(apply_fn, params, x, stacked=stacked), params, group)


def layer_map(program: _jaxpr.Program, params: Any, group: Group | None = None) -> LayerMap:
    """The ``LayerMap`` of ``params`` in the call order of ``program`` (``example_program``; module docstring)."""
    treedef = jax.tree.structure(params)
    try:
        return _cached_layer_map(program, treedef, group)
    except TypeError:  # an unhashable group
        return _layer_map(program, treedef, group)


@functools.lru_cache(maxsize=64)
def _cached_layer_map(program, treedef, group):
    return _layer_map(program, treedef, group)


def _layer_map(program: _jaxpr.Program, treedef: Any, group: Group | None) -> LayerMap:
    params = jax.tree.unflatten(treedef, [0] * treedef.num_leaves)
    paths = leaf_paths(params)
    group = _default_group if group is None else group
    if not callable(group):
        raise TypeError(
            f"group must be a callable from a parameter path to a layer name, got {group!r}"
        )
    names_of = [group(p) for p in paths]
    for p, name in zip(paths, names_of, strict=True):
        if not isinstance(name, str) or not name:
            raise TypeError(f"group must return a non-empty str, got {name!r} for {p!r}")
    first = _jaxpr.first_use_keys(program, len(paths))
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names_of):
        members.setdefault(name, []).append(i)
    order = sorted(
        members, key=lambda name: (min(first[i] for i in members[name]), members[name][0])
    )
    return LayerMap(tuple(order), tuple(tuple(members[name]) for name in order), tuple(paths))


def layer_names(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: jax.Array,
    *,
    group: Group | None = None,
    stacked: bool = False,
) -> list[str]:
    """Names of the layers of ``params`` in call order (``discover_layers``).

    Example:
      >>> apply_fn, params = init_mlp(jax.random.key(0), 3, depth=3, width=8)
      >>> layer_names(apply_fn, params, jnp.ones((2, 3)))
      ['layer_0', 'layer_1', 'layer_2']
    """
    return list(discover_layers(apply_fn, params, x, group=group, stacked=stacked).names)


def split_leaves(leaves: Sequence[Any], indices: Sequence[int]) -> list[Any]:
    """``[leaves[i] for i in indices]``."""
    return [leaves[i] for i in indices]


def replace_leaves(
    leaves: Sequence[Any], indices: Sequence[int], values: Sequence[Any]
) -> list[Any]:
    """A copy of ``leaves`` with ``leaves[indices[k]] = values[k]``."""
    out = list(leaves)
    for i, v in zip(indices, values, strict=True):
        out[i] = v
    return out


# ----------------------------------------------------------------------------------------------------------
# NNX


@dataclasses.dataclass(frozen=True, eq=False)
class NNXApply:
    """``apply_fn(params, x)`` of an NNX module split by ``from_nnx``: merges, calls, returns ``(n,)``."""

    graphdef: Any
    state_treedef: Any
    params_treedef: Any
    rest: Any

    def __call__(self, params: Mapping[str, Any], x: jax.Array) -> jax.Array:
        leaves, treedef = jax.tree.flatten(params)
        if treedef != self.params_treedef:
            raise ValueError(
                "params does not have the structure of the module's nnx.Param state (from_nnx)"
            )
        state = jax.tree.unflatten(self.state_treedef, leaves)
        # fresh copies of the other variables on every call: NNX transforms (nnx.scan with RNG counters,
        # dropout) refuse variables that an earlier trace touched
        rest = jax.tree.map(lambda a: a, self.rest)
        out = nnx.merge(self.graphdef, state, rest)(x)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out


def from_nnx(model: nnx.Module) -> tuple[NNXApply, dict[str, Any]]:
    """A pure ``apply_fn(params, x)`` and the parameters of an NNX module.

    ``params`` is a plain nested dict of the module's ``nnx.Param`` values (``nnx.to_pure_dict``), so a list of
    layers ``self.layers`` gives the layers ``layers/0``, ``layers/1``, …; every other variable (batch
    statistics, RNG state) is held at its current value. ``apply_fn`` returns ``model(x)`` with a trailing
    axis of size 1 dropped, so a model with one output gives shape ``(n,)``.

    Example:
      >>> apply_fn, params = from_nnx(nnx.Linear(3, 1, rngs=nnx.Rngs(0)))
      >>> apply_fn(params, jnp.ones((5, 3))).shape
      (5,)
    """
    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be an flax.nnx.Module, got {type(model).__name__}")
    graphdef, state, rest = nnx.split(model, nnx.Param, ...)
    params = nnx.to_pure_dict(state)
    state_leaves, state_treedef = jax.tree.flatten(state)
    params_leaves, params_treedef = jax.tree.flatten(params)
    if len(state_leaves) != len(params_leaves):
        raise ValueError("from_nnx: could not map the nnx.Param state to a pure dict")
    return NNXApply(graphdef, state_treedef, params_treedef, rest), params
