"""Per-layer NTK of your own models: a classifier with logits, an NNX model with ``nnx.scan``, a Transformer.

The code of README's *Bring your own model*, runnable: ``python examples/bring_your_own_model.py``
(about 20 s on a laptop CPU). Prints each model's layers in call order with ``tr G^(ℓ) / n``.
"""

from __future__ import annotations

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

import spectral_layers as sl


# 1. A linen CNN classifier returning logits (n, 10).
class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        for features in (16, 32):
            x = nn.relu(nn.Conv(features, (3, 3), strides=2)(x))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def classifier():
    model = CNN()
    x = jax.random.normal(jax.random.key(1), (64, 16, 16, 3))
    params = model.init(jax.random.key(0), x)["params"]

    def apply_fn(p, x):
        return model.apply({"params": p}, x)

    traced = sl.layer_ntk(apply_fn, params, x)  # (64, 64) each: Σ_c ⟨∇f_c(x_i), ∇f_c(x_j)⟩
    per_class = sl.layer_ntk(apply_fn, params, x[:8], trace_axes=())  # (8, 8, 10, 10)
    y = jax.nn.one_hot(jnp.arange(64) % 10, 10)  # targets of the logits' shape
    c = sl.layer_contributions(apply_fn, params, x, y)  # Σ_{c,c'} y_cᵀ G_cc' y_c', no Gram
    return traced, per_class, c


# 2. An NNX model whose blocks are stacked with nnx.vmap and run with nnx.scan.
class Block(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(32, 32, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.linear(x))


class ScanMLP(nnx.Module):
    def __init__(self, rngs):
        @nnx.split_rngs(splits=4)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make(rngs):
            return Block(rngs)

        self.embed = nnx.Linear(8, 32, rngs=rngs)
        self.blocks = make(rngs)
        self.head = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def body(h, block):
            return block(h)

        return self.head(body(self.embed(x), self.blocks))


def nnx_scan():
    apply_fn, params = sl.from_nnx(ScanMLP(nnx.Rngs(0)))
    x = jax.random.normal(jax.random.key(2), (64, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.FallbackWarning)  # "blocks/linear" runs inside a scan
        return sl.layer_ntk(apply_fn, params, x)


# 3. A Transformer block on token ids with causal attention and an embedding.
class TinyLM(nn.Module):
    vocab: int = 50

    @nn.compact
    def __call__(self, tokens):
        h = nn.Embed(self.vocab, 32, name="embed")(tokens)
        mask = nn.make_causal_mask(tokens)
        h = h + nn.SelfAttention(num_heads=2, name="attention")(
            nn.LayerNorm(name="ln1")(h), mask=mask
        )
        h = h + nn.Dense(32, name="mlp")(nn.gelu(nn.LayerNorm(name="ln2")(h)))
        return nn.Dense(self.vocab, name="logits")(h[:, -1])  # next-token logits (n, vocab)


def transformer():
    model = TinyLM()
    tokens = jax.random.randint(jax.random.key(3), (32, 12), 0, 50)  # integer ids stay integers
    params = model.init(jax.random.key(0), tokens)["params"]
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", sl.FallbackWarning
        )  # the embedding gather: per-example gradients
        return sl.layer_ntk(lambda p, t: model.apply({"params": p}, t), params, tokens)


def main() -> int:
    for title, grams in (
        ("linen CNN classifier, logits traced", classifier()[0]),
        ("NNX model with nnx.scan", nnx_scan()),
        ("Transformer block on tokens", transformer()),
    ):
        print(title)
        for name, g in grams.items():
            print(f"  {name:24s} tr G/n = {float(jnp.trace(g)) / g.shape[0]:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
