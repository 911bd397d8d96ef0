"""A fake experiment module for the runner and command-line tests (no computation, one summary row)."""

import dataclasses
import types

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
