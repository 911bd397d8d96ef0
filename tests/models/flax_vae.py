"""The VAE of the Flax examples, written after the public definition.

Source: google/flax, ``examples/vae/models.py`` (commit 28c97f50381005301dd4811797fcb55ccfacce69), Apache-2.0,
Copyright The Flax Authors.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); module names (``encoder/{fc1, fc2_mean,
    fc2_logvar}``, ``decoder/{fc1, fc2}``), ``__call__(x, z_rng)`` and ``reparameterize`` (noise of the batch's
    shape drawn from ``z_rng``) are the source's;
  * hidden width 500 → ``hidden`` (default 7) and output 784 → ``out`` (default 10), attributes instead of
    literals so the tests run at a tiny size; ``generate`` and ``model()`` left out.
"""

import flax.linen as nn
import jax.numpy as jnp
from jax import random


class Encoder(nn.Module):
    """x ↦ (mean, log-variance) of the latent."""

    latents: int
    hidden: int = 7

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.hidden, name="fc1")(x))
        mean_x = nn.Dense(self.latents, name="fc2_mean")(x)
        logvar_x = nn.Dense(self.latents, name="fc2_logvar")(x)
        return mean_x, logvar_x


class Decoder(nn.Module):
    """z ↦ reconstruction logits."""

    hidden: int = 7
    out: int = 10

    @nn.compact
    def __call__(self, z):
        z = nn.relu(nn.Dense(self.hidden, name="fc1")(z))
        return nn.Dense(self.out, name="fc2")(z)


class VAE(nn.Module):
    """Encoder, reparametrised sample, decoder; returns ``(recon_x, mean, logvar)``."""

    latents: int = 3
    hidden: int = 7
    out: int = 10

    def setup(self):
        self.encoder = Encoder(self.latents, self.hidden)
        self.decoder = Decoder(self.hidden, self.out)

    def __call__(self, x, z_rng):
        mean, logvar = self.encoder(x)
        z = reparameterize(z_rng, mean, logvar)
        return self.decoder(z), mean, logvar


def reparameterize(rng, mean, logvar):
    """``mean + eps · exp(logvar / 2)`` with ``eps ~ N(0, 1)`` of the batch's shape, drawn from ``rng``."""
    std = jnp.exp(0.5 * logvar)
    eps = random.normal(rng, logvar.shape)
    return mean + eps * std
