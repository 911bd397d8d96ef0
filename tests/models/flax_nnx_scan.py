"""The scan-over-layers model of the ``nnx.scan`` documentation, written after the public definition.

Source: google/flax, ``flax/nnx/transforms/iteration.py``, the example in the ``nnx.scan`` docstring (flax
0.12.8 as installed here), Apache-2.0, Copyright The Flax Authors. (The same model in
``docs_nnx/guides/linen_to_nnx.rst``, "Scan over layers", also wraps ``forward`` in
``nnx.split_rngs(splits=num_layers)``; on flax 0.12.8 that version fails eagerly with "fold_in accepts a single
key, but was given a key array of shape (3,)", so the docstring's version is the corpus entry.)

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); ``Block`` (``nnx.Linear`` → ``nnx.Dropout(0.1)``
    → ReLU), the stack of blocks made by ``nnx.split_rngs`` + ``nnx.vmap`` (parameters
    ``blocks/linear/kernel`` of shape ``(num_layers, features, features)``) and the forward pass by
    ``nnx.scan`` with the activations as carry are the source's;
  * ``param_dtype`` (float64 by default) passed to ``nnx.Linear``; the tests call ``model.eval()`` (dropout
    off) except where they test the batch-shaped dropout noise.
"""

import jax
import jax.numpy as jnp
from flax import nnx


class Block(nnx.Module):
    """Linear → dropout → ReLU."""

    def __init__(self, input_dim, features, *, rngs, param_dtype=jnp.float64):
        self.linear = nnx.Linear(input_dim, features, param_dtype=param_dtype, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        return jax.nn.relu(self.dropout(self.linear(x)))


class Model(nnx.Module):
    """``num_layers`` identical blocks with stacked parameters, applied by ``nnx.scan``."""

    def __init__(self, num_layers, features, *, rngs, param_dtype=jnp.float64):
        @nnx.split_rngs(splits=num_layers)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create_block(rngs: nnx.Rngs):
            return Block(features, features, rngs=rngs, param_dtype=param_dtype)

        self.blocks = create_block(rngs)
        self.num_layers = num_layers

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, block):
            return block(x)

        return forward(x, self.blocks)
