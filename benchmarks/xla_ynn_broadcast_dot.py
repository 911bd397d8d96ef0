"""Minimal plain-JAX reproducer of an XLA CPU fusion error that once made ``layer_ntk`` 10x wrong.

What it computes: the Gram of a Dense head whose ``C = 10`` logits are summed, ``G = (A Aᵀ) ∘ (D Dᵀ) + D Dᵀ``
with ``D`` all ones (the output cotangents of a summed head), so ``D Dᵀ = C`` everywhere.

What went wrong (jaxlib 0.10.2, CPU, float32 and float64): at ``n >= 64`` XLA fuses the whole expression
into one "YNN" fusion, ``add(dot(bcast(1)[n,C], bcast(1)[C,n]), mul(dot(A, Aᵀ), same dot))``, and the dot of
the two broadcast ones comes out 1, not ``C``: every entry is ``C`` times too small. At ``n = 32`` the fusion
is not formed and the result is exact. ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` (no YNN
fusion) also makes it exact. The package's engine passes its per-example factors through
``jax.lax.optimization_barrier`` (shown below as ``barrier``), which keeps XLA from seeing the ones, and its
default self-check (``layer_ntk(check=True)``) recomputes Gram entries from per-example gradients.

Run: ``python benchmarks/xla_ynn_broadcast_dot.py`` (a few seconds). It prints, for each ``n`` and dtype,
the largest relative error of the plain expression and of the barrier form, and a status line:
``BUG PRESENT`` when the plain expression is wrong anywhere, ``no error`` otherwise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

HIGHEST = jax.lax.Precision.HIGHEST


def head_gram(x, b, barrier=False):
    """``(A Aᵀ) ∘ (D Dᵀ) + D Dᵀ`` with ``A = mean_t(x² + b)`` and ``D`` all ones of shape ``(n, 10)``."""
    a = jnp.mean(x * x + b, axis=1)
    d = jnp.ones((x.shape[0], 10), x.dtype)
    if barrier:
        d = jax.lax.optimization_barrier(d)
    dd = jnp.matmul(d, d.T, precision=HIGHEST)
    return dd + jnp.matmul(a, a.T, precision=HIGHEST) * dd


def main() -> bool:
    """Prints the errors; returns whether the bug is present in this jaxlib."""
    jax.config.update("jax_enable_x64", True)
    print(f"jax {jax.__version__}, jaxlib {jax.lib.__version__}, backend {jax.default_backend()}")
    plain, fixed = jax.jit(head_gram), jax.jit(lambda x, b: head_gram(x, b, barrier=True))
    present = False
    for dtype in (jnp.float32, jnp.float64):
        for n in (32, 64, 128, 256):
            x = jax.random.normal(jax.random.key(0), (n, 16, 64), dtype)
            b = jnp.zeros(64, dtype)
            a = np.mean(np.asarray(x, np.float64) ** 2, axis=1)
            ref = 10.0 + 10.0 * (a @ a.T)
            err = float(np.abs(np.asarray(plain(x, b)) / ref - 1).max())
            err_fixed = float(np.abs(np.asarray(fixed(x, b)) / ref - 1).max())
            present |= err > 1e-3
            print(
                f"{jnp.dtype(dtype).name:8s} n={n:4d}  plain: max rel. error {err:9.3g}   "
                f"with barrier: {err_fixed:9.3g}"
            )
    print("status:", "BUG PRESENT" if present else "no error")
    return present


if __name__ == "__main__":
    main()
