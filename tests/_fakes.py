"""A fake experiment module for the runner and command-line tests (no computation, one summary row)."""

import dataclasses
import types

import numpy as np

from experiments import _framework as fw


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
        from experiments.plotting import figure

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
