"""Tests for layer-isolated training and its kernel prediction (paper §5.7, appendix §12)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from spectral_layers.empirical import full_ntk, layer_ntk
from spectral_layers.models import init_mlp
from spectral_layers.training import (
    KernelTrack,
    TrainResult,
    halving_time,
    logged_steps,
    predict_residuals,
    project_residual,
    residual_components,
    resolve_layers,
    train_layers,
    trained_gram,
)
from tests._typecheck import unchecked

N, D = 16, 3


def _data(n=N, d=D, seed=1):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jnp.sin(2.0 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * jax.random.normal(ky, (n,))
    return x, y


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------------------------
# freezing (the depth-3 network and run length are shared with the exact last-layer test below, so
# the compiled loop is reused)


def _depth3_net():
    return init_mlp(jax.random.key(0), D, depth=3, width=16, use_bias=True)


@pytest.mark.parametrize("layers", ["layer_0", "layer_1", "layer_2", ("layer_0", "layer_2")])
def test_frozen_layers_bit_identical_and_trained_layers_change(layers):
    x, y = _data()
    apply_fn, params = _depth3_net()
    res = train_layers(
        apply_fn, params, x, y, layers=layers, learning_rate=0.1, steps=30, log_every=5
    )
    trained = (layers,) if isinstance(layers, str) else layers
    assert res.layers == trained
    assert list(res.params) == list(params)
    for name, sub in params.items():
        for leaf, value in sub.items():
            same = _bits_equal(res.params[name][leaf], value)
            if name in trained:
                assert not same, f"{name}/{leaf} was trained but did not change"
            else:
                assert same, f"{name}/{leaf} is frozen but changed"
    assert res.losses[-1] < res.losses[0]


def test_resolve_layers():
    _, params = _depth3_net()
    assert resolve_layers(params) == ("layer_0", "layer_1", "layer_2")
    assert resolve_layers(params, "all") == ("layer_0", "layer_1", "layer_2")
    assert resolve_layers(params, [-1, "layer_0", 0]) == ("layer_0", "layer_2")
    assert resolve_layers(params, np.int64(1)) == ("layer_1",)


def test_logged_steps():
    np.testing.assert_array_equal(logged_steps(7, 3), [0, 3, 6, 7])
    np.testing.assert_array_equal(logged_steps(6, 3), [0, 3, 6])
    np.testing.assert_array_equal(logged_steps(2, 10), [0, 2])
    np.testing.assert_array_equal(logged_steps(3, 1), [0, 1, 2, 3])


# ------------------------------------------------------------------------------------------------
# hand-written reference: depth-2 NTK-parameterised ReLU network with biases,
#   z = x W / sqrt(d) + σ_b b,  h = relu(z),  f = h v / sqrt(m) + σ_b c     (models.py docstring)
# and the gradient of L = 1/(2n) Σ (f − y)² derived by hand (chain rule, no autodiff).

SIGMA_B = 0.5


def _np_params(params):
    return {k: {kk: np.asarray(vv) for kk, vv in v.items()} for k, v in params.items()}


def _np_forward(p, x):
    d, m = p["layer_0"]["kernel"].shape
    z = x @ p["layer_0"]["kernel"] / np.sqrt(d) + SIGMA_B * p["layer_0"]["bias"]
    h = np.maximum(z, 0.0)
    f = (h @ p["layer_1"]["kernel"])[:, 0] / np.sqrt(m) + SIGMA_B * p["layer_1"]["bias"][0]
    return z, h, f


def _np_grads(p, x, y):
    d, m = p["layer_0"]["kernel"].shape
    n = x.shape[0]
    z, h, f = _np_forward(p, x)
    g_f = (f - y) / n  # dL/df
    g_z = (g_f[:, None] * p["layer_1"]["kernel"][:, 0][None, :] / np.sqrt(m)) * (z > 0)
    return {
        "layer_0": {"kernel": x.T @ g_z / np.sqrt(d), "bias": SIGMA_B * g_z.sum(0)},
        "layer_1": {
            "kernel": (h.T @ g_f / np.sqrt(m))[:, None],
            "bias": np.array([SIGMA_B * g_f.sum()]),
        },
    }


def _tiny_net():
    return init_mlp(jax.random.key(3), D, depth=2, width=8, use_bias=True, sigma_b=SIGMA_B)


@pytest.mark.parametrize("layers", ["layer_0", "layer_1", None])
def test_gd_equals_hand_written_update(layers):
    x, y = _data()
    apply_fn, params = _tiny_net()
    lr, steps = 0.3, 3
    res = train_layers(apply_fn, params, x, y, layers=layers, learning_rate=lr, steps=steps)
    trained = ("layer_0", "layer_1") if layers is None else (layers,)
    p = _np_params(params)
    xn, yn = np.asarray(x), np.asarray(y)
    np.testing.assert_allclose(res.outputs[0], _np_forward(p, xn)[2], rtol=0, atol=1e-13)
    for t in range(1, steps + 1):
        g = _np_grads(p, xn, yn)
        for name in trained:  # θ ← θ − η ∇_θ L for the trained layers only
            p[name] = {k: p[name][k] - lr * g[name][k] for k in p[name]}
        np.testing.assert_allclose(res.outputs[t], _np_forward(p, xn)[2], rtol=0, atol=1e-13)
    for name in p:
        for k in p[name]:
            np.testing.assert_allclose(res.params[name][k], p[name][k], rtol=0, atol=1e-13)
    f_final = _np_forward(p, xn)[2]
    np.testing.assert_allclose(res.losses[-1], 0.5 * np.mean((f_final - yn) ** 2), rtol=1e-12)


def _gd(layers=None, **kw):
    """The tiny network's reference run (3 GD steps, η = 0.3): shared compiled loop."""
    x, y = _data()
    apply_fn, params = _tiny_net()
    kw = {"learning_rate": 0.3, "steps": 3, **kw}
    return train_layers(apply_fn, params, x, y, layers=layers, **kw)


def test_adam_equals_hand_written_adam():
    # Adam, Kingma & Ba (2015) Algorithm 1 with optax.adam's defaults b1=0.9, b2=0.999, eps=1e-8.
    x, y = _data()
    apply_fn, params = _tiny_net()
    lr, steps, b1, b2, eps = 0.01, 3, 0.9, 0.999, 1e-8
    res = train_layers(
        apply_fn, params, x, y, layers="layer_0", optimizer="adam", learning_rate=lr, steps=steps
    )
    p = _np_params(params)
    xn, yn = np.asarray(x), np.asarray(y)
    mom = {k: np.zeros_like(v) for k, v in p["layer_0"].items()}
    vel = {k: np.zeros_like(v) for k, v in p["layer_0"].items()}
    for t in range(1, steps + 1):
        g = _np_grads(p, xn, yn)["layer_0"]
        new = {}
        for k, w in p["layer_0"].items():
            mom[k] = b1 * mom[k] + (1 - b1) * g[k]
            vel[k] = b2 * vel[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = mom[k] / (1 - b1**t), vel[k] / (1 - b2**t)
            new[k] = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        p["layer_0"] = new
        np.testing.assert_allclose(res.outputs[t], _np_forward(p, xn)[2], rtol=0, atol=1e-12)
    for leaf in ("kernel", "bias"):  # frozen under Adam too
        assert _bits_equal(res.params["layer_1"][leaf], params["layer_1"][leaf])


def test_custom_optax_transformation_equals_named_gd():
    a = _gd("layer_0")
    b = _gd("layer_0", optimizer=optax.sgd(0.3), learning_rate=None)
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=0, atol=1e-14)


def test_logged_outputs_and_losses():
    x, y = _data()
    apply_fn, params = _tiny_net()
    res = _gd(steps=7, log_every=3)
    np.testing.assert_array_equal(res.steps, [0, 3, 6, 7])
    assert res.outputs.shape == (4, N) and res.losses.shape == (4,)
    np.testing.assert_allclose(res.outputs[0], apply_fn(params, x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.outputs[-1], apply_fn(res.params, x), rtol=0, atol=1e-14)
    # L = 1/(2n) Σ (f − y)², computed directly
    np.testing.assert_allclose(
        res.losses, 0.5 * np.sum((np.asarray(res.outputs) - np.asarray(y)) ** 2, 1) / N, rtol=1e-13
    )
    # the log at step 3 equals the end of a separate 3-step run
    np.testing.assert_allclose(res.outputs[1], _gd().outputs[-1], rtol=0, atol=1e-14)


def test_deterministic_for_a_seed_and_key():
    kw = dict(optimizer="sgd", batch_size=4)
    a = _gd(key=jax.random.key(5), **kw)
    b = _gd(key=jax.random.key(5), **kw)
    c = _gd(key=jax.random.key(6), **kw)
    assert _bits_equal(a.outputs, b.outputs)
    assert not np.allclose(a.outputs[-1], c.outputs[-1])


def test_sgd_with_full_batch_equals_gd():
    # a minibatch of all n points is a permutation of the data: same gradient up to summation order
    sgd = _gd(optimizer="sgd", batch_size=N, key=jax.random.key(0))
    np.testing.assert_allclose(sgd.outputs, _gd().outputs, rtol=0, atol=1e-13)


@pytest.mark.parametrize(("optimizer", "batch_size", "lr"), [("sgd", 4, 0.5), ("adam", None, 0.01)])
def test_sgd_and_adam_reduce_the_loss(optimizer, batch_size, lr):
    x, y = _data()
    apply_fn, params = _depth3_net()
    key = None if batch_size is None else jax.random.key(2)
    res = train_layers(
        apply_fn,
        params,
        x,
        y,
        optimizer=optimizer,
        batch_size=batch_size,
        key=key,
        learning_rate=lr,
        steps=100,
        log_every=50,
    )
    assert res.losses[-1] < 0.5 * res.losses[0]


def test_stacked_equals_loop_over_seeds():
    x, y = _data()
    key, num_seeds = jax.random.key(11), 3
    kw = dict(depth=3, width=8)
    # seed s: params from fold_in(key, s) (the init_mlp_seeds convention), stacked on axis 0
    seeds = [init_mlp(jax.random.fold_in(key, s), D, **kw) for s in range(num_seeds)]
    apply_fn = seeds[0][0]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[p for _, p in seeds])
    train_kw = dict(
        layers="layer_1", optimizer="sgd", batch_size=5, learning_rate=0.3, steps=5, log_every=2
    )
    skey = jax.random.key(4)
    res = train_layers(apply_fn, stacked, x, y, stacked=True, key=skey, **train_kw)
    assert res.outputs.shape == (num_seeds, 4, N) and res.losses.shape == (num_seeds, 4)
    for s in range(num_seeds):
        params = seeds[s][1]  # minibatches of seed s from fold_in(skey, s)
        one = train_layers(apply_fn, params, x, y, key=jax.random.fold_in(skey, s), **train_kw)
        np.testing.assert_allclose(res.outputs[s], one.outputs, rtol=0, atol=1e-13)
        np.testing.assert_allclose(
            res.params["layer_1"]["kernel"][s], one.params["layer_1"]["kernel"], rtol=0, atol=1e-13
        )
        assert _bits_equal(res.params["layer_0"]["kernel"][s], params["layer_0"]["kernel"])
    # one key per seed, given explicitly, is the same as the folded single key
    keys = jax.vmap(lambda s: jax.random.fold_in(skey, s))(jnp.arange(num_seeds))
    again = train_layers(apply_fn, stacked, x, y, stacked=True, key=keys, **train_kw)
    assert _bits_equal(again.outputs, res.outputs)


def test_progress_bar_path_equals_compiled_loop():
    # the tqdm path (Python loop over jitted chunks, with a remainder chunk) = one compiled scan
    x, y = _data()
    apply_fn, params = _tiny_net()
    stacked = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
    kw = dict(learning_rate=0.3, steps=5, log_every=2, stacked=True)
    res = train_layers(apply_fn, stacked, x, y, **kw)
    bar = train_layers(apply_fn, stacked, x, y, progress=True, **kw)
    np.testing.assert_array_equal(bar.steps, res.steps)
    assert bar.outputs.shape == res.outputs.shape == (2, 4, N)
    np.testing.assert_allclose(bar.outputs, res.outputs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(bar.losses, res.losses, rtol=1e-13)
    for name in params:
        np.testing.assert_allclose(
            bar.params[name]["kernel"], res.params[name]["kernel"], rtol=0, atol=1e-14
        )


def test_dtype_follows_inputs():
    x, y = _data()
    apply_fn, params = init_mlp(jax.random.key(0), D, depth=2, width=8, dtype=jnp.float32)
    res = train_layers(
        apply_fn, params, x.astype(jnp.float32), y.astype(jnp.float32), learning_rate=0.1, steps=2
    )
    assert res.outputs.dtype == jnp.float32
    assert res.params["layer_0"]["kernel"].dtype == jnp.float32


# ------------------------------------------------------------------------------------------------
# kernel prediction


def _rel_change_error(meas_e, pred_e):
    """Relative Frobenius error of the residual's change e(t) − e(0) over the logged trajectory."""
    d_meas, d_pred = meas_e - meas_e[:1], pred_e - meas_e[:1]
    return float(jnp.linalg.norm(d_meas - d_pred) / jnp.linalg.norm(d_meas))


def test_last_layer_training_is_exactly_the_kernel_prediction():
    # f is linear in the last layer's parameters, so its kernel is constant and GD on the quadratic
    # loss gives e(t) = (I − ηG/n)^t e(0) exactly, at any width.
    x, y = _data()
    apply_fn, params = _depth3_net()
    G = layer_ntk(apply_fn, params, x)["layer_2"]
    lr = N / float(jnp.linalg.eigvalsh(G)[-1])  # stable: 0 <= ηλ/n <= 1
    res = train_layers(apply_fn, params, x, y, layers=-1, learning_rate=lr, steps=30, log_every=5)
    pred = predict_residuals(G, res.outputs[0] - y, lr, res.steps)
    assert res.losses[-1] < 0.8 * res.losses[0]
    np.testing.assert_allclose(pred, res.outputs - y[None, :], rtol=0, atol=1e-12)


def _wide_run(width, layers, lr=2.0, steps=40):
    """GD on n=32 points of S^4, depth 3, NTK parameterisation (paper §5.4 input scaling)."""
    n, d = 32, 5
    x, y = _data(n, d)
    apply_fn, params = init_mlp(jax.random.key(0), d, depth=3, width=width, input_scaling="none")
    grams = layer_ntk(apply_fn, params, x)
    res = train_layers(
        apply_fn, params, x, y, layers=layers, learning_rate=lr, steps=steps, log_every=10
    )
    assert res.losses[-1] < 0.5 * res.losses[0]  # training moved the residual substantially
    return res, grams, res.outputs - y[None, :], lr


@pytest.mark.slow  # ~11 s of CPU: two widths, one of 1024
def test_kernel_prediction_error_shrinks_with_width():
    # Training only the middle layer: the empirical G^(1) at initialisation predicts the residual
    # trajectory with an error that vanishes as the width grows (lazy regime, O(1/sqrt(width))).
    errors = {}
    for width in (64, 1024):
        res, grams, e, lr = _wide_run(width, "layer_1")
        pred = predict_residuals(grams["layer_1"], e[0], lr, res.steps)
        errors[width] = _rel_change_error(e, pred)
    assert errors[1024] < errors[64] / 2
    assert errors[1024] < 0.05


def test_all_layers_prediction_uses_the_full_ntk():
    res, grams, e, lr = _wide_run(1024, None)
    pred = predict_residuals(trained_gram(grams, None), e[0], lr, res.steps)
    assert _rel_change_error(e, pred) < 0.05
    # a single layer's kernel does not describe the all-layer dynamics
    wrong = predict_residuals(grams["layer_1"], e[0], lr, res.steps)
    assert _rel_change_error(e, wrong) > 0.3


def test_predict_residuals_against_matrix_power_and_expm():
    rng = np.random.default_rng(0)
    s, n = 2, 6
    A = rng.normal(size=(s, n, n))
    G = A @ np.swapaxes(A, 1, 2)  # PSD
    e0 = rng.normal(size=(s, n))
    steps = np.array([0, 1, 3, 10])
    # lr large enough that 1 − ηλ/n < 0 for the top eigenvalues (sign of the odd powers matters)
    for lr in (0.05, 2.0 * n / np.linalg.eigvalsh(G).max() * 0.9):
        disc = predict_residuals(G, e0, lr, steps)
        flow = predict_residuals(G, e0, lr, steps, discrete=False)
        assert disc.shape == flow.shape == (s, len(steps), n)
        for b in range(s):
            M = np.eye(n) - lr * G[b] / n
            for i, t in enumerate(steps):
                ref_d = np.linalg.matrix_power(M, t) @ e0[b]
                ref_f = scipy.linalg.expm(-lr * t * G[b] / n) @ e0[b]
                np.testing.assert_allclose(disc[b, i], ref_d, rtol=0, atol=1e-11)
                np.testing.assert_allclose(flow[b, i], ref_f, rtol=0, atol=1e-11)
    # n is the loss normalisation: n=2·size halves the rate
    np.testing.assert_allclose(
        predict_residuals(G[0], e0[0], 0.1, steps, n=2 * n),
        predict_residuals(G[0], e0[0], 0.05, steps),
        rtol=0,
        atol=1e-13,
    )


def test_trained_gram_selects_and_sums_layers():
    x, _ = _data()
    apply_fn, params = _depth3_net()
    grams = layer_ntk(apply_fn, params, x)
    np.testing.assert_array_equal(trained_gram(grams, "layer_1"), grams["layer_1"])
    np.testing.assert_allclose(
        trained_gram(grams, [0, -1]), grams["layer_0"] + grams["layer_2"], rtol=1e-15
    )
    # all layers: the full NTK from one brute-force Jacobian over all parameters (paper Eq. 1)
    K = full_ntk(apply_fn, params, x)
    np.testing.assert_allclose(trained_gram(grams, "all"), K, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# residual components and halving times


def test_residual_components_against_direct_loops():
    rng = np.random.default_rng(2)
    k, n, t = 3, 10, 4
    comps = rng.normal(size=(k, n))
    outputs = rng.normal(size=(2, t, n))
    r = residual_components(outputs, comps)
    assert r.shape == (2, t, k)
    y_star = comps.sum(0)
    for s in range(2):
        for j in range(t):
            for i in range(k):
                e = outputs[s, j] - y_star
                ref = np.dot(e, comps[i]) ** 2 / np.dot(comps[i], comps[i])
                np.testing.assert_allclose(r[s, j, i], ref, rtol=1e-13)


def test_orthogonal_components_partition_the_residual():
    # with k = n mutually orthogonal components, Σ_i r_i = ‖y − y*‖² (Parseval)
    rng = np.random.default_rng(3)
    n = 8
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    comps = Q.T * rng.uniform(0.5, 2.0, size=(n, 1))
    outputs = rng.normal(size=(5, n))
    r = residual_components(outputs, comps)
    np.testing.assert_allclose(r.sum(-1), np.sum((outputs - comps.sum(0)) ** 2, -1), rtol=1e-12)
    np.testing.assert_allclose(project_residual(outputs - comps.sum(0), comps), r, rtol=1e-13)


def test_halving_time_of_exponential_decays():
    # r_i(s) = c_i exp(−a_i s) halves at s = ln 2 / a_i; log-linear interpolation is exact.
    steps = np.array([0, 7, 20, 50, 100])
    a = np.array([0.3, 0.05, 0.01, 0.0])
    c = np.array([2.0, 1.0, 5.0, 1.0])
    r = c * np.exp(-np.outer(steps, a))  # (t, k)
    t_half = halving_time(r, steps)
    np.testing.assert_allclose(t_half[:3], np.log(2) / a[:3], rtol=1e-12)
    assert np.isinf(t_half[3])  # constant: never halves
    np.testing.assert_allclose(
        halving_time(r, steps, fraction=0.1)[:2], np.log(10) / a[:2], rtol=1e-12
    )
    # a component that starts at zero has no halving time; leading axes pass through
    r0 = np.stack([r, np.concatenate([r[:, :3], np.zeros((5, 1))], axis=1)])
    out = halving_time(r0, steps)
    assert out.shape == (2, 4)
    assert np.isnan(out[1, 3]) and np.isinf(out[0, 3])
    np.testing.assert_allclose(out[1, :3], np.log(2) / a[:3], rtol=1e-12)


def test_kernel_prediction_components_on_an_eigenvector_target():
    # e(0) along one eigenvector u of G (eigenvalue λ) stays along u and decays as (1 − ηλ/n)^t,
    # so its residual component is r(t) = r(0) (1 − ηλ/n)^(2t) (Eq. 22 for one mode).
    rng = np.random.default_rng(4)
    n = 6
    A = rng.normal(size=(n, n))
    G = A @ A.T
    lam, V = np.linalg.eigh(G)
    u, lr = V[:, -2], 0.1
    steps = np.arange(0, 30, 5)
    e = predict_residuals(G, 3.0 * u, lr, steps)
    r = project_residual(e, u[None, :])[:, 0]
    np.testing.assert_allclose(r, 9.0 * (1 - lr * lam[-2] / n) ** (2 * steps), rtol=1e-10)


# ------------------------------------------------------------------------------------------------
# bad inputs


def _bad_call(**overrides):
    with unchecked():  # the package's own messages (tests/conftest.py)
        x, y = _data()
        apply_fn, params = _tiny_net()
        kw = dict(learning_rate=0.1, steps=2)
        kw.update(overrides)
        x = kw.pop("x", x)
        y = kw.pop("y", y)
        params = kw.pop("params", params)
        return train_layers(apply_fn, params, x, y, **kw)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(layers="layer_9"), ValueError, "layers"),
        (dict(layers=[]), ValueError, "layers"),
        (dict(layers=5), ValueError, "layers"),
        (dict(layers=1.5), TypeError, "layers"),
        (dict(learning_rate=0.0), ValueError, "learning_rate"),
        (dict(learning_rate=-1.0), ValueError, "learning_rate"),
        (dict(learning_rate=None), TypeError, "learning_rate"),
        (dict(learning_rate=float("nan")), ValueError, "learning_rate"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.0), TypeError, "steps"),
        (dict(log_every=0), ValueError, "log_every"),
        (dict(y=jnp.zeros(N + 1)), ValueError, "y"),
        (dict(y=jnp.zeros((N, 1))), ValueError, "y"),
        (dict(y=jnp.full(N, jnp.nan)), ValueError, "y"),
        (dict(y=None), TypeError, "y"),
        (dict(x=jnp.zeros((N, D + 1))), ValueError, "x"),
        (dict(x=jnp.full((N, D), jnp.inf)), ValueError, "x"),
        (dict(optimizer="rmsprop"), ValueError, "optimizer"),
        (dict(optimizer="sgd"), ValueError, "batch_size"),
        (dict(optimizer="sgd", batch_size=4), TypeError, "key"),
        (dict(optimizer="sgd", batch_size=N + 1, key=jax.random.key(0)), ValueError, "batch_size"),
        (dict(optimizer="sgd", batch_size=0, key=jax.random.key(0)), ValueError, "batch_size"),
        (dict(batch_size=4), ValueError, "batch_size"),
        (dict(optimizer=optax.sgd(0.1)), ValueError, "learning_rate"),
        (dict(stacked=True), ValueError, "stacked"),
        (dict(params={"a": 1}), TypeError, "params"),
    ],
)
def test_train_layers_rejects_bad_inputs(overrides, error, match):
    with pytest.raises(error, match=match):
        _bad_call(**overrides)


def test_stacked_key_count_must_match_seeds():
    with unchecked():  # the package's own messages (tests/conftest.py)
        x, y = _data()
        apply_fn, params = _tiny_net()
        params = jax.tree.map(lambda a: jnp.stack([a, a]), params)
        keys = jax.random.split(jax.random.key(0), 3)
        with pytest.raises(ValueError, match="key"):
            train_layers(
                apply_fn,
                params,
                x,
                y,
                stacked=True,
                optimizer="sgd",
                batch_size=4,
                key=keys,
                learning_rate=0.1,
                steps=1,
            )


def test_analysis_functions_reject_bad_inputs():
    with unchecked():  # the package's own messages (tests/conftest.py)
        G, e0, comps = np.eye(4), np.ones(4), np.ones((2, 4))
        with pytest.raises(ValueError, match="G"):
            predict_residuals(np.ones((4, 3)), e0, 0.1, [1])
        with pytest.raises(ValueError, match="e0"):
            predict_residuals(G, np.ones(5), 0.1, [1])
        with pytest.raises(ValueError, match="learning_rate"):
            predict_residuals(G, e0, 0.0, [1])
        with pytest.raises(ValueError, match="steps"):
            predict_residuals(G, e0, 0.1, [-1])
        with pytest.raises(ValueError, match="steps"):
            predict_residuals(G, e0, 0.1, [0.5])
        with pytest.raises(ValueError, match="y_components"):
            residual_components(np.ones(4), np.zeros((2, 4)))
        with pytest.raises(ValueError, match="y_components"):
            residual_components(np.ones(4), np.ones(4))
        with pytest.raises(ValueError, match="outputs"):
            residual_components(np.ones(5), comps)
        with pytest.raises(ValueError, match="r must"):
            halving_time(np.ones((3, 2)), [0, 1])
        with pytest.raises(ValueError, match="fraction"):
            halving_time(np.ones((2, 2)), [0, 1], fraction=1.0)
        with pytest.raises(ValueError, match="increasing"):
            halving_time(np.ones((2, 2)), [1, 0])
        with pytest.raises(ValueError, match="layers"):
            trained_gram({"layer_0": G}, "layer_1")


def test_kernel_track_against_layer_grams_at_the_end():
    """``track=True``: a ``KernelTrack`` whose last logged step equals the statistics computed here from
    ``layer_ntk`` of the returned parameters (``movement = ‖G(t) − G(0)‖_F / ‖G(0)‖_F``, alignment
    ``yᵀGy / (‖G‖_F ‖y‖²)``, contributions ``y_iᵀ G y_i``); step 0 has not moved."""
    x, y = _data()
    apply_fn, params = _tiny_net()
    comps = jnp.stack([y, jnp.ones_like(y)])
    res = train_layers(
        apply_fn,
        params,
        x,
        y,
        learning_rate=0.1,
        steps=6,
        log_every=3,
        track=True,
        track_components=comps,
    )
    assert isinstance(res, TrainResult) and isinstance(res.track, KernelTrack)
    tr = res.track
    g0, g1 = layer_ntk(apply_fn, params, x), layer_ntk(apply_fn, res.params, x)
    assert tr.layers == tuple(g0)
    np.testing.assert_array_equal(tr.movement[0], 0.0)
    for i, name in enumerate(tr.layers):
        a, b = np.asarray(g0[name]), np.asarray(g1[name])
        np.testing.assert_allclose(
            tr.movement[-1, i], np.linalg.norm(b - a) / np.linalg.norm(a), rtol=1e-9
        )
        yy = np.asarray(y)
        np.testing.assert_allclose(
            tr.alignment[-1, i], yy @ b @ yy / (np.linalg.norm(b) * yy @ yy), rtol=1e-9
        )
        c = np.einsum("kn,nm,km->k", np.asarray(comps), b, np.asarray(comps))
        np.testing.assert_allclose(tr.contributions[-1, :, i], c, rtol=1e-9)
