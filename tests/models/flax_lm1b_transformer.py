"""The decoder-only Transformer language model of the Flax lm1b example, written after the public definition.

Source: google/flax, ``examples/lm1b/models.py`` (commit 0e5fc04018f1a20bdf32e9868c6a9eda38407424), Apache-2.0,
Copyright The Flax Authors.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); the module names (``decoder/Embed_0``,
    ``decoder/encoderdecoderblock_i/{LayerNorm_0, SelfAttention_0/{query,key,value,out}, LayerNorm_1,
    MlpBlock_0/Dense_{0,1}}``, ``decoder/encoderdecoder_norm``, ``decoder/logitdense``), every initializer
    wrapped in ``nn.with_logical_partitioning`` (boxed parameters), the causal and padding masks, the shifted
    inputs, the sinusoidal position table and the tied-embedding option (``logits_via_embedding``:
    ``Embed.attend``) are the source's;
  * the autoregressive ``decode`` cache path, packed inputs (``inputs_positions``, ``inputs_segmentation``) and
    dropout left out (the tests use the model in eval mode: the source's ``deterministic=True``);
  * ``dtype`` defaults to float64, and the tied logits use ``y.astype(config.dtype)`` where the source casts
    to float32 (a float32 cast would make float64 Grams agree only to ~1e-7).
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax


@struct.dataclass
class TransformerConfig:
    """Hyperparameters (the source's fields, minus ``decode`` and the dropout rates)."""

    vocab_size: int
    output_vocab_size: int
    share_embeddings: bool = False
    logits_via_embedding: bool = False
    dtype: Any = jnp.float64
    emb_dim: int = 512
    num_heads: int = 8
    num_layers: int = 6
    qkv_dim: int = 512
    mlp_dim: int = 2048
    max_len: int = 2048
    kernel_init: Callable = nn.initializers.xavier_uniform()
    bias_init: Callable = nn.initializers.normal(stddev=1e-6)
    posemb_init: Callable | None = None


def shift_right(x, axis=1):
    """Pads one zero at the start of ``axis`` and drops the last position."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 0)
    padded = jnp.pad(x, pad, mode="constant", constant_values=x.dtype.type(0))
    return lax.dynamic_slice_in_dim(padded, 0, padded.shape[axis] - 1, axis)


def sinusoidal_init(max_len=2048, min_scale=1.0, max_scale=10000.0):
    """Initializer of a fixed ``(1, max_len, d)`` sine/cosine position table."""

    def init(key, shape, dtype=np.float32):
        del key, dtype
        d = shape[-1]
        table = np.zeros((max_len, d), dtype=np.float32)
        position = np.arange(0, max_len)[:, np.newaxis]
        scale = -np.log(max_scale / min_scale) / (d // 2 - 1)
        div_term = min_scale * np.exp(np.arange(0, d // 2) * scale)
        table[:, : d // 2] = np.sin(position * div_term)
        table[:, d // 2 : 2 * (d // 2)] = np.cos(position * div_term)
        return jnp.array(table[np.newaxis])

    return init


def _partitioned(init, names):
    return nn.with_logical_partitioning(init, names)


class AddPositionEmbs(nn.Module):
    """Adds the sinusoidal table (or a learned one when ``posemb_init`` is given)."""

    config: TransformerConfig

    @nn.compact
    def __call__(self, inputs):
        cfg = self.config
        assert inputs.ndim == 3
        shape = (1, cfg.max_len, inputs.shape[-1])
        if cfg.posemb_init is None:
            table = sinusoidal_init(max_len=cfg.max_len)(None, shape, None)
        else:
            table = self.param("pos_embedding", cfg.posemb_init, shape)
        return inputs + table[:, : inputs.shape[1], :]


class MlpBlock(nn.Module):
    """Dense → ReLU → Dense, logically partitioned kernels and biases."""

    config: TransformerConfig
    out_dim: int | None = None

    @nn.compact
    def __call__(self, inputs):
        cfg = self.config
        out_dim = inputs.shape[-1] if self.out_dim is None else self.out_dim
        x = nn.Dense(
            cfg.mlp_dim,
            dtype=cfg.dtype,
            kernel_init=_partitioned(cfg.kernel_init, ("embed", "mlp")),
            bias_init=_partitioned(cfg.bias_init, ("mlp",)),
        )(inputs)
        x = nn.relu(x)
        return nn.Dense(
            out_dim,
            dtype=cfg.dtype,
            kernel_init=_partitioned(cfg.kernel_init, ("mlp", "embed")),
            bias_init=_partitioned(cfg.bias_init, ("embed",)),
        )(x)


def _layer_norm(cfg, **kwargs):
    return nn.LayerNorm(
        dtype=cfg.dtype,
        bias_init=_partitioned(nn.initializers.zeros, ("embed",)),
        scale_init=_partitioned(nn.initializers.ones, ("embed",)),
        **kwargs,
    )


class EncoderDecoder1DBlock(nn.Module):
    """Pre-norm block: masked self-attention and an MLP, each with a residual connection."""

    config: TransformerConfig

    @nn.compact
    def __call__(self, inputs, decoder_mask=None):
        cfg = self.config
        assert inputs.ndim == 3
        x = _layer_norm(cfg)(inputs)
        x = nn.SelfAttention(
            num_heads=cfg.num_heads,
            dtype=cfg.dtype,
            qkv_features=cfg.qkv_dim,
            kernel_init=_partitioned(cfg.kernel_init, ("embed", "kv")),
            bias_init=_partitioned(cfg.bias_init, ("embed",)),
            use_bias=False,
            broadcast_dropout=False,
            dropout_rate=0.0,
            deterministic=True,
        )(x, decoder_mask)
        x = x + inputs
        z = _layer_norm(cfg)(x)
        return x + MlpBlock(config=cfg)(z)


class Decoder(nn.Module):
    """Embedding of the right-shifted tokens, position table, blocks, final norm, logits."""

    config: TransformerConfig
    shared_embedding: Any = None

    @nn.compact
    def __call__(self, inputs, decoder_mask=None):
        cfg = self.config
        assert inputs.ndim == 2
        if self.shared_embedding is None:
            embed = nn.Embed(
                num_embeddings=cfg.output_vocab_size,
                features=cfg.emb_dim,
                embedding_init=_partitioned(nn.initializers.normal(stddev=1.0), ("vocab", "embed")),
            )
        else:
            embed = self.shared_embedding
        y = shift_right(inputs.astype("int32"))
        y = embed(y)
        y = AddPositionEmbs(config=cfg, name="posembed_output")(y)
        y = y.astype(cfg.dtype)
        for layer in range(cfg.num_layers):
            y = EncoderDecoder1DBlock(config=cfg, name=f"encoderdecoderblock_{layer}")(
                y, decoder_mask=decoder_mask
            )
        y = _layer_norm(cfg, name="encoderdecoder_norm")(y)
        if cfg.logits_via_embedding:
            logits = embed.attend(y.astype(cfg.dtype))
            return logits / jnp.sqrt(y.shape[-1])
        return nn.Dense(
            cfg.output_vocab_size,
            dtype=cfg.dtype,
            kernel_init=_partitioned(cfg.kernel_init, ("embed", "vocab")),
            bias_init=_partitioned(cfg.bias_init, ("vocab",)),
            name="logitdense",
        )(y)


class TransformerLM(nn.Module):
    """Decoder-only language model: token ids ``(n, T)`` → logits ``(n, T, vocab)``; id 0 is padding."""

    config: TransformerConfig

    @nn.compact
    def __call__(self, inputs):
        cfg = self.config
        decoder_mask = nn.combine_masks(
            nn.make_attention_mask(inputs > 0, inputs > 0, dtype=cfg.dtype),
            nn.make_causal_mask(inputs, dtype=cfg.dtype),
        )
        logits = Decoder(config=cfg, name="decoder")(inputs, decoder_mask=decoder_mask)
        return logits.astype(cfg.dtype)
