"""Infinite-width per-layer NTK: closed forms, quadrature, identities, NT, finite width."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spectral_layers as sl
from spectral_layers import nt_compat
from spectral_layers.empirical import relative_frobenius
from spectral_layers.models import init_mlp_seeds
from tests._net import check_nt, inf_ntk, sphere_kernels
from tests._typecheck import unchecked

NT_AVAILABLE = nt_compat.nt_available()
needs_nt = pytest.mark.skipif(
    not NT_AVAILABLE, reason="neural-tangents cannot be imported (see spectral_layers.nt_compat)"
)


def rel(a, b):
    return float(relative_frobenius(np.asarray(a, np.float64), b, axis=None))


def _data(d=4, n1=7, n2=5, seed=0):
    """Inputs of varied norms (0.3 … 2), off the sphere; the same shapes throughout (one compile
    serves many tests: only shapes, activation, depth and quadrature are static)."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    x1 = jax.random.normal(k1, (n1, d))
    x1 = x1 / jnp.linalg.norm(x1, axis=1, keepdims=True) * jnp.linspace(0.3, 2.0, n1)[:, None]
    return x1, 0.8 * jax.random.normal(k2, (n2, d))


def _sphere(n, d, seed=0):
    x = jax.random.normal(jax.random.key(seed), (n, d))
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)


NETWORKS = [
    dict(use_bias=True, sigma_w=1.3, sigma_b=0.7),
    dict(input_scaling="none", sigma_w=0.9),
    dict(parameterization="standard", width=(30, 50, 70), use_bias=True, sigma_b=0.6,
         input_scaling="none"),
]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# neural-tangents: per layer, every parameterisation, non-unit inputs


@needs_nt
@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("network", NETWORKS, ids=range(len(NETWORKS)))
def test_closed_forms_match_nt_per_layer(act, network):
    """ReLU (Cho & Saul) and erf (Williams) per layer vs NT's stax Relu/Erf, head/tail split."""
    x1, x2 = _data()
    for xb in (x2, None) if network is NETWORKS[0] else (x2,):
        errs = check_nt(x1, xb, depth=4, activation=act, **network)
        assert list(errs) == [f"layer_{i}" for i in range(4)]
        # 1e-6 (brief); measured ≤ 1e-13 with x2 and ~1e-8 for the Gram, whose diagonal is exact
        # here (ρ = 1) but not in NT: arccos near ρ = 1 turns a rounding error ε of ρ into
        # sqrt(2ε) ~ 1e-8 in θ, hence in Σ̇.
        assert max(errs.values()) < 1e-6, errs


@pytest.mark.slow
@needs_nt
@pytest.mark.parametrize(
    "act,network",
    [
        ("tanh", dict(use_bias=True, sigma_b=0.5, parameterization="standard", width=64)),
        ("softplus", dict(input_scaling="none", sigma_w=1.2)),
    ],
)
def test_quadrature_matches_nt_elementwise_numerical(act, network):
    """Our trapezoid rule (degree 64) vs NT's ElementwiseNumerical (Gauss–Hermite, deg 80).

    Unit-norm inputs keep the pre-activation variances O(1), where both rules are converged:
    degree 64 of the trapezoid rule is within ~1e-11 of degree 300 (DEFAULT_QUADRATURE_DEGREE
    table), NT's Gauss–Hermite at deg 80 within ~1e-10 (measured; for tanh its error decays like
    e^{-(π/2) sqrt(2 deg)}). Two different rules agreeing to 1e-8 bounds both errors.
    """
    x1, x2 = _sphere(7, 4, seed=1), _sphere(5, 4, seed=2)
    errs = check_nt(
        x1, x2, depth=3, activation=act, nt_quadrature_degree=80, numerical=True, **network
    )
    assert max(errs.values()) < 1e-8, errs


@needs_nt
def test_same_gauss_hermite_rule_as_nt_agrees_to_rounding():
    """With ``quadrature_rule="gauss_hermite"`` both codes evaluate the same sum (NT's rule, mapped
    to probabilists' nodes): agreement to rounding even at an unconverged degree on large inputs."""
    x1, x2 = _data()
    errs = check_nt(
        2 * x1, x2, depth=3, activation="tanh", use_bias=True, input_scaling="none",
        quadrature_degree=12, quadrature_rule="gauss_hermite", nt_quadrature_degree=12,
    )  # fmt: skip
    assert max(errs.values()) < 1e-12, errs


@needs_nt
def test_gelu_quadrature_vs_nt_closed_form():
    """GELU by our quadrature vs NT's closed-form Gelu (Tsuchida et al., 2020): independent."""
    x1, x2 = _data()
    errs = check_nt(x1, x2, depth=4, activation="gelu", use_bias=True, input_scaling="none")
    # variances reach ~5 here (‖x‖ = 2, no 1/sqrt(d)); the default degree 64 is then ~1e-9
    # (measured 2e-10; error table in DEFAULT_QUADRATURE_DEGREE)
    assert max(errs.values()) < 1e-8, errs


@needs_nt
def test_sum_over_layers_is_nt_full_ntk():
    """Σ_ℓ κ^(ℓ) (ours) equals NT's NTK of the whole network (kernel_fn(x1, x2, "ntk"))."""
    stax = nt_compat.stax()
    x1, x2 = _data()
    for act, nt_act in (("relu", stax.Relu()), ("erf", stax.Erf())):
        _, _, kernel_fn = stax.serial(
            stax.Dense(1, W_std=1.3, b_std=0.7), nt_act,
            stax.Dense(1, W_std=1.3, b_std=0.7), nt_act,
            stax.Dense(1, W_std=1.3, b_std=0.7),
        )  # fmt: skip
        ours = inf_ntk(x1, x2, depth=3, activation=act, use_bias=True,
                                      sigma_w=1.3, sigma_b=0.7)  # fmt: skip
        np.testing.assert_allclose(sum(ours.values()), kernel_fn(x1, x2, "ntk"), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# exact identities (no NT)


def _relu_dual_np(c, q1, q2):
    """Cho & Saul (2009) arc-cosine kernels of degree 1 and 0, written out again in numpy."""
    rho = np.clip(c / np.sqrt(q1 * q2), -1, 1)
    theta = np.arccos(rho)
    k = np.sqrt(q1 * q2) * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return k, (np.pi - theta) / (2 * np.pi)


@pytest.mark.parametrize("bias", [False, True])
def test_ntk_recursion_one_layer_deeper(bias):
    """Θ^(L) = Σ^(L) + σ_w² Σ̇^(L-1) Θ^(L-1) (Arora et al., 2019, §3), layer by layer.

    The last-layer kernel of the depth-L network is Σ^(L-1) (its D is 1) on every pair, the
    diagonals included, so Σ̇^(L-1) and Σ^(L) can be recomputed from it in numpy. Then for the
    depth-(L+1) network: κ^(ℓ) = σ_w² Σ̇^(L-1) κ^(ℓ)_{depth L} for ℓ < L and κ^(L) = Σ^(L).
    """
    sw, sb = 1.3, 0.7
    kw = dict(activation="relu", use_bias=bias, sigma_w=sw, sigma_b=sb)
    x1, x2 = _data()
    z = jnp.concatenate([x1, x2])  # one Gram holds the cross block and both diagonals
    n1, sb2 = x1.shape[0], sb**2 if bias else 0.0
    kernels = {depth: inf_ntk(z, depth=depth, **kw) for depth in (1, 2, 3, 4)}
    for depth in (1, 2, 3):
        shallow = {n: np.asarray(v) for n, v in kernels[depth].items()}
        deep = {n: np.asarray(v)[:n1, n1:] for n, v in kernels[depth + 1].items()}
        sigma = shallow[f"layer_{depth - 1}"]
        q = np.diag(sigma)
        k, k_dot = _relu_dual_np(sigma[:n1, n1:], q[:n1, None], q[None, n1:])
        for i in range(depth):
            np.testing.assert_allclose(
                deep[f"layer_{i}"], sw**2 * k_dot * shallow[f"layer_{i}"][:n1, n1:], rtol=1e-12
            )
        np.testing.assert_allclose(deep[f"layer_{depth}"], sw**2 * k + sb2, rtol=1e-12)
        theta_shallow = sum(shallow.values())[:n1, n1:]
        np.testing.assert_allclose(
            sum(deep.values()), sw**2 * k + sb2 + sw**2 * k_dot * theta_shallow, rtol=1e-12
        )


def test_first_layer_and_linear_network():
    """Depth 1: κ^(0) = σ_w²⟨x,x'⟩/d + σ_b²; identity activation: every layer is a scaled Gram."""
    x1, x2 = _data()
    d = x1.shape[1]
    g = np.asarray(x1 @ x2.T)
    k = inf_ntk(x1, x2, depth=1, use_bias=True, sigma_w=1.3, sigma_b=0.7)
    np.testing.assert_allclose(k["layer_0"], 1.69 * g / d + 0.49, rtol=1e-14)
    # linear, NTK parameterisation, no bias: Σ^(ℓ) = σ_w^{2(ℓ+1)} g/d, D^(ℓ) = σ_w^{2(L-1-ℓ)}
    lin = inf_ntk(x1, x2, depth=4, activation="identity", sigma_w=1.3)
    for i in range(4):
        np.testing.assert_allclose(lin[f"layer_{i}"], 1.69**4 * g / d, rtol=1e-12)


@pytest.mark.parametrize("scaling,sw", [("fan_in", 1.0), ("none", math.sqrt(2.0))])
def test_relu_diagonal_closed_form(scaling, sw):
    """ReLU without bias: Σ^(ℓ+1)(x,x) = σ_w² Σ^(ℓ)(x,x)/2 and Σ̇(x,x) = 1/2 (θ = 0), so
    κ^(ℓ)(x,x) = σ_w^{2L} 2^{-(L-1)} ‖x‖² (/d with fan_in) for every ℓ. With σ_w² = 2 (He) and
    unit-variance inputs Σ^(ℓ)(x,x) stays 2 and every κ^(ℓ)(x,x) = 2 (NTK diagonal: 2L)."""
    x, _ = _data()
    depth = 5
    c0 = np.sum(np.asarray(x) ** 2, axis=1) / (x.shape[1] if scaling == "fan_in" else 1)
    k = inf_ntk(x, depth=depth, sigma_w=sw, input_scaling=scaling)
    for i in range(depth):
        np.testing.assert_allclose(
            np.diag(k[f"layer_{i}"]), sw ** (2 * depth) * 2.0 ** (1 - depth) * c0, rtol=1e-12
        )
    kf = sphere_kernels(1.0, dim=4, depth=depth, sigma_w=sw, input_scaling=scaling)
    c0 = 1 / 4 if scaling == "fan_in" else 1
    for i in range(depth):
        np.testing.assert_allclose(kf[f"layer_{i}"], sw ** (2 * depth) * 2.0 ** (1 - depth) * c0)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_standard_vs_ntk_parameterisation(act):
    """Without bias both parameterisations share Σ and D; the weight term differs by n_ℓ/σ_w² for
    hidden layers and by d/σ_w² (fan_in) or 1/σ_w² (none) for layer 0 (module docstring)."""
    x1, x2 = _data()
    d, sw, widths = x1.shape[1], 1.3, (20, 30, 40)
    for scaling, n0 in (("fan_in", d), ("none", 1)):
        kw = dict(depth=4, activation=act, sigma_w=sw, input_scaling=scaling)
        ntk = inf_ntk(x1, x2, **kw)
        std = inf_ntk(x1, x2, parameterization="standard", width=widths, **kw)
        for i, n in enumerate((n0, *widths)):
            np.testing.assert_allclose(std[f"layer_{i}"], n / sw**2 * ntk[f"layer_{i}"], rtol=1e-12)


def test_erf_closed_form_vs_quadrature():
    """erf: Williams (1997) closed form vs our quadrature of the callable. erf is entire, so the
    trapezoid rule converges super-exponentially: degree 128 is at rounding level (measured
    1e-15)."""
    x1, x2 = _data()
    network = dict(use_bias=True, sigma_w=1.3, sigma_b=0.7, input_scaling="none")
    closed = inf_ntk(x1, x2, depth=3, activation="erf", **network)
    quad = inf_ntk(x1, x2, depth=3, activation=jax.scipy.special.erf,
                                  quadrature_degree=128, **network)  # fmt: skip
    for name in closed:
        assert rel(quad[name], closed[name]) < 1e-11


def test_relu_closed_form_vs_quadrature_first_order():
    """ReLU via quadrature of the callable converges to the arc-cosine closed form at first order:
    Σ̇ integrates a step function, so the tensor rule's error is O(h) = O(1/degree) (measured
    1.9e-2, 8.8e-3, 4.4e-3 at degrees 64, 128, 256): doubling the degree must halve the error."""
    x1, x2 = _data()
    closed = inf_ntk(x1, x2, depth=3, activation="relu")
    errs = []
    for degree in (64, 128):
        q = inf_ntk(x1, x2, depth=3, activation=jax.nn.relu, quadrature_degree=degree)
        errs.append(max(rel(q[n], closed[n]) for n in closed))
    assert errs[-1] < 1.2e-2
    assert 1.6 < errs[0] / errs[1] < 2.5, errs


@pytest.mark.slow
def test_quadrature_self_convergence():
    """Documented accuracy (DEFAULT_QUADRATURE_DEGREE): tanh at the default degree vs degree 240 of
    another rule (Gauss–Hermite, ≲1e-12 there by extrapolating its e^{-(π/2) sqrt(2 deg)} decay),
    unit-norm inputs in d = 10, depth 4: the table says 2e-11 (input_scaling="fan_in") and 1e-9
    ("none")."""
    x = _sphere(7, 10)
    for scaling, tol in (("fan_in", 1e-10), ("none", 1e-8)):
        kw = dict(depth=4, activation="tanh", use_bias=True, input_scaling=scaling)
        ref = inf_ntk(x, quadrature_degree=240, quadrature_rule="gauss_hermite", **kw)
        k = inf_ntk(x, **kw)
        assert max(rel(k[n], ref[n]) for n in k) < tol


@pytest.mark.parametrize(
    "network",
    [
        dict(activation="relu", input_scaling="fan_in"),
        dict(activation="erf", parameterization="standard", width=50, use_bias=True,
             input_scaling="none"),
    ],
)  # fmt: skip
def test_kernel_fn_equals_ntk_on_sphere(network):
    """On S^{d-1}, κ^(ℓ)(x, x') = k_ℓ(⟨x, x'⟩) with the same dim (fan_in divides by it)."""
    x1, x2 = _sphere(7, 4, seed=3), _sphere(5, 4, seed=4)
    k = inf_ntk(x1, x2, depth=3, **network)
    u = jnp.clip(x1 @ x2.T, -1, 1)
    kf = sphere_kernels(u, dim=4, depth=3, **network)
    for name in k:
        assert kf[name].shape == u.shape
        np.testing.assert_allclose(kf[name], k[name], rtol=1e-12, atol=1e-14)
    # dim matters with fan_in only
    other = sphere_kernels(u, dim=7, depth=3, **network)
    fan_in = network["input_scaling"] == "fan_in"
    assert np.allclose(other["layer_0"], kf["layer_0"], rtol=1e-12) != fan_in


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_no_nan_at_correlation_one(act):
    """u = ±1, identical points, antipodal points and a zero input give finite kernels."""
    u = jnp.array([-1.0, -1.0 + 1e-16, 0.0, 1.0 - 1e-16, 1.0])
    kf = sphere_kernels(u, dim=3, depth=4, activation=act, input_scaling="none")
    assert all(bool(jnp.isfinite(v).all()) for v in kf.values())
    x = (
        _data()[0]
        .at[:4]
        .set(jnp.array([[0.6, 0.8, 0, 0], [0.6, 0.8, 0, 0], [-0.6, -0.8, 0, 0], [0, 0, 0, 0]]))
    )  # identical, antipodal and zero (Σ = 0) inputs
    k = inf_ntk(x, depth=4, activation=act)
    assert all(bool(jnp.isfinite(v).all()) for v in k.values())
    np.testing.assert_allclose(k["layer_1"][0, 0], k["layer_1"][0, 1], rtol=1e-12)


@pytest.mark.parametrize("act,cross", [("relu", True), ("relu", False), ("tanh", False)])
def test_blocked_equals_unblocked(act, cross):
    """Row blocks of 3 (7 rows: the last block is zero-padded) give the same numbers."""
    x1, x2 = _data()
    xb = x2 if cross else None
    kw = dict(depth=3, activation=act, use_bias=True, quadrature_degree=16)
    full = inf_ntk(x1, xb, **kw)
    blocked = inf_ntk(x1, xb, block_size=3, **kw)
    for name in full:
        np.testing.assert_allclose(blocked[name], full[name], rtol=1e-13, atol=1e-15)


def test_dtype_follows_inputs_and_jit():
    x1, x2 = _data()
    k64 = inf_ntk(x1, x2, depth=3)
    k32 = inf_ntk(x1.astype(jnp.float32), x2.astype(jnp.float32), depth=3)
    for name in k64:
        assert k64[name].dtype == jnp.float64 and k32[name].dtype == jnp.float32
        assert rel(k32[name], k64[name]) < 1e-5
    kf = sphere_kernels(jnp.linspace(-1, 1, 5, dtype=jnp.float32), dim=3, depth=3)
    assert all(v.dtype == jnp.float32 for v in kf.values())
    jitted = jax.jit(lambda a, b: inf_ntk(a, b, depth=3))
    for name, v in jitted(x1, x2).items():
        np.testing.assert_allclose(v, k64[name], rtol=1e-14)


def test_symmetric_psd():
    x = _sphere(7, 4)
    for act in ("relu", "erf"):
        for g in inf_ntk(x, depth=4, activation=act, use_bias=True).values():
            np.testing.assert_allclose(g, g.T, rtol=0, atol=1e-14)
            assert np.linalg.eigvalsh(np.asarray(g)).min() > -1e-12 * np.abs(g).max()


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(depth=0), ValueError, "depth"),
        (dict(depth=2.0), TypeError, "depth"),
        (dict(depth=2, activation="swish"), ValueError, "activation"),
        (dict(depth=2, activation=3), TypeError, "activation"),
        (dict(depth=2, parameterization="mup"), ValueError, "parameterization"),
        (dict(depth=2, parameterization="standard"), ValueError, "width"),
        (dict(depth=2, input_scaling="sqrt"), ValueError, "input_scaling"),
        (dict(depth=2, sigma_w=-1.0), ValueError, "sigma_w"),
        (dict(depth=2, quadrature_degree=0), ValueError, "quadrature_degree"),
        (dict(depth=2, quadrature_rule="simpson"), ValueError, "quadrature_rule"),
        (dict(depth=2, block_size=0), ValueError, "block_size"),
    ],
)
def test_bad_settings_raise(kwargs, exc, match):
    with unchecked():  # the package's own messages (tests/conftest.py)
        x1, _ = _data()
        with pytest.raises(exc, match=match):
            inf_ntk(x1, **kwargs)


def test_bad_inputs_raise():
    with unchecked():  # the package's own messages (tests/conftest.py)
        x1, x2 = _data()
        with pytest.raises(ValueError, match="x2"):
            inf_ntk(x1, x2[:, :3], depth=2)
        with pytest.raises(ValueError, match="x1"):
            inf_ntk(x1.at[0, 0].set(jnp.nan), depth=2)
        with pytest.raises(ValueError, match="x2"):
            inf_ntk(x1, x2.at[1, 1].set(jnp.inf), depth=2)
        with pytest.raises(ValueError, match="x1"):
            inf_ntk(x1[0], depth=2)
        with pytest.raises(ValueError, match="x1"):
            inf_ntk(jnp.zeros((0, 4)), depth=2)
        with pytest.raises(TypeError, match="x1"):
            inf_ntk(None, depth=2)
        with pytest.raises(ValueError, match="u must lie"):
            sphere_kernels(jnp.array([0.5, 1.1]), dim=3, depth=2)
        with pytest.raises(ValueError, match="u contains"):
            sphere_kernels(jnp.array([jnp.nan]), dim=3, depth=2)
        with pytest.raises(ValueError, match="dim"):
            sphere_kernels(0.5, dim=0, depth=2)
        with pytest.raises(TypeError, match="u must"):
            sphere_kernels(None, dim=3, depth=2)


# --------------------------------------------------------------------------------------------------
# finite width


def _seed_mean_layer_ntk(x, width, num_seeds, chunk, key, **network):
    """Mean of ``layer_ntk`` over ``num_seeds`` networks from ``init_mlp_seeds``, ``chunk`` at a
    time (float32 parameters halve the random-number cost; the Grams are computed in float64)."""
    total = None
    for c in range(num_seeds // chunk):
        f, p = init_mlp_seeds(jax.random.fold_in(key, c), chunk, x.shape[1], width=width,
                              dtype=jnp.float32, **network)  # fmt: skip
        g = {n: v.sum(0) for n, v in sl.layer_ntk(f, p, x, stacked=True).items()}
        total = g if total is None else {n: total[n] + g[n] for n in g}
    return {n: v / num_seeds for n, v in total.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "network",
    [
        dict(activation="relu"),
        dict(activation="tanh", parameterization="standard", use_bias=True, sigma_b=0.5,
             input_scaling="none", sigma_w=1.2),
    ],
    ids=["relu-ntk", "tanh-standard"],
)  # fmt: skip
def test_wide_networks_converge_to_infinite_width(network):
    """Seed-averaged layer_ntk at width 2048 is within 2e-2 (relative Frobenius) of every κ^(ℓ).

    Monte-Carlo error: one seed deviates by ~c/sqrt(width) with c ≈ 3.4 (ReLU, depth 3; measured
    7.5e-2 at width 2048), so 4 seeds give ~3.5e-2 (too noisy for 2e-2) and 48 seeds ~1.1e-2
    (measured ≤ 1.0e-2 with 64 seeds). A wrong factor anywhere (σ_w², the 1/2 in Σ̇, the diagonal
    variances, n_ℓ of the standard parameterisation) is an O(1) error.
    """
    x, _ = _data(d=5, n1=20)
    depth, width = 3, 2048
    mean = _seed_mean_layer_ntk(x, width, 48, 8, jax.random.key(7), depth=depth, **network)
    kw = dict(width=width) if network.get("parameterization") == "standard" else {}
    limit = inf_ntk(x, depth=depth, **network, **kw)
    errs = {n: rel(mean[n], limit[n]) for n in limit}
    assert max(errs.values()) < 2e-2, errs


@pytest.mark.parametrize("activation", ["tanh", "gelu", "relu"])
def test_sphere_layer_ntk_equals_infinite_layer_ntk_on_the_sphere(activation):
    """``sphere_layer_ntk`` (a cubic spline in ``u = ⟨x, x'⟩`` of ``sphere_layer_kernels``; ReLU: the closed
    forms directly) against ``infinite_layer_ntk`` (quadrature per pair) on 40 points of S⁹, with a second
    point set; the docstring's claim (equal to rounding)."""
    net = sl.Network(depth=3, activation=activation, use_bias=True)
    x1 = sl.targets.sample_sphere(jax.random.key(7), 40, 10)
    x2 = sl.targets.sample_sphere(jax.random.key(8), 7, 10)
    for a, b in ((x1, None), (x1, x2)):
        fast = sl.infinite.sphere_layer_ntk(a, b, network=net)
        ref = sl.infinite_layer_ntk(a, b, network=net)
        assert list(fast) == list(ref)
        for name in ref:
            r = np.asarray(ref[name])
            err = np.linalg.norm(fast[name] - r) / np.linalg.norm(r)
            assert err < 1e-13, (name, err)
