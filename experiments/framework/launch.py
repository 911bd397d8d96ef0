"""Runs one experiment as several local processes on JAX's distributed runtime (one machine, CPU, gloo).

Command::

    python -m experiments.framework.launch [--processes N] [--devices-per-process K] [--timeout S]
                                 EXPERIMENT [experiment arguments ...]

e.g. ``python -m experiments.framework.launch --processes 2 fig6_mnist_eigvec --scale smoke --out /tmp/fig6``.
Process ``i`` runs ``python -m experiments.EXPERIMENT [arguments] --distributed --coordinator
127.0.0.1:<free port> --num-processes N --process-id i`` with ``K`` CPU devices: the experiment's Grams and
contributions are sharded over the ``N·K`` devices of all processes, and process 0 writes the results (the
same numbers as a one-process run) and streams its output here. When a process fails the others are
stopped. Exit status: 0, or the failing process's (2 for an expected error such as a missing dataset).

This is the one-machine form of a multi-host run: on a cluster, start the experiment with ``--distributed``
on every host through the cluster's launcher (SLURM, Open MPI, …; JAX detects it).
"""

from __future__ import annotations

import argparse
import sys

import experiments
from spectral_layers import distributed


def main(argv: list[str] | None = None) -> int:
    """Launches the processes; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.framework.launch", description=__doc__.splitlines()[0]
    )
    p.add_argument("--processes", type=int, default=2, help="number of local processes (default 2)")
    p.add_argument(
        "--devices-per-process", type=int, default=1, help="CPU devices of each process (default 1)"
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds before every process is stopped"
    )
    p.add_argument("experiment", help=f"one of: {', '.join(experiments.ALL)}")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the experiment")
    args = p.parse_args(argv)
    if args.experiment not in experiments.ALL:
        print(
            f"error: unknown experiment {args.experiment!r}; known: {', '.join(experiments.ALL)}",
            file=sys.stderr,
        )
        return 2
    for name in ("processes", "devices_per_process"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    n = args.processes

    def argv_of(i: int, address: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            f"experiments.{args.experiment}",
            *args.args,
            "--distributed",
            "--coordinator",
            address,
            "--num-processes",
            str(n),
            "--process-id",
            str(i),
        ]

    results = distributed.launch_local(
        argv_of,
        n,
        devices_per_process=args.devices_per_process,
        timeout=args.timeout,
        echo_first=True,
    )
    codes = [r.returncode for r in results]
    if all(c == 0 for c in codes):
        return 0
    for r in results[1:]:  # process 0's output was shown as it ran
        if r.returncode is None or r.returncode > 0:
            print(distributed.describe_failures([r]), file=sys.stderr)
    if None in codes:
        print(f"error: stopped after the timeout of {args.timeout} s", file=sys.stderr)
        return 1
    failed = [c for c in codes if c > 0]
    return failed[0] if failed else 1


if __name__ == "__main__":
    sys.exit(main())
