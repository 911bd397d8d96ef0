"""A fake experiment module for the runner and command-line tests (no computation, one summary row)."""

import dataclasses
import gzip
import struct
import types
from pathlib import Path

import numpy as np

from experiments.framework import cli as fw


def fake_module(name, error=None):
    """A module ``experiments.<name>`` whose experiment saves ``x = [0, 1, 2] + seed`` (or raises ``error``)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 0  # master seed
        num_seeds: int = 2  # seeds

    def run(cfg, ctx):
        if error is not None:
            raise error
        return {"x": np.arange(3.0) + cfg.seed}

    def plot(results, cfg):
        from experiments.framework.plotting import figure

        fig, ax = figure()
        ax[0][0].plot(results["x"])
        return fig

    mod = types.ModuleType(f"experiments.{name}")
    mod.EXPERIMENT = fw.Experiment(
        name=name,
        config_cls=Config,
        run=run,
        plot=plot,
        description=f"{name} test",
        summarize=lambda r, c: [
            {
                "check": "x sums to 3",
                "measured": float(r["x"].sum()),
                "expected": 3.0,
                "verdict": "agrees",
            }
        ],
    )
    return mod


def assert_first_draw(one, res, per_draw):
    """``one`` (a run with ``num_draws=1``) equals draw 0 of ``res`` exactly: the arrays in ``per_draw`` on
    their draw axis, every other array as a whole."""
    assert sorted(one) == sorted(res)
    for key in res:
        if key in per_draw:
            assert one[key].shape[0] == 1, key
            np.testing.assert_array_equal(one[key][0], res[key][0], err_msg=key)
        else:
            np.testing.assert_array_equal(one[key], res[key], err_msg=key)


def run_on_four_cpu_devices(script: str, marker: str) -> None:
    """Runs ``script`` in a fresh Python with 4 emulated CPU devices; it must exit 0 and print ``marker``."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "JAX_NUMPY_RANK_PROMOTION": "raise",  # as in tests/conftest.py
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0 and marker in out.stdout, out.stderr[-3000:]


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian uint32 dims, then the bytes."""
    assert arr.dtype == np.uint8
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes(order="C")


def smooth_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random ``uint8`` images, 4× upsampled noise (non-degenerate principal components)."""
    coarse = rng.integers(0, 256, size=(n, shape[0] // 4, shape[1] // 4, *shape[2:]))
    return np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2).astype(np.uint8)


def write_mnist(folder: Path, images: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """MNIST's gzipped IDX files in ``folder`` for each split of ``images`` (``"train"``/``"test"``),
    with random labels: the format ``spectral_layers.data`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, arr in images.items():
        stem = {"train": "train", "test": "t10k"}[split]
        labels = rng.integers(0, 10, size=len(arr)).astype(np.uint8)
        for kind, a in (("images-idx3", arr), ("labels-idx1", labels)):
            (folder / f"{stem}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(a), mtime=0))
