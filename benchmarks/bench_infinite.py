"""Infinite-width kernels: all layers of ``infinite_layer_ntk`` vs neural-tangents' total NTK.

Times, on the same inputs (n points on S^{d-1}, depth 4, ReLU, NTK parameterisation):

* ``ours``: all the per-layer kernels ``κ^(0) … κ^(L-1)`` (one ``infinite_layer_ntk`` call);
* ``nt``: NT's jitted ``stax`` ``kernel_fn(x, x, "ntk")``, the total NTK only.

One process; a warm-up call (compilation), then the median of ``--repeats`` timed calls with
``block_until_ready``, interleaved. Also ``ours`` with ``block_size`` (rows at a time: smaller
intermediates). Target: ``ours / nt <= 1.5``. The last column compares ``Σ_ℓ κ^(ℓ)`` with NT: in
float32 it is ~3e-4, all of it on the diagonal, where NT's ``arctan2`` near correlation 1 loses
``sqrt(eps)`` while ours keeps ``ρ = 1`` exactly (off the diagonal they agree to ~3e-7).

    python benchmarks/bench_infinite.py                 # n = 1000, 5000 (float32)
    python benchmarks/bench_infinite.py --n 1000 --x64
    python benchmarks/bench_infinite.py --accuracy      # quadrature error table (float64)

``--accuracy`` prints, per activation / input scaling / input norm, the relative Frobenius error
(max over layers) of the quadrature at several degrees against degree 300: the table in
``spectral_layers.infinite.DEFAULT_QUADRATURE_DEGREE``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import jax
import jax.numpy as jnp

from spectral_layers import nt_compat
from spectral_layers.empirical import relative_frobenius
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network


def _sphere(n: int, d: int, key: jax.Array) -> jax.Array:
    x = jax.random.normal(key, (n, d))
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)


def _median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each function; calls interleaved so that load changes hit all alike."""
    for fn in fns.values():
        jax.block_until_ready(fn())  # warm-up: compilation
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_speed(sizes: list[int], depth: int, dim: int, repeats: int, block_size: int) -> None:
    stax = nt_compat.stax()
    net = Network(depth=depth)
    layers = []
    for i in range(depth):
        layers.append(stax.Dense(1))
        if i < depth - 1:
            layers.append(stax.Relu())
    _, _, kernel_fn = stax.serial(*layers)
    nt_ntk = jax.jit(lambda x: kernel_fn(x, x, "ntk"))

    dtype = jnp.dtype(jnp.result_type(float)).name
    print(f"depth {depth}, relu, d = {dim}, {dtype}, median of {repeats} interleaved calls "
          "(CPU shared with other jobs: noisy)")  # fmt: skip
    header = ("n", "NT total (s)", "ours all (s)", "ratio", f"ours b={block_size} (s)", "ratio",
              "max|Σκ-Θ|/max|Θ|")  # fmt: skip
    print("{:>6} {:>13} {:>13} {:>6} {:>16} {:>6} {:>18}".format(*header))
    for n in sizes:
        x = _sphere(n, dim, jax.random.key(n))
        t = _median_times(
            {
                "nt": lambda x=x: nt_ntk(x),
                "ours": lambda x=x: infinite_layer_ntk(x, network=net),
                "blocked": lambda x=x: infinite_layer_ntk(x, network=net, block_size=block_size),
            },
            repeats,
        )
        total = sum(infinite_layer_ntk(x, network=net).values())
        ref = nt_ntk(x)
        err = float(jnp.max(jnp.abs(total - ref)) / jnp.max(jnp.abs(ref)))
        print(f"{n:>6} {t['nt']:>13.3f} {t['ours']:>13.3f} {t['ours'] / t['nt']:>6.2f} "
              f"{t['blocked']:>16.3f} {t['blocked'] / t['nt']:>6.2f} {err:>18.1e}")  # fmt: skip


def bench_accuracy() -> None:
    degrees = (16, 24, 32, 48, 64, 96)
    x = _sphere(30, 10, jax.random.key(0))
    print(f"relative Frobenius error vs degree 300 (max over layers), depth 4 with bias, "
          f"30 points on S^9; degrees {degrees}")  # fmt: skip
    for rule in ("trapezoid", "gauss_hermite"):
        for act in ("tanh", "gelu", "softplus", "sin"):
            for scaling, norm in (("fan_in", 1.0), ("none", 1.0), ("none", 2.0)):
                net = Network(depth=4, activation=act, use_bias=True, input_scaling=scaling)
                ref = infinite_layer_ntk(norm * x, network=net, quadrature_degree=300)
                errs = []
                for deg in degrees:
                    k = infinite_layer_ntk(
                        norm * x, network=net, quadrature_degree=deg, quadrature_rule=rule
                    )
                    errs.append(max(float(relative_frobenius(k[n], ref[n], axis=None)) for n in k))
                print(f"{rule:>13} {act:>8} {scaling:>6} ‖x‖={norm:g}  "
                      + " ".join(f"{e:.0e}" for e in errs))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--block-size", type=int, default=1000)
    parser.add_argument("--x64", action="store_true", help="float64 (default float32)")
    parser.add_argument("--accuracy", action="store_true", help="quadrature accuracy table")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if args.accuracy:
        jax.config.update("jax_enable_x64", True)
        bench_accuracy()
        return
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    bench_speed(args.n, args.depth, args.dim, args.repeats, args.block_size)


if __name__ == "__main__":
    main()
