"""Bring your own linen CNN: per-layer NTK Grams and layer contributions on CIFAR-10 images.

A small convolutional network written as a plain ``flax.linen`` module (three 3×3 stride-2 convolutions and a
Dense readout) goes straight into ``layer_ntk``: layers are ``Conv_0, Conv_1, Conv_2, Dense_0`` in call order,
every Gram from one forward and one backward pass. Printed per layer: ``tr G/n``, the top eigenvalue of ``G``,
and the contribution ``c_ℓ = yᵀ G^(ℓ) y`` (paper appendix §13) of a one-vs-rest target, relative to the last
layer.

Commands::

    python examples/linen_cnn_cifar.py --data-dir /work/shared/data/cifar-10-batches-py --n 512
    python examples/linen_cnn_cifar.py --synthetic --n 16      # random images, no data needed
"""

from __future__ import annotations

import argparse
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import spectral_layers as sl
from spectral_layers import data


class CNN(nn.Module):
    """Three 3×3 stride-2 convolutions (ReLU) and a Dense readout to one output."""

    channels: int = 32

    @nn.compact
    def __call__(self, x):
        for _ in range(3):
            x = nn.relu(nn.Conv(self.channels, (3, 3), strides=2)(x))
        return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def load_images(args) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: images ``(n, 32, 32, 3)`` scaled to [0, 1] and centred, targets ``±1`` (class 0 vs rest)."""
    if args.synthetic:
        rng = np.random.default_rng(args.seed)
        return rng.normal(size=(args.n, 32, 32, 3)), rng.choice([-1.0, 1.0], size=args.n)
    images, labels = data.load_dataset(
        "cifar10", split="any", data_dir=args.data_dir, min_points=args.n
    )
    x = images[: args.n].astype(np.float64) / 255.0
    return x - x.mean(axis=0), np.where(labels[: args.n] == 0, 1.0, -1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="number of images")
    parser.add_argument("--channels", type=int, default=32, help="channels of every convolution")
    parser.add_argument("--data-dir", default=None, help="folder with the CIFAR-10 python batches")
    parser.add_argument(
        "--synthetic", action="store_true", help="random images instead of CIFAR-10"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 2 or args.channels < 1:
        parser.error("--n must be >= 2 and --channels >= 1")
    try:
        x, y = load_images(args)
    except (data.DatasetUnavailableError, data.DatasetCorruptError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    model = CNN(args.channels)
    params = model.init(jax.random.key(args.seed), x[:1])["params"]

    def apply_fn(p, x_):
        return model.apply({"params": p}, x_)

    grams = sl.layer_ntk(apply_fn, params, x)
    rel = sl.layer_ratios(sl.layer_contributions(apply_fn, params, x, y))
    print(f"{'layer':10s} {'tr G/n':>12s} {'top eigenvalue':>15s} {'c / c_last':>11s}")
    for name, g in grams.items():
        g = np.asarray(g, np.float64)
        top = np.linalg.eigvalsh(g)[-1]
        print(f"{name:10s} {np.trace(g) / len(g):12.4g} {top:15.4g} {float(rel[name]):11.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
