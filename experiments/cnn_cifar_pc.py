"""Beyond the paper: Figure 7's protocol (CIFAR-10, sin/cos along PC 1) with a small convolutional network.

Command::

    python -m experiments.cnn_cifar_pc [--scale smoke|default|paper] [--out figures/] [--data-dir DIR]

Question: does the layer-wise spectral bias of the MLPs (early layers contribute relatively more to
high-frequency targets) hold in a convolutional network? Protocol of ``fig7_cifar_pc``
(``experiments.realdata``: n CIFAR-10 images, pixels ÷ 255, targets ``sin(k t̃)`` / ``cos(k t̃)`` along the
first principal component of the sample, with and without their sample mean), on a linen CNN written as a
user would write it: ``len(channels)`` convolutions ``kernel_size × kernel_size`` with stride ``stride``,
SAME padding and ReLU, then a dense readout of the flattened features; no bias; Flax's default
initialisation (LeCun normal, the standard parameterisation). The per-layer Grams ``G^(ℓ)`` come from
``layer_ntk`` on the images ``(n, 32, 32, 3)`` (the structured engine: patch identity or per-example
gradients for each convolution, no Jacobian), the layers in call order ``Conv_0 … Dense_0``; contributions
``c_ℓ = yᵀ G^(ℓ) y`` relative to the readout, over ``num_draws`` independent subsets of images with
``num_seeds`` initialisations nested in each (median over draws, 10–90% band; verdicts by the rule of
``experiments.verdicts``).

No infinite-width curve: the package has no infinite-width CNN kernels (neural-tangents has them, but no
core path depends on it); the saved ``infinite`` array is NaN.

Precision: float32 by default (``--x64`` for float64). XLA's CPU convolutions in float64 are far slower
(measured: the four Grams at n = 200 took 22 s in float64 against 0.10 s in float32) and, vmapped over seeds,
needed over 100 GB at n = 1000; relative contributions need no more than float32's 7 digits. Seeds go one at
a time (``seed_chunk = 1``) for the same memory reason.

Runtime: default (n = 1000, channels 32, 32, 32, 8 draws × 4 seeds): about a minute on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments import realdata
from experiments._framework import RunContext, check_counts, define
from spectral_layers import contributions as contrib
from spectral_layers.empirical import layer_ntk

CAPTION = (
    "Relative contribution c_ℓ/c_(L-1) of each layer of a small CNN (three 3×3 stride-2 convolutions and a "
    "dense readout) for sin/cos targets along the first principal component of CIFAR-10 images (median over "
    "independent image subsets, 10–90% band over subsets and initialisations); left the paper's targets, "
    "right with their sample mean removed. "
    "No infinite-width curve (no infinite-width CNN kernels in the package)."
)

plot = realdata.plot
summarize = realdata.summarize


@dataclasses.dataclass(frozen=True)
class Config(realdata.DataConfig):
    """CNN configuration: the data and targets of ``realdata.DataConfig`` (Figure 7) and the CNN."""

    seed_chunk: int = 1  # seeds per call (one: bounded memory, see the module docstring)
    dataset: str = "cifar10"  # images (n, H, W, C); CIFAR-10 as in Figure 7
    target: str = "pc"  # "pc" (Fig. 7) or "radial"; "eigvec" is not offered here
    channels: tuple[int, ...] = (32, 32, 32)  # output channels of the convolutions, in call order
    kernel_size: int = 3  # convolution window (kernel_size × kernel_size)
    stride: int = 2  # stride of every convolution (SAME padding)

    def __post_init__(self):
        super().__post_init__()
        if self.target == "eigvec":
            raise ValueError(
                "target must be 'pc' or 'radial' for the CNN (no infinite-width kernel)"
            )
        if self.dataset != "cifar10":
            raise ValueError(
                f"dataset must be 'cifar10' (images with channels), got {self.dataset!r}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be positive integers, got {self.channels}")
        check_counts(self, "kernel_size", "stride")

    def model_label(self) -> str:
        """The network, for figure titles and REPORT rows."""
        k, s = self.kernel_size, self.stride
        return (
            f"CNN: {len(self.channels)} conv {k}×{k}/{s} ({', '.join(map(str, self.channels))} "
            "channels) + dense readout, ReLU, no bias, Flax default init"
        )


class CNN(nn.Module):
    """Convolutions with ReLU, then a dense readout to one output (the module docstring's network)."""

    channels: tuple[int, ...]
    kernel_size: int
    stride: int

    @nn.compact
    def __call__(self, x):
        k = (self.kernel_size, self.kernel_size)
        for c in self.channels:
            x = nn.relu(nn.Conv(c, k, strides=self.stride, padding="SAME", use_bias=False)(x))
        return nn.Dense(1, use_bias=False)(x.reshape(x.shape[0], -1))[:, 0]


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Contributions of every layer of the CNN over draws and initialisations (module docstring)."""
    ctx = ctx or RunContext("cnn_cifar_pc", progress=False)
    model = CNN(tuple(cfg.channels), cfg.kernel_size, cfg.stride)

    def apply_fn(params, inputs):
        return model.apply({"params": params}, inputs)

    def one_draw(x: jax.Array, k_init: jax.Array) -> dict[str, np.ndarray]:
        images = x.reshape(x.shape[0], *realdata._IMAGE_SHAPES[cfg.dataset])  # x: (n, 3072)
        y = realdata.fixed_targets(cfg, x)  # (P, K, n), unit norm
        num_p, num_k = y.shape[:2]
        y_flat = y.reshape(num_p * num_k, -1)
        init = jax.jit(jax.vmap(lambda s: model.init(jax.random.fold_in(k_init, s), images[:1])))
        parts = []
        for seed_indices in realdata.seed_chunks(cfg):
            params = init(jnp.asarray(seed_indices))["params"]
            grams = ctx.gather(layer_ntk(apply_fn, params, images, stacked=True, mesh=ctx.mesh))
            c = contrib.stack_layers(contrib.quadratic_forms(grams, y_flat))  # (s, P·K, L)
            parts.append({"contributions": c.reshape(len(seed_indices), num_p, num_k, -1)})
        finite = realdata.stack_chunks(parts)
        num_layers = finite["contributions"].shape[-1]
        # no infinite-width CNN kernel here: NaN (the figure and REPORT leave it out)
        return {**finite, "infinite": np.full((num_p, num_k, num_layers), np.nan), "targets": y}

    return {"degrees": np.asarray(cfg.degrees), **realdata.draw_loop(cfg, ctx, one_draw)}


EXPERIMENT = define(
    "cnn_cifar_pc",
    globals(),
    scales={
        "default": {},
        "smoke": {
            "data_dir": realdata.SYNTHETIC,
            "num_draws": 2,
            "num_seeds": 2,
            "seed_chunk": 1,
            "num_points": 48,
            "channels": (4, 4),
            "degrees": (1, 2, 3),
        },
        "paper": {"num_draws": 8, "num_seeds": 20},
    },
    x64_default=False,
)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
