"""Per-layer empirical NTK Grams: structured vs Jacobian vs neural-tangents vs the matmul floor.

The MNIST setting of the paper (§5.4, Fig. 3): ``n = 1000`` inputs of dimension ``d = 784``, a
fully connected ReLU network of ``depth = 4`` Dense layers of width 784 (NTK parameterisation),
float32, the Grams ``G^(ℓ)`` (paper Eq. 1) of all four layers. All competitors run in one process
on the same inputs and parameters:

* ``structured``: ``layer_ntk(method="structured")``, ``s² (H Hᵀ) ∘ (Δ Δᵀ)`` from one forward and
  one backward pass.
* ``jacobian`` (jacrev) and ``jacobian_fwd`` (jacfwd): the per-subtree Jacobian ``J_ℓ`` contracted
  as ``J_ℓ J_ℓᵀ``. ``jacfwd`` pushes forward the standard basis of a layer's parameters, a
  ``P_ℓ × P_ℓ`` identity (``614656² · 4 B = 1.5 TB`` for a 784 × 784 layer): it cannot run at
  width 784, so it is timed, with every other method, on a reduced network (``--fwd-*``).
* ``nt``: neural-tangents' ``empirical_ntk_fn`` on each subtree (``layer_ntk(method="nt")``), with
  the fastest of its implementations at ``n = --nt-probe-n`` (all three are tabulated there).
* ``floor``: only the Gram products ``(H Hᵀ) ∘ (Δ Δᵀ)`` on precomputed random ``H``, ``Δ`` of the
  right shapes (jitted, ``Precision.HIGHEST`` like ``layer_ntk``): what any method must pay.

Also ``structured`` at ``n = 20000`` with ``block_size`` (four 20000 × 20000 float32 Grams,
6.4 GB).

Command (the table in ``benchmarks/README.md``; about 30 minutes on 2 shared CPU cores, most of it
the Jacobian method, which also needs about 15 GB of memory at ``n = 1000``)::

    python benchmarks/bench_layer_ntk.py

Every competitor is compiled ahead of time (``jax.jit(f).lower(...).compile()``, reported as
"compile s"), then run ``--repeats`` times (``--slow-repeats`` for the Jacobian and
neural-tangents methods, which take minutes); "run s" is the median, each run ended by
``block_until_ready``. ``--skip-slow`` times those two at ``--slow-n`` instead of ``n`` and skips
the ``n = 20000`` run; their rows then say so and are not extrapolated.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from spectral_layers import init_mlp, layer_ntk, nt_compat
from spectral_layers.empirical import _HIGHEST

NT_IMPLEMENTATIONS = ("NTK_VECTOR_PRODUCTS", "JACOBIAN_CONTRACTION", "STRUCTURED_DERIVATIVES")


@dataclass
class Row:
    """One line of the table."""

    method: str
    n: int
    width: int
    d: int
    compile_s: float  # tracing + XLA compilation
    run_s: float  # median over the timed runs
    min_s: float  # fastest timed run (less sensitive to other processes on a shared machine)
    runs: int
    gflop: float  # XLA's cost analysis of the compiled program
    note: str = ""


def compile_and_time(
    fn: Callable, args: tuple, repeats: int
) -> tuple[tuple[float, float], tuple[float, float], object]:
    """Compiles ``jax.jit(fn)`` ahead of time, then runs it ``repeats`` times.

    Returns:
      ``((compile seconds, GFLOP), (median, min) run seconds, last output)``; each run ends with
      ``block_until_ready``; GFLOP from XLA's cost analysis of the compiled program.
    """
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    gflop = float(cost.get("flops", math.nan)) / 1e9 if cost else math.nan
    times, out = [], None
    for _ in range(repeats):
        del out
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return (compile_s, gflop), (statistics.median(times), min(times)), out


def make_problem(key: jax.Array, n: int, d: int, depth: int, width: int):
    """Inputs on the unit sphere (like MNIST images normalised to unit norm), float32 ReLU MLP."""
    k_x, k_p = jax.random.split(key)
    x = jax.random.normal(k_x, (n, d), jnp.float32)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    apply_fn, params = init_mlp(
        k_p, d, depth=depth, width=width, activation="relu", dtype=jnp.float32
    )
    return apply_fn, params, x


def floor_problem(key: jax.Array, spec, n: int, dtype) -> tuple[Callable, tuple]:
    """``s_ℓ² (H_ℓ H_ℓᵀ) ∘ (Δ_ℓ Δ_ℓᵀ)`` on random ``H_ℓ`` (n × n_ℓ), ``Δ_ℓ`` (n × m_ℓ).

    The Gram products alone, at the precision ``layer_ntk`` uses: what any method must pay.
    """
    keys = jax.random.split(key, 2 * spec.depth)
    hs = [jax.random.normal(keys[2 * i], (n, f), dtype) for i, f in enumerate(spec.fan_ins)]
    ds = [jax.random.normal(keys[2 * i + 1], (n, m), dtype) for i, m in enumerate(spec.widths)]
    scales = [spec.weight_scale(i) ** 2 for i in range(spec.depth)]

    def floor(hs, ds):
        return [
            s * jnp.matmul(h, h.T, precision=_HIGHEST) * jnp.matmul(dl, dl.T, precision=_HIGHEST)
            for s, h, dl in zip(scales, hs, ds)
        ]

    return floor, (hs, ds)


def grams_fn(apply_fn, **kwargs) -> Callable:
    """``(params, x) -> layer_ntk(apply_fn, params, x, **kwargs)``, to be jitted as a whole."""
    return lambda params, x: layer_ntk(apply_fn, params, x, **kwargs)


def max_rel_diff(a: dict, b: dict) -> float:
    """max over layers of ``‖a − b‖_F / ‖b‖_F``."""
    return max(float(jnp.linalg.norm(a[k] - b[k]) / jnp.linalg.norm(b[k])) for k in b)


def print_table(title: str, rows: list[Row], reference: float) -> None:
    print(f"\n{title}")
    header = (
        f"{'method':<28} {'n':>5} {'width':>5} {'d':>4} {'compile s':>9} {'GFLOP':>8} "
        f"{'median s':>9} {'min s':>9} {'runs':>4} {'× structured':>12}  note"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.method:<28} {r.n:>5} {r.width:>5} {r.d:>4} {r.compile_s:>9.2f} {r.gflop:>8.4g} "
            f"{r.run_s:>9.4g} {r.min_s:>9.4g} {r.runs:>4} {r.run_s / reference:>12.4g}  {r.note}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of inputs (MNIST setting)")
    parser.add_argument("--d", type=int, default=784, help="input dimension")
    parser.add_argument("--width", type=int, default=784, help="hidden width")
    parser.add_argument("--depth", type=int, default=4, help="number of Dense layers")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the fast methods")
    parser.add_argument(
        "--slow-repeats", type=int, default=1, help="timed runs of jacobian and nt (minutes each)"
    )
    parser.add_argument(
        "--skip-slow",
        action="store_true",
        help="time jacobian and nt at --slow-n instead of --n; skip the --big-n run",
    )
    parser.add_argument("--slow-n", type=int, default=200, help="n of jacobian/nt with --skip-slow")
    parser.add_argument("--nt-probe-n", type=int, default=100, help="n to pick the NT method at")
    parser.add_argument("--big-n", type=int, default=20000, help="n of the blocked run (0: skip)")
    parser.add_argument("--block-size", type=int, default=2000, help="block_size at --big-n")
    parser.add_argument("--small-n", type=int, default=100, help="n of the reduced network")
    parser.add_argument("--small-d", type=int, default=64, help="d of the reduced network")
    parser.add_argument("--small-width", type=int, default=64, help="width of the reduced network")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Runs the three comparisons and returns the median times of the MNIST setting (and n = big-n)."""
    args = parse_args(argv)
    k_main, k_floor, k_small, k_big = jax.random.split(jax.random.key(0), 4)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.devices()}")
    print(f"float32, ReLU, depth {args.depth}, NTK parameterisation, inputs on the unit sphere")
    results = bench_mnist(args, k_main, k_floor)
    bench_reduced(args, k_small, k_floor)
    if args.big_n and not args.skip_slow:
        results["structured_big"] = bench_big(args, k_big)
    return results


def bench_mnist(
    args: argparse.Namespace, k_main: jax.Array, k_floor: jax.Array
) -> dict[str, float]:
    """The MNIST setting: structured, the Gram-product floor, jacrev, the fastest neural-tangents method."""
    nt_ok = nt_compat.nt_available()
    results: dict[str, float] = {}
    n, d, w = args.n, args.d, args.width
    apply_fn, params, x = make_problem(k_main, n, d, args.depth, w)
    rows: list[Row] = []
    c, (t_struct, m), ref = compile_and_time(grams_fn(apply_fn), (params, x), args.repeats)
    rows.append(Row("structured", n, w, d, c[0], t_struct, m, args.repeats, c[1]))
    floor, floor_args = floor_problem(k_floor, apply_fn.spec, n, x.dtype)
    c, (t_floor, m), _ = compile_and_time(floor, floor_args, args.repeats)
    rows.append(Row("floor: (H Hᵀ)∘(Δ Δᵀ) only", n, w, d, c[0], t_floor, m, args.repeats, c[1]))

    slow_n = min(args.slow_n, n) if args.skip_slow else n
    x_slow = x[:slow_n]
    ref_slow = {k: v[:slow_n, :slow_n] for k, v in ref.items()}
    note = "" if slow_n == n else f"n={slow_n} (--skip-slow): not comparable"
    c, (t_jac, m), out = compile_and_time(
        grams_fn(apply_fn, method="jacobian"), (params, x_slow), args.slow_repeats
    )
    err = max_rel_diff(out, ref_slow)
    del out
    rows.append(
        Row(
            "jacobian (jacrev)",
            slow_n,
            w,
            d,
            c[0],
            t_jac,
            m,
            args.slow_repeats,
            c[1],
            f"{err:.0e} {note}",
        )
    )
    rows.append(
        Row(
            "jacobian_fwd (jacfwd)",
            n,
            w,
            d,
            math.nan,
            math.nan,
            math.nan,
            0,
            math.nan,
            "infeasible: P×P basis",
        )
    )
    t_nt = math.nan
    if nt_ok:
        row = bench_nt(args, apply_fn, params, x, x_slow, ref_slow, note)
        rows.append(row)
        t_nt = row.run_s
    print_table(
        f"MNIST setting: n={n}, d={d}, width={w}, depth={args.depth} (note: max relative "
        "Frobenius difference to structured)",
        rows,
        t_struct,
    )
    results.update(structured=t_struct, floor=t_floor, jacobian=t_jac, nt=t_nt)
    if slow_n == n:
        by = {r.method.split(" ")[0]: r for r in rows}
        s_, f_, j_ = by["structured"], by["floor:"], by["jacobian"]
        nt_ = by.get("nt", Row("nt", n, w, d, *(math.nan,) * 4, 0, math.nan))
        print("targets (median / min / GFLOP):")
        for label, num, den, target in (
            ("jacobian / structured", j_, s_, "≥ 300"),
            ("nt / structured", nt_, s_, "≥ 10"),
            ("structured / floor", s_, f_, "≤ 3"),
        ):
            print(
                f"  {label:<22} {num.run_s / den.run_s:8.3g} {num.min_s / den.min_s:8.3g} "
                f"{num.gflop / den.gflop:8.3g}   target {target}"
            )

    return results


def bench_nt(args, apply_fn, params, x, x_slow, ref_slow, note) -> Row:
    """Every neural-tangents implementation at ``--nt-probe-n``; the fastest one timed at the full n."""
    n, w, d = x.shape[0], args.width, args.d
    slow_n = x_slow.shape[0]
    # every neural-tangents implementation on the same network at a smaller n; the fastest
    # one is then timed at n
    pn = min(args.nt_probe_n, n)
    x_probe = x[:pn]
    c, (t_probe, m), ref_probe = compile_and_time(
        grams_fn(apply_fn), (params, x_probe), args.repeats
    )
    probe_rows = [Row("structured", pn, w, d, c[0], t_probe, m, args.repeats, c[1])]
    for impl in NT_IMPLEMENTATIONS:
        fn = grams_fn(apply_fn, method="nt", nt_implementation=impl)
        c, (t, m), out = compile_and_time(fn, (params, x_probe), 2)
        err = max_rel_diff(out, ref_probe)
        probe_rows.append(Row(f"nt {impl}", pn, w, d, c[0], t, m, 2, c[1], f"{err:.0e}"))
    del out
    best_row = min(probe_rows[1:], key=lambda r: r.min_s)
    best = best_row.method.removeprefix("nt ")
    print_table(
        f"neural-tangents implementations on the MNIST network at n={pn} (--nt-probe-n)",
        probe_rows,
        t_probe,
    )
    # all implementations cost ~n² here: repeat it like the fast methods if it is fast
    fast = best_row.min_s * (slow_n / pn) ** 2 < 10.0
    reps = args.repeats if fast else args.slow_repeats
    c, (t_nt, m), out = compile_and_time(
        grams_fn(apply_fn, method="nt", nt_implementation=best), (params, x_slow), reps
    )
    err = max_rel_diff(out, ref_slow)
    del out
    return Row(f"nt {best}", slow_n, w, d, c[0], t_nt, m, reps, c[1], f"{err:.0e} {note}")


def bench_reduced(args: argparse.Namespace, k_small: jax.Array, k_floor: jax.Array) -> None:
    """A reduced network on which every method runs, jacfwd included."""
    nt_ok = nt_compat.nt_available()
    sn, sd, sw = args.small_n, args.small_d, args.small_width
    apply_s, params_s, x_s = make_problem(k_small, sn, sd, args.depth, sw)
    rows = []
    c, (t_struct_s, m), ref = compile_and_time(grams_fn(apply_s), (params_s, x_s), args.repeats)
    rows.append(Row("structured", sn, sw, sd, c[0], t_struct_s, m, args.repeats, c[1]))
    floor, floor_args = floor_problem(k_floor, apply_s.spec, sn, x_s.dtype)
    c, (t, m), _ = compile_and_time(floor, floor_args, args.repeats)
    rows.append(Row("floor: (H Hᵀ)∘(Δ Δᵀ) only", sn, sw, sd, c[0], t, m, args.repeats, c[1]))
    methods = [("jacobian (jacrev)", {"method": "jacobian"})]
    methods += [("jacobian_fwd (jacfwd)", {"method": "jacobian_fwd"})]
    if nt_ok:
        methods += [
            (f"nt {i}", {"method": "nt", "nt_implementation": i}) for i in NT_IMPLEMENTATIONS
        ]
    for label, kwargs in methods:
        c, (t, m), out = compile_and_time(
            grams_fn(apply_s, **kwargs), (params_s, x_s), args.repeats
        )
        err = max_rel_diff(out, ref)
        rows.append(Row(label, sn, sw, sd, c[0], t, m, args.repeats, c[1], f"{err:.0e}"))
    print_table(
        f"Reduced network: n={sn}, d={sd}, width={sw}, depth={args.depth}", rows, t_struct_s
    )


def bench_big(args: argparse.Namespace, k_big: jax.Array) -> float:
    """Structured at ``--big-n`` rows with ``block_size`` (memory-bounded); returns its run time."""
    d, w = args.d, args.width
    apply_b, params_b, x_b = make_problem(k_big, args.big_n, d, args.depth, w)
    fn = grams_fn(apply_b, block_size=args.block_size)
    c, (t, _), out = compile_and_time(fn, (params_b, x_b), 1)
    del out
    # XLA's cost analysis counts the body of the lax.map loop once: count by hand
    spec, nb = apply_b.spec, args.big_n
    flop = sum(2 * nb * nb * (f + m) + 4 * nb * f * m for f, m in zip(spec.fan_ins, spec.widths))
    gigabytes = args.depth * nb**2 * 4 / 1e9
    print(
        f"\nstructured, n={nb}, d={d}, width={w}, block_size={args.block_size}: "
        f"compile {c[0]:.1f} s, run {t:.1f} s, {flop / 1e12:.2f} TFLOP (by hand: Grams plus "
        f"forward and backward), {flop / t / 1e9:.0f} GFLOP/s; output {args.depth} Grams of "
        f"{nb}² float32 = {gigabytes:.1f} GB"
    )
    return t


if __name__ == "__main__":
    main(sys.argv[1:])
