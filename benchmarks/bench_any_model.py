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

``--corpus`` instead times the public ``sl.layer_ntk`` call on every model of the test corpus
(``tests/models``: ResNet, lm1b Transformer, SST-2 LSTM, VAE, NNX scan, neural-tangents stax CNN and
WideResNet, ViT, MLP-Mixer) at ``n = --corpus-n`` (256) examples, against neural-tangents'
``STRUCTURED_DERIVATIVES`` and ``JACOBIAN_CONTRACTION`` per layer and per-layer ``jacrev``, and the traced
logits kernels against neural-tangents' (``corpus_table``)::

    python benchmarks/bench_any_model.py --corpus

Not a test; timings depend on the machine (and on other processes on a shared one).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import warnings
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
from bench_layer_ntk import compile_and_time
from bench_overhead import median_time

import spectral_layers as sl
from spectral_layers import empirical, init_mlp, nt_compat


def _timed(fn, args, repeats):
    """``(compile seconds, median run seconds, GFLOP)`` (``bench_layer_ntk.compile_and_time``)."""
    (compile_s, gflop), (median, _), _ = compile_and_time(fn, args, repeats)
    return compile_s, median, gflop


def _engine_fn(apply_fn, params, x, method, nt_implementation="AUTO"):
    """The compiled engine ``layer_ntk`` builds (its XLA flops are read ahead of time)."""
    engine, consts, leaves = empirical._engine_for(apply_fn, params, x, method=method)
    if method == "nt":
        key = dataclasses.replace(
            engine_key(apply_fn, params, x), nt_implementation=nt_implementation
        )
        engine = empirical._engine(key)
    return (lambda lv, x_: engine.fn(consts, lv, x_, None)), (leaves, x)


def engine_key(apply_fn, params, x):
    """The ``_EngineKey`` of ``layer_ntk(apply_fn, params, x, method="nt")``."""
    program = empirical.example_program(apply_fn, params, x)
    axes = empirical._structured.output_axes(empirical.output_shape(program), (-1,), ())
    layers = empirical.layer_map(program, params)
    treedef = jax.tree.structure(params)
    return empirical._EngineKey(apply_fn, program, treedef, layers, axes, "nt", None, False, "AUTO")


# ----------------------------------------------------------------------------------------------------------
# the corpus of public models (tests/models), through the public API


def _grow(x, n, key):
    """``n`` examples shaped like ``x``'s: its rows repeated, floats perturbed (integers and integer-valued
    floats such as token ids kept)."""

    def one(a):
        a = jnp.asarray(a)
        reps = jnp.concatenate([a] * (-(-n // a.shape[0])))[:n]
        if jnp.issubdtype(a.dtype, jnp.floating) and not bool(jnp.all(a == jnp.round(a))):
            noise = jax.random.normal(key, reps.shape, jnp.float32)
            return (reps + 0.1 * noise).astype(jnp.float32)
        return reps

    return jax.tree.map(one, x)


def corpus_table(n: int, repeats: int) -> list[tuple]:
    """Times ``sl.layer_ntk`` as users call it against neural-tangents and per-layer ``jacrev``.

    Columns (seconds, median of ``repeats`` after a compiling call, float32): the public call (with its
    default self-check), ``method="nt"`` with NT's ``STRUCTURED_DERIVATIVES`` and ``JACOBIAN_CONTRACTION``
    per layer, ``method="jacobian"`` (per-layer ``jacrev``); for models with logits: every layer's traced
    logits kernel (``trace_axes=(-1,)``) against NT's whole-network traced kernel, its fastest
    implementation (neural-tangents issue #68's setting).
    """
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from tests.models.test_corpus import CASES

    nt = nt_compat.import_neural_tangents()
    warnings.simplefilter("ignore")
    return [_corpus_row(name, build(), n, repeats, nt) for name, build in CASES.items()]


def _corpus_row(name, case, n, repeats, nt):
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), case.params)
    x = _grow(case.x1, n, jax.random.key(0))

    def timed(fn):
        try:
            return median_time(fn, repeats)
        except Exception as e:  # out of memory, or a competitor that cannot run the model
            print(f"  {name}: {type(e).__name__}: {str(e).splitlines()[0][:90]}")
            return math.nan

    def ours(fn=case.fn, **kwargs):
        return timed(lambda: sl.layer_ntk(fn, params, x, **kwargs))

    t_sl = ours()
    t_sd = ours(method="nt", nt_implementation="STRUCTURED_DERIVATIVES")
    t_jc = ours(method="nt", nt_implementation="JACOBIAN_CONTRACTION")
    t_jac = ours(method="jacobian")
    t_logits = t_nt_logits = math.nan
    if case.logits is not None:
        t_logits = ours(case.logits)
        best = []
        for impl in ("STRUCTURED_DERIVATIVES", "JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS"):
            kernel = nt.empirical_ntk_fn(
                case.logits,
                trace_axes=(-1,),
                vmap_axes=0,
                implementation=getattr(nt.NtkImplementation, impl),
            )
            kernel = jax.jit(kernel)
            best.append(timed(lambda k=kernel: k(x, None, params)))
        t_nt_logits = min((b for b in best if not math.isnan(b)), default=math.nan)
    fastest_nt = min((t for t in (t_sd, t_jc) if not math.isnan(t)), default=math.nan)
    print(
        f"{name:14s} layers {len(case.layers):3d}  layer_ntk {t_sl:8.4f}  NT SD {t_sd:8.4f}  "
        f"NT JC {t_jc:8.4f}  jacrev {t_jac:8.4f}  fastest NT / layer_ntk {fastest_nt / t_sl:6.2f}x  "
        f"logits: layer_ntk {t_logits:8.4f} NT {t_nt_logits:8.4f}"
    )
    sys.stdout.flush()
    return (name, len(case.layers), t_sl, t_sd, t_jc, t_jac, t_logits, t_nt_logits)


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
    parser.add_argument(
        "--corpus", action="store_true", help="only the corpus table (tests/models) at --corpus-n"
    )
    parser.add_argument("--corpus-n", type=int, default=256)
    args = parser.parse_args(argv)
    if args.corpus:
        print(f"corpus of public models, n = {args.corpus_n}, float32, median of {args.repeats}")
        corpus_table(args.corpus_n, args.repeats)
        return 0
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
