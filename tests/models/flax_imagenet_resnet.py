"""ResNet V1 of the Flax ImageNet example, written after the public definition.

Source: google/flax, ``examples/imagenet/models.py`` (commit 06529c9ee0202ee3edaf084f1a7442faf9becdac),
Apache-2.0, Copyright The Flax Authors.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); module names, parameter tree and operations are
    the source's: ``conv_init``, ``bn_init``, ``ResNetBlock_i/{Conv_j, BatchNorm_j, conv_proj, norm_proj}``,
    ``Dense_0``;
  * ``BottleneckResNetBlock``, the ``ResNet18``… presets and the ``ConvLocal`` variants left out; the tests build
    ``ResNet(stage_sizes=[1, 1], block_cls=ResNetBlock, num_filters=4, num_classes=3)``;
  * ``dtype`` defaults to float64 (the source: float32).
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

ModuleDef = Any


class ResNetBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a projected shortcut when shapes differ."""

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    act: Callable
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x):
        shortcut = x
        y = self.conv(self.filters, (3, 3), self.strides)(x)
        y = self.act(self.norm()(y))
        y = self.conv(self.filters, (3, 3))(y)
        y = self.norm(scale_init=nn.initializers.zeros_init())(y)
        if shortcut.shape != y.shape:
            shortcut = self.conv(self.filters, (1, 1), self.strides, name="conv_proj")(shortcut)
            shortcut = self.norm(name="norm_proj")(shortcut)
        return self.act(shortcut + y)


class ResNet(nn.Module):
    """ResNet V1: 7×7 stride-2 stem, max pool, stages of blocks, global mean pool, dense classifier."""

    stage_sizes: Sequence[int]
    block_cls: ModuleDef
    num_classes: int
    num_filters: int = 64
    dtype: Any = jnp.float64
    act: Callable = nn.relu
    conv: ModuleDef = nn.Conv

    @nn.compact
    def __call__(self, x, train: bool = True):
        conv = partial(self.conv, use_bias=False, dtype=self.dtype)
        norm = partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            dtype=self.dtype,
        )
        x = conv(self.num_filters, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for i, num_blocks in enumerate(self.stage_sizes):
            for j in range(num_blocks):
                strides = (2, 2) if i > 0 and j == 0 else (1, 1)
                x = self.block_cls(
                    self.num_filters * 2**i, strides=strides, conv=conv, norm=norm, act=self.act
                )(x)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dense(self.num_classes, dtype=self.dtype)(x)
        return jnp.asarray(x, self.dtype)
