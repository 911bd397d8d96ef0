"""The experiment command line at scale: clean errors, ``--mesh`` / ``--distributed``, the local launcher.

Expected errors (a truncated dataset file, an invalid config, misused flags) give one ``error: …`` line on
stderr and exit status 2, from an experiment module and from the runner; ``--debug`` gives the traceback.
A two-process launch (``python -m experiments.framework.launch``) saves the same numbers as a one-process run.
"""

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import experiments
from experiments import __main__ as runner
from experiments import fig6_mnist_eigvec
from experiments.framework import launch
from spectral_layers import data
from tests._fakes import fake_module

ROOT = Path(__file__).resolve().parents[3]


def _idx(arr: np.ndarray) -> bytes:
    """IDX encoding (LeCun et al.'s MNIST format): 0, 0, type 0x08 (uint8), ndim, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


@pytest.fixture
def truncated_mnist(tmp_path):
    """A data folder whose MNIST test images file is cut 100 bytes short."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    images = np.zeros((200, 28, 28), np.uint8)
    (folder / "t10k-images-idx3-ubyte").write_bytes(_idx(images)[:-100])
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.zeros(200, np.uint8)))
    return tmp_path / "data"


def _one_error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


def test_truncated_dataset_module_cli(truncated_mnist, tmp_path):
    """As a user runs it: one line on stderr, exit status 2, nothing written."""
    out = subprocess.run(
        [sys.executable, "-m", "experiments.fig6_mnist_eigvec", "--scale", "smoke",
         "--data-dir", str(truncated_mnist), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    _one_error_line(out.stderr, "truncated", "t10k-images-idx3-ubyte")
    assert not (tmp_path / "out" / "fig6_mnist_eigvec.npz").exists()


def test_truncated_dataset_debug_traceback(truncated_mnist, tmp_path):
    argv = ["--scale", "smoke", "--data-dir", str(truncated_mnist), "--out", str(tmp_path)]
    with pytest.raises(data.DatasetCorruptError, match="truncated"):
        fig6_mnist_eigvec.main([*argv, "--debug"])


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--set", "network.width=0"], "width"),
        (["--set", "nonsense=1"], "unknown"),
        (["--coordinator", "127.0.0.1:1"], "--distributed"),
        (["--plot-only"], "no saved results"),
    ],
)
def test_expected_errors_one_line_exit_2(argv, needle, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        fig6_mnist_eigvec.main(["--scale", "smoke", "--out", str(tmp_path / "o"), *argv])
    assert e.value.code == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not (tmp_path / "o").exists()


@pytest.fixture
def fakes(monkeypatch):
    mods = {
        "fake_ok": fake_module("fake_ok"),
        "fake_corrupt": fake_module(
            "fake_corrupt", data.DatasetCorruptError("x.idx: IDX file truncated")
        ),
        "fake_bug": fake_module("fake_bug", RuntimeError("boom")),
    }
    for n, m in mods.items():
        monkeypatch.setitem(sys.modules, f"experiments.{n}", m)
    monkeypatch.setattr(experiments, "ALL", tuple(mods))
    return mods


def test_runner_reports_expected_errors_and_keeps_going(fakes, tmp_path, capsys):
    base = ["--scale", "smoke", "--out", str(tmp_path), "--no-progress", "--no-report"]
    assert runner.main([*base, "--only", "fake_corrupt,fake_ok"]) == 2
    captured = capsys.readouterr()
    assert "error: fake_corrupt: x.idx: IDX file truncated" in captured.err
    assert "Traceback" not in captured.err
    assert (tmp_path / "fake_ok.npz").exists()
    assert "1 succeeded, 1 failed" in captured.out
    assert runner.main([*base, "--only", "fake_corrupt", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert runner.main([*base, "--only", "fake_corrupt,fake_bug"]) == 1  # an unexpected failure
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "Traceback" in err


def test_launcher_rejects_bad_arguments(capsys):
    assert launch.main(["--processes", "2", "no_such_experiment"]) == 2
    _one_error_line(capsys.readouterr().err, "unknown experiment")
    assert launch.main(["--processes", "0", "fig6_mnist_eigvec"]) == 2
    _one_error_line(capsys.readouterr().err, "--processes")


SMALL = ["--scale", "smoke", "--no-progress", "--set", "num_points=24", "--set", "network.width=8"]
"""fig6 on synthetic images, smaller than its smoke scale (the test starts three JAX processes)."""


@pytest.mark.slow
def test_two_process_launch_saves_the_one_process_numbers(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    fig6_mnist_eigvec.main([*SMALL, "--out", str(one)])
    out = subprocess.run(
        [sys.executable, "-m", "experiments.framework.launch", "--processes", "2", "--timeout", "240",
         "fig6_mnist_eigvec", *SMALL, "--out", str(two)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "on 2 devices, 2 process(es)" in out.stderr
    with np.load(one / "fig6_mnist_eigvec.npz") as a, np.load(two / "fig6_mnist_eigvec.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            if a[k].dtype.kind == "f":
                np.testing.assert_allclose(b[k], a[k], rtol=1e-12, atol=1e-14, err_msg=k)
            else:
                np.testing.assert_array_equal(b[k], a[k], err_msg=k)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
