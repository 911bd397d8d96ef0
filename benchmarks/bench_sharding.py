"""Per-layer Grams on one device against the same rows sharded over several devices or processes.

Two comparisons (``layer_ntk``, structured, 4 ReLU layers, float32, inputs on the unit sphere):

* default: one device against every local device of this process (``mesh=make_mesh()``), side by side in
  this process. On a CPU, emulate devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``; the
  emulated devices share the same cores, so the ratio there shows the overhead; on a multi-GPU host it shows
  the speed-up.
* ``--processes N``: one process with one device (this one) against ``N`` local processes with
  ``--devices-per-process`` CPU devices each on JAX's distributed runtime (loopback, gloo;
  ``spectral_layers.distributed.launch_local``), the Grams row-sharded over all their devices. The processes
  time the same call on the same inputs; process 0 reports its time and the Grams' checksums.

Commands::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python benchmarks/bench_sharding.py --n 20000
    python benchmarks/bench_sharding.py --processes 2 --n 8000 --repeats 1

Prints the median wall time of each (compilation excluded: one warm-up call first), their ratio (the
speed-up), and the largest relative difference between the two results (entries, or per-layer sums and
Frobenius norms across processes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _time(fn, repeats):
    import jax

    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _problem(args):
    import jax

    import spectral_layers as sl

    x = sl.targets.sample_sphere(jax.random.key(0), args.n, args.d, dtype=np.float32)
    f, params = sl.init_mlp(jax.random.key(1), args.d, depth=4, width=args.width, dtype=np.float32)
    return f, params, x


def _checksums(grams):
    import jax.numpy as jnp

    from spectral_layers.sharding import gather

    sums = {k: (jnp.sum(g), jnp.linalg.norm(g)) for k, g in grams.items()}
    return {k: [float(a), float(b)] for k, (a, b) in gather(sums).items()}


def _worker(args) -> None:
    from spectral_layers import distributed

    distributed.initialize(
        args.coordinator,
        args.num_processes,
        args.process_id,
        coordinator_bind_address=args.coordinator,
    )
    import jax

    import spectral_layers as sl
    from spectral_layers.sharding import make_mesh

    f, params, x = _problem(args)
    mesh = make_mesh()
    t = _time(
        lambda: sl.layer_ntk(f, params, x, block_size=args.block_size, mesh=mesh), args.repeats
    )
    sums = _checksums(sl.layer_ntk(f, params, x, block_size=args.block_size, mesh=mesh))
    if jax.process_index() == 0:
        report = {"seconds": t, "devices": jax.device_count(), "processes": jax.process_count()}
        print("BENCH " + json.dumps({**report, "checksums": sums}), flush=True)


def _processes(args) -> None:
    import jax

    import spectral_layers as sl
    from spectral_layers import distributed

    f, params, x = _problem(args)
    single = _time(lambda: sl.layer_ntk(f, params, x, block_size=args.block_size), args.repeats)
    ref = _checksums(sl.layer_ntk(f, params, x, block_size=args.block_size))

    def argv(i, address):
        return [
            sys.executable, str(Path(__file__).resolve()), "--worker",
            "--coordinator", address, "--num-processes", str(args.processes),
            "--process-id", str(i), "--n", str(args.n), "--d", str(args.d),
            "--width", str(args.width), "--repeats", str(args.repeats),
            "--block-size", str(args.block_size),
        ]  # fmt: skip

    results = distributed.launch_local(
        argv, args.processes, devices_per_process=args.devices_per_process, timeout=args.timeout
    )
    if any(r.returncode != 0 for r in results):
        sys.exit("error: a process failed\n" + distributed.describe_failures(results))
    line = next(ln for ln in results[0].stdout.splitlines() if ln.startswith("BENCH "))
    multi = json.loads(line[len("BENCH ") :])
    diff = max(abs(a - b) / abs(b) for k in ref for a, b in zip(multi["checksums"][k], ref[k]))
    print(
        f"n={args.n}, d={args.d}, width={args.width}, depth 4, float32, block_size={args.block_size}, "
        f"{jax.devices()[0].platform}, median of {args.repeats} run(s) after a warm-up"
    )
    print(f"{'1 process × 1 device':<28} {single:10.3f} s")
    label = f"{multi['processes']} processes × {args.devices_per_process} device"
    print(f"{label:<28} {multi['seconds']:10.3f} s   speed-up = {single / multi['seconds']:.2f}")
    print(f"max relative difference of per-layer sums and Frobenius norms: {diff:.1e}")


def _devices(args) -> None:
    import jax

    import spectral_layers as sl
    from spectral_layers.sharding import make_mesh

    f, params, x = _problem(args)
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--d", type=int, default=784)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--block-size", type=int, default=2000)
    p.add_argument("--processes", type=int, default=0, help="compare with N local processes")
    p.add_argument("--devices-per-process", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the processes")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--coordinator", help=argparse.SUPPRESS)
    p.add_argument("--num-processes", type=int, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
    elif args.processes:
        _processes(args)
    else:
        _devices(args)


if __name__ == "__main__":
    main()
