"""Per-layer empirical NTK: structured vs Jacobian paths, Eq. 1 decomposition, blocking, seed batches, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spectral_layers as sl
from spectral_layers.models import init_mlp, init_mlp_seeds


def _data(d=3, n1=7, n2=5, seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return jax.random.normal(k1, (n1, d)), jax.random.normal(k2, (n2, d))


def _rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


CASES = [
    # (activation, use_bias, parameterization, depth, input_scaling)
    ("relu", False, "ntk", 2, "fan_in"),
    ("relu", True, "standard", 4, "fan_in"),
    ("tanh", True, "ntk", 3, "none"),
    ("tanh", False, "standard", 6, "fan_in"),
    ("erf", True, "ntk", 5, "fan_in"),
    ("erf", False, "standard", 2, "none"),
    ("gelu", False, "ntk", 4, "none"),
    ("gelu", True, "standard", 3, "fan_in"),
]


def _case_net(seed, act, bias, par, depth, scaling, **kw):
    """An ``init_mlp`` network with d = 3 for one of ``CASES``."""
    return init_mlp(
        jax.random.key(seed),
        3,
        depth=depth,
        activation=act,
        use_bias=bias,
        parameterization=par,
        input_scaling=scaling,
        **kw,
    )


@pytest.mark.parametrize("act,bias,par,depth,scaling", CASES)
def test_structured_equals_jacobian_per_layer(act, bias, par, depth, scaling):
    x1, x2 = _data()
    f, p = _case_net(1, act, bias, par, depth, scaling, width=6, sigma_w=1.3, sigma_b=0.7)
    for xb in (None, x2):  # Gram and cross-kernel
        s = sl.layer_ntk(f, p, x1, xb, method="structured")
        j = sl.layer_ntk(f, p, x1, xb, method="jacobian")
        jf = sl.layer_ntk(f, p, x1, xb, method="jacobian_fwd")
        assert list(s) == [f"layer_{i}" for i in range(depth)]
        for name in s:
            np.testing.assert_allclose(s[name], j[name], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(jf[name], j[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act,bias,par,depth,scaling", CASES[::2])
def test_sum_of_layers_is_full_ntk(act, bias, par, depth, scaling):
    """Paper Eq. 1: Σ_ℓ G^(ℓ) equals the NTK from one Jacobian w.r.t. all parameters."""
    x1, x2 = _data(seed=3)
    f, p = _case_net(2, act, bias, par, depth, scaling, width=5)
    total = sum(sl.layer_ntk(f, p, x1, x2).values())
    np.testing.assert_allclose(total, sl.full_ntk(f, p, x1, x2), rtol=1e-10, atol=1e-12)


def test_symmetric_psd():
    x1, _ = _data(n1=12)
    f, p = init_mlp(jax.random.key(4), 3, depth=4, width=8, activation="tanh", use_bias=True)
    for g in sl.layer_ntk(f, p, x1).values():
        np.testing.assert_allclose(g, g.T, rtol=0, atol=1e-13)
        assert np.linalg.eigvalsh(np.asarray(g)).min() > -1e-12 * np.abs(g).max()


@pytest.mark.parametrize("method", ["structured", "jacobian"])
@pytest.mark.parametrize("block_size", [1, 3, 7, 100])
def test_blocked_equals_unblocked(method, block_size):
    x1, x2 = _data(n1=7)
    f, p = init_mlp(jax.random.key(5), 3, depth=3, width=6, use_bias=True)
    for xb in (None, x2):
        full = sl.layer_ntk(f, p, x1, xb, method=method)
        blocked = sl.layer_ntk(f, p, x1, xb, method=method, block_size=block_size)
        for name in full:
            np.testing.assert_allclose(blocked[name], full[name], rtol=1e-13, atol=1e-14)


def test_seed_batch_equals_loop():
    x1, x2 = _data()
    f, ps = init_mlp_seeds(jax.random.key(6), 3, 3, depth=3, width=6, activation="erf")
    batched = sl.layer_ntk(f, ps, x1, x2, stacked=True)
    for s in range(3):
        _, p_s = init_mlp(
            jax.random.fold_in(jax.random.key(6), s), 3, depth=3, width=6, activation="erf"
        )
        single = sl.layer_ntk(f, p_s, x1, x2)
        for name in single:
            assert batched[name].shape == (3, 7, 5)
            np.testing.assert_allclose(batched[name][s], single[name], rtol=1e-12, atol=1e-14)


def test_float32_follows_inputs():
    x1, x2 = _data()
    f, p = init_mlp(jax.random.key(7), 3, depth=3, width=16, activation="gelu", dtype=jnp.float32)
    s = sl.layer_ntk(f, p, x1.astype(jnp.float32), x2.astype(jnp.float32))
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p)
    j = sl.layer_ntk(f, p64, x1, x2, method="jacobian")
    for name in s:
        assert s[name].dtype == jnp.float32
        assert _rel(s[name].astype(jnp.float64), j[name]) < 1e-5


def test_last_layer_is_feature_gram():
    """Closed form: for the readout layer (NTK param., no bias) G = s² H Hᵀ with H the last hidden features."""
    x1, _ = _data(n1=6)
    f, p = init_mlp(jax.random.key(8), 3, depth=3, width=9, activation="relu", sigma_w=2.0)
    h = jax.nn.relu(2.0 / np.sqrt(3) * x1 @ p["layer_0"]["kernel"])
    h = jax.nn.relu(2.0 / 3.0 * h @ p["layer_1"]["kernel"])
    np.testing.assert_allclose(sl.layer_ntk(f, p, x1)["layer_2"], 4.0 / 9 * h @ h.T, rtol=1e-12)


def test_generic_model_jacobian_path():
    """Any apply_fn with a dict of layer subtrees (here a hand-written conv-free model) works."""

    def apply_fn(params, x):
        h = jnp.tanh(x @ params["layer_0"]["w"])
        return (h * params["layer_1"]["scale"][None, :]).sum(-1)

    params = {"layer_0": {"w": jnp.ones((3, 4)) * 0.3}, "layer_1": {"scale": jnp.arange(4.0)}}
    x1, _ = _data()
    g = sl.layer_ntk(apply_fn, params, x1)
    h = np.tanh(np.asarray(x1) @ np.full((3, 4), 0.3))
    np.testing.assert_allclose(g["layer_1"], h @ h.T, rtol=1e-12)
    j = sl.layer_ntk(apply_fn, params, x1, method="jacobian")
    assert list(g) == list(j) == ["layer_0", "layer_1"]
    # the structured engine covers any model (tests/spectral_layers/test_empirical_any_model.py)
    for name in g:
        np.testing.assert_allclose(g[name], j[name], rtol=1e-12, atol=1e-14)


def test_bad_inputs():
    f, p = init_mlp(jax.random.key(0), 3, depth=2, width=4)
    x = jnp.ones((4, 3))
    with pytest.raises(ValueError, match="x1"):
        sl.layer_ntk(f, p, jnp.ones(3))
    with pytest.raises(ValueError, match="in_dim"):
        sl.layer_ntk(f, p, jnp.ones((4, 5)))
    with pytest.raises(ValueError, match="non-empty"):
        sl.layer_ntk(f, p, jnp.ones((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sl.layer_ntk(f, p, x.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="x2"):
        sl.layer_ntk(f, p, x, jnp.full((2, 3), jnp.inf))
    with pytest.raises(ValueError, match="method"):
        sl.layer_ntk(f, p, x, method="magic")
    with pytest.raises(TypeError, match="params"):
        sl.layer_ntk(f, {"layer_0": jnp.ones(3)}, x)
    with pytest.raises(TypeError, match="params"):
        sl.layer_ntk(f, [1, 2], x)
    with pytest.raises(ValueError, match="block_size"):
        sl.layer_ntk(f, p, x, block_size=0)
    with pytest.raises(ValueError, match="activation"):
        init_mlp(jax.random.key(0), 3, depth=2, width=4, activation="swishy")
    with pytest.raises(ValueError, match="depth"):
        init_mlp(jax.random.key(0), 3, depth=0, width=4)
    with pytest.raises(ValueError, match="width"):
        init_mlp(jax.random.key(0), 3, depth=2, width=0)


def test_relative_frobenius_by_hand():
    from spectral_layers.empirical import relative_frobenius

    b = np.array([[3.0, 0.0], [0.0, 4.0]])  # ‖b‖_F = 5
    a = b + np.array([[0.0, 1.0], [1.0, 0.0]])  # ‖a − b‖_F = √2
    assert float(relative_frobenius(a, b)) == pytest.approx(np.sqrt(2) / 5, rel=1e-15)
    batch = relative_frobenius(np.stack([a, b]), np.stack([b, b]))
    np.testing.assert_allclose(batch, [np.sqrt(2) / 5, 0.0], rtol=1e-15)
    assert float(relative_frobenius(a.ravel(), b.ravel(), axis=None)) == pytest.approx(
        np.sqrt(2) / 5
    )
    assert np.isnan(
        relative_frobenius(a, np.zeros_like(b))
    )  # undefined, not a silent absolute error
    assert relative_frobenius(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32


def test_mlp_layer_features_give_the_jacobian_layer_grams():
    """``mlp_layer_features``' ``(H_ℓ, Δ_ℓ)`` rebuild each layer's weight Gram
    ``G^(ℓ) = s_ℓ² (H_ℓ H_ℓᵀ) ∘ (Δ_ℓ Δ_ℓᵀ)`` (``∂f/∂W_ℓ = s_ℓ H_ℓᵀ Δ_ℓ``) of ``layer_ntk(method="jacobian")``
    (per-layer Jacobians by ``jax.jacrev``: a second route); ``H_0 = x``, ``Δ_{L-1} = 1``."""
    f, p = init_mlp(jax.random.key(3), 3, depth=3, width=(6, 5), activation="tanh")
    x = jax.random.normal(jax.random.key(4), (7, 3))
    hs, deltas = sl.empirical.mlp_layer_features(f.spec, p, x)
    np.testing.assert_array_equal(hs[0], x)
    np.testing.assert_array_equal(deltas[-1], np.ones((7, 1)))
    ref = sl.layer_ntk(f, p, x, method="jacobian")
    for i, name in enumerate(ref):
        g = f.spec.weight_scale(i) ** 2 * (hs[i] @ hs[i].T) * (deltas[i] @ deltas[i].T)
        np.testing.assert_allclose(g, ref[name], rtol=1e-12, atol=1e-14)


def test_check_output_reads_the_per_example_output_shape():
    """``check_output`` / ``output_shape``: ``(n, *out)`` gives ``out``; a tuple of outputs, a value that
    is not per example, or integer outputs are rejected naming what was returned."""
    f, p = init_mlp(jax.random.key(0), 3, depth=2, width=4)
    x = jnp.ones((5, 3))
    assert sl.empirical.check_output(f, p, x) == ()
    assert sl.empirical.check_output(lambda q, z: jnp.stack([f(q, z)] * 3, -1), p, x) == (3,)
    with pytest.raises(ValueError, match="2 outputs"):
        sl.empirical.check_output(lambda q, z: (f(q, z), f(q, z)), p, x)
    with pytest.raises(ValueError, match="one value per example"):
        sl.empirical.check_output(lambda q, z: jnp.sum(f(q, z)), p, x)
    with pytest.raises(ValueError, match="floats"):
        sl.empirical.check_output(lambda q, z: f(q, z).astype(jnp.int32), p, x)
