"""Contributions c_ℓ = yᵀG^(ℓ)y: gradient identity vs Grams, relative values, t-intervals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import spectral_layers as sl
from spectral_layers import contributions as contrib
from spectral_layers.models import init_mlp, init_mlp_seeds


def _setup(stacked=False):
    x = jax.random.normal(jax.random.key(0), (9, 3))
    y = jax.random.normal(jax.random.key(1), (4, 9))
    if stacked:
        f, p = init_mlp_seeds(
            jax.random.key(2), 3, 3, depth=3, width=5, activation="tanh", use_bias=True
        )
    else:
        f, p = init_mlp(jax.random.key(2), 3, depth=3, width=5, activation="tanh", use_bias=True)
    return f, p, x, y


@pytest.mark.parametrize("stacked", [False, True])
def test_gradient_identity_equals_quadratic_form(stacked):
    """‖∇_{θ_ℓ}⟨y, f(X)⟩‖² = yᵀG^(ℓ)y with G from the Jacobian path (independent)."""
    f, p, x, y = _setup(stacked)
    grams = sl.layer_ntk(f, p, x, method="jacobian", stacked=stacked)
    q = contrib.gram_forms(grams, y)
    c = contrib.layer_contributions(f, p, x, y, stacked=stacked)
    assert list(c) == list(grams)
    for name in c:
        assert c[name].shape == ((3, 4) if stacked else (4,))
        np.testing.assert_allclose(c[name], q[name], rtol=1e-11)
    # a single target
    c1 = contrib.layer_contributions(f, p, x, y[0], stacked=stacked)
    for name in c:
        np.testing.assert_allclose(c1[name], c[name][..., 0], rtol=1e-12)


def test_quadratic_form_by_hand():
    g = {"layer_0": jnp.array([[2.0, 1.0], [1.0, 3.0]]), "layer_1": jnp.eye(2)}
    y = jnp.array([1.0, -2.0])
    q = contrib.gram_forms(g, y)
    assert float(q["layer_0"]) == pytest.approx(2 - 4 + 12)  # 2·1 + 2·1·(−2)·1 + 3·4
    rel = contrib.layer_ratios(q)
    assert rel["layer_0"] == pytest.approx(10 / 5)
    assert rel["layer_1"] == pytest.approx(1.0)


def test_t_interval_matches_scipy():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(7, 3))
    mean, lo, hi = contrib.t_interval(s, level=0.9)
    ref = scipy.stats.t.interval(0.9, 6, loc=s.mean(0), scale=scipy.stats.sem(s, axis=0))
    np.testing.assert_allclose(lo, ref[0], rtol=1e-12)
    np.testing.assert_allclose(hi, ref[1], rtol=1e-12)
    np.testing.assert_allclose(mean, s.mean(0))
    m1, l1, h1 = contrib.t_interval(s[:1])
    np.testing.assert_array_equal(l1, m1)
    np.testing.assert_array_equal(h1, m1)


def test_bad_inputs():
    f, p, x, y = _setup()
    with pytest.raises(ValueError, match="y"):
        contrib.layer_contributions(f, p, x, y[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        contrib.layer_contributions(f, p, x, y.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="level"):
        contrib.t_interval(np.ones((3, 2)), level=1.5)


def test_layer_ratios_nan_policy():
    """NaN exactly where the last layer's form is not above max(floor, rtol·Σ|form|); the quotient elsewhere."""
    c = np.array([[1.0, 2.0], [3.0, 0.0], [1.0, -2.0], [np.nan, 4.0], [1.0, np.nan], [5.0, 1e-3]])
    r, ok = contrib.layer_ratios(c, return_resolved=True)
    np.testing.assert_array_equal(ok, [True, False, False, True, False, True])
    np.testing.assert_array_equal(r[0], [0.5, 1.0])
    assert np.isnan(r[1:3]).all() and np.isnan(r[4]).all()
    assert np.isnan(r[3, 0]) and r[3, 1] == 1.0  # a NaN numerator over a resolved denominator
    assert r[5, 0] == 5.0 / 1e-3
    r_floor, ok_floor = contrib.layer_ratios(c, floor=1e-2, return_resolved=True)
    assert not ok_floor[5] and np.isnan(r_floor[5]).all()  # below the caller's floor
    r_rtol = contrib.layer_ratios(c, rtol=1e-3)  # 1e-3 ≤ 1e-3 · (5 + 1e-3): unresolved
    assert np.isnan(r_rtol[5]).all() and r_rtol[0, 0] == 0.5
    per_row_floor = contrib.layer_ratios(c[:1].repeat(2, 0), floor=np.array([1.0, 3.0]))
    assert per_row_floor[0, 0] == 0.5 and np.isnan(per_row_floor[1]).all()


def test_layer_ratios_axis_mapping_and_dtype():
    c = np.arange(1.0, 13.0).reshape(3, 4)
    np.testing.assert_array_equal(contrib.layer_ratios(c, axis=0), c / c[-1:])
    d = contrib.layer_ratios({"a": np.array([1.0, 2.0]), "b": np.array([4.0, 0.0])})
    assert list(d) == ["a", "b"]
    np.testing.assert_array_equal(d["a"], [0.25, np.nan])
    np.testing.assert_array_equal(d["b"], [1.0, np.nan])
    assert contrib.layer_ratios(np.ones(3, np.float32)).dtype == np.float32
    assert contrib.layer_ratios(np.array([1, 2])).dtype == np.float64


def test_layer_ratios_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one layer"):
        contrib.layer_ratios({})
    with pytest.raises(ValueError, match="at least one layer"):
        contrib.layer_ratios(np.float64(1.0))
    with pytest.raises(ValueError, match="floor"):
        contrib.layer_ratios(np.ones(2), floor=-1.0)
    with pytest.raises(ValueError, match="rtol"):
        contrib.layer_ratios(np.ones(2), rtol=-1.0)


def test_blocked_gram_forms_equal_the_full_kernel_forms():
    """Blocks on and right of the diagonal (the right ones counted twice) give ``y K^(ℓ) yᵀ`` of the full
    kernel; ``n = 10`` rows in blocks of 3 (not a divisor), a chosen subset of layers in the asked order."""
    net = sl.Network(depth=3, activation="relu", use_bias=True)
    x = jax.random.normal(jax.random.key(5), (10, 4))
    y = np.asarray(jax.random.normal(jax.random.key(6), (2, 10)))

    def kernel_fn(a, b):
        return sl.infinite_layer_ntk(a, b, network=net)

    full = kernel_fn(x, x)
    got = contrib.blocked_gram_forms(kernel_fn, x, y, block_size=3, layers=["layer_2", "layer_0"])
    assert list(got) == ["layer_2", "layer_0"]
    for name in got:
        ref = np.einsum("ti,ij,tj->t", y, np.asarray(full[name]), y)
        np.testing.assert_allclose(got[name], ref, rtol=1e-12)
    every = contrib.blocked_gram_forms(kernel_fn, x, y, block_size=10)
    assert list(every) == list(full)


def test_stack_layers_puts_the_layer_axis_last():
    c = {"layer_0": np.arange(6.0).reshape(2, 3), "layer_1": -np.arange(6.0).reshape(2, 3)}
    s = contrib.stack_layers(c)
    assert s.shape == (2, 3, 2)
    for i, v in enumerate(c.values()):
        np.testing.assert_array_equal(s[..., i], v)
