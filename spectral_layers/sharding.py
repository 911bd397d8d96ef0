"""Computing Grams and contributions across devices and hosts: rows (examples) sharded over a ``jax.sharding.Mesh``.

A Gram ``K(x1, x2)`` is computed row block by row block (``sharded_rows``): the devices along the row axis
(or axes) of the mesh get rows ``x1[i·b:(i+1)·b]`` and the whole ``x2`` and parameters (replicated), and return
their ``b × n2`` block; the result stays sharded by rows. A sum over examples such as the gradient
``∇_θ ⟨y, f(X)⟩ = Σ_i y_i ∇_θ f(x_i)`` is computed as per-device partial sums added with ``psum``
(``sharded_sum``), so the result is replicated on every device.

Any mesh works: built by ``make_mesh`` or ``jax.make_mesh`` (whose axes are ``Explicit`` by default in recent
JAX), 1-D or n-D; the rows go over the named ``axis`` (default: the mesh's first axis) and are replicated over
the others. ``n`` need not be divisible by the number of row shards: rows are padded by repeating the last row
(padded rows of a sum are given weight 0), and trimmed; a trimmed Gram cannot be split in equal blocks, so it
is then returned replicated (every device holds all of it). Each block is the same arithmetic as the single-device
path, so results agree to rounding (the order of a ``psum`` can change the last bits).

Several processes (hosts, or local processes on one machine): call ``jax.distributed.initialize(...)`` in
every process first (on CPU also ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``);
``make_mesh()`` then spans ``jax.devices()``, the devices of all processes, and the same code runs unchanged
in every process, each passing the same inputs. A row-sharded result is then a global array that no single
process holds; ``gather`` returns it as a NumPy array in every process (``process_allgather``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["ROW_AXIS", "gather", "make_mesh", "row_mesh", "sharded_rows", "sharded_sum", "take"]

ROW_AXIS = "rows"


def make_mesh(devices: Sequence[jax.Device] | None = None, *, axis_name: str = ROW_AXIS) -> Mesh:
    """A one-axis mesh over ``devices`` (default: every device of every process, ``jax.devices()``)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices")
    return Mesh(np.asarray(devices), (axis_name,))


def row_mesh(
    mesh: Mesh, axis: str | Sequence[str] | None = None
) -> tuple[Mesh, tuple[str, ...], int]:
    """The mesh with every axis typed ``Auto``, the row axes, and the number of row shards.

    Args:
      mesh: any ``jax.sharding.Mesh`` (explicit, auto or manual axes; any number of axes).
      axis: the axis name (or tuple of names) the rows are sharded over; default the mesh's first axis.

    Raises:
      TypeError: ``mesh`` is not a ``Mesh``.
      ValueError: ``axis`` names no axis of ``mesh``.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh (see make_mesh or jax.make_mesh), "
            f"got {type(mesh).__name__}"
        )
    axes = (mesh.axis_names[0],) if axis is None else (axis,) if isinstance(axis, str) else axis
    axes = tuple(axes)
    if not axes or any(a not in mesh.axis_names for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(
            f"axis must name distinct axes of the mesh {mesh.axis_names}, got {axis!r}"
        )
    # Explicit axes would make the trimming of padded rows a sharding-type error (slicing a sharded
    # dimension to a size the shards do not divide); Auto axes let XLA place the trimmed result.
    auto = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
    return auto, axes, int(np.prod([mesh.shape[a] for a in axes]))


def _spans_other_processes(mesh: Mesh) -> bool:
    me = jax.process_index()
    return any(d.process_index != me for d in mesh.devices.flat)


def _put(a: Any, sharding: NamedSharding, pad: int = 0) -> jax.Array:
    """``a`` (rows padded by ``pad`` copies of its last row) as a global array with ``sharding``.

    Every process passes the same value. Within one process this is a ``device_put``; across processes the
    array is built from each process's copy (``make_array_from_callback``), or resharded if it already is a
    global array.
    """

    def padded(v):
        if pad == 0:
            return v
        return jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1), mode="edge")

    if isinstance(a, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(padded(a), sharding)
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        return jax.jit(padded, out_shardings=sharding)(a)
    if not _spans_other_processes(sharding.mesh):
        return jax.device_put(padded(jnp.asarray(a)), sharding)
    host = np.asarray(a)
    if pad:
        host = np.pad(host, [(0, pad)] + [(0, 0)] * (host.ndim - 1), mode="edge")
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _context(auto: Mesh, args: Any):
    """``jax.set_mesh(auto)``, overriding a caller's context mesh with other axis types; nothing inside
    the caller's ``jit`` (where ``set_mesh`` is not allowed)."""
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(args)):
        return contextlib.nullcontext()
    return jax.set_mesh(auto)


def _on_mesh(a: jax.Array, mesh: Mesh) -> jax.Array:
    """``a`` (sharded on the same devices, axes typed ``Auto``) on the caller's ``mesh``, without a copy."""
    if isinstance(a, jax.core.Tracer):  # called inside the caller's jit: XLA places the result
        return a
    sharding = NamedSharding(mesh, a.sharding.spec)
    shards = [s.data for s in a.addressable_shards]
    return jax.make_array_from_single_device_arrays(a.shape, sharding, shards)


def _num_rows(x: Any) -> int:
    leaves = jax.tree.leaves(x)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError(
            "the sharded rows must be arrays (or a pytree of arrays) with a leading axis"
        )
    n = jnp.shape(leaves[0])[0]
    if n == 0 or any(jnp.shape(leaf)[0] != n for leaf in leaves):
        raise ValueError(
            f"the sharded rows must share a non-zero leading axis, got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}"
        )
    return n


def sharded_rows(
    fn: Callable[..., Any],
    x1: Any,
    *replicated: Any,
    mesh: Mesh,
    row_axis: int = 0,
    axis: str | Sequence[str] | None = None,
) -> Any:
    """``fn(x1_block, *replicated)`` over row blocks of ``x1`` sharded on ``mesh``.

    Args:
      fn: maps a block of rows (same pytree structure as ``x1``) and the replicated arguments to a pytree of
        arrays whose axis ``row_axis`` indexes the block's rows. Rows must not interact.
      x1: rows to shard: an array ``(n1, …)`` or a pytree of arrays sharing the leading ``n1``.
      *replicated: arguments given whole to every device (parameters, ``x2``).
      mesh: any ``jax.sharding.Mesh`` (module docstring).
      row_axis: the rows' axis in every output leaf (1 when outputs have a leading seed axis).
      axis: mesh axis name(s) the rows are sharded over; default the first axis.

    Returns:
      ``fn`` applied to all rows, every leaf with ``n1`` rows on ``row_axis``: sharded by rows over ``axis``
      on ``mesh`` when the number of row shards divides ``n1``; otherwise
      (JAX arrays are sharded in equal blocks) replicated on every device of the mesh, so for large ``n1``
      choose it divisible by the number of shards.
    """
    auto, axes, num = row_mesh(mesh, axis)
    n1 = _num_rows(x1)
    pad = (-n1) % num
    rows_spec = P(axes)
    x1p = jax.tree.map(lambda a: _put(a, NamedSharding(auto, rows_spec), pad), x1)
    rep = jax.tree.map(lambda a: _put(a, NamedSharding(auto, P())), replicated)
    program = _rows_program(fn, auto, axes, n1, pad, row_axis, len(replicated))
    with _context(auto, (x1p, rep)):
        out = program(x1p, *rep)
    return jax.tree.map(lambda o: _on_mesh(o, mesh), out)


def sharded_sum(
    fn: Callable[..., Any],
    rows: Any,
    *replicated: Any,
    mesh: Mesh,
    axis: str | Sequence[str] | None = None,
    finalize: Callable[[Any], Any] | None = None,
) -> Any:
    """``finalize(Σ_blocks fn(rows_block, weight_block, *replicated))``, the blocks sharded on ``mesh``.

    ``fn`` returns a pytree of partial sums over its block of rows; the blocks' partial sums are added
    across devices (``psum``), then ``finalize`` (default: identity) maps the total, on every device.
    ``weight_block`` is 1 for real rows and 0 for padding rows (``fn`` must weight each row's term by it).

    Args:
      fn: ``fn(rows_block, weight_block, *replicated) -> pytree`` of partial sums.
      rows: an array ``(n, …)`` or a pytree of arrays sharing the leading ``n``.
      *replicated: arguments given whole to every device.
      mesh: any ``jax.sharding.Mesh`` (module docstring).
      axis: mesh axis name(s) the rows are sharded over; default the first axis.
      finalize: applied to the summed pytree (e.g. squared norms of a summed gradient).

    ``fn`` and ``finalize`` (like ``sharded_rows``'s ``fn``) key a cache of compiled programs: pass the same
    function objects in repeated calls to reuse the compilation.

    ``fn`` and ``finalize`` (and ``sharded_rows``'s ``fn``) key a cache of compiled programs: pass the same
    function objects for repeated calls to reuse the compilation.

    Returns:
      The finalized sum, replicated on every device of the mesh.
    """
    auto, axes, num = row_mesh(mesh, axis)
    n = _num_rows(rows)
    pad = (-n) % num
    dtype = jnp.result_type(*[jnp.result_type(leaf) for leaf in jax.tree.leaves(rows)], float)
    weight = np.concatenate([np.ones(n), np.zeros(pad)]).astype(dtype)
    spec = P(axes)
    rows_p = jax.tree.map(lambda a: _put(a, NamedSharding(auto, spec), pad), rows)
    weight_p = _put(weight, NamedSharding(auto, spec))
    rep = jax.tree.map(lambda a: _put(a, NamedSharding(auto, P())), replicated)
    program = _sum_program(fn, finalize, auto, axes, len(replicated))
    with _context(auto, (rows_p, rep)):
        out = program(rows_p, weight_p, *rep)
    return jax.tree.map(lambda o: _on_mesh(o, mesh), out)


@functools.lru_cache(maxsize=128)
def _rows_program(fn, auto, axes, n1, pad, row_axis, num_replicated):
    """The jitted ``sharded_rows`` program (cached: a repeated call reuses its compilation)."""
    rows_spec = P(axes)
    mapped = jax.shard_map(
        fn,
        mesh=auto,
        in_specs=(rows_spec, *([P()] * num_replicated)),
        out_specs=P(*([None] * row_axis), axes),
        check_vma=False,
    )

    def trimmed(x, *r):
        out = mapped(x, *r)
        return jax.tree.map(lambda o: jax.lax.slice_in_dim(o, 0, n1, axis=row_axis), out)

    # JAX arrays are sharded in equal blocks: with padding rows, the trimmed result is replicated instead.
    out_spec = P(*([None] * row_axis), axes) if pad == 0 else P()
    return jax.jit(trimmed, out_shardings=NamedSharding(auto, out_spec))


@functools.lru_cache(maxsize=128)
def _sum_program(fn, finalize, auto, axes, num_replicated):
    """The jitted ``sharded_sum`` program (cached: a repeated call reuses its compilation)."""
    spec = P(axes)

    def block(r, w, *args):
        total = jax.lax.psum(fn(r, w, *args), axes)
        return total if finalize is None else finalize(total)

    mapped = jax.shard_map(
        block,
        mesh=auto,
        in_specs=(spec, spec, *([P()] * num_replicated)),
        out_specs=P(),
        check_vma=False,
    )
    return jax.jit(mapped, out_shardings=NamedSharding(auto, P()))


def take(fn: Callable[[Any], Any], tree: Any, mesh: Mesh) -> Any:
    """``fn(tree)`` (a small selection, e.g. a few entries of sharded Grams) as NumPy in every process.

    ``tree`` holds arrays on ``mesh`` (any axis types, also spanning several processes); ``fn`` runs jitted
    on the same devices with ``Auto`` axes and a replicated result, so no array is gathered whole.
    """
    auto = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))

    def on_auto(a):
        a_mesh = getattr(getattr(a, "sharding", None), "mesh", None)
        if a_mesh is None or a_mesh.shape_tuple != auto.shape_tuple:
            return a
        spec = getattr(a.sharding, "spec", P())
        shards = [sh.data for sh in a.addressable_shards]
        return jax.make_array_from_single_device_arrays(a.shape, NamedSharding(auto, spec), shards)

    moved = jax.tree.map(on_auto, tree)
    with jax.set_mesh(auto):
        out = jax.jit(fn, out_shardings=NamedSharding(auto, P()))(moved)
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), out)


def gather(tree: Any) -> Any:
    """Every array of ``tree`` as a NumPy array holding its whole value, in every process.

    Arrays of this process (one process, or fully addressable) are copied with ``np.asarray``; global
    arrays spread over several processes are gathered (``multihost_utils.process_allgather``, a collective:
    every process must call ``gather`` on the same arrays). Other leaves pass through ``np.asarray``.
    """

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            if a.is_fully_replicated:
                return np.asarray(a.addressable_data(0))
            return multihost_utils.process_allgather(a, tiled=True)
        return np.asarray(a)

    return jax.tree.map(one, tree)
