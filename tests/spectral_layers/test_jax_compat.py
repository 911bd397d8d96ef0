"""What changes between JAX releases, checked on whichever JAX is installed (CI: the pinned jax 0.10.2 and the
newest release, ``.ci/run``): the structured engine still sees through a jitted function (JAX 0.12 merged
``ClosedJaxpr`` into ``Jaxpr``: a ``jit`` equation's sub-jaxpr must still be inlined), with no fallback."""

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import spectral_layers as sl
from spectral_layers import _jaxpr
from tests.spectral_layers.test_empirical_any_model import check_against_brute_force


class _MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(nn.Dense(16)(x))
        x = jnp.tanh(nn.Dense(16)(x))
        return nn.Dense(1)(x)[:, 0]


def test_trace_inlines_nested_jit_with_consts():
    c = np.arange(3.0)  # a constant captured by the inner jit: a const of its sub-jaxpr

    @jax.jit
    def inner(y):
        return jnp.sin(y) * c

    program = _jaxpr.trace(lambda x: jax.jit(inner)(x).sum() + 1.0, jnp.ones(3))
    names = [eqn.name for eqn in program.eqns]
    assert "jit" not in names and "pjit" not in names, names  # both levels inlined
    assert "sin" in names
    (out,) = _jaxpr.evaluate(program, [jnp.full(3, 0.5)])
    np.testing.assert_allclose(out, (np.sin(0.5) * c).sum() + 1.0, rtol=1e-6)


def test_jitted_apply_fn_uses_the_structured_engine():
    """A whole ``jax.jit``-wrapped ``apply_fn`` is one jit equation: every layer must still be structured."""
    model = _MLP()
    x1 = jax.random.normal(jax.random.key(0), (6, 5), jnp.float64)
    x2 = jax.random.normal(jax.random.key(1), (3, 5), jnp.float64)
    params = jax.tree.map(
        lambda a: a.astype(jnp.float64), model.init(jax.random.key(2), x1)["params"]
    )
    apply_fn = jax.jit(lambda p, x: model.apply({"params": p}, x))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.FallbackWarning)
        check_against_brute_force(apply_fn, params, x1, x2, ["Dense_0", "Dense_1", "Dense_2"])
