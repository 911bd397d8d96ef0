"""Does the top eigenvalue of the trained NTK grow during ``training_width``'s gradient descent?

``training_width`` (and ``training_width_mnist``) set ``η = n/λ_max(G(0))`` from each network's empirical NTK
at initialisation, and their REPORT row checks ``η λ_max(G(0))/n < 2`` at initialisation only. This script
re-runs one network of the committed protocol (same config, data draw and initialisation as
``python -m experiments.<name> --scale default``: ``draw_keys``, ``Config.draw_data``, ``init_seeds``, float32
training) in segments of ``--every`` steps and prints, at each segment's end, ``η λ_max(G(t))/n`` of the
full NTK (sum of every layer's Gram, ``layer_ntk``) and the loss ``½·mean (f − y)²``. A value that climbs to
2 and hovers there while the loss stops decreasing monotonically is gradient descent at the edge of
stability (Cohen et al. 2021, "Gradient descent on neural networks typically occurs at the edge of
stability"): the kernel is not frozen at that width. Usage, from the repository root::

    PYTHONPATH=. python benchmarks/training_sharpening.py --data mnist --width 2048 --draw 0 \
        [--data-dir ../shared/data] [--steps 200 --every 20] [--lr-factor 0.5]

About 50 s per run at width 2048 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments import training_width, training_width_mnist
from experiments.protocols import training_width as tw
from spectral_layers import training as tr
from spectral_layers.empirical import layer_ntk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("sphere", "mnist"), default="mnist")
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--draw", type=int, default=0)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument(
        "--lr-factor",
        type=float,
        default=None,
        help="η = this · n/λ_max(G(0)); default: the config's",
    )
    args = ap.parse_args()
    if args.width < 1 or args.draw < 0 or args.every < 1 or args.steps < args.every:
        ap.error("need --width >= 1, --draw >= 0, 1 <= --every <= --steps")
    if args.lr_factor is not None and not args.lr_factor > 0:
        ap.error("--lr-factor must be > 0")
    jax.config.update("jax_enable_x64", True)  # the eigenvalues in float64 (training stays float32)
    exp = training_width_mnist if args.data == "mnist" else training_width
    cfg = exp.EXPERIMENT.config("default")
    if args.data == "mnist":
        cfg = dataclasses.replace(cfg, data_dir=args.data_dir)
    k_data, k_init = tw.draw_keys(cfg, args.draw)
    x, y_comps = cfg.draw_data(k_data)
    apply_fn, params = cfg.network.replace(width=args.width).init_seeds(k_init, 1, x.shape[1])
    dtype = jnp.dtype(cfg.dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    x, y = x.astype(dtype), jnp.sum(y_comps, axis=0).astype(dtype)
    n = cfg.num_points

    def grams(p) -> dict:
        return {
            k: np.asarray(g[0], np.float64)
            for k, g in layer_ntk(apply_fn, p, x, stacked=True).items()
        }

    def lam_max(gs: dict) -> float:
        return float(np.linalg.eigvalsh(sum(gs.values()))[-1])

    def loss(p) -> float:
        f = apply_fn(jax.tree.map(lambda a: a[0], p), x)
        return float(jnp.mean((f - y) ** 2) / 2)

    factor = cfg.lr_factor if args.lr_factor is None else args.lr_factor
    grams0 = grams(params)
    lr = factor * n / lam_max(grams0)
    print(
        f"{args.data}, width {args.width}, draw {args.draw}: eta = {factor:g}*n/lambda_max(G(0)) = {lr:.4g}"
    )
    print("step  eta*lambda_max(G(t))/n  loss")
    print(f"{0:4d}  {factor:22.3f}  {loss(params):.4f}")
    for t in range(args.every, args.steps + 1, args.every):
        params = tr.train_layers(
            apply_fn,
            params,
            x,
            y,
            learning_rate=np.array([lr]),
            steps=args.every,
            log_every=args.every,
            stacked=True,
        ).params
        grams_t = grams(params)
        print(f"{t:4d}  {lam_max(grams_t) * lr / n:22.3f}  {loss(params):.4f}")
    moved = [np.linalg.norm(g - grams0[k]) / np.linalg.norm(grams0[k]) for k, g in grams_t.items()]
    print("||G_l(T) - G_l(0)||_F / ||G_l(0)||_F per layer:", ", ".join(f"{m:.3g}" for m in moved))


if __name__ == "__main__":
    main()
