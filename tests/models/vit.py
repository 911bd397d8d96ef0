"""The Vision Transformer of google-research/vision_transformer, written after the public definition.

Source: google-research/vision_transformer, ``vit_jax/models_vit.py`` (commit
06862cdaf01e68e19de60c1853b3437a107d9c2c), Apache-2.0, Copyright Google LLC.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); module names (``embedding``, ``cls``,
    ``Transformer/{posembed_input, encoderblock_i/{LayerNorm_0, MultiHeadDotProductAttention_0/{query, key,
    value, out}, LayerNorm_1, MlpBlock_0/Dense_{0,1}}, encoder_norm}``, ``pre_logits``, ``head``), the
    initializers (zero ``head`` kernel, zero ``cls`` token) and the operations are the source's;
  * the encoder blocks are wrapped in ``nn.remat`` (the source's file at that commit has no ``remat`` option;
    other ViT code bases remat each block, and the tests need a remat'd model); ``Encoder(remat=True)``;
  * the hybrid ResNet root (``resnet=…``, ``models_resnet``) and dropout (rates and ``deterministic``) left
    out (eval mode); ``train`` is still accepted and ignored;
  * ``dtype`` defaults to float64.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class IdentityLayer(nn.Module):
    """Names an array (``pre_logits`` without a representation layer)."""

    @nn.compact
    def __call__(self, x):
        return x


class AddPositionEmbs(nn.Module):
    """Adds a learned ``(1, T, D)`` position embedding."""

    posemb_init: Callable[..., Any]

    @nn.compact
    def __call__(self, inputs):
        assert inputs.ndim == 3
        pe = self.param("pos_embedding", self.posemb_init, (1, inputs.shape[1], inputs.shape[2]))
        return inputs + pe


class MlpBlock(nn.Module):
    """Dense → GELU → Dense."""

    mlp_dim: int
    dtype: Any = jnp.float64
    out_dim: int | None = None
    kernel_init: Callable[..., Any] = nn.initializers.xavier_uniform()
    bias_init: Callable[..., Any] = nn.initializers.normal(stddev=1e-6)

    @nn.compact
    def __call__(self, inputs):
        out_dim = inputs.shape[-1] if self.out_dim is None else self.out_dim
        x = nn.Dense(
            self.mlp_dim, dtype=self.dtype, kernel_init=self.kernel_init, bias_init=self.bias_init
        )(inputs)
        x = nn.gelu(x)
        return nn.Dense(
            out_dim, dtype=self.dtype, kernel_init=self.kernel_init, bias_init=self.bias_init
        )(x)


class Encoder1DBlock(nn.Module):
    """Pre-norm block: multi-head self-attention and an MLP, each with a residual connection."""

    mlp_dim: int
    num_heads: int
    dtype: Any = jnp.float64

    @nn.compact
    def __call__(self, inputs):
        assert inputs.ndim == 3
        x = nn.LayerNorm(dtype=self.dtype)(inputs)
        x = nn.MultiHeadDotProductAttention(
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            broadcast_dropout=False,
            deterministic=True,
            dropout_rate=0.0,
            num_heads=self.num_heads,
        )(x, x)
        x = x + inputs
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = MlpBlock(mlp_dim=self.mlp_dim, dtype=self.dtype)(y)
        return x + y


class Encoder(nn.Module):
    """Position embedding, ``num_layers`` blocks (rematerialised when ``remat``), final LayerNorm."""

    num_layers: int
    mlp_dim: int
    num_heads: int
    add_position_embedding: bool = True
    remat: bool = True

    @nn.compact
    def __call__(self, x, *, train):
        del train
        assert x.ndim == 3
        if self.add_position_embedding:
            x = AddPositionEmbs(
                posemb_init=nn.initializers.normal(stddev=0.02), name="posembed_input"
            )(x)
        block_cls = nn.remat(Encoder1DBlock) if self.remat else Encoder1DBlock
        for layer in range(self.num_layers):
            x = block_cls(
                mlp_dim=self.mlp_dim, num_heads=self.num_heads, name=f"encoderblock_{layer}"
            )(x)
        return nn.LayerNorm(name="encoder_norm")(x)


class VisionTransformer(nn.Module):
    """Patch embedding (a strided conv), class token, encoder, token readout, linear head."""

    num_classes: int
    patches: Any
    transformer: Any
    hidden_size: int
    representation_size: int | None = None
    classifier: str = "token"
    head_bias_init: float = 0.0
    encoder: type[nn.Module] = Encoder

    @nn.compact
    def __call__(self, inputs, *, train):
        x = nn.Conv(
            features=self.hidden_size,
            kernel_size=self.patches.size,
            strides=self.patches.size,
            padding="VALID",
            name="embedding",
        )(inputs)
        n, h, w, c = x.shape
        x = jnp.reshape(x, [n, h * w, c])
        if self.classifier == "token":
            cls = self.param("cls", nn.initializers.zeros, (1, 1, c))
            x = jnp.concatenate([jnp.tile(cls, [n, 1, 1]), x], axis=1)
        x = self.encoder(name="Transformer", **self.transformer)(x, train=train)
        if self.classifier == "token":
            x = x[:, 0]
        elif self.classifier == "gap":
            x = jnp.mean(x, axis=list(range(1, x.ndim - 1)))
        elif self.classifier != "unpooled":
            raise ValueError(f"Invalid classifier={self.classifier}")
        if self.representation_size is not None:
            x = nn.tanh(nn.Dense(features=self.representation_size, name="pre_logits")(x))
        else:
            x = IdentityLayer(name="pre_logits")(x)
        if self.num_classes:
            x = nn.Dense(
                features=self.num_classes,
                name="head",
                kernel_init=nn.initializers.zeros,
                bias_init=nn.initializers.constant(self.head_bias_init),
            )(x)
        return x
