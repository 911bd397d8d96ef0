"""MLP definition: parameter layout, the paper's §5.4 two-layer network, parameterisations, seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers.layers import layer_names
from spectral_layers.models import (
    MLPApply,
    dense_apply,
    init_mlp,
    init_mlp_seeds,
    layer_name,
    make_spec,
)
from tests._typecheck import unchecked


def test_layout_and_shapes():
    f, p = init_mlp(jax.random.key(0), 5, depth=4, width=(7, 8, 9), use_bias=True)
    assert layer_names(f, p, jnp.ones((2, 5))) == ["layer_0", "layer_1", "layer_2", "layer_3"]
    assert p["layer_0"]["kernel"].shape == (5, 7)
    assert p["layer_2"]["bias"].shape == (9,)
    assert p["layer_3"]["kernel"].shape == (9, 1)
    assert f(p, jnp.ones((6, 5))).shape == (6,)


def test_layer_names_call_order():
    """Call order, not the order of jax's sorted dict keys (layer_10 < layer_2 as strings)."""
    f, p = init_mlp(jax.random.key(0), 2, depth=12, width=2)
    p = jax.tree.map(lambda a: a, p)  # tree functions re-sort the dict keys
    assert layer_names(f, p, jnp.ones((1, 2))) == [f"layer_{i}" for i in range(12)]


def test_paper_two_layer_network():
    """Paper §5.4: f(x) = (1/sqrt(m)) Σ_j v_j σ(w_jᵀ x), all weights N(0, 1) (input_scaling='none')."""
    m = 50
    f, p = init_mlp(jax.random.key(1), 3, depth=2, width=m, activation="tanh", input_scaling="none")
    x = jax.random.normal(jax.random.key(2), (4, 3))
    w, v = p["layer_0"]["kernel"], p["layer_1"]["kernel"][:, 0]
    expected = (np.tanh(np.asarray(x) @ np.asarray(w)) @ np.asarray(v)) / np.sqrt(m)
    np.testing.assert_allclose(f(p, x), expected, rtol=1e-12)


def test_standard_and_ntk_same_function_in_distribution():
    """Standard param. with W ~ N(0, σ²/n) computes the same function as NTK param. with W' = W·sqrt(n)/σ."""
    f_ntk, p_ntk = init_mlp(
        jax.random.key(3), 4, depth=3, width=6, use_bias=True, sigma_w=1.5, sigma_b=0.5
    )
    f_std, _ = init_mlp(
        jax.random.key(3),
        4,
        depth=3,
        width=6,
        use_bias=True,
        sigma_w=1.5,
        sigma_b=0.5,
        parameterization="standard",
    )
    fan_in = {"layer_0": 4, "layer_1": 6, "layer_2": 6}
    p_std = {
        k: {"kernel": v["kernel"] * 1.5 / np.sqrt(fan_in[k]), "bias": v["bias"] * 0.5}
        for k, v in p_ntk.items()
    }
    x = jax.random.normal(jax.random.key(4), (5, 4))
    np.testing.assert_allclose(f_std(p_std, x), f_ntk(p_ntk, x), rtol=1e-12)


def test_init_statistics():
    _, p = init_mlp(
        jax.random.key(5), 200, depth=2, width=300, parameterization="standard", sigma_w=2.0
    )
    assert abs(float(jnp.std(p["layer_0"]["kernel"])) - 2.0 / np.sqrt(200)) < 0.01


def test_seeds_are_fold_in_and_deterministic():
    _, ps = init_mlp_seeds(jax.random.key(9), 3, 2, depth=3, width=4)
    for s in range(3):
        _, p = init_mlp(jax.random.fold_in(jax.random.key(9), s), 2, depth=3, width=4)
        np.testing.assert_array_equal(ps["layer_1"]["kernel"][s], p["layer_1"]["kernel"])
    _, ps2 = init_mlp_seeds(jax.random.key(9), 3, 2, depth=3, width=4)
    np.testing.assert_array_equal(ps["layer_0"]["kernel"], ps2["layer_0"]["kernel"])


def test_callable_activation_and_dtype():
    f, p = init_mlp(
        jax.random.key(0), 2, depth=2, width=3, activation=lambda z: z**2, dtype=jnp.float32
    )
    assert p["layer_0"]["kernel"].dtype == jnp.float32
    assert f(p, jnp.ones((1, 2), jnp.float32)).dtype == jnp.float32


def test_bad_arguments():
    with pytest.raises(TypeError, match="activation"):
        init_mlp(jax.random.key(0), 2, depth=2, width=3, activation=3)
    with pytest.raises(ValueError, match="parameterization"), unchecked():
        init_mlp(jax.random.key(0), 2, depth=2, width=3, parameterization="mup")
    with pytest.raises(ValueError, match="width"):
        init_mlp(jax.random.key(0), 2, depth=3, width=(3,))
    with pytest.raises(ValueError, match="in_dim"):
        init_mlp(jax.random.key(0), 0, depth=2, width=3)
    with pytest.raises(TypeError, match="key"):
        init_mlp(0, 2, depth=2, width=3)
    with pytest.raises(ValueError, match="sigma_w"):
        init_mlp(jax.random.key(0), 2, depth=2, width=3, sigma_w=-1.0)


def test_mlp_apply_equals_a_numpy_forward_pass():
    """``init_mlp``'s ``MLPApply`` (Flax ``MLP`` → ``dense_apply``) against the forward pass written out in
    NumPy from the module docstring (``z = s_ℓ h W + s_b b``, ``h ← tanh z`` except after the last layer);
    ``make_spec`` gives the same ``MLPSpec``; the subtrees are ``layer_name(ℓ)``."""
    kw = dict(depth=3, width=(5, 4), activation="tanh", use_bias=True, sigma_b=0.3)
    f, p = init_mlp(jax.random.key(1), 2, **kw)
    assert isinstance(f, MLPApply)
    spec = make_spec(2, **kw)
    assert f.spec == spec
    assert list(p) == [layer_name(i) for i in range(3)]
    x = np.asarray(jax.random.normal(jax.random.key(2), (6, 2)))
    h = x
    for i in range(3):
        w, b = np.asarray(p[layer_name(i)]["kernel"]), np.asarray(p[layer_name(i)]["bias"])
        z = spec.weight_scale(i) * (h @ w) + spec.bias_scale * b[None, :]
        np.testing.assert_allclose(
            dense_apply(spec, i, p[layer_name(i)], jnp.asarray(h)), z, rtol=1e-14, atol=1e-15
        )
        h = np.tanh(z) if i < 2 else z
    np.testing.assert_allclose(f(p, x), h[:, 0], rtol=1e-14, atol=1e-15)
