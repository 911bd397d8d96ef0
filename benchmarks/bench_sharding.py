"""Per-layer Grams on one device vs sharded by rows over all local devices (``mesh=make_mesh()``).

Command (on CPU, emulate devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``)::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python benchmarks/bench_sharding.py --n 20000

Prints the median wall time of ``layer_ntk`` (structured, 4 ReLU layers) on one device and sharded, their ratio,
and the largest difference between the two results. On a CPU the emulated devices share the same cores, so
the ratio there only shows the overhead; on a multi-GPU host it shows the speed-up.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import spectral_layers as sl
from spectral_layers.sharding import make_mesh


def _time(fn, repeats):
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--d", type=int, default=784)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--block-size", type=int, default=2000)
    args = p.parse_args(argv)
    x = sl.targets.sample_sphere(jax.random.key(0), args.n, args.d, dtype=np.float32)
    f, params = sl.init_mlp(jax.random.key(1), args.d, depth=4, width=args.width, dtype=np.float32)
    mesh = make_mesh()
    single = _time(lambda: sl.layer_ntk(f, params, x, block_size=args.block_size), args.repeats)
    sharded = _time(
        lambda: sl.layer_ntk(f, params, x, block_size=args.block_size, mesh=mesh), args.repeats
    )
    a = sl.layer_ntk(f, params, x, block_size=args.block_size)
    b = sl.layer_ntk(f, params, x, block_size=args.block_size, mesh=mesh)
    diff = max(
        float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])) / np.max(np.abs(a[k])))) for k in a
    )
    print(
        f"devices: {jax.device_count()} ({jax.devices()[0].platform}), n={args.n}, d={args.d}, "
        f"width={args.width}, float32, block_size={args.block_size}"
    )
    print(f"{'one device':<12} {single:10.3f} s")
    print(f"{'sharded':<12} {sharded:10.3f} s   ratio one/sharded = {single / sharded:.2f}")
    print(f"max relative difference sharded vs one device: {diff:.1e}")


if __name__ == "__main__":
    main()
