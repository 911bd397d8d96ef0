"""Spot check for notes/training-width-readme.md: the all-layers run of ``training_width`` at
widths 256 and 1024, 2 draws × 1 seed (``PYTHONPATH=. python notes/training-width-spotcheck.py``)."""

import dataclasses
import time

import jax
import numpy as np

from experiments import training_width as tw
from experiments.fig4_layer_training import target_components
from spectral_layers import training as tr
from spectral_layers.empirical import layer_ntk
from spectral_layers.models import init_mlp_seeds


def main():
    jax.config.update("jax_enable_x64", True)
    cfg = dataclasses.replace(tw.EXPERIMENT.config("default"), num_seeds=1)
    for w in (256, 1024):
        for d in range(2):
            t0 = time.perf_counter()
            kd, ki = tw.draw_keys(cfg, d)
            x, comps = target_components(cfg, kd)
            y = comps.sum(0)
            apply_fn, params = init_mlp_seeds(ki, 1, cfg.dim, width=w, **tw.network_kwargs(cfg))
            g = tr.trained_gram(layer_ntk(apply_fn, params, x, stacked=True), None)
            lr = cfg.num_points / np.linalg.eigvalsh(np.asarray(g))[:, -1]
            res = tr.train_layers(
                apply_fn, params, x, y, learning_rate=lr, steps=cfg.steps, log_every=20,
                stacked=True, track=True, track_components=comps,
            )  # fmt: skip
            c = np.asarray(res.track.contributions[0])
            r0, r1 = c[0] / c[0][:, -1:], c[-1] / c[-1][:, -1:]
            print(
                w, d, "movement", res.track.movement[0, -1].round(3),
                "c0/cL init", r0[:, 0].round(2), "end", r1[:, 0].round(2),
                f"{time.perf_counter() - t0:.0f}s",
            )  # fmt: skip


if __name__ == "__main__":
    main()
