"""MLP-Mixer of google-research/vision_transformer, written after the public definition.

Source: google-research/vision_transformer, ``vit_jax/models_mixer.py`` (commit
2ecbc73207056d8fcbd7513ab43cd417a0b385b3), Apache-2.0, Copyright Google LLC.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); module names (``stem``,
    ``MixerBlock_i/{LayerNorm_0, token_mixing/Dense_{0,1}, LayerNorm_1, channel_mixing/Dense_{0,1}}``,
    ``pre_head_layer_norm``, ``head``), the zero-initialised ``head`` kernel and the operations are the
    source's;
  * ``einops.rearrange(x, 'n h w c -> n (h w) c')`` replaced by the equivalent ``jnp.reshape`` (einops is not a
    dependency here).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class MlpBlock(nn.Module):
    """Dense → GELU → Dense back to the input width."""

    mlp_dim: int

    @nn.compact
    def __call__(self, x):
        y = nn.gelu(nn.Dense(self.mlp_dim)(x))
        return nn.Dense(x.shape[-1])(y)


class MixerBlock(nn.Module):
    """Token mixing (an MLP across patches) then channel mixing, each pre-normed with a residual."""

    tokens_mlp_dim: int
    channels_mlp_dim: int

    @nn.compact
    def __call__(self, x):
        y = jnp.swapaxes(nn.LayerNorm()(x), 1, 2)
        y = jnp.swapaxes(MlpBlock(self.tokens_mlp_dim, name="token_mixing")(y), 1, 2)
        x = x + y
        y = nn.LayerNorm()(x)
        return x + MlpBlock(self.channels_mlp_dim, name="channel_mixing")(y)


class MlpMixer(nn.Module):
    """Patch stem (a strided conv), Mixer blocks, LayerNorm, mean over patches, linear head."""

    patches: Any
    num_classes: int
    num_blocks: int
    hidden_dim: int
    tokens_mlp_dim: int
    channels_mlp_dim: int
    model_name: str | None = None

    @nn.compact
    def __call__(self, inputs, *, train):
        del train
        x = nn.Conv(self.hidden_dim, self.patches.size, strides=self.patches.size, name="stem")(
            inputs
        )
        n, h, w, c = x.shape
        x = jnp.reshape(x, (n, h * w, c))
        for _ in range(self.num_blocks):
            x = MixerBlock(self.tokens_mlp_dim, self.channels_mlp_dim)(x)
        x = nn.LayerNorm(name="pre_head_layer_norm")(x)
        x = jnp.mean(x, axis=1)
        if self.num_classes:
            x = nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, name="head")(x)
        return x
