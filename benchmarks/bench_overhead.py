"""What ``layer_ntk`` costs beyond its Grams: the self-check, a fresh closure per call, a tiny model.

Times the public call as users write it, in one process, float32, and prints ratios:

1. MNIST-size MLP (n = 1000, d = 784, 4 Dense layers of width 784, ReLU; a user-written linen module):
   ``check=True`` (the default) against ``check=False``, both with a fixed ``apply_fn``;
2. the same model with a fresh ``lambda p, x: model.apply({"params": p}, x)`` on every call against a fixed
   ``apply_fn`` (engines are keyed by the traced program, so the fresh closure reuses the compilation);
3. a tiny NNX model (``nnx.Linear(8, 16)``, ReLU, ``nnx.Linear(16, 1)``, n = 8): the time of one call with
   and without the check (the per-call overhead, since its Grams cost microseconds).

Run: ``python benchmarks/bench_overhead.py [--repeats 7]`` (about a minute on 2 cores). Medians over
``repeats`` calls after one warm-up call.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import flax.linen as nn
import jax
from flax import nnx

import spectral_layers as sl


class MLP(nn.Module):
    """Four Dense layers of width 784 with ReLU (the paper's MNIST network, user-written)."""

    @nn.compact
    def __call__(self, x):
        for _ in range(3):
            x = nn.relu(nn.Dense(784)(x))
        return nn.Dense(1)(x)[:, 0]


class Tiny(nnx.Module):
    def __init__(self, rngs):
        self.a, self.b = nnx.Linear(8, 16, rngs=rngs), nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.b(nnx.relu(self.a(x)))


def median_time(fn, repeats):
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", sl.FallbackWarning)
    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, float32, median of {args.repeats}"
    )

    model = MLP()
    x = jax.random.normal(jax.random.key(1), (1000, 784))
    params = model.init(jax.random.key(0), x)["params"]

    def fixed(p, x):
        return model.apply({"params": p}, x)

    t_nocheck = median_time(lambda: sl.layer_ntk(fixed, params, x, check=False), args.repeats)
    t_check = median_time(lambda: sl.layer_ntk(fixed, params, x), args.repeats)
    t_fresh = median_time(
        lambda: sl.layer_ntk(lambda p, x: model.apply({"params": p}, x), params, x), args.repeats
    )
    print(
        f"MLP n=1000: check=False {t_nocheck:.3f} s, check=True {t_check:.3f} s: "
        f"check costs {100 * (t_check / t_nocheck - 1):+.1f}%"
    )
    print(
        f"MLP n=1000: fresh closure per call {t_fresh:.3f} s = {t_fresh / t_check:.2f}x a fixed apply_fn"
    )

    apply_fn, p_tiny = sl.from_nnx(Tiny(nnx.Rngs(0)))
    x_tiny = jax.random.normal(jax.random.key(2), (8, 8))
    reps = 20 * args.repeats
    t_tiny = median_time(lambda: sl.layer_ntk(apply_fn, p_tiny, x_tiny, check=False), reps)
    t_tiny_check = median_time(lambda: sl.layer_ntk(apply_fn, p_tiny, x_tiny), reps)
    print(
        f"tiny NNX n=8: one call {1e3 * t_tiny:.2f} ms (check=False), "
        f"{1e3 * t_tiny_check:.2f} ms (check=True)"
    )


if __name__ == "__main__":
    main()
