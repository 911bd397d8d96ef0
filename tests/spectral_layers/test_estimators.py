"""Estimators and convergence statistics (``spectral_layers.estimators``)."""

import math
import textwrap

import numpy as np
import pytest

from spectral_layers import estimators
from tests._fakes import run_on_four_cpu_devices
from tests._typecheck import unchecked


def test_fitted_slope_of_an_exact_power_law():
    n = np.array([64, 128, 256, 512])
    err = np.stack([n**-0.5, 2 * n**-0.5])
    s, lo, hi = estimators.fitted_slope(n, err)
    assert s == pytest.approx(-0.5, abs=1e-12)
    assert lo == pytest.approx(-0.5, abs=1e-12) and hi == pytest.approx(-0.5, abs=1e-12)


def test_fitted_slope_is_nan_without_two_finite_columns():
    n = np.array([64, 128, 256])
    err = np.array([[np.nan, np.nan, 0.1]])
    assert all(math.isnan(v) for v in estimators.fitted_slope(n, err))


def test_theorem1_bounds_closed_form():
    """Both bounds by hand at one n (formulas of the docstring)."""
    n = np.array([100.0])
    out = estimators.theorem1_bounds(
        n, kernel_sup=(2.0, 1.0), eigenvalue_sums=(0.5, 0.25), target_sup=3.0, delta=0.05
    )
    log_term = math.log(4 / 0.05)
    printed = log_term / 10 * max(math.sqrt(2 * 9 / (2 * 0.25)), math.sqrt(9 / (2 * 0.0625)))
    corrected = math.sqrt(32 * log_term / 100) * max(2 * 9 / 0.5, 9 / 0.25)
    assert out["printed_abs"][0] == pytest.approx(printed, rel=1e-14)
    assert out["corrected_rel"][0] == pytest.approx(corrected, rel=1e-14)
    with pytest.raises(ValueError, match="delta"):
        estimators.theorem1_bounds(
            n, kernel_sup=(1, 1), eigenvalue_sums=(1, 1), target_sup=1, delta=1.5
        )


def test_paper_estimate_is_a_ratio_of_sums():
    g = np.array([1.0, -2.0, 0.5])
    assert estimators.paper_estimate(g, 3 * g, g) == pytest.approx(3.0, rel=1e-15)


# --------------------------------------------------------------------------------------------------
# layer_ratios: each estimator against its Gram-based form (independent: Jacobian Grams, lstsq projection)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import spectral_layers as sl  # noqa: E402
from spectral_layers import spectra, targets  # noqa: E402
from spectral_layers.infinite import (  # noqa: E402
    infinite_layer_ntk,
    sphere_layer_kernels,
    sphere_layer_ntk,
)
from spectral_layers.models import Network  # noqa: E402
from spectral_layers.sharding import make_mesh  # noqa: E402


def _sphere_setup(stacked, n=40, d=3):
    x = targets.sample_sphere(jax.random.key(0), n, d)
    centers = targets.random_centers(jax.random.key(1), d, 3)
    y = jnp.stack([targets.gegenbauer_sum_target(x, k, centers) for k in (1, 2, 3)])
    net = Network(depth=3, width=6, activation="tanh", use_bias=True, input_scaling="none")
    if stacked:
        f, p = net.init_seeds(jax.random.key(2), 2, d)
    else:
        f, p = net.init(jax.random.key(2), d)
    return f, p, x, y


def _gram_projector(x, k):
    """``P = I − B B⁺`` from an SVD of the monomials (an independent route to the projection) and its rank."""
    B = targets.polynomial_features(x, k - 1)
    u, s, _ = np.linalg.svd(B, full_matrices=False)
    keep = s > s[0] * 1e-10
    U = u[:, keep]
    return np.eye(B.shape[0]) - U @ U.T, int(keep.sum())


def _gram_forms(grams, x, y, degrees, estimator, probes=None):
    """The three estimators' forms from Gram matrices (the definitions of docs/theory.md §9)."""
    out = {}
    for name, G in grams.items():
        G = np.asarray(G, np.float64)
        vals = []
        for yi, k in zip(np.asarray(y, np.float64), degrees):
            if estimator == "paper":
                vals.append(yi @ G @ yi)
                continue
            P, p = _gram_projector(x, k)
            yp = P @ yi
            if estimator == "projected":
                vals.append(yp @ G @ yp)
                continue
            n = len(yi)
            if probes is None:
                tr_pgp = np.trace(P @ G @ P)
            else:
                Zp = probes @ P
                tr_pgp = np.mean(np.einsum("rn,nm,rm->r", Zp, G, Zp))
            low = np.trace(G) / n - tr_pgp / (n - p)
            vals.append(yp @ G @ yp - np.sum(np.diag(G) * yp**2) + low * np.sum(yp**2))
        out[name] = np.array(vals)
    return out


@pytest.mark.parametrize("estimator", estimators.ESTIMATORS)
@pytest.mark.parametrize("stacked", [False, True])
def test_forms_equal_gram_based_forms(estimator, stacked):
    f, p, x, y = _sphere_setup(stacked)
    degrees = (1, 2, 3)
    got = estimators.layer_forms(
        f, p, x, y, estimator=estimator, degree=degrees, stacked=stacked, target_chunk=2
    )
    grams = sl.layer_ntk(f, p, x, method="jacobian", stacked=stacked)
    assert list(got) == list(grams)
    for s in range(2 if stacked else 1):
        g_s = {k: (v[s] if stacked else v) for k, v in grams.items()}
        ref = _gram_forms(g_s, np.asarray(x), y, degrees, estimator)
        for name in got:
            val = np.asarray(got[name][s] if stacked else got[name])
            np.testing.assert_allclose(val, ref[name], rtol=1e-10, err_msg=name)
    ratios = estimators.layer_ratios(
        f, p, x, y, estimator=estimator, degree=degrees, stacked=stacked
    )
    names = list(got)
    assert list(ratios) == names[:-1]
    for name in ratios:
        np.testing.assert_allclose(
            ratios[name], np.asarray(got[name]) / np.asarray(got[names[-1]]), rtol=1e-12
        )


def test_debiased_with_probes_equals_gram_based_form():
    f, p, x, y = _sphere_setup(False)
    key = jax.random.key(7)
    got = estimators.layer_forms(
        f, p, x, y, estimator="debiased", degree=(1, 2, 3), trace_probes=3, key=key
    )
    probes = np.asarray(jax.random.normal(key, (3, x.shape[0]), jnp.float64))
    grams = sl.layer_ntk(f, p, x, method="jacobian")
    ref = _gram_forms(grams, np.asarray(x), y, (1, 2, 3), "debiased", probes=probes)
    for name in got:
        np.testing.assert_allclose(np.asarray(got[name]), ref[name], rtol=1e-10, err_msg=name)


def test_single_target_and_shared_passes_agree():
    f, p, x, y = _sphere_setup(False)
    allf = estimators.estimator_forms(f, p, x, y, degree=(1, 2, 3))
    one = estimators.layer_forms(f, p, x, y[2], estimator="debiased", degree=3)
    for name in one:
        assert np.ndim(one[name]) == 0
        np.testing.assert_allclose(one[name], allf["debiased"][name][2], rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# gram_estimator_forms: the same estimators from per-layer Grams (exact traces)


@pytest.mark.parametrize("stacked", [False, True])
def test_gram_forms_equal_gram_free_forms(stacked):
    """Several targets and one: ``gram_estimator_forms`` on the Grams equals the Gram-free ``estimator_forms``
    (exact traces) and the NumPy definitions ``_gram_forms``, for all three estimators."""
    f, p, x, y = _sphere_setup(stacked)
    degrees = (1, 2, 3)
    grams = sl.layer_ntk(f, p, x, stacked=stacked)
    got = estimators.gram_estimator_forms(grams, x, y, degree=degrees)
    free = estimators.estimator_forms(
        f, p, x, y, degree=degrees, stacked=stacked, trace_probes=None
    )
    assert list(got) == list(estimators.ESTIMATORS)
    shape = (2, 3) if stacked else (3,)
    for e in estimators.ESTIMATORS:
        assert list(got[e]) == list(grams)
        for name in grams:
            assert got[e][name].shape == shape, (e, name)
            np.testing.assert_allclose(got[e][name], free[e][name], rtol=1e-10, err_msg=e + name)
        for s in range(2 if stacked else 1):
            g_s = {k: (v[s] if stacked else v) for k, v in grams.items()}
            ref = _gram_forms(g_s, np.asarray(x), y, degrees, e)
            for name in grams:
                val = np.asarray(got[e][name][s] if stacked else got[e][name])
                np.testing.assert_allclose(val, ref[name], rtol=1e-10, err_msg=e + name)
    # one target (n,): forms of shape [s,], equal to the matching row of the several-target call
    one = estimators.gram_estimator_forms(grams, x, y[1], degree=2)
    one_free = estimators.estimator_forms(f, p, x, y[1], degree=2, stacked=stacked)
    for e in estimators.ESTIMATORS:
        for name in grams:
            assert one[e][name].shape == shape[:-1], (e, name)
            np.testing.assert_allclose(one[e][name], one_free[e][name], rtol=1e-10)
            np.testing.assert_allclose(one[e][name], got[e][name][..., 1], rtol=1e-12)
    # a subset of the estimators, in the order asked
    sub = estimators.gram_estimator_forms(
        grams, x, y, estimators=("debiased", "paper"), degree=degrees
    )
    assert list(sub) == ["debiased", "paper"]
    for e in sub:
        for name in grams:
            np.testing.assert_allclose(sub[e][name], got[e][name], rtol=1e-12)


def test_gram_forms_bad_arguments():
    with unchecked():  # the package's own messages (tests/conftest.py)
        f, p, x, y = _sphere_setup(False)
        grams = sl.layer_ntk(f, p, x)
        name = "layer_0"
        short = {**grams, name: grams[name][:-1, :-1]}  # (n-1, n-1)
        with pytest.raises(ValueError, match=r"grams\['layer_0'\]"):
            estimators.gram_estimator_forms(short, x, y, degree=(1, 2, 3))
        with pytest.raises(ValueError, match="degree"):
            estimators.gram_estimator_forms(grams, x, y)  # projected and debiased need the degrees
        with pytest.raises(ValueError, match="degree"):
            estimators.gram_estimator_forms(grams, x, y, degree=(1, 2))  # one per target
        with pytest.raises(ValueError, match="y must"):
            estimators.gram_estimator_forms(grams, x, y[:, :-1], degree=(1, 2, 3))
        with pytest.raises(ValueError, match="sphere"):
            estimators.gram_estimator_forms(grams, 2 * x, y, degree=(1, 2, 3))
        with pytest.raises(ValueError, match="estimators"):
            estimators.gram_estimator_forms(grams, x, y, estimators=("nope",), degree=(1, 2, 3))
        # the paper's estimator alone needs no degree and no sphere
        paper = estimators.gram_estimator_forms(grams, 2 * x, y, estimators=("paper",))
        np.testing.assert_allclose(
            paper["paper"][name], np.einsum("tn,nm,tm->t", y, grams[name], y), rtol=1e-12
        )


def test_ratios_nan_never_inf():
    r = estimators.ratios_from_forms(
        {"a": np.array([1.0, 1.0, 1.0, 2.0]), "b": np.array([0.0, 1e-17, -0.5, 4.0])}
    )
    assert np.isnan(r["a"][:3]).all() and r["a"][3] == 0.5
    assert not np.isinf(r["a"]).any()


def test_bad_arguments():
    f, p, x, y = _sphere_setup(False)
    with pytest.raises(ValueError, match="estimator"):
        estimators.layer_ratios(f, p, x, y, estimator="nope")
    with pytest.raises(ValueError, match="degree"):
        estimators.layer_ratios(f, p, x, y, estimator="projected")
    with pytest.raises(ValueError, match="sphere"):
        estimators.layer_ratios(f, p, 2 * x, y, estimator="projected", degree=1)
    with pytest.raises(ValueError, match="key"):
        estimators.layer_ratios(f, p, x, y, estimator="debiased", degree=1, trace_probes=2)
    with pytest.raises(ValueError, match="points"):
        estimators.layer_ratios(f, p, x[:5], y[:, :5], estimator="projected", degree=3)
    with pytest.raises(TypeError, match="mesh"):
        estimators.layer_ratios(f, p, x, y, estimator="paper", mesh="all")
    with pytest.raises(ValueError, match="axis"):
        estimators.layer_ratios(f, p, x, y, estimator="paper", mesh=make_mesh(), mesh_axis="nope")


@pytest.mark.slow
def test_debiased_error_on_infinite_kernels_shrinks_with_n():
    """Exact infinite-width Grams (ReLU, d = 5, k = 3): the debiased ratio's error against the Mercer
    ratio (Funk–Hecke, an independent route) falls with n and is far below the paper's and the projected
    estimators' (both O(κ(1)/(n μ_k)) biased)."""
    d, k, draws = 5, 3, 6
    net = Network(depth=3, input_scaling="none")
    mercer = spectra.layer_mercer_ratios(d, k, network=net)[0, k]
    err = {e: [] for e in estimators.ESTIMATORS}
    for n in (150, 600):
        per = {e: [] for e in estimators.ESTIMATORS}
        for r in range(draws):
            key = jax.random.fold_in(jax.random.key(3), r)
            x = targets.sample_sphere(jax.random.fold_in(key, 0), n, d)
            c = targets.random_centers(jax.random.fold_in(key, 1), d)
            y = np.asarray(targets.gegenbauer_sum_target(x, k, c))[None]
            grams = infinite_layer_ntk(x, network=net)
            for e in estimators.ESTIMATORS:
                f = _gram_forms(grams, np.asarray(x), y, (k,), e)
                per[e].append(f["layer_0"][0] / f["layer_2"][0] / mercer - 1)
        for e in per:
            err[e].append(np.mean(np.abs(per[e])))
    assert err["debiased"][1] < err["debiased"][0]
    assert err["debiased"][1] < 0.3 * min(err["paper"][1], err["projected"][1])


# --------------------------------------------------------------------------------------------------
# parity (docs/theory.md §9.1)


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin"])
def test_odd_activation_without_bias_has_exact_even_zeros(activation):
    net = Network(depth=4, activation=activation, input_scaling="none")
    u = jnp.linspace(-1.0, 1.0, 41)
    plus, minus = (
        sphere_layer_kernels(u, dim=10, network=net),
        sphere_layer_kernels(-u, dim=10, network=net),
    )
    for name in plus:  # every κ^(ℓ) is odd in u
        scale = float(jnp.max(jnp.abs(plus[name])))
        assert float(jnp.max(jnp.abs(plus[name] + minus[name]))) <= 1e-14 * scale
    mu = spectra.layer_mercer_eigenvalues(10, 8, network=net)
    one = spectra.layer_kernels_at_one(10, network=net)
    for name, m in mu.items():
        assert np.max(np.abs(m[0::2])) <= 1e-16 * one[name]  # rounding level
        assert np.min(np.abs(m[1::2])) > 1e-8 * one[name]
    r = spectra.layer_mercer_ratios(10, 8, network=net)
    assert r.shape == (3, 9)
    assert np.isnan(r[:, 0::2]).all() and np.isfinite(r[:, 1::2]).all()


@pytest.mark.parametrize(
    "activation,use_bias", [("tanh", True), ("erf", True), ("relu", False), ("gelu", False)]
)
def test_even_degrees_exist_with_bias_or_non_odd_activation(activation, use_bias):
    net = Network(depth=4, activation=activation, use_bias=use_bias, input_scaling="none")
    r = spectra.layer_mercer_ratios(10, 6, network=net)
    assert np.isfinite(r[:, 1:]).all() and (r[:, 1:] > 0).all()
    with pytest.raises(ValueError, match="rtol"):
        spectra.layer_mercer_ratios(10, 2, network=net, rtol=-1.0)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_depth_two_relu_gelu_have_no_odd_degrees_above_one(activation):
    """σ(z) − z/2 even ⇒ no odd Hermite coefficient above 1 ⇒ μ_k = 0 for odd k ≥ 3 at depth 2 (§9.1);
    from depth 3 on every degree is present."""
    net = Network(depth=2, activation=activation, input_scaling="none")
    mu = spectra.layer_mercer_eigenvalues(10, 7, network=net)
    one = spectra.layer_kernels_at_one(10, network=net)
    for name, m in mu.items():
        assert np.max(np.abs(m[3::2])) <= 1e-16 * one[name]
    r = spectra.layer_mercer_ratios(10, 7, network=net)
    assert np.isnan(r[0, 3::2]).all() and np.isfinite(r[0, :3]).all()
    assert np.isfinite(spectra.layer_mercer_ratios(10, 7, network=net.replace(depth=3))).all()


def test_automatic_target_chunk_bounds_memory():
    """The issue's failure: 286 targets, n = 16384, width 1024 (59 GB in one vmapped pass)."""
    net = Network(depth=4, width=1024, input_scaling="none")
    params = jax.eval_shape(lambda k: net.init(k, 10)[1], jax.random.key(0))
    chunk = estimators._auto_target_chunk(params, 16384, 286, False)
    assert 1 <= chunk < 286
    assert chunk * 16384 * (3 * 1024 + 1) <= estimators.TARGET_MEMORY_BUDGET
    assert estimators._auto_target_chunk(params, 10, 5, False) == 5  # small problems: one call


# --------------------------------------------------------------------------------------------------
# mesh: the Gram-free terms sharded over 4 forced host devices equal the mesh-less call (x64). XLA's
# device count is fixed at start-up, so the check runs in a subprocess (as tests/spectral_layers/test_sharding.py).

MESH_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    from spectral_layers import contributions, estimators, targets
    from spectral_layers.models import Network
    from spectral_layers.sharding import make_mesh
    assert jax.device_count() == 4, jax.devices()

    d, degrees = 5, (1, 2, 3)
    net = Network(depth=3, width=16, activation="tanh", use_bias=True, input_scaling="none")
    one = net.init(jax.random.key(2), d)
    seeds = net.init_seeds(jax.random.key(3), 2, d)
    package = make_mesh()  # auto axes
    explicit = jax.make_mesh((4,), ("data",))  # Explicit axes in JAX 0.10
    two_d = jax.make_mesh((2, 2), ("a", "b"))

    def close(got, ref):
        assert list(got) == list(ref), (list(got), list(ref))
        for k in ref:
            assert isinstance(got[k], np.ndarray | jax.Array), type(got[k])
            if isinstance(got[k], jax.Array):
                assert got[k].is_fully_addressable and len(got[k].devices()) == 1, got[k].sharding
            g, r = np.asarray(got[k]), np.asarray(ref[k])
            assert g.shape == r.shape, (k, g.shape, r.shape)
            assert np.isfinite(r).any(), (k, r)
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=0, err_msg=k)

    for n in (40, 39):  # divisible by the 4 devices, and not
        x = targets.sample_sphere(jax.random.key(0), n, d)
        centers = targets.random_centers(jax.random.key(1), d, 3)
        y = jnp.stack([targets.gegenbauer_sum_target(x, k, centers) for k in degrees])
        for stacked, (f, p) in ((False, one), (True, seeds)):
            kw = dict(degree=degrees, stacked=stacked)
            for e in estimators.ESTIMATORS:
                ref = estimators.layer_ratios(f, p, x, y, estimator=e, **kw)
                close(estimators.layer_ratios(f, p, x, y, estimator=e, mesh=package, **kw), ref)
            ref = estimators.estimator_forms(f, p, x, y, **kw)
            for m, axis in ((explicit, None), (two_d, "b"), (two_d, ("a", "b"))):
                got = estimators.estimator_forms(f, p, x, y, mesh=m, mesh_axis=axis, **kw)
                assert list(got) == list(ref)
                for e in ref:
                    close(got[e], ref[e])
            # Hutchinson probes, one target, a small diagonal chunk and target chunk
            probe = dict(estimator="debiased", trace_probes=3, key=jax.random.key(7), **kw)
            close(
                estimators.layer_forms(f, p, x, y, mesh=explicit, diagonal_chunk=3, **probe),
                estimators.layer_forms(f, p, x, y, **probe),
            )
            one_target = dict(degree=2, stacked=stacked, target_chunk=4)
            got = estimators.estimator_forms(f, p, x, y[1], mesh=package, **one_target)
            ref = estimators.estimator_forms(f, p, x, y[1], **one_target)
            for e in ref:
                close(got[e], ref[e])
            # the Gram diagonals: row-sharded on the caller's mesh when the devices divide n
            diag = contributions.layer_gram_diagonals(f, p, x, stacked=stacked, mesh=explicit)
            ref = contributions.layer_gram_diagonals(f, p, x, stacked=stacked)
            spec = (P(None, "data") if stacked else P("data")) if n % 4 == 0 else P()
            for v in diag.values():
                assert v.sharding.mesh == explicit and v.sharding.spec == spec, v.sharding
            for name in ref:
                got_d, ref_d = np.asarray(diag[name]), np.asarray(ref[name])
                np.testing.assert_allclose(got_d, ref_d, rtol=1e-12, atol=0, err_msg=name)
    print("MESH-OK")
    """
)


@pytest.mark.slow
def test_mesh_equals_mesh_less_on_four_devices():
    run_on_four_cpu_devices(MESH_SCRIPT, "MESH-OK")


def _se_setting(dim=5, n=200, width=128, depth=3, k=3, draws=4, seeds=6):
    """Per network (draws × seeds): debiased forms ``(L,)``, ratios and SEs ``(L-1,)`` (Gram route)."""
    net = Network(depth=depth, width=width, input_scaling="none")
    forms, ratios, ses = [], [], []
    for r in range(draws):
        k_pts, k_c, k_init = jax.random.split(jax.random.fold_in(jax.random.key(7), r), 3)
        x = targets.sample_sphere(k_pts, n, dim)
        y = np.asarray(targets.sphere_target(x, k, targets.random_centers(k_c, dim, 4)))
        y = y / np.linalg.norm(y)
        apply_fn, _ = net.init(k_init, dim)
        _, params = net.init_seeds(k_init, 0, dim, seed_indices=np.arange(seeds))
        grams = sl.layer_ntk(apply_fn, params, x, stacked=True)
        f = estimators.gram_estimator_forms(grams, x, y, estimators=("debiased",), degree=k)[
            "debiased"
        ]
        diag = {name: np.diagonal(np.asarray(g), axis1=-2, axis2=-1) for name, g in grams.items()}
        se = estimators.debiased_ratio_se(f, diag, x, y, degree=k)
        forms.append(np.stack([np.asarray(v) for v in f.values()], -1))
        ratios.append(np.stack(list(estimators.ratios_from_forms(f).values()), -1))
        ses.append(np.stack(list(se.values()), -1))
    cat = [np.concatenate(a) for a in (forms, ratios, ses)]
    mercer = spectra.layer_mercer_ratios(dim, k, network=net)[:, k]
    return (*cat, mercer)


def test_debiased_se_matches_spread_over_networks_and_draws():
    """The per-network SE (one network, one draw) against the spread over 24 networks and 4 draws.

    In the regime where the diagonal term dominates (κ^{<k}(1) ≫ n μ_k: d = 5, n = 200, k = 3) the SE
    describes the linearised error ``F_ℓ − R F_{L-1}`` (the ratio itself is heavy-tailed there, its
    denominator approaching 0): its root-mean-square over networks must be within 1.5× of that of
    ``se · |F_{L-1}|``, with ``R`` the Mercer ratio (an independent computation, Funk–Hecke).
    """
    forms, _, se, mercer = _se_setting()
    err = forms[:, :-1] - mercer * forms[:, -1:]
    scale = se * np.abs(forms[:, -1:])
    ok = np.all(np.isfinite(scale), axis=1)
    assert ok.sum() >= 20
    calib = np.sqrt(np.mean(err[ok] ** 2, 0) / np.mean(scale[ok] ** 2, 0))
    assert np.all((calib > 1 / 1.5) & (calib < 1.5)), calib


def test_layer_ratios_return_se_gram_free_equals_gram_route():
    """``layer_ratios(..., return_se=True)`` (Gram-free) equals ``debiased_ratio_se`` on Jacobian Grams."""
    net = Network(depth=3, width=16, input_scaling="none")
    x = targets.sample_sphere(jax.random.key(1), 60, 4)
    y = np.asarray(targets.sphere_target(x, 2, targets.random_centers(jax.random.key(2), 4, 4)))
    apply_fn, params = net.init(jax.random.key(0), 4)
    out = estimators.layer_ratios(
        apply_fn, params, x, y, estimator="debiased", degree=2, return_se=True
    )
    plain = estimators.layer_ratios(apply_fn, params, x, y, estimator="debiased", degree=2)
    grams = sl.layer_ntk(apply_fn, params, x)
    f = estimators.gram_estimator_forms(grams, x, y, estimators=("debiased",), degree=2)["debiased"]
    diag = {name: np.diagonal(np.asarray(g)) for name, g in grams.items()}
    se = estimators.debiased_ratio_se(f, diag, x, y, degree=2)
    assert list(out.ratio) == list(plain) == list(se)
    for name in plain:
        np.testing.assert_allclose(out.ratio[name], plain[name], rtol=1e-12)
        np.testing.assert_allclose(out.se[name], se[name], rtol=1e-8)
        assert np.all(out.se[name] > 0)


def test_seed_ratio_se_is_the_spread_of_the_linearised_ratio():
    """``seed_ratio_se`` against a hand computation: one network's ratio error, linearised at the ratio of
    the seed-mean forms, has the seeds' sample standard deviation over the seed-mean denominator."""
    rng = np.random.default_rng(0)
    forms = {f"layer_{i}": rng.uniform(1.0, 2.0, size=(5, 3)) for i in range(3)}
    se = estimators.seed_ratio_se(forms)
    assert list(se) == ["layer_0", "layer_1"]
    for name in se:
        r_bar = forms[name].mean(0) / forms["layer_2"].mean(0)
        for j in range(3):
            lin = [forms[name][s, j] - r_bar[j] * forms["layer_2"][s, j] for s in range(5)]
            expected = np.std(lin, ddof=1) / forms["layer_2"][:, j].mean()
            assert se[name][j] == pytest.approx(expected, rel=1e-12)
    # a vanishing seed-mean denominator: NaN, as the ratio
    forms["layer_2"][:, 0] = 0.0
    assert np.isnan(estimators.seed_ratio_se(forms)["layer_0"][0])
    with pytest.raises(ValueError, match="s >= 2"):
        estimators.seed_ratio_se({k: v[:1] for k, v in forms.items()})


def test_seeds_se_covers_the_width_noise_that_the_diagonal_se_misses():
    """Where the off-diagonal width term dominates (d = 5, n = 200, width 256, k = 2: the diagonal SE is
    about 10× below the spread, ``docs/theory.md`` §9.3), the seeds' SE predicts the error of the ratio of
    the seed-mean forms against the infinite-width debiased ratio on the same points (an independent
    computation: ``sphere_layer_ntk``, the infinite-width Grams). The SE comes from the same 8 networks, so
    the z-scores are Student-t with 7 degrees of freedom, of rms ``sqrt(7/5)`` when calibrated: their rms
    over 8 draws × 2 layers must be within 1.5× of it, and the diagonal SE far below the error."""
    net = Network(depth=3, width=256, input_scaling="none")
    z, z_diag = [], []
    for r in range(8):
        k_pts, k_c, k_init = jax.random.split(jax.random.fold_in(jax.random.key(11), r), 3)
        x = targets.sample_sphere(k_pts, 200, 5)
        y = np.asarray(targets.sphere_target(x, 2, targets.random_centers(k_c, 5, 4)))
        apply_fn, _ = net.init(k_init, 5)
        _, params = net.init_seeds(k_init, 0, 5, seed_indices=np.arange(8))
        forms = estimators.layer_forms(
            apply_fn, params, x, y, estimator="debiased", degree=2, stacked=True
        )
        se = estimators.seed_ratio_se(forms)
        diagonals = sl.contributions.layer_gram_diagonals(apply_fn, params, x, stacked=True)
        se_diag = estimators.debiased_ratio_se(forms, diagonals, x, y, degree=2)
        inf_forms = estimators.gram_estimator_forms(
            sphere_layer_ntk(x, network=net), x, y, estimators=("debiased",), degree=2
        )["debiased"]
        inf = estimators.ratios_from_forms(inf_forms)
        mean = {k: np.asarray(v).mean(0) for k, v in forms.items()}
        r_bar = estimators.ratios_from_forms(mean)
        for name in inf:
            z.append((r_bar[name] - inf[name]) / (se[name] / np.sqrt(8)))
            z_diag.append((r_bar[name] - inf[name]) / (np.median(se_diag[name]) / np.sqrt(8)))
    calib = np.sqrt(np.mean(np.square(z)) / (7 / 5))
    assert 1 / 1.5 < calib < 1.5, (calib, np.round(z, 2))
    assert np.sqrt(np.mean(np.square(z_diag))) > 3.0


def test_seeds_se_needs_stacked_networks():
    net = Network(depth=2, width=8, input_scaling="none")
    x = targets.sample_sphere(jax.random.key(1), 20, 3)
    apply_fn, params = net.init(jax.random.key(0), 3)
    _, stacked = net.init_seeds(jax.random.key(0), 0, 3, seed_indices=np.arange(3))
    out = estimators.layer_ratios(
        apply_fn,
        stacked,
        x,
        x[:, :2].T,
        estimator="paper",
        stacked=True,
        return_se=True,
        se_method="seeds",
    )
    forms = estimators.layer_forms(
        apply_fn, stacked, x, x[:, :2].T, estimator="paper", stacked=True
    )
    se = estimators.seed_ratio_se(forms)
    assert out.se["layer_0"].shape == (2,) and out.ratio["layer_0"].shape == (3, 2)
    np.testing.assert_allclose(out.se["layer_0"], se["layer_0"], rtol=1e-12)
    with pytest.raises(ValueError, match="stacked"):
        estimators.layer_ratios(
            apply_fn, params, x, x[:, 0], estimator="paper", return_se=True, se_method="seeds"
        )
    with pytest.raises(ValueError, match="se_method"):
        estimators.layer_ratios(
            apply_fn, params, x, x[:, 0], estimator="paper", return_se=True, se_method="jackknife"
        )


def test_debiased_se_is_finite_on_the_circle():
    """d = 2, n = 1024 (Figure 1): the harmonic blocks stop where the monomial basis loses rank (degree ~20),
    instead of giving empty blocks and a NaN SE (as before this test)."""
    x = targets.sample_sphere(jax.random.key(0), 1024, 2)
    blocks = estimators._degree_blocks(np.asarray(x))
    assert [q.shape[1] for q in blocks] == [2 * j + 1 for j in range(len(blocks))]
    net = Network(depth=3, width=32, input_scaling="none")
    apply_fn, params = net.init(jax.random.key(1), 2)
    theta = np.arctan2(np.asarray(x)[:, 1], np.asarray(x)[:, 0])
    out = estimators.layer_ratios(
        apply_fn, params, x, np.cos(3 * theta), estimator="debiased", degree=3, return_se=True
    )
    for name in out.se:
        assert np.isfinite(out.se[name]) and out.se[name] > 0


def test_return_se_needs_debiased():
    net = Network(depth=2, width=8, input_scaling="none")
    x = targets.sample_sphere(jax.random.key(1), 20, 3)
    apply_fn, params = net.init(jax.random.key(0), 3)
    with pytest.raises(ValueError, match="return_se"):
        estimators.layer_ratios(
            apply_fn, params, x, x[:, 0], estimator="projected", degree=1, return_se=True
        )


def test_loglog_slope_recovers_a_power_law_and_skips_unusable_points():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = 3.0 * x**-0.5
    slope, intercept = estimators.loglog_slope(x, y)
    assert slope == pytest.approx(-0.5, abs=1e-12) and intercept == pytest.approx(
        np.log(3.0), abs=1e-12
    )
    y_bad = y.copy()
    y_bad[[1, 3]] = [np.nan, 0.0]  # left out: not finite, not > 0
    np.testing.assert_allclose(estimators.loglog_slope(x, y_bad), (slope, intercept), atol=1e-12)
    assert np.isnan(estimators.loglog_slope(x[:1], y[:1])).all()
    assert np.isnan(estimators.loglog_slope(np.array([1.0, -1.0]), np.array([1.0, 1.0]))).all()
    with pytest.raises(ValueError, match="1-D"):
        estimators.loglog_slope(x, y[:3])
