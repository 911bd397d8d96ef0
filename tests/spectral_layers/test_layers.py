"""``spectral_layers.layers``: the layers of any model in call order and the leaf plumbing under
``layer_ntk`` (``discover_layers``, ``layer_map``, ``leaf_paths``, leaf selection, dtypes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers import layers as L


def _apply(params, x):
    """Uses ``late`` before ``early`` although ``early`` comes first in the pytree: call order ≠ key order."""
    h = jnp.tanh(x @ params["late"]["w"] + params["late"]["b"])
    return (h @ params["early"]["w"])[:, 0]


def _params():
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "early": {"w": jax.random.normal(k1, (4, 1))},
        "late": {"b": jnp.zeros((1, 4)), "w": jax.random.normal(k2, (3, 4))},
    }


def test_discover_layers_follows_call_order_not_key_order():
    params = _params()
    paths = L.leaf_paths(params)
    assert paths == ["early/w", "late/b", "late/w"]  # jax.tree.leaves order (sorted keys)
    lm = L.discover_layers(_apply, params, jnp.ones((2, 3)))
    assert isinstance(lm, L.LayerMap)
    assert lm.names == ("late", "early")
    assert lm.paths == tuple(paths)
    assert lm.indices("late") == (1, 2) and lm.indices("early") == (0,)
    # the same map from the explicit two steps, and from a grouping of one layer per leaf
    program = L.example_program(_apply, params, jnp.ones((2, 3)))
    assert L.layer_map(program, params) == lm
    per_leaf = L.layer_map(program, params, group=lambda p: p.replace("/", "."))
    assert per_leaf.names == ("late.w", "late.b", "early.w")  # x @ w is traced before + b
    with pytest.raises(TypeError, match="group"):
        L.layer_map(program, params, group=lambda p: "")


def test_leaf_paths_drop_a_shared_params_key():
    assert L.leaf_paths({"params": {"a": jnp.ones(1), "b": [jnp.ones(1)]}}) == ["a", "b/0"]


def test_split_and_replace_leaves_are_inverse():
    leaves = jax.tree.leaves(_params())
    idx = (2, 0)
    picked = L.split_leaves(leaves, idx)
    assert picked[0] is leaves[2] and picked[1] is leaves[0]
    new = L.replace_leaves(leaves, idx, [p + 1 for p in picked])
    np.testing.assert_array_equal(new[2], leaves[2] + 1)
    np.testing.assert_array_equal(new[0], leaves[0] + 1)
    assert new[1] is leaves[1]
    assert L.replace_leaves(leaves, idx, picked) == leaves


def test_dtypes_integer_inputs_stay_integers():
    x = {"ids": jnp.array([[1, 2]], jnp.int32), "f": jnp.ones((1, 2), jnp.float32)}
    leaves = [jnp.ones(2, jnp.float64)]
    dtype = L.compute_dtype(x, leaves)
    assert dtype == jnp.float64
    cast = L.cast_inputs(x, dtype)
    assert cast["ids"].dtype == jnp.int32 and cast["f"].dtype == jnp.float64
    assert L.compute_dtype({"ids": x["ids"]}, [jnp.ones(2, jnp.float32)]) == jnp.float32


def test_check_params_returns_leaves_and_rejects_non_pytrees():
    params = _params()
    assert all(a is b for a, b in zip(L.check_params(params), jax.tree.leaves(params), strict=True))
    with pytest.raises(TypeError, match="params"):
        L.check_params(jnp.ones(3))
