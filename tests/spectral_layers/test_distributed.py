"""Several processes on JAX's distributed runtime (loopback, gloo) give the numbers of one process.

Each test launches local processes (``spectral_layers.distributed.launch_local``) running
``tests/_mp_worker.py``: Grams, cross-Grams, infinite-width kernels and contributions on a mesh over the
devices of all processes, gathered, against the same computed on one device without a mesh (x64, 1e-12);
and the estimators' forms (``estimators.estimator_forms``) the same way.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from spectral_layers import distributed

ROOT = Path(__file__).resolve().parents[2]
MIN_RESULTS = {"full": 24, "short": 9, "estimators": 18}
"""Fewest sharded arrays a run of each level saves (layers × cases × meshes)."""


def _run_workers(tmp_path, num_processes, devices_per_process, level):
    out = tmp_path / "result.npz"
    results = distributed.launch_local(
        lambda i, address: [
            sys.executable,
            "-m",
            "tests._mp_worker",
            out,
            address,
            num_processes,
            i,
            level,
        ],
        num_processes,
        devices_per_process=devices_per_process,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert all(r.returncode == 0 for r in results), distributed.describe_failures(results)
    for r in results:
        assert f"process {r.process_id} of {num_processes}" in r.stdout
    with np.load(out) as f:
        arrays = dict(f)
    single = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("single/")}
    sharded = {k: v for k, v in arrays.items() if not k.startswith("single/")}
    assert len(sharded) >= MIN_RESULTS[level]
    for key, got in sharded.items():
        ref = single[key.split("/", 1)[1]]
        assert got.shape == ref.shape, key
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.slow
def test_two_processes_two_devices_each(tmp_path):
    _run_workers(tmp_path, 2, 2, "full")


@pytest.mark.slow
def test_four_processes(tmp_path):
    _run_workers(tmp_path, 4, 1, "short")


@pytest.mark.slow
def test_estimator_forms_two_processes(tmp_path):
    _run_workers(tmp_path, 2, 2, "estimators")


def test_launch_local_kills_the_others_when_one_fails():
    results = distributed.launch_local(
        lambda i, address: [
            sys.executable,
            "-c",
            "import sys, time; sys.exit(3)" if i == 1 else "import time; time.sleep(60)",
        ],
        2,
        timeout=30,
    )
    assert results[1].returncode == 3
    assert results[0].returncode not in (0, None)  # killed, not left running


def test_launch_local_timeout_and_errors():
    results = distributed.launch_local(
        lambda i, address: [sys.executable, "-c", "import time; time.sleep(60)"], 1, timeout=0.5
    )
    assert results[0].returncode is None
    assert "timed out" in distributed.describe_failures(results)
    with pytest.raises(ValueError, match="num_processes"):
        distributed.launch_local(lambda i, a: ["true"], 0)
    with pytest.raises(ValueError, match="process_id"):
        distributed.initialize("127.0.0.1:1", 2, 2)
    with pytest.raises(ValueError, match="coordinator_address"):
        distributed.initialize("localhost", 2, 0)


def test_free_port_can_be_bound_and_failures_are_described():
    """``free_port`` gives a port a new socket can bind; ``describe_failures`` names exactly the processes
    that did not exit 0 (a ``None`` exit code: killed at the timeout) with the end of their error output."""
    import socket

    port = distributed.free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
    results = [
        distributed.ProcessResult(0, 0, "ok", ""),
        distributed.ProcessResult(1, 3, "", "x" * 50 + "Traceback: boom"),
        distributed.ProcessResult(2, None, "", "still waiting"),
    ]
    text = distributed.describe_failures(results, tail=15)
    assert "process 0" not in text
    assert "process 1: exit code 3\nTraceback: boom" in text and "x" not in text.split("\n")[1]
    assert "process 2: timed out\nstill waiting" in text
    assert distributed.describe_failures(results[:1]) == ""
