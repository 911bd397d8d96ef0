"""Bring your own NNX model: per-layer NTK Grams and layer contributions of an MLP on MNIST.

An ``nnx.Module`` holding its Linear layers in a list goes into ``layer_ntk`` through
``apply_fn, params = sl.from_nnx(model)``; the layers are ``layers/0, layers/1, …`` in call order. Printed per
layer: its share of the trace of the full NTK, and the contribution ``c_ℓ = yᵀ G^(ℓ) y`` (paper appendix §13)
relative to the last layer, for the digit-parity target ``±1`` and for random ``±1`` labels.

Commands::

    python examples/nnx_mlp_mnist.py --data-dir /work/shared/data/mnist --n 1000
    python examples/nnx_mlp_mnist.py --synthetic --n 16       # random inputs, no data needed
"""

from __future__ import annotations

import argparse
import itertools
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import spectral_layers as sl
from spectral_layers import data


class MLP(nnx.Module):
    """``depth`` Linear layers in a list, ReLU between them, one output."""

    def __init__(self, in_dim: int, width: int, depth: int, *, rngs: nnx.Rngs):
        dims = [in_dim] + [width] * (depth - 1) + [1]
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(dims)])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


def load_inputs(args) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: flattened images on the sphere of radius ``sqrt(784)``, digit parity ``±1``."""
    if args.synthetic:
        rng = np.random.default_rng(args.seed)
        images, labels = rng.integers(0, 256, size=(args.n, 28, 28)), rng.integers(0, 10, args.n)
    else:
        images, labels = data.load_dataset(
            "mnist", split="any", data_dir=args.data_dir, min_points=args.n
        )
        images, labels = images[: args.n], labels[: args.n]
    x = data.preprocess(images, center=True, normalize="sqrt_dim")
    return np.asarray(x), np.where(labels % 2 == 0, 1.0, -1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of images")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST idx files")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 2 or args.width < 1 or args.depth < 1:
        parser.error("--n must be >= 2, --width and --depth >= 1")
    try:
        x, y = load_inputs(args)
    except (data.DatasetUnavailableError, data.DatasetCorruptError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    apply_fn, params = sl.from_nnx(
        MLP(x.shape[1], args.width, args.depth, rngs=nnx.Rngs(args.seed))
    )
    # Gram-free contributions of the parity target and of random ±1 labels (a target without structure, for
    # reference), then each layer's share of the full NTK's trace, from its Gram.
    noise = jnp.sign(jax.random.normal(jax.random.key(args.seed + 1), y.shape, y.dtype))
    c = sl.layer_contributions(apply_fn, params, x, jnp.stack([y, noise]))
    rel_parity, rel_noise = (sl.layer_ratios({k: v[i] for k, v in c.items()}) for i in (0, 1))
    traces = {name: float(jnp.trace(g)) for name, g in sl.layer_ntk(apply_fn, params, x).items()}
    total = sum(traces.values())
    print(f"{'layer':10s} {'tr share':>9s} {'parity c/c_last':>16s} {'random c/c_last':>16s}")
    for name, tr in traces.items():
        print(
            f"{name:10s} {tr / total:9.3f} {float(rel_parity[name]):16.4g} "
            f"{float(rel_noise[name]):16.4g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
