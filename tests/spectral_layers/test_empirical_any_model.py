"""Per-layer NTK of user-written linen / NNX models: structured engine vs a brute-force Jacobian Gram.

Reference: ``jax.jacrev`` of ``apply_fn`` w.r.t. the whole params pytree, the leaves grouped by their module path
(every key but the last) here in the test, independently of ``spectral_layers.layers``; the Gram of a layer is
``Σ_{leaves} J J'ᵀ`` (paper Eq. 1). Everything in float64 (Flax's float32 parameters are cast).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spectral_layers as sl
from spectral_layers import empirical
from spectral_layers.models import init_mlp


def _f64(params):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)


def _key_name(k):
    return str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))


def _grouped_jacobian(apply_fn, params, x):
    """``{module path: J}`` with ``J`` of shape ``(n, P_module)`` from one jitted ``jacrev``."""
    flat, _ = jax.tree_util.tree_flatten_with_path(jax.jit(jax.jacrev(apply_fn))(params, x))
    out = {}
    for path, a in flat:
        name = "/".join(_key_name(k) for k in path[:-1]) or _key_name(path[-1])
        out.setdefault(name, []).append(np.asarray(a).reshape(x.shape[0], -1))
    return {name: np.concatenate(js, axis=1) for name, js in out.items()}


def brute_force(apply_fn, params, x1, x2):
    """``{module path: J1 J2ᵀ}``: ``jacrev`` over all params, leaves grouped by module path."""
    j1, j2 = _grouped_jacobian(apply_fn, params, x1), _grouped_jacobian(apply_fn, params, x2)
    return {name: j1[name] @ j2[name].T for name in j1}


def check_against_brute_force(apply_fn, params, x1, x2, names, **kwargs):
    j1, j2 = _grouped_jacobian(apply_fn, params, x1), _grouped_jacobian(apply_fn, params, x2)
    got = sl.layer_ntk(apply_fn, params, x1, x2, **kwargs)
    got_sym = sl.layer_ntk(apply_fn, params, x1, **kwargs)
    assert list(got) == list(got_sym) == names
    assert set(j1) == set(names)
    for name in names:
        ref, ref_sym = j1[name] @ j2[name].T, j1[name] @ j1[name].T
        scale = np.abs(ref_sym).max()
        np.testing.assert_allclose(got[name], ref, rtol=1e-10, atol=1e-10 * scale)
        np.testing.assert_allclose(got_sym[name], ref_sym, rtol=1e-10, atol=1e-10 * scale)
    return got


def _images(n, seed, shape=(8, 8, 4)):
    return jax.random.normal(jax.random.key(seed), (n, *shape))


# ----------------------------------------------------------------------------------------------------------
# models


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in (6, 5):
            x = nn.gelu(nn.Dense(width)(x))
        return nn.Dense(1)(x)[:, 0]


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(6, (3, 3), strides=2, padding="SAME")(x))
        x = jnp.tanh(nn.Conv(4, (2, 3), padding="VALID", feature_group_count=2)(x))
        x = nn.Conv(4, (3, 3), kernel_dilation=2, padding=1, use_bias=False)(x)
        return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Dense(5)(nn.LayerNorm()(x))
        return x + nn.Dense(x.shape[-1])(nn.gelu(h))


class Residual(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Dense(4)(x)
        x = Block()(x)
        return nn.Dense(1)(nn.RMSNorm()(x))[:, 0]


class Misordered(nn.Module):
    """Module names that do not sort into call order (explicit ``b`` before ``a``; ``Conv_1`` before ``Dense_0``)."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(3, (3, 3), strides=2)(x))
        x = nn.relu(nn.Conv(3, (3, 3), strides=2)(x))
        x = nn.relu(nn.Dense(4, name="b")(x.reshape(x.shape[0], -1)))
        x = nn.relu(nn.Dense(3, name="a")(x))
        return nn.Dense(1)(x)[:, 0]


def _linen(module, x, seed=0):
    params = _f64(module.init(jax.random.key(seed), x)["params"])

    def apply_fn(p, x):
        return module.apply({"params": p}, x)

    return apply_fn, params


class NNXMLP(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List(
            [nnx.Linear(3, 6, rngs=rngs), nnx.Linear(6, 5, rngs=rngs), nnx.Linear(5, 1, rngs=rngs)]
        )

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


class NNXCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(4, 6, (3, 3), strides=2, rngs=rngs)
        self.norm = nnx.LayerNorm(6, rngs=rngs)
        self.conv2 = nnx.Conv(6, 4, (3, 3), padding="VALID", feature_group_count=2, rngs=rngs)
        self.head = nnx.Linear(4 * 2 * 2, 1, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.norm(self.conv1(x)))
        x = nnx.gelu(self.conv2(x))
        return self.head(x.reshape(x.shape[0], -1))


# ----------------------------------------------------------------------------------------------------------
# Grams equal the brute-force Jacobian Gram


def test_linen_mlp():
    x1, x2 = (
        jax.random.normal(jax.random.key(1), (6, 3)),
        jax.random.normal(jax.random.key(2), (4, 3)),
    )
    apply_fn, params = _linen(LinenMLP(), x1)
    check_against_brute_force(apply_fn, params, x1, x2, ["Dense_0", "Dense_1", "Dense_2"])


@pytest.mark.slow
def test_linen_cnn():
    """Stride 2 SAME, VALID with feature groups, dilation with explicit padding; both Gram strategies."""
    x1, x2 = _images(5, 3, (12, 12, 4)), _images(4, 4, (12, 12, 4))
    apply_fn, params = _linen(LinenCNN(), x1)
    names = ["Conv_0", "Conv_1", "Conv_2", "Dense_0"]
    got = check_against_brute_force(apply_fn, params, x1, x2, names)
    for strategy in ("identity", "explicit"):
        forced, consts, leaves = empirical._engine_for(apply_fn, params, x1, strategy=strategy)
        assert not forced.plan.fallback
        out = forced.fn(consts, leaves, x1, x2)
        for name in names:
            np.testing.assert_allclose(out[name], got[name], rtol=1e-10, atol=1e-12)


def test_residual_block_with_layernorm():
    x1, x2 = (
        jax.random.normal(jax.random.key(5), (5, 3)),
        jax.random.normal(jax.random.key(6), (3, 3)),
    )
    apply_fn, params = _linen(Residual(), x1)
    names = [
        "Dense_0",
        "Block_0/LayerNorm_0",
        "Block_0/Dense_0",
        "Block_0/Dense_1",
        "RMSNorm_0",
        "Dense_1",
    ]
    check_against_brute_force(apply_fn, params, x1, x2, names)


def test_nnx_mlp_in_a_list():
    apply_fn, params = sl.from_nnx(NNXMLP(nnx.Rngs(0)))
    assert isinstance(apply_fn, sl.layers.NNXApply)
    params = _f64(params)
    x1, x2 = (
        jax.random.normal(jax.random.key(7), (5, 3)),
        jax.random.normal(jax.random.key(8), (4, 3)),
    )
    check_against_brute_force(apply_fn, params, x1, x2, ["layers/0", "layers/1", "layers/2"])


@pytest.mark.slow
def test_nnx_cnn():
    apply_fn, params = sl.from_nnx(NNXCNN(nnx.Rngs(1)))
    params = _f64(params)
    x1, x2 = _images(4, 9), _images(3, 10)
    check_against_brute_force(apply_fn, params, x1, x2, ["conv1", "norm", "conv2", "head"])


def test_uncovered_parameter_falls_back_with_warning():
    """``tanh(W)`` and a weight used twice: no rule applies, those layers use per-example gradients."""

    def apply_fn(p, x):
        h = jnp.tanh(x @ jnp.tanh(p["odd"]["w"]) + p["dense"]["b"][None, :])
        h = jnp.sin(h @ p["tied"]["w"]) @ p["tied"]["w"].T  # used twice
        return (h * p["scale"]["s"][None, :]).sum(-1)

    k = jax.random.split(jax.random.key(11), 4)
    params = {
        "odd": {"w": jax.random.normal(k[0], (3, 4))},
        "dense": {"b": jax.random.normal(k[1], (4,))},
        "tied": {"w": jax.random.normal(k[2], (4, 5))},
        "scale": {"s": jax.random.normal(k[3], (4,))},
    }
    x1, x2 = (
        jax.random.normal(jax.random.key(12), (5, 3)),
        jax.random.normal(jax.random.key(13), (4, 3)),
    )
    with pytest.warns(sl.FallbackWarning, match=r"\['odd', 'tied'\]"):
        check_against_brute_force(apply_fn, params, x1, x2, ["odd", "dense", "tied", "scale"])


def test_scaled_parameter_is_exact():
    """``2 * W`` before a product is a ``mul`` rule (explicit gradients): exact, no fallback."""

    def apply_fn(p, x):
        return jnp.tanh(x @ (2.0 * p["w"]) + p["b"][None, :]).sum(-1)

    params = {"w": jax.random.normal(jax.random.key(14), (3, 4)), "b": jnp.ones(4)}
    x1, x2 = (
        jax.random.normal(jax.random.key(15), (5, 3)),
        jax.random.normal(jax.random.key(16), (2, 3)),
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.FallbackWarning)
        check_against_brute_force(apply_fn, params, x1, x2, ["w", "b"])


# ----------------------------------------------------------------------------------------------------------
# layer order and grouping


def test_call_order_not_name_order():
    x = _images(3, 17, (9, 9, 2))
    apply_fn, params = _linen(Misordered(), x)
    names = ["Conv_0", "Conv_1", "b", "a", "Dense_0"]
    assert sl.layer_names(apply_fn, params, x) == names
    g = sl.layer_ntk(apply_fn, params, x)
    assert list(g) == names
    y = jax.random.normal(jax.random.key(18), (3,))
    c = sl.layer_contributions(apply_fn, params, x, y)
    assert list(c) == names
    for name in names:  # c_ℓ = yᵀ G^(ℓ) y (appendix §13)
        np.testing.assert_allclose(c[name], y @ g[name] @ y, rtol=1e-10)
    assert list(sl.layer_ratios(c)) == names  # reference: the last layer in call order
    res = sl.train_layers(apply_fn, params, x, y, layers=-1, learning_rate=0.1, steps=2)
    assert res.layers == ("Dense_0",)
    for name in ("Conv_0", "Conv_1", "a", "b"):
        assert res.params[name]["kernel"] is params[name]["kernel"]
    assert not np.allclose(res.params["Dense_0"]["kernel"], params["Dense_0"]["kernel"])


def test_group_merges_layers():
    x1 = jax.random.normal(jax.random.key(19), (4, 3))
    apply_fn, params = _linen(Residual(), x1)
    g = sl.layer_ntk(apply_fn, params, x1, group=lambda path: path.split("/")[0])
    assert list(g) == ["Dense_0", "Block_0", "RMSNorm_0", "Dense_1"]
    ref = brute_force(apply_fn, params, x1, x1)
    block = sum(ref[k] for k in ref if k.startswith("Block_0/"))
    np.testing.assert_allclose(g["Block_0"], block, rtol=1e-10)


def test_init_mlp_through_the_engine_equals_mlp_path():
    """``init_mlp`` networks go through the same engine; the dedicated MLP identity is the reference."""
    f, p = init_mlp(jax.random.key(20), 3, depth=3, width=5, use_bias=True, activation="tanh")
    x1, x2 = (
        jax.random.normal(jax.random.key(21), (5, 3)),
        jax.random.normal(jax.random.key(22), (4, 3)),
    )
    got = sl.layer_ntk(f, p, x1, x2)
    ref = empirical.mlp_grams(f.spec, p, x1, x2)
    assert list(got) == list(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------------------------------------
# seeds, blocks, shapes


@pytest.mark.slow
def test_stacked_seeds_equal_loop_and_blocks():
    x1, x2 = _images(5, 23, (12, 12, 4)), _images(3, 24, (12, 12, 4))
    module = LinenCNN()
    seeds = [_f64(module.init(jax.random.key(s), x1)["params"]) for s in range(3)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *seeds)

    def apply_fn(p, x):
        return module.apply({"params": p}, x)

    batched = sl.layer_ntk(apply_fn, stacked, x1, x2, stacked=True)
    blocked = sl.layer_ntk(apply_fn, seeds[1], x1, x2, block_size=2)
    for s, p in enumerate(seeds):
        single = sl.layer_ntk(apply_fn, p, x1, x2)
        for name in single:
            assert batched[name].shape == (3, 5, 3)
            np.testing.assert_allclose(batched[name][s], single[name], rtol=1e-12, atol=1e-14)
            if s == 1:
                np.testing.assert_allclose(blocked[name], single[name], rtol=1e-12, atol=1e-14)


def test_float32_params_follow_float64_inputs():
    x = jax.random.normal(jax.random.key(25), (4, 3))
    module = LinenMLP()
    params32 = module.init(jax.random.key(0), x)["params"]

    def apply_fn(p, x):
        return module.apply({"params": p}, x)

    g = sl.layer_ntk(apply_fn, params32, x)
    ref = sl.layer_ntk(apply_fn, _f64(params32), x, method="jacobian")
    for name in ref:
        assert g[name].dtype == jnp.float64
        np.testing.assert_allclose(g[name], ref[name], rtol=1e-10, atol=1e-12)


def test_bad_model_output():
    params = {"w": jnp.ones((3, 2))}
    with pytest.raises(ValueError, match="one value per example"):
        sl.layer_ntk(lambda p, x: (x @ p["w"]).sum(), params, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="one array"):
        sl.layer_ntk(lambda p, x: (x @ p["w"], x), params, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="example axis 0"):
        sl.layer_ntk(lambda p, x: x @ p["w"], params, jnp.ones((4, 3)), trace_axes=(0,))
    with pytest.raises(ValueError, match="x2"):
        sl.layer_ntk(lambda p, x: (x @ p["w"]).sum(-1), params, jnp.ones((4, 3)), jnp.ones((4, 2)))
    with pytest.raises(TypeError, match="group"):
        sl.layer_ntk(lambda p, x: (x @ p["w"]).sum(-1), params, jnp.ones((4, 3)), group=3)
