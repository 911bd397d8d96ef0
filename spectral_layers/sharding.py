"""Computing Gram matrices across devices: rows of ``x1`` sharded over a ``jax.sharding.Mesh``.

A Gram ``K(x1, x2)`` is computed row block by row block: device ``i`` of the mesh gets rows
``x1[i·b:(i+1)·b]`` and the whole ``x2`` (replicated), and returns its ``b × n2`` block; the result stays
sharded by rows (``NamedSharding(mesh, P(axis, None))``). ``n1`` need not be divisible by the number of
devices (rows are zero-padded, then trimmed). Each block is the same arithmetic as the single-device path, so
the results agree to rounding.

Multi-host: call ``jax.distributed.initialize()`` on every host first; ``make_mesh()`` then spans
``jax.devices()`` (all devices of all hosts) and the same code runs unchanged (every host passes the same
inputs; the output is a global array sharded across hosts — gather it with
``jax.experimental.multihost_utils.process_allgather`` if one host needs all of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

ROW_AXIS = "rows"


def make_mesh(devices: Sequence[jax.Device] | None = None, *, axis_name: str = ROW_AXIS) -> Mesh:
    """A one-axis mesh over ``devices`` (default: every device of every host, ``jax.devices()``)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices")
    return Mesh(np.asarray(devices), (axis_name,))


def sharded_rows(
    fn: Callable[..., Any], x1: Any, *replicated: Any, mesh: Mesh, row_axis: int = 0
) -> Any:
    """``fn(x1_block, *replicated)`` over row blocks of ``x1`` sharded on ``mesh``'s first axis.

    Args:
      fn: maps a block of rows (same pytree structure as ``x1``) and the replicated arguments to a pytree of
        arrays whose axis ``row_axis`` indexes the block's rows.
      x1: rows to shard: an array ``(n1, …)`` or a pytree of arrays sharing the leading ``n1``.
      *replicated: arguments given whole to every device (parameters, ``x2``).
      mesh: a ``jax.sharding.Mesh``; its first axis shards the rows.
      row_axis: the rows' axis in every output leaf (1 when outputs have a leading seed axis).

    Returns:
      ``fn`` applied to all rows, every leaf with ``n1`` rows on ``row_axis``, sharded by rows.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh (see make_mesh), got {type(mesh).__name__}"
        )
    axis = mesh.axis_names[0]
    num = mesh.shape[axis]
    n1 = jax.tree.leaves(x1)[0].shape[0]
    pad = (-n1) % num

    def pad_rows(a):
        a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
        return jax.device_put(a, NamedSharding(mesh, P(axis)))

    x1p = jax.tree.map(pad_rows, x1)
    mapped = jax.shard_map(
        fn,
        mesh=mesh,
        in_specs=(P(axis), *([P()] * len(replicated))),
        out_specs=P(*([None] * row_axis), axis),
        check_vma=False,
    )
    out = jax.jit(mapped)(x1p, *replicated)
    return jax.tree.map(lambda o: jax.lax.slice_in_dim(o, 0, n1, axis=row_axis), out)
