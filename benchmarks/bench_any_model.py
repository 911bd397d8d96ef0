"""Per-layer NTK of user-written models: the structured engine vs per-layer jacrev vs neural-tangents.

Two settings, every competitor in one process on the same inputs and parameters (float32):

* **MLP, MNIST setting** (paper §5.4): ``n = 1000``, ``d = 784``, 4 ReLU Dense layers of width 784 written as a
  plain linen module (``nn.Dense``, standard parameterisation, no bias) — ``layer_ntk``'s structured engine —
  against the same architecture from ``init_mlp`` (NTK parameterisation, no bias; the dedicated MLP identity
  ``empirical.mlp_grams``, i.e. the path before the engine, and ``init_mlp`` through the engine), per-layer
  ``jacrev`` (``method="jacobian"``; at ``--jac-n`` points, see below) and neural-tangents'
  ``STRUCTURED_DERIVATIVES`` per layer (``method="nt"``).
* **CNN, CIFAR shape**: ``n = 512`` images ``32 × 32 × 3``, three 3×3 stride-2 SAME convolutions of 32 channels
  (ReLU, bias) and a Dense readout: the engine vs per-layer ``jacrev`` and NT ``STRUCTURED_DERIVATIVES``; also
  the engine's XLA flops against the Gram-product floor ``Σ_ℓ 2 n² P_ℓ`` (the products ``J_ℓ J_ℓᵀ`` alone).

Per-layer ``jacrev`` of the MLP needs ``n × 614656`` floats per layer; it is timed at ``--jac-n`` points (default
200) together with the engine at the same ``n``, and the ratio is printed at that ``n`` (its cost grows at
least linearly in ``n``, so the ratio at ``n = 1000`` is larger). For the CNN, per-layer ``jacrev`` at
``n = 512`` runs out of memory (about 26 GB for one layer); it is timed at ``--cnn-jac-n`` (default 128).

Each function is compiled ahead of time (``jax.jit(f).lower(...).compile()``), then run ``--repeats`` times;
the table gives the median run time. Command::

    python benchmarks/bench_any_model.py

Not a test; timings depend on the machine (and on other processes on a shared one).
"""

from __future__ import annotations

import argparse
import math
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
from bench_layer_ntk import compile_and_time

from spectral_layers import empirical, init_mlp


def _timed(fn, args, repeats):
    """``(compile seconds, median run seconds, GFLOP)`` (``bench_layer_ntk.compile_and_time``)."""
    (compile_s, gflop), (median, _), _ = compile_and_time(fn, args, repeats)
    return compile_s, median, gflop


def _engine_fn(apply_fn, params, x, method, nt_implementation="AUTO"):
    leaves, treedef = jax.tree.flatten(params)
    key = empirical._key(apply_fn, treedef, leaves, x, None, False)
    engine = empirical._engine(key, method, None, nt_implementation, "auto")
    return (lambda lv, x_: engine.fn(lv, x_, None)), (leaves, x)


class LinenMLP(nn.Module):
    """The MNIST-setting network as a user would write it."""

    width: int = 784
    depth: int = 4

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth - 1):
            x = nn.relu(nn.Dense(self.width, use_bias=False)(x))
        return nn.Dense(1, use_bias=False)(x)[:, 0]


class CifarCNN(nn.Module):
    """Three 3×3 stride-2 convolutions of 32 channels and a Dense readout."""

    @nn.compact
    def __call__(self, x):
        for _ in range(3):
            x = nn.relu(nn.Conv(32, (3, 3), strides=2, padding="SAME")(x))
        return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def _linen(module, x):
    params = module.init(jax.random.key(0), x[:1])["params"]
    return (lambda p, x_: module.apply({"params": p}, x_)), params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--jac-n", type=int, default=200)
    parser.add_argument("--cnn-n", type=int, default=512)
    parser.add_argument("--cnn-jac-n", type=int, default=128)
    parser.add_argument("--skip-mlp", action="store_true", help="run only the CNN setting")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=784)
    args = parser.parse_args(argv)
    rows = []

    def row(name, fn, fargs, repeats=args.repeats):
        compile_s, run_s, gflop = _timed(fn, fargs, repeats)
        rows.append((name, compile_s, run_s, gflop))
        print(f"{name:58s} compile {compile_s:7.2f} s  run {run_s:9.4f} s  {gflop:10.2f} GFLOP")
        sys.stdout.flush()
        return run_s, gflop

    def engine_vs_jacrev(label, apply_fn, params, xs):
        """Run seconds of the engine and of per-layer jacrev at the smaller n (jacrev: one run)."""
        n = xs.shape[0]
        t_engine, _ = row(
            f"{label}, structured engine (n={n})", *_engine_fn(apply_fn, params, xs, "structured")
        )
        t_jac, _ = row(
            f"{label}, per-layer jacrev (n={n})",
            *_engine_fn(apply_fn, params, xs, "jacobian"),
            repeats=1,
        )
        return t_engine, t_jac

    # ---------------------------------------------------------------- MLP, MNIST setting
    if not args.skip_mlp:
        d, w = 784, args.width
        x = jax.random.normal(jax.random.key(1), (args.n, d), jnp.float32)
        apply_fn, params = _linen(LinenMLP(width=w), x)
        f_mlp, p_mlp = init_mlp(jax.random.key(2), d, depth=4, width=w, dtype=jnp.float32)
        print(f"MLP: n={args.n}, d={d}, 4 ReLU layers of width {w}, float32")
        t_engine, _ = row(
            "linen MLP, structured engine", *_engine_fn(apply_fn, params, x, "structured")
        )
        t_mlp, _ = row(
            "init_mlp, dedicated MLP path (mlp_grams)",
            lambda p, x_: empirical.mlp_grams(f_mlp.spec, p, x_),
            (p_mlp, x),
        )
        t_mlp_engine, _ = row(
            "init_mlp, structured engine", *_engine_fn(f_mlp, p_mlp, x, "structured")
        )
        t_nt, _ = row(
            "linen MLP, NT STRUCTURED_DERIVATIVES per layer",
            *_engine_fn(apply_fn, params, x, "nt", "STRUCTURED_DERIVATIVES"),
            repeats=1,
        )
        t_engine_small, t_jac_small = engine_vs_jacrev(
            "linen MLP", apply_fn, params, x[: args.jac_n]
        )

    # ---------------------------------------------------------------- CNN, CIFAR shape
    xc = jax.random.normal(jax.random.key(3), (args.cnn_n, 32, 32, 3), jnp.float32)
    apply_c, params_c = _linen(CifarCNN(), xc)
    print(f"CNN: n={args.cnn_n}, 32x32x3, three 3x3 stride-2 convs of 32 channels, Dense readout")
    t_c, gflop_c = row(
        "linen CNN, structured engine", *_engine_fn(apply_c, params_c, xc, "structured")
    )
    t_c_small, t_c_jac = engine_vs_jacrev("linen CNN", apply_c, params_c, xc[: args.cnn_jac_n])
    try:
        t_c_nt, _ = row(
            "linen CNN, NT STRUCTURED_DERIVATIVES per layer",
            *_engine_fn(apply_c, params_c, xc, "nt", "STRUCTURED_DERIVATIVES"),
            repeats=1,
        )
    except jax.errors.JaxRuntimeError as e:  # out of memory
        print(f"linen CNN, NT STRUCTURED_DERIVATIVES per layer: failed ({str(e)[:80]})")
        t_c_nt = math.nan
    layer_sizes = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params_c)[0]:
        layer_sizes[path[0].key] = layer_sizes.get(path[0].key, 0) + leaf.size
    floor = sum(2 * args.cnn_n**2 * p for p in layer_sizes.values()) / 1e9

    print("\nratios (median run time; machine may be shared)")
    if not args.skip_mlp:
        print(f"  linen MLP engine / init_mlp dedicated path      {t_engine / t_mlp:8.2f}x")
        print(f"  init_mlp engine / init_mlp dedicated path       {t_mlp_engine / t_mlp:8.2f}x")
        print(f"  NT STRUCTURED_DERIVATIVES / linen MLP engine    {t_nt / t_engine:8.2f}x")
        ratio = t_jac_small / t_engine_small
        print(f"  per-layer jacrev / engine at n={args.jac_n:<5d}            {ratio:8.1f}x")
    ratio = t_c_jac / t_c_small
    print(f"  CNN per-layer jacrev / engine at n={args.cnn_jac_n:<5d}        {ratio:8.1f}x")
    print(f"  CNN NT STRUCTURED_DERIVATIVES / engine          {t_c_nt / t_c:8.2f}x")
    print(f"  CNN engine GFLOP / Gram-product floor           {gflop_c:.2f} / {floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
