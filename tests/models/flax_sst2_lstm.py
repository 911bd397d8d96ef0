"""The bidirectional-LSTM text classifier of the Flax SST-2 example, written after the public definition.

Source: google/flax, ``examples/sst2/models.py`` (commit 0e5fc04018f1a20bdf32e9868c6a9eda38407424), Apache-2.0,
Copyright The Flax Authors.

Departures from the source:
  * re-written, not copied (see ``tests/models/__init__.py``); module names (``embedder``,
    ``encoder/{forward_lstm, backward_lstm}/OptimizedLSTMCell_0/{ii, hi, if, hf, ig, hg, io, ho}``,
    ``classifier/keys_only_mlp_attention/{keys, energy}``, ``classifier/mlp/{intermediate_layer,
    output_layer}``), ``nn.scan`` over ``nn.OptimizedLSTMCell`` with broadcast parameters, the length-aware
    flip of the backward direction and the masked keys-only attention are the source's;
  * dropout, word dropout (``WordDropout``) and the ``deterministic`` flags left out (eval mode), as is the
    ``frozen`` option of the embedder;
  * the embedding table and the LSTM cells are created in ``float64`` (``param_dtype``, which also sets the
    dtype of the initial carry).
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def sequence_mask(lengths, max_length):
    """``mask[b, t] = t < lengths[b]``."""
    return jnp.arange(max_length)[None] < lengths[:, None]


@jax.vmap
def flip_sequences(inputs, lengths):
    """Reverses the first ``length`` steps of each sequence, keeping the padding at the end."""
    max_length = inputs.shape[0]
    return jnp.flip(jnp.roll(inputs, max_length - lengths, axis=0), axis=0)


class Embedder(nn.Module):
    """Token ids ``(n, T)`` → embeddings ``(n, T, embedding_size)`` by indexing a table."""

    vocab_size: int
    embedding_size: int
    embedding_init: Callable[..., Any] = nn.initializers.normal(stddev=0.1)
    dtype: Any = jnp.float64

    def setup(self):
        self.embedding = self.param(
            "embedding", self.embedding_init, (self.vocab_size, self.embedding_size), self.dtype
        )

    def __call__(self, inputs):
        return self.embedding[inputs]


class SimpleLSTM(nn.Module):
    """A unidirectional LSTM: ``nn.scan`` of one ``OptimizedLSTMCell`` over the time axis."""

    hidden_size: int

    @functools.partial(
        nn.transforms.scan,
        variable_broadcast="params",
        in_axes=1,
        out_axes=1,
        split_rngs={"params": False},
    )
    @nn.compact
    def __call__(self, carry, x):
        return nn.OptimizedLSTMCell(self.hidden_size, param_dtype=jnp.float64)(carry, x)

    def initialize_carry(self, input_shape):
        cell = nn.OptimizedLSTMCell(self.hidden_size, parent=None, param_dtype=jnp.float64)
        return cell.initialize_carry(jax.random.key(0), input_shape)


class SimpleBiLSTM(nn.Module):
    """Forward and (length-aware) backward LSTMs, outputs concatenated."""

    hidden_size: int

    def setup(self):
        self.forward_lstm = SimpleLSTM(self.hidden_size)
        self.backward_lstm = SimpleLSTM(self.hidden_size)

    def __call__(self, embedded_inputs, lengths):
        carry = self.forward_lstm.initialize_carry(embedded_inputs[:, 0].shape)
        _, forward_outputs = self.forward_lstm(carry, embedded_inputs)
        reversed_inputs = flip_sequences(embedded_inputs, lengths)
        carry = self.backward_lstm.initialize_carry(reversed_inputs[:, 0].shape)
        _, backward_outputs = self.backward_lstm(carry, reversed_inputs)
        backward_outputs = flip_sequences(backward_outputs, lengths)
        return jnp.concatenate([forward_outputs, backward_outputs], -1)


class MLP(nn.Module):
    """One hidden layer (tanh), output layer without bias by default."""

    hidden_size: int
    output_size: int
    activation: Callable[..., Any] = nn.tanh
    output_bias: bool = False

    def setup(self):
        self.intermediate_layer = nn.Dense(self.hidden_size)
        self.output_layer = nn.Dense(self.output_size, use_bias=self.output_bias)

    def __call__(self, inputs):
        return self.output_layer(self.activation(self.intermediate_layer(inputs)))


class KeysOnlyMlpAttention(nn.Module):
    """Bahdanau-style scores from the keys alone, softmax over the valid positions."""

    hidden_size: int

    @nn.compact
    def __call__(self, keys, mask):
        hidden = nn.Dense(self.hidden_size, name="keys", use_bias=False)(keys)
        scores = nn.Dense(1, name="energy", use_bias=False)(nn.tanh(hidden)).squeeze(-1)
        scores = jnp.where(mask, scores, -jnp.inf)
        scores = nn.softmax(scores, axis=-1)
        self.sow("intermediates", "attention", scores)
        return scores


class AttentionClassifier(nn.Module):
    """Attention-weighted sum of the encoded inputs, then an MLP."""

    hidden_size: int
    output_size: int

    def setup(self):
        self.keys_only_mlp_attention = KeysOnlyMlpAttention(hidden_size=self.hidden_size)
        self.mlp = MLP(
            hidden_size=self.hidden_size, output_size=self.output_size, output_bias=False
        )

    def __call__(self, encoded_inputs, lengths):
        mask = sequence_mask(lengths, encoded_inputs.shape[1])
        attention = self.keys_only_mlp_attention(encoded_inputs, mask)
        context = (jnp.expand_dims(attention, 1) @ encoded_inputs).squeeze(1)
        return self.mlp(context)


class TextClassifier(nn.Module):
    """Embedder → bidirectional LSTM → attention classifier: ``(token_ids, lengths)`` → logits."""

    embedding_size: int
    hidden_size: int
    vocab_size: int
    output_size: int

    def setup(self):
        self.embedder = Embedder(vocab_size=self.vocab_size, embedding_size=self.embedding_size)
        self.encoder = SimpleBiLSTM(hidden_size=self.hidden_size)
        self.classifier = AttentionClassifier(
            hidden_size=self.hidden_size, output_size=self.output_size
        )

    def __call__(self, token_ids, lengths):
        embedded = self.embedder(token_ids)
        return self.classifier(self.encoder(embedded, lengths), lengths)
