"""Row-blocked evaluation shared by the kernel modules (bounded memory for large ``n``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["map_rows"]


def map_rows(fn, rows, block_size):
    """``fn(rows)`` computed ``block_size`` rows at a time with ``lax.map`` (zero-padded, then trimmed)."""
    n = jax.tree.leaves(rows)[0].shape[0]
    if block_size is None or block_size >= n:
        return fn(rows)
    num_blocks = -(-n // block_size)
    pad = num_blocks * block_size - n

    def split(a):
        a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
        return a.reshape(num_blocks, block_size, *a.shape[1:])

    out = jax.lax.map(fn, jax.tree.map(split, rows))
    return jax.tree.map(lambda o: o.reshape(num_blocks * block_size, *o.shape[2:])[:n], out)
