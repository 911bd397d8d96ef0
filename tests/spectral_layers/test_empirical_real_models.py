"""The engine on what real models do: several outputs, shared noise, compiler fusions, Flax idioms.

References are independent of the engine: ``jax.jacrev`` of ``apply_fn`` on the whole batch w.r.t. all
parameters, leaves grouped by module path here in the test (as ``test_any_model.brute_force``), contracted
with ``einsum`` over the output axes (neural-tangents' conventions, with a sum over traced axes).
"""

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spectral_layers as sl
from spectral_layers import _structured, empirical


def _key_name(k):
    return str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))


def jacobians(apply_fn, params, x):
    """``{module path: J}``, ``J`` of shape ``(n, *out, P_module)`` from one ``jacrev`` of the batch."""
    out_ndim = jax.eval_shape(apply_fn, params, x).ndim
    flat, _ = jax.tree_util.tree_flatten_with_path(jax.jit(jax.jacrev(apply_fn))(params, x))
    groups = {}
    for path, a in flat:
        name = "/".join(_key_name(k) for k in path[:-1]) or _key_name(path[-1])
        a = np.asarray(a, np.float64)
        groups.setdefault(name, []).append(a.reshape(*a.shape[:out_ndim], -1))
    return {name: np.concatenate(js, axis=-1) for name, js in groups.items()}


def assert_is_jacobian_gram(got, apply_fn, params, x):
    """Every layer's kernel in ``got`` (scalar outputs) is ``J Jᵀ`` of that layer's ``jacobians``."""
    j = jacobians(apply_fn, params, x)
    for name, g in got.items():
        np.testing.assert_allclose(g, j[name] @ j[name].T, rtol=1e-10, atol=1e-12)


EINSUM = {"trace": "icp,jcp->ij", "full": "icp,jdp->ijcd", "diagonal": "icp,jcp->ijc"}
KWARGS = {
    "trace": {},
    "full": {"trace_axes": ()},
    "diagonal": {"trace_axes": (), "diagonal_axes": (-1,)},
}


class MixerHead(nn.Module):
    """The head of an MLP-Mixer (google-research/vision_transformer ``models_mixer.py``): LayerNorm, mean
    over tokens, Dense to ``num_classes`` with zero-initialised kernel, on top of a patch embedding."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(16, (4, 4), strides=(4, 4), name="stem")(x)
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        x = nn.LayerNorm(name="pre_head_layer_norm")(x)
        x = jnp.mean(x, axis=1)
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, name="head")(x)


def _mixer(n, seed=0):
    model = MixerHead()
    x = jax.random.normal(jax.random.key(seed), (n, 16, 16, 3))
    params = model.init(jax.random.key(1), x)["params"]
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    return model, params, x


@pytest.mark.slow
def test_summed_logits_head_is_right_at_n_128():
    """The 10x error of jaxlib 0.10.2's CPU fusion (a dot of two broadcast ones computed as 1, not C)
    fired at n >= 64 on this head; the engine's factors go through an optimization barrier."""
    model, params, x = _mixer(128)

    def apply_fn(p, x):
        return model.apply({"params": p}, x).sum(-1)

    got = sl.layer_ntk(apply_fn, params, x)
    j = jacobians(apply_fn, params, x)
    for name, g in got.items():
        ref = j[name] @ j[name].T
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("mode", ["trace", "full", "diagonal"])
def test_logits_kernels_match_the_jacobian(mode):
    model, params, x1 = _mixer(9)
    x2 = jax.random.normal(jax.random.key(7), (5, 16, 16, 3))
    params["head"]["kernel"] = jax.random.normal(jax.random.key(3), (16, 10))

    def apply_fn(p, x):
        return model.apply({"params": p}, x)

    got = sl.layer_ntk(apply_fn, params, x1, x2, **KWARGS[mode])
    j1, j2 = jacobians(apply_fn, params, x1), jacobians(apply_fn, params, x2)
    assert list(got) == ["stem", "pre_head_layer_norm", "head"]
    for name, g in got.items():
        ref = np.einsum(EINSUM[mode], j1[name], j2[name])
        assert g.shape == ref.shape
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    full = sl.full_ntk(apply_fn, params, x1, x2, **KWARGS[mode])
    np.testing.assert_allclose(sum(got.values()), full, rtol=1e-10, atol=1e-10 * np.abs(full).max())


def test_sequence_outputs_keep_untraced_axes_in_pairs():
    """Outputs ``(n, T, V)``: tracing ``V`` leaves ``(n1, n2, T, T)``; a diagonal ``T`` leaves ``(n1, n2, T)``."""
    w = {
        "a": jax.random.normal(jax.random.key(0), (3, 4)),
        "b": jax.random.normal(jax.random.key(1), (4, 5)),
    }

    def apply_fn(p, x):  # x: (n, T, 3) -> (n, T, 5)
        return jnp.tanh(x @ p["a"]) @ p["b"]

    x = jax.random.normal(jax.random.key(2), (6, 2, 3))
    j = jacobians(apply_fn, w, x)
    g = sl.layer_ntk(apply_fn, w, x)
    gd = sl.layer_ntk(apply_fn, w, x, diagonal_axes=(1,))
    for name in ("a", "b"):
        np.testing.assert_allclose(
            g[name], np.einsum("itvp,jsvp->ijts", j[name], j[name]), atol=1e-12
        )
        np.testing.assert_allclose(
            gd[name], np.einsum("itvp,jtvp->ijt", j[name], j[name]), atol=1e-12
        )


class NoisyEncoder(nn.Module):
    """The Flax VAE's reparametrisation (google/flax ``examples/vae/models.py``): ``z = μ + σ ε`` with ε
    drawn for the whole batch from one key, shrunk."""

    @nn.compact
    def __call__(self, x, z_rng, eps=None):
        h = nn.relu(nn.Dense(8, name="fc1")(x))
        mean, logvar = nn.Dense(3, name="fc2_mean")(h), nn.Dense(3, name="fc2_logvar")(h)
        if eps is None:
            eps = jax.random.normal(z_rng, logvar.shape)
        z = mean + eps * jnp.exp(0.5 * logvar)
        return nn.Dense(4, name="fc_out")(z).sum(-1)


def test_batch_shaped_noise_raises_and_per_example_noise_is_exact():
    model = NoisyEncoder()
    x = jax.random.normal(jax.random.key(0), (16, 5))
    key = jax.random.key(4)
    params = jax.tree.map(jnp.float64, model.init(jax.random.key(1), x, key)["params"])
    with pytest.raises(sl.KernelCheckError, match="examples interact"):
        sl.layer_ntk(lambda p, x: model.apply({"params": p}, x, key), params, x)
    # the remedy: the noise is a per-example input
    eps = jax.random.normal(key, (16, 3))

    def apply_fn(p, xe):
        return model.apply({"params": p}, xe[0], None, xe[1])

    got = sl.layer_ntk(apply_fn, params, (x, eps))
    assert_is_jacobian_gram(got, apply_fn, params, (x, eps))


def test_batch_statistics_raise():
    class BN(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(nn.BatchNorm(use_running_average=False)(nn.Dense(4)(x)))[:, 0]

    model = BN()
    x = jax.random.normal(jax.random.key(0), (8, 3))
    variables = model.init(jax.random.key(1), x)

    def apply_fn(p, x):
        return model.apply(
            {"params": p, "batch_stats": variables["batch_stats"]}, x, mutable=["batch_stats"]
        )[0]

    with pytest.raises(sl.KernelCheckError, match="BatchNorm"):
        sl.layer_ntk(apply_fn, variables["params"], x)


def test_a_wrong_gram_raises_naming_the_layer(monkeypatch):
    """The entries check recomputes ⟨∇f(x_i), ∇f(x_j)⟩ by plain autodiff: a rule error cannot pass."""
    model, params, x = _mixer(12)
    combine = _structured._combine

    def wrong(left, right, axes):
        out = combine(left, right, axes)
        return 10 * out if left[0].shape[-1] == 10 else out  # the head's factors only (o = 10)

    monkeypatch.setattr(_structured, "_combine", wrong)
    empirical._ENGINES.clear()
    with pytest.raises(sl.KernelCheckError, match="'head'"):
        sl.layer_ntk(lambda p, x: model.apply({"params": p}, x).sum(-1), params, x)
    empirical._ENGINES.clear()


class TokenModel(nn.Module):
    @nn.compact
    def __call__(self, batch):
        tokens, mask = batch
        assert jnp.issubdtype(tokens.dtype, jnp.integer)
        h = nn.Embed(11, 4, name="embed")(tokens) * mask[..., None]
        return nn.Dense(3, name="out")(h.mean(1))


def test_integer_and_pytree_inputs():
    tokens = jax.random.randint(jax.random.key(0), (7, 5), 0, 11)
    mask = (jax.random.uniform(jax.random.key(1), (7, 5)) > 0.3).astype(jnp.float64)
    model = TokenModel()
    params = jax.tree.map(jnp.float64, model.init(jax.random.key(2), (tokens, mask))["params"])

    def apply_fn(p, b):
        return model.apply({"params": p}, b)

    with pytest.warns(sl.FallbackWarning, match="embed"):
        got = sl.layer_ntk(apply_fn, params, (tokens, mask))
    j = jacobians(apply_fn, params, (tokens, mask))
    assert list(got) == ["embed", "out"]
    for name, g in got.items():
        ref = np.einsum("icp,jcp->ij", j[name], j[name])
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="leading example axis"):
        sl.layer_ntk(apply_fn, params, (tokens, mask[:3]))


def test_boxed_params_are_unboxed_and_layers_stay_modules():
    init = nn.with_logical_partitioning(nn.initializers.lecun_normal(), ("embed", "mlp"))

    class Boxed(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(4, kernel_init=init, name="wi")(x))
            return nn.Dense(1, kernel_init=init, name="wo")(x)[:, 0]

    model = Boxed()
    x = jax.random.normal(jax.random.key(0), (5, 3))
    params = model.init(jax.random.key(1), x)["params"]
    assert isinstance(params["wi"]["kernel"], nn.LogicallyPartitioned)
    got = sl.layer_ntk(lambda p, x: model.apply({"params": p}, x), params, x)
    assert list(got) == ["wi", "wo"]
    ref = sl.layer_ntk(lambda p, x: model.apply({"params": p}, x), nn.unbox(params), x)
    for name in got:
        np.testing.assert_array_equal(got[name], ref[name])


def _scan_lstm(cell_type):
    class Encoder(nn.Module):
        @nn.compact
        def __call__(self, x):
            cell = nn.scan(
                cell_type,
                variable_broadcast="params",
                split_rngs={"params": False},
                in_axes=1,
                out_axes=1,
            )(5, param_dtype=jnp.float64)
            carry = cell.initialize_carry(jax.random.key(0), x[:, 0].shape)
            _, ys = cell(carry, x)
            return nn.Dense(1)(ys[:, -1])[:, 0]

    return Encoder()


@pytest.mark.parametrize(
    ("cell_type", "order"),
    [
        (nn.LSTMCell, ["ii", "hi", "if", "hf", "ig", "hg", "io", "ho"]),
        (nn.OptimizedLSTMCell, ["hi", "hf", "hg", "ho", "ii", "if", "ig", "io"]),
    ],
)
def test_call_order_inside_scan(cell_type, order):
    """Flax's ``LSTMCell`` calls ``ii`` then ``hi`` for each gate; ``OptimizedLSTMCell`` concatenates the
    hidden kernels ``hi, hf, hg, ho`` first (flax/linen/recurrent.py). Biases are reshaped outside the scan
    body: their use inside it decides the order."""
    model = _scan_lstm(cell_type)
    x = jax.random.normal(jax.random.key(0), (6, 4, 3))
    params = jax.tree.map(jnp.float64, model.init(jax.random.key(1), x)["params"])
    prefix = f"Scan{cell_type.__name__}_0/"

    def apply_fn(p, x):
        return model.apply({"params": p}, x)

    with pytest.warns(sl.FallbackWarning):
        got = sl.layer_ntk(apply_fn, params, x)
    assert list(got) == [prefix + o for o in order] + ["Dense_0"]
    assert_is_jacobian_gram(got, apply_fn, params, x)


def test_remat_is_transparent():
    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x + nn.Dense(4, name="mlp_out")(
                nn.gelu(nn.Dense(6, name="mlp_in")(nn.LayerNorm(name="ln")(x)))
            )

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            for i in range(2):
                x = nn.remat(Block)(name=f"block{i}")(x)
            return nn.Dense(3, name="head")(x)

    model = Model()
    x = jax.random.normal(jax.random.key(0), (5, 4))
    params = model.init(jax.random.key(1), x)["params"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.FallbackWarning)
        got = sl.layer_ntk(lambda p, x: model.apply({"params": p}, x), params, x)
    names = [f"block{i}/{m}" for i in range(2) for m in ("ln", "mlp_in", "mlp_out")] + ["head"]
    assert list(got) == names


def test_fresh_closures_share_one_compilation_and_keep_their_constants():
    """Engines are keyed by the traced program; captured arrays are arguments, not baked in."""
    x = jax.random.normal(jax.random.key(0), (6, 3))
    params = {"w": jax.random.normal(jax.random.key(1), (3, 2))}
    empirical._ENGINES.clear()
    results = []
    for scale in (1.0, 2.0):
        s = jnp.full((2,), scale)  # a captured array: a constant of the program
        results.append(
            sl.layer_ntk(lambda p, x, s=s: jnp.tanh(x @ p["w"]) * s[None, :], params, x)["w"]
        )
    assert len(empirical._ENGINES) == 1
    np.testing.assert_allclose(results[1], 4 * results[0], rtol=1e-12)


def test_custom_jvp_rules_are_part_of_the_program():
    """Two functions of one name and primal but different derivative rules are different programs."""

    def make(slope):
        @jax.custom_jvp
        def act(z):
            return jnp.maximum(z, 0.0)

        @act.defjvp
        def _(primals, tangents):
            (z,), (t,) = primals, tangents
            return act(z), jnp.where(z > 0, slope, 0.0) * t

        return act

    x = jax.random.normal(jax.random.key(0), (6, 3))
    params = {"w": jax.random.normal(jax.random.key(1), (3, 2))}
    one = sl.layer_ntk(lambda p, x: make(1.0)(x @ p["w"]).sum(-1), params, x, check=False)["w"]
    three = sl.layer_ntk(lambda p, x: make(3.0)(x @ p["w"]).sum(-1), params, x, check=False)["w"]
    assert not np.allclose(one, three)


def test_low_precision_module_warns():
    class Half(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1, dtype=jnp.float32)(x)[:, 0]

    model = Half()
    x = jax.random.normal(jax.random.key(0), (4, 3))
    params = model.init(jax.random.key(1), x)["params"]
    with pytest.warns(sl.PrecisionWarning, match="float32"):
        sl.layer_ntk(lambda p, x: model.apply({"params": p}, x), params, x)


def test_multi_output_contributions_and_diagonals():
    model, params, x = _mixer(8)
    params["head"]["kernel"] = jax.random.normal(jax.random.key(3), (16, 10))

    def apply_fn(p, x):
        return model.apply({"params": p}, x)

    y = jax.random.normal(jax.random.key(5), (2, 8, 10))
    full = sl.layer_ntk(apply_fn, params, x, trace_axes=())
    traced = sl.layer_ntk(apply_fn, params, x)
    c = sl.layer_contributions(apply_fn, params, x, y)
    d = sl.contributions.layer_gram_diagonals(apply_fn, params, x)
    for name, g in full.items():
        ref = np.einsum("tic,ijcd,tjd->t", y, g, y)
        np.testing.assert_allclose(c[name], ref, rtol=1e-10)
        np.testing.assert_allclose(d[name], np.diag(traced[name]), rtol=1e-10)
    with pytest.raises(ValueError, match=r"\(n, \*out\)"):
        sl.layer_contributions(apply_fn, params, x, y[0, :, 0])


def test_infinite_width_with_outputs_is_the_limit_of_wide_logits():
    """``infinite_layer_ntk(num_outputs=C)`` is ``κ ⊗ I_C``: wide networks with ``C`` outputs converge to it,
    every layer and every pair of outputs (the off-diagonal output pairs to zero).

    Tolerance: one seed deviates by about ``c/sqrt(width)`` in relative Frobenius norm with ``c ≈ 3.4``
    (ReLU, depth 3: ``test_infinite.test_wide_networks_converge_to_infinite_width``), so the mean of ``s``
    seeds by ``c/sqrt(width·s)``; the test allows twice that. A wrong factor (``C``, a missing ``I_C``) is
    an O(1) error.
    """
    width, classes, seeds = 1024, 3, 4
    spec = sl.models.MLPSpec(in_dim=4, widths=(width, width, classes))
    model = sl.models.MLP(spec, param_dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(0), (6, 4))
    keys = jax.random.split(jax.random.key(1), seeds)
    params = jax.vmap(lambda k: model.init(k, x)["params"])(keys)
    finite = sl.layer_ntk(
        lambda p, x: model.apply({"params": p}, x), params, x, trace_axes=(), stacked=True
    )
    net = sl.Network(depth=3)
    full = sl.infinite_layer_ntk(x, network=net, num_outputs=classes, trace_axes=())
    traced = sl.infinite_layer_ntk(x, network=net, num_outputs=classes)
    diagonal = sl.infinite_layer_ntk(
        x, network=net, num_outputs=classes, trace_axes=(), diagonal_axes=(-1,)
    )
    kappa = sl.infinite_layer_ntk(x, network=net)
    tol = 2 * 3.4 / np.sqrt(width * seeds)
    for name in kappa:
        np.testing.assert_allclose(traced[name], classes * kappa[name], rtol=1e-12)
        np.testing.assert_allclose(diagonal[name], np.repeat(kappa[name][..., None], classes, -1))
        assert full[name].shape == (6, 6, classes, classes)
        mean = np.mean(finite[name], axis=0)
        err = np.linalg.norm(mean - full[name]) / np.linalg.norm(full[name])
        assert err < tol, (name, err, tol)


def test_call_order_inside_cond():
    """Parameters used inside both branches of ``lax.cond`` are ordered as the branches use them."""
    params = {"b": jnp.ones((3, 3)), "a": jnp.ones((3, 1))}

    def apply_fn(p, x):
        h = jax.lax.cond(x.sum() > 0, lambda h: jnp.tanh(h @ p["b"]), lambda h: h @ p["b"], x)
        return (h @ p["a"])[:, 0]

    assert sl.layer_names(apply_fn, params, jnp.ones((2, 3))) == ["b", "a"]
