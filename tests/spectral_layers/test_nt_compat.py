"""Tests for ``spectral_layers.nt_compat``: neural-tangents 0.6.5 imported and working on jax 0.10.

References are independent of neural-tangents: closed-form infinite-width kernels (arc-cosine
kernel, Cho & Saul 2009; erf kernel, Williams 1997; NTK recursion, Jacot et al. 2018), a
Gauss–Hermite quadrature written here, and brute-force Jacobians from ``jax.jacrev``.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from spectral_layers import nt_compat

# Skip only when neural-tangents is not installed at all; installed but failing to import fails.
NT_INSTALLED = importlib.util.find_spec("neural_tangents") is not None
NT = nt_compat.import_neural_tangents() if NT_INSTALLED else None
requires_nt = pytest.mark.skipif(
    not NT_INSTALLED,
    reason=f"neural-tangents is not installed (`{nt_compat.INSTALL_HINT}`)",
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -------------------------------------------------------------------------------------------------
# import, idempotence, never overwriting


@requires_nt
def test_import_returns_patched_nt_module():
    assert NT.__version__ == nt_compat.NT_VERSION
    assert nt_compat.nt_available()
    assert nt_compat.stax() is NT.stax
    assert isinstance(NT.stax.Relu, types.FunctionType)
    assert {i.name for i in NT.NtkImplementation} >= {
        "JACOBIAN_CONTRACTION",
        "NTK_VECTOR_PRODUCTS",
        "STRUCTURED_DERIVATIVES",
        "AUTO",
    }


@requires_nt
def test_idempotent():
    nt_empirical = sys.modules["neural_tangents._src.empirical"]
    filled = nt_compat.filled_names()
    proxies = (nt_empirical.ad, nt_empirical.core, nt_empirical.lu)
    assert nt_compat.import_neural_tangents() is NT
    nt_compat._patch_jax()
    nt_compat._patch_nt_empirical(nt_empirical)
    nt_compat._STATE["jax_patched"] = False  # run the jax shims again: nothing new is filled
    nt_compat._patch_jax()
    assert nt_compat._STATE["jax_patched"]
    assert nt_compat.filled_names() == filled
    assert (nt_empirical.ad, nt_empirical.core, nt_empirical.lu) == proxies


@requires_nt
def test_filled_names_are_the_real_jax_objects_and_nothing_is_overwritten():
    import jax.core
    import jax.extend.core
    import jax.interpreters.ad
    from jax._src import ad_util
    from jax._src.interpreters import ad as ad_src

    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive"):
        assert getattr(jax.core, name) is getattr(jax.extend.core, name)
    assert jax.interpreters.ad.zeros_like_p is ad_util.zeros_like_p
    # the changed-signature linearize is replaced only inside NT's module, never in jax
    assert jax.interpreters.ad.linearize is ad_src.linearize
    nt_empirical = sys.modules["neural_tangents._src.empirical"]
    assert nt_empirical.ad.linearize is not ad_src.linearize
    assert nt_empirical.ad.primitive_jvps is ad_src.primitive_jvps  # forwarded lookups

    obj = types.SimpleNamespace(present=1)
    before = nt_compat.filled_names()
    nt_compat._fill(obj, "present", 2, "obj.present")
    nt_compat._fill(obj, "absent", 3, "obj.absent")
    assert obj.present == 1
    assert obj.absent == 3
    assert nt_compat.filled_names() == (*before, "obj.absent")
    nt_compat._FILLED.pop()


def test_frozendict_stand_in_is_hashable_and_read_only():
    d = nt_compat._FrozenDict(a=1, b=(2, 3))
    assert d == {"a": 1, "b": (2, 3)}
    assert hash(d) == hash(nt_compat._FrozenDict(b=(2, 3), a=1))
    for mutate in (lambda: d.__setitem__("a", 2), lambda: d.update(c=1), lambda: d.pop("a")):
        with pytest.raises(TypeError, match="immutable"):
            mutate()
    assert dict(d) == {"a": 1, "b": (2, 3)}


@requires_nt
def test_stubbed_experimental_explains_itself():
    if all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "tf2jax")):
        pytest.skip("tensorflow and tf2jax are installed: the real experimental module is used")
    with pytest.raises(AttributeError, match="tensorflow"):
        NT.experimental.empirical_ntk_fn_tf  # noqa: B018


def _run_python(code: str) -> dict:
    """Runs ``code`` in a fresh interpreter (repo on the path, x64 on); returns its stdout JSON."""
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_patched_at_import_and_clear_error_when_nt_missing():
    res = _run_python(
        """
        import json, sys
        import jax, jax.core, jax.numpy as jnp
        import spectral_layers
        from spectral_layers import layer_ntk, init_mlp, nt_compat
        res = {
            "untouched": "jax.util" not in sys.modules and not hasattr(jax.core, "Jaxpr")
            and "neural_tangents" not in sys.modules and not nt_compat.filled_names(),
        }
        sys.modules["neural_tangents"] = None  # simulates "not installed"
        try:
            nt_compat.import_neural_tangents()
        except nt_compat.NeuralTangentsUnavailable as e:
            res["error"] = str(e)
            res["is_import_error"] = isinstance(e, ImportError)
        res["available"] = nt_compat.nt_available()
        apply_fn, params = init_mlp(jax.random.key(0), 3, depth=3, width=8)
        x = jax.random.normal(jax.random.key(1), (4, 3))
        g = layer_ntk(apply_fn, params, x, method="structured")
        res["structured_ok"] = sorted(g) == ["layer_0", "layer_1", "layer_2"] and all(
            bool(jnp.all(jnp.isfinite(v))) and v.shape == (4, 4) for v in g.values())
        try:
            layer_ntk(apply_fn, params, x, method="nt")
        except nt_compat.NeuralTangentsUnavailable as e:
            res["nt_method_error"] = str(e)
        print(json.dumps(res))
        """
    )
    assert res["untouched"]
    assert res["is_import_error"]
    assert "not installed" in res["error"]
    assert "pip install --no-deps neural-tangents==0.6.5" in res["error"]
    assert res["available"] is False
    assert res["structured_ok"]
    assert "pip install --no-deps neural-tangents==0.6.5" in res["nt_method_error"]


@requires_nt
def test_patching_changes_no_existing_jax_attribute():
    res = _run_python(
        """
        import json, sys
        import jax, jax.core, jax.extend.core, jax.interpreters.ad
        from spectral_layers import nt_compat
        owners = {"jax": jax, "jax.core": jax.core, "jax.interpreters.ad": jax.interpreters.ad,
                  "jax.extend.core.Primitive": jax.extend.core.Primitive}
        before = {k: dict(vars(o)) for k, o in owners.items()}
        modules = dict(sys.modules)
        nt_compat.import_neural_tangents()
        nt_compat.import_neural_tangents()
        changed = [f"{k}.{a}" for k, o in owners.items() for a, v in before[k].items()
                   if vars(o).get(a, "<removed>") is not v]
        # submodules imported the normal way (they have a __spec__) are not shims
        added = sorted(f"{k}.{a}" for k, o in owners.items() for a, v in vars(o).items()
                       if a not in before[k] and getattr(v, "__spec__", None) is None)
        replaced = [m for m, v in modules.items() if sys.modules.get(m) is not v]
        print(json.dumps({"changed": changed, "added": added, "replaced": replaced,
                          "filled": list(nt_compat.filled_names()),
                          "frozendict": "frozendict" in sys.modules and
                          sys.modules["frozendict"].__doc__.startswith("Stand-in")}))
        """
    )
    assert res["changed"] == []
    assert res["replaced"] == []
    assert not res["frozendict"]  # the stand-in is not left in sys.modules
    expected = {
        "jax.util",
        "jax.core.Jaxpr",
        "jax.core.JaxprEqn",
        "jax.core.Literal",
        "jax.core.Var",
        "jax.core.Primitive",
        "jax.interpreters.ad.zeros_like_p",
        "jax.extend.core.Primitive.map_primitive",
    }
    assert "jax.core.Jaxpr" in res["added"]  # jax 0.10 moved it: the shim was needed
    assert set(res["added"]) <= expected
    assert set(res["added"]) <= {name.split(" ")[0] for name in res["filled"]}


def test_import_failure_is_wrapped(monkeypatch):
    def broken():
        raise AttributeError("module 'jax.core' has no attribute 'Something'")

    monkeypatch.setitem(nt_compat._STATE, "module", None)
    monkeypatch.setattr(nt_compat, "_patch_jax", broken)
    with pytest.raises(nt_compat.NeuralTangentsUnavailable, match="failed to import") as info:
        nt_compat.import_neural_tangents()
    assert "AttributeError" in str(info.value)
    assert nt_compat.INSTALL_HINT in str(info.value)
    assert isinstance(info.value.__cause__, AttributeError)
    assert not nt_compat.nt_available()


def test_not_installed_in_process(monkeypatch):
    monkeypatch.setitem(nt_compat._STATE, "module", None)
    monkeypatch.setitem(sys.modules, "neural_tangents", None)
    with pytest.raises(nt_compat.NeuralTangentsUnavailable, match="not installed"):
        nt_compat.import_neural_tangents()


# -------------------------------------------------------------------------------------------------
# stax infinite-width kernels vs closed forms


def _relu_dual(s11, s12, s22):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for (u, v) ~ N(0, [[s11, s12], [s12, s22]]).

    Arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009, Eq. 6), halved:
    ``sqrt(s11 s22) (sin θ + (π − θ) cos θ) / (2π)`` and ``(π − θ) / (2π)``, with
    ``cos θ = s12 / sqrt(s11 s22)``.
    """
    norm = np.sqrt(s11 * s22)
    theta = np.arccos(np.clip(s12 / norm, -1.0, 1.0))
    return (
        norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi),
        (np.pi - theta) / (2 * np.pi),
    )


def _erf_dual(s11, s12, s22):
    """E[erf(u) erf(v)] (Williams 1997, Eq. 11) and E[erf'(u) erf'(v)] = (4/π) det(I + 2Σ)^(-1/2).

    The second: erf'(t) = (2/sqrt(π)) exp(−t²) and E[exp(−u² − v²)] = det(I + 2Σ)^(-1/2).
    """
    a, b = 1 + 2 * s11, 1 + 2 * s22
    e_phi = (2 / np.pi) * np.arcsin(2 * s12 / np.sqrt(a * b))
    e_dphi = (4 / np.pi) / np.sqrt(a * b - 4 * s12**2)
    return e_phi, e_dphi


def _gelu_dual_quadrature(s11, s12, s22, deg=120):
    """E[φ(u)φ(v)], E[φ'(u)φ'(v)] for the exact GELU, by tensor Gauss–Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(deg)  # weight exp(-z²/2), Σw = sqrt(2π)
    w = w / np.sqrt(2 * np.pi)
    z1, z2 = z[:, None], z[None, :]
    ww = w[:, None] * w[None, :]

    def gelu(t):
        return t * special.ndtr(t)

    def dgelu(t):
        return special.ndtr(t) + t * np.exp(-(t**2) / 2) / np.sqrt(2 * np.pi)

    s11, s12, s22 = (np.asarray(s)[..., None, None] for s in (s11, s12, s22))
    u = np.sqrt(s11) * z1
    v = s12 / np.sqrt(s11) * z1 + np.sqrt(np.maximum(s22 - s12**2 / s11, 0.0)) * z2
    return (ww * gelu(u) * gelu(v)).sum((-2, -1)), (ww * dgelu(u) * dgelu(v)).sum((-2, -1))


def _closed_form_kernels(dual, x1, x2, depth, w_std, b_std):
    """NNGP and NTK of ``serial(Dense, φ, …, Dense)``, ``depth`` Dense layers, NTK parameterisation.

    Recursion (Jacot et al. 2018, Thm. 1; Lee et al. 2019, Eqs. 14–15): Σ¹ = σ_w² xᵀx'/d + σ_b²,
    Σ^{ℓ+1} = σ_w² E[φφ] + σ_b², Σ̇^{ℓ+1} = σ_w² E[φ'φ'], Θ¹ = Σ¹, Θ^{ℓ+1} = Σ^{ℓ+1} + Σ̇^{ℓ+1} Θ^ℓ.
    """
    d = x1.shape[1]
    s12 = w_std**2 * x1 @ x2.T / d + b_std**2
    s11 = (w_std**2 * np.sum(x1**2, 1) / d + b_std**2)[:, None]
    s22 = (w_std**2 * np.sum(x2**2, 1) / d + b_std**2)[None, :]
    if x1 is x2:
        # exactly cos θ = 1 on the diagonal: the relu NTK has a sqrt singularity there, so a
        # rounding difference between x·x from the matmul and from the sum would move it by ~1e-8
        s11, s22 = np.diag(s12)[:, None], np.diag(s12)[None, :]
    ntk = s12
    for _ in range(depth - 1):
        e12, de12 = dual(s11, s12, s22)
        e11, _ = dual(s11, s11, s11)
        e22, _ = dual(s22, s22, s22)
        s12, s11, s22 = (w_std**2 * e + b_std**2 for e in (e12, e11, e22))
        ntk = s12 + w_std**2 * de12 * ntk
    return s12, ntk


def _inputs():
    x1 = np.asarray(jax.random.normal(jax.random.key(0), (5, 3)))
    x2 = np.asarray(jax.random.normal(jax.random.key(1), (4, 3)))
    return x1, x2


def _stax_net(act, depth, w_std, b_std):
    stax = NT.stax
    layers = []
    for _ in range(depth - 1):
        layers += [stax.Dense(7, W_std=w_std, b_std=b_std), act]
    return stax.serial(*layers, stax.Dense(1, W_std=w_std, b_std=b_std))


@requires_nt
@pytest.mark.parametrize(
    ("name", "depth", "w_std", "b_std"),
    [("relu", 2, 1.0, 0.0), ("relu", 4, 1.4, 0.3), ("erf", 2, 1.0, 0.0), ("erf", 3, 1.7, 0.5)],
)
def test_stax_matches_closed_form(name, depth, w_std, b_std):
    act, dual = {"relu": (NT.stax.Relu(), _relu_dual), "erf": (NT.stax.Erf(), _erf_dual)}[name]
    _, _, kernel_fn = _stax_net(act, depth, w_std, b_std)
    x1, x2 = _inputs()
    for a, b in ((x1, x2), (x1, x1)):
        nngp_ref, ntk_ref = _closed_form_kernels(dual, a, b, depth, w_std, b_std)
        np.testing.assert_allclose(kernel_fn(a, b, "nngp"), nngp_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(kernel_fn(a, b, "ntk"), ntk_ref, rtol=1e-10, atol=1e-10)
    # x2=None is the Gram matrix; the no-`get` call returns an nt.Kernel with both fields
    k = kernel_fn(x1, None)
    assert isinstance(k, NT.Kernel)
    nngp_ref, ntk_ref = _closed_form_kernels(dual, x1, x1, depth, w_std, b_std)
    np.testing.assert_allclose(k.ntk, ntk_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(k.nngp, nngp_ref, rtol=1e-10, atol=1e-10)
    assert k.replace(ntk=None).ntk is None
    assert k.replace(ntk=None).nngp is k.nngp


@requires_nt
def test_stax_gelu_and_numerical_match_quadrature():
    x1, x2 = _inputs()
    nngp_ref, ntk_ref = _closed_form_kernels(_gelu_dual_quadrature, x1, x2, 3, 1.3, 0.2)
    _, _, kernel_fn = _stax_net(NT.stax.Gelu(), 3, 1.3, 0.2)
    np.testing.assert_allclose(kernel_fn(x1, x2, "nngp"), nngp_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kernel_fn(x1, x2, "ntk"), ntk_ref, rtol=1e-10, atol=1e-10)
    # NT's numerical layer (its own Gauss–Hermite rule of degree `deg`) on erf vs Williams' closed
    # form; its error here is 3e-4 at deg=32, 1e-9 at deg=128, 1e-14 at deg=256
    nngp_ref, ntk_ref = _closed_form_kernels(_erf_dual, x1, x2, 3, 1.3, 0.2)
    with pytest.warns(UserWarning):
        act = NT.stax.ElementwiseNumerical(jax.scipy.special.erf, deg=256)
    _, _, kernel_fn = _stax_net(act, 3, 1.3, 0.2)
    k = kernel_fn(x1, x2, ("nngp", "ntk"))
    np.testing.assert_allclose(k[0], nngp_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(k[1], ntk_ref, rtol=1e-10, atol=1e-10)


# -------------------------------------------------------------------------------------------------
# empirical_ntk_fn vs brute-force Jacobian contraction

IMPLEMENTATIONS = ("JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS", "STRUCTURED_DERIVATIVES", "AUTO")


def _mlp(params, x):
    """Two-output tanh/erf MLP written directly in jnp (independent of spectral_layers.models)."""
    h = jnp.tanh(x @ params["w0"] / jnp.sqrt(x.shape[1]) + params["b0"][None, :])
    h = jax.scipy.special.erf(h @ params["w1"] / jnp.sqrt(h.shape[1]))
    return h @ params["w2"] / jnp.sqrt(h.shape[1]) + 0.5 * params["b2"][None, :]


@jax.jit
def _brute_force_ntk(params, x):
    """Θ[i, j, a, b] = Σ_p ∂f_a(x_i)/∂p ∂f_b(x_j)/∂p from the full ``jax.jacrev`` Jacobian."""
    jac = jax.jacrev(_mlp)(params, x)  # leaves (n, k, *param_shape)
    j_nkp = jnp.concatenate([v.reshape(*v.shape[:2], -1) for v in jax.tree.leaves(jac)], axis=-1)
    return jnp.einsum("iap,jbp->ijab", j_nkp, j_nkp, precision=jax.lax.Precision.HIGHEST)


def _params():
    keys = jax.random.split(jax.random.key(3), 5)
    return {
        "w0": jax.random.normal(keys[0], (3, 6)),
        "b0": jax.random.normal(keys[1], (6,)),
        "w1": jax.random.normal(keys[2], (6, 5)),
        "w2": jax.random.normal(keys[3], (5, 2)),
        "b2": jax.random.normal(keys[4], (2,)),
    }


@requires_nt
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS[:3])
def test_empirical_ntk_fn_matches_brute_force(implementation):
    params = _params()
    x1, x2 = _inputs()
    ref = _brute_force_ntk(params, jnp.concatenate([x1, x2]))  # (9, 9, 2, 2)
    impl = getattr(NT.NtkImplementation, implementation)
    full = NT.empirical_ntk_fn(_mlp, trace_axes=(), vmap_axes=0, implementation=impl)
    got = jax.jit(full)(x1, x2, params)  # (5, 4, 2, 2)
    np.testing.assert_allclose(got, ref[:5, 5:], rtol=1e-10, atol=1e-10)
    # default trace_axes=(-1,): the mean over the output axis
    traced = NT.empirical_ntk_fn(_mlp, vmap_axes=None, implementation=impl)
    got = jax.jit(traced)(x1, None, params)  # (5, 5)
    np.testing.assert_allclose(got, jnp.einsum("ijaa->ij", ref[:5, :5]) / 2, rtol=1e-10, atol=1e-10)


@requires_nt
@pytest.mark.slow
def test_empirical_ntk_fn_auto_matches_brute_force(capsys):
    params = _params()
    x1, x2 = _inputs()
    ref = _brute_force_ntk(params, jnp.concatenate([x1, x2]))
    auto = NT.empirical_ntk_fn(_mlp, trace_axes=(), implementation=NT.NtkImplementation.AUTO)
    np.testing.assert_allclose(auto(x1, x2, params), ref[:5, 5:], rtol=1e-10, atol=1e-10)
    assert "flops" in capsys.readouterr().out  # AUTO prints each implementation's flops (NT code)
