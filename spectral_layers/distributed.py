"""Several processes on JAX's distributed runtime: joining it, and launching local processes on one machine.

Every process runs the same program: it calls ``initialize`` first (before any other JAX call), then builds a
mesh over ``jax.devices()`` (the devices of all processes, ``sharding.make_mesh()``) and passes it as
``mesh=`` to ``layer_ntk``, ``infinite_layer_ntk`` or ``layer_contributions``; ``sharding.gather`` returns a
sharded result as a NumPy array in every process.

On a cluster, ``initialize()`` without arguments lets JAX detect the coordinator, the number of processes and
this process's id (SLURM, Open MPI, Kubernetes, … as ``jax.distributed.initialize`` does). On one machine,
``launch_local`` starts ``N`` processes that meet on a free port of the loopback interface, each with its own
CPU devices, CPU collectives over gloo: the setting of the tests and of ``python -m experiments.framework.launch``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax

__all__ = ["ProcessResult", "describe_failures", "free_port", "initialize", "launch_local"]

_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    cpu_collectives: str = "gloo",
    coordinator_bind_address: str | None = None,
    initialization_timeout: int = 300,
) -> None:
    """Joins JAX's distributed runtime (``jax.distributed.initialize``); call it before any other JAX call.

    Args:
      coordinator_address: ``host:port`` of process 0; with ``num_processes`` and ``process_id`` left
        ``None`` too, JAX detects all three from the cluster environment (or ``JAX_COORDINATOR_ADDRESS``).
      num_processes: number of processes.
      process_id: this process's index in ``[0, num_processes)``.
      cpu_collectives: collectives between CPU devices of different processes (``"gloo"``; ``"mpi"`` needs
        an MPI library); set on every call, it only matters for CPU devices.
      coordinator_bind_address: where process 0 listens (JAX's default: every interface); the local launcher
        passes the loopback address.
      initialization_timeout: seconds to wait for the other processes.

    Raises:
      ValueError: ``process_id`` outside ``[0, num_processes)`` or a malformed address.
    """
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
    if process_id is not None and (
        not isinstance(process_id, int)
        or process_id < 0
        or (num_processes is not None and process_id >= num_processes)
    ):
        raise ValueError(
            f"process_id must be an integer in [0, num_processes={num_processes}), got {process_id!r}"
        )
    if coordinator_address is not None and not re.fullmatch(r".+:\d+", coordinator_address):
        raise ValueError(f"coordinator_address must be 'host:port', got {coordinator_address!r}")
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        coordinator_bind_address=coordinator_bind_address,
        initialization_timeout=initialization_timeout,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class ProcessResult:
    """How one launched process ended: exit code (``None``: killed at the timeout) and its output."""

    process_id: int
    returncode: int | None
    stdout: str
    stderr: str


def _process_env(base: Mapping[str, str], devices_per_process: int) -> dict[str, str]:
    env = dict(base)
    flags = re.sub(rf"{_DEVICE_COUNT_FLAG}=\S+", "", env.get("XLA_FLAGS", "")).split()
    env["XLA_FLAGS"] = " ".join([*flags, f"{_DEVICE_COUNT_FLAG}={devices_per_process}"])
    env["JAX_PLATFORMS"] = "cpu"
    return env


def launch_local(
    make_argv: Callable[[int, str], Sequence[str]],
    num_processes: int,
    *,
    devices_per_process: int = 1,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    echo_first: bool = False,
) -> list[ProcessResult]:
    """Runs ``num_processes`` local processes that join one distributed runtime on the loopback interface.

    Process ``i`` runs ``make_argv(i, coordinator_address)`` (e.g. ``[sys.executable, "-m", …,
    "--coordinator", address, "--num-processes", N, "--process-id", i]``) on the CPU with
    ``devices_per_process`` host devices (``XLA_FLAGS``); the program must call ``initialize`` with these
    values. When a process fails, the others are killed (a collective would wait for it forever); so are all
    of them at ``timeout``. No process outlives this call.

    Args:
      make_argv: the command line of process ``i`` given the coordinator address ``127.0.0.1:<free port>``.
      num_processes: number of processes (``>= 1``).
      devices_per_process: CPU devices of each process.
      timeout: seconds for the whole run (``None``: no limit).
      env: environment of the processes (default ``os.environ``).
      cwd: working directory of the processes.
      echo_first: process 0 writes to this process's stdout/stderr (as well as the result it returns).

    Returns:
      One ``ProcessResult`` per process, in process order.
    """
    for name, v in (("num_processes", num_processes), ("devices_per_process", devices_per_process)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    address = f"127.0.0.1:{free_port()}"
    proc_env = _process_env(os.environ if env is None else env, devices_per_process)
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="spectral-layers-launch-") as tmp:
        logs = [(Path(tmp) / f"{i}.out", Path(tmp) / f"{i}.err") for i in range(num_processes)]
        files = []
        try:
            for i in range(num_processes):
                argv = [str(a) for a in make_argv(i, address)]
                if echo_first and i == 0:
                    out = err = None
                else:
                    out, err = open(logs[i][0], "wb"), open(logs[i][1], "wb")
                    files += [out, err]
                procs.append(subprocess.Popen(argv, env=proc_env, cwd=cwd, stdout=out, stderr=err))
            deadline = None if timeout is None else time.monotonic() + timeout
            timed_out = False
            while True:
                codes = [p.poll() for p in procs]  # poll every process (no short-circuit)
                if None not in codes:
                    break
                if any(c not in (None, 0) for c in codes):
                    break  # one failed: the others would wait for it in a collective
                if deadline is not None and time.monotonic() > deadline:
                    timed_out = True
                    break
                time.sleep(0.05)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
            for f in files:
                f.close()
        results = []
        for i, p in enumerate(procs):

            def read(path: Path) -> str:
                return path.read_text(errors="replace") if path.exists() else ""

            code = None if timed_out and p.returncode < 0 else p.returncode
            results.append(ProcessResult(i, code, read(logs[i][0]), read(logs[i][1])))
        return results


def describe_failures(results: Sequence[ProcessResult], tail: int = 2000) -> str:
    """The exit codes and the end of the error output of the processes that did not succeed."""
    parts = []
    for r in results:
        if r.returncode != 0:
            status = "timed out" if r.returncode is None else f"exit code {r.returncode}"
            parts.append(f"process {r.process_id}: {status}\n{r.stderr[-tail:]}")
    return "\n".join(parts)
