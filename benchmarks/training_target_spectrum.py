"""Where do ``training_width``'s target components sit in the spectrum of the infinite-width NTK?

A diagnostic for ``docs/theory.md`` §10 ("On images"), not a timing. For the first ``--draws`` data draws of
``python -m experiments.<name> --scale default`` (``training_width`` on the sphere, ``training_width_mnist``
on unit-norm MNIST digits; same ``Config.draw_data`` and ``draw_keys``), it builds the infinite-width NTK
``K = Σ_ℓ κ^(ℓ)`` of the protocol's network on the draw's points (``infinite_layer_ntk``, float64) and prints:
``λ_max/λ_2``, the cosine of the top eigenvector with the constant vector, and for each target component
``y_k`` its Rayleigh quotient ``y_kᵀ K y_k / (‖y_k‖² λ_max)`` — the share of the top eigenvalue at which
gradient descent with ``η = n/λ_max`` decays it (``e_k(t) ≈ (1 − that share)^t e_k(0)`` in the kernel
regime). Usage, from the repository root::

    PYTHONPATH=. python benchmarks/training_target_spectrum.py [--draws 3] [--data-dir ../shared/data]

A few seconds on 2 CPU cores (n = 200).
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import numpy as np

from experiments import training_width, training_width_mnist
from experiments.protocols import training_width as tw
from spectral_layers.infinite import infinite_layer_ntk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--data-dir", default="../shared/data")
    args = ap.parse_args()
    if args.draws < 1:
        ap.error("--draws must be >= 1")
    jax.config.update("jax_enable_x64", True)
    for exp in (training_width, training_width_mnist):
        cfg = exp.EXPERIMENT.config("default")
        if exp is training_width_mnist:
            cfg = dataclasses.replace(cfg, data_dir=args.data_dir)
        print(f"{exp.EXPERIMENT.name} (components by {cfg.target_axis}):")
        print(
            "draw  lambda_max/lambda_2  cos(top, 1)  y_k^T K y_k / (|y_k|^2 lambda_max), per component"
        )
        for draw in range(args.draws):
            k_data, _ = tw.draw_keys(cfg, draw)
            x, y_comps = cfg.draw_data(k_data)
            x = np.asarray(x, np.float64)
            kernel = sum(infinite_layer_ntk(x, network=cfg.network).values())
            kernel = np.asarray(kernel, np.float64)
            eigvals, eigvecs = np.linalg.eigh(kernel)
            top = eigvecs[:, -1]
            cos_const = abs(top.sum()) / np.sqrt(len(top))
            shares = [
                float(y @ kernel @ y / (y @ y) / eigvals[-1])
                for y in np.asarray(y_comps, np.float64)
            ]
            share_text = ", ".join(f"{100 * s:.2f}%" for s in shares)
            print(f"{draw:4d}  {eigvals[-1] / eigvals[-2]:19.2f}  {cos_const:11.4f}  {share_text}")


if __name__ == "__main__":
    main()
