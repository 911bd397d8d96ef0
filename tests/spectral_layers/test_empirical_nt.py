"""``layer_ntk(method="nt")`` (neural-tangents' ``empirical_ntk_fn`` per layer subtree) against the
structured and Jacobian methods.

Three independent computations of the per-layer Grams of paper Eq. 1 must agree: the structured
formula ``s_w² (H Hᵀ) ∘ (Δ Δᵀ) + s_b² Δ Δᵀ``, the contraction of ``jax.jacrev`` Jacobians, and
neural-tangents (through ``spectral_layers.nt_compat``). The cases cover every activation, bias,
both parameterisations and depths 2–6 without the full cartesian product.
"""

import importlib.util
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers import init_mlp, init_mlp_seeds, layer_ntk, nt_compat

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("neural_tangents") is None,
    reason=f"neural-tangents is not installed (`{nt_compat.INSTALL_HINT}`)",
)

IN_DIM = 3


def _inputs(dtype=jnp.float64):
    x1 = jax.random.normal(jax.random.key(10), (6, IN_DIM), dtype)
    x2 = jax.random.normal(jax.random.key(11), (5, IN_DIM), dtype)
    return x1, x2


def _assert_close(got, ref, rel):
    """Every layer: ``|got − ref| <= rel · max|ref|`` elementwise (same layers, same shapes)."""
    assert list(got) == list(ref)
    for name in ref:
        g, r = np.asarray(got[name]), np.asarray(ref[name])
        assert g.shape == r.shape, name
        np.testing.assert_allclose(g, r, rtol=rel, atol=rel * np.abs(r).max(), err_msg=name)


# (activation, use_bias, parameterization, depth, extra init_mlp kwargs, nt implementation); the
# Jacobian method is compiled for the first and third case only (it dominates the runtime)
CASES = [
    ("relu", True, "standard", 2, {"sigma_b": 0.3}, "NTK_VECTOR_PRODUCTS"),
    ("tanh", True, "standard", 3, {}, "NTK_VECTOR_PRODUCTS"),
    ("erf", True, "ntk", 4, {"sigma_w": 1.5, "sigma_b": 0.5}, "JACOBIAN_CONTRACTION"),
    ("gelu", True, "ntk", 3, {"input_scaling": "none"}, "STRUCTURED_DERIVATIVES"),
    ("gelu", False, "ntk", 6, {"width": (9, 5, 12, 7, 4), "sigma_w": 0.8}, "NTK_VECTOR_PRODUCTS"),
]
WITH_JACOBIAN = (0, 2)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_nt_matches_structured_and_jacobian_x64(case):
    activation, bias, param, depth, kwargs, impl = CASES[case]
    kwargs = {"width": 8, **kwargs}
    apply_fn, params = init_mlp(
        jax.random.key(depth),
        IN_DIM,
        depth=depth,
        activation=activation,
        use_bias=bias,
        parameterization=param,
        **kwargs,
    )
    x1, x2 = _inputs()
    nt = layer_ntk(apply_fn, params, x1, x2, method="nt", nt_implementation=impl)
    assert all(g.dtype == jnp.float64 and g.shape == (6, 5) for g in nt.values())
    structured = layer_ntk(apply_fn, params, x1, x2, method="structured")
    _assert_close(nt, structured, 1e-10)
    if case in WITH_JACOBIAN:
        jacobian = layer_ntk(apply_fn, params, x1, x2, method="jacobian")
        _assert_close(nt, jacobian, 1e-10)
        _assert_close(structured, jacobian, 1e-10)


def test_nt_gram_block_size_and_stacked_x64():
    apply_fn, params = init_mlp_seeds(
        jax.random.key(5), 3, IN_DIM, depth=2, width=8, activation="relu", use_bias=False
    )
    x1, _ = _inputs()
    # Gram (x2=None), rows in blocks of 4 (the last one padded), three seeds in one vmapped call
    nt = layer_ntk(apply_fn, params, x1, method="nt", block_size=4, stacked=True)
    structured = layer_ntk(apply_fn, params, x1, method="structured", stacked=True)
    assert all(g.shape == (3, 6, 6) for g in nt.values())
    _assert_close(nt, structured, 1e-10)
    # a Gram matrix is symmetric
    for g in nt.values():
        np.testing.assert_allclose(g, jnp.swapaxes(g, 1, 2), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("activation", "bias", "param", "depth", "impl"),
    [
        ("relu", False, "ntk", 3, "NTK_VECTOR_PRODUCTS"),
        ("tanh", True, "standard", 2, "STRUCTURED_DERIVATIVES"),
    ],
)
def test_nt_float32(activation, bias, param, depth, impl):
    kw = {"depth": depth, "width": 16, "activation": activation, "use_bias": bias}
    apply_fn, params = init_mlp(
        jax.random.key(7), IN_DIM, parameterization=param, dtype=jnp.float32, **kw
    )
    x1, x2 = _inputs(jnp.float32)
    nt = layer_ntk(apply_fn, params, x1, x2, method="nt", nt_implementation=impl)
    structured = layer_ntk(apply_fn, params, x1, x2, method="structured")
    assert all(g.dtype == jnp.float32 for g in (*nt.values(), *structured.values()))
    # float64 reference: the same float32 parameters and inputs, upcast
    params64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    ref = layer_ntk(apply_fn, params64, x1.astype(jnp.float64), x2.astype(jnp.float64))
    for name in ref:
        scale = np.linalg.norm(ref[name])
        assert np.linalg.norm(nt[name] - ref[name]) <= 1e-5 * scale, name
        assert np.linalg.norm(structured[name] - ref[name]) <= 1e-5 * scale, name
        assert np.linalg.norm(nt[name] - structured[name]) <= 1e-5 * scale, name


@pytest.mark.slow
def test_benchmark_main_smoke(capsys, monkeypatch):
    """``benchmarks/bench_layer_ntk.py`` runs end to end on a tiny configuration."""
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        "benchmarks",
        "bench_layer_ntk.py",
    )
    spec = importlib.util.spec_from_file_location("bench_layer_ntk", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_layer_ntk", bench)  # dataclasses look the module up
    spec.loader.exec_module(bench)
    argv = "--n 8 --d 4 --width 5 --depth 2 --repeats 1 --nt-probe-n 4 --big-n 16 --block-size 5"
    argv += " --small-n 4 --small-d 3 --small-width 3"
    results = bench.main(argv.split())
    out = capsys.readouterr().out
    assert set(results) == {"structured", "floor", "jacobian", "nt", "structured_big"}
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    assert "targets" in out and "jacobian_fwd" in out


@pytest.mark.parametrize("implementation", ["STRUCTURED_DERIVATIVES", "JACOBIAN_CONTRACTION"])
def test_nt_with_a_slice_and_with_logits(implementation):
    """A slice in the output path (``f(p, x)[:, 0]``, ViT's ``x[:, 0]``) works through ``nt_compat``;
    logits follow neural-tangents' axes, with a sum (not NT's mean) over traced axes."""
    params = {
        "w": jax.random.normal(jax.random.key(0), (3, 4)),
        "v": jax.random.normal(jax.random.key(1), (4, 3)),
    }
    x = jax.random.normal(jax.random.key(2), (5, 3))

    def logits(p, x):
        return jnp.tanh(x @ p["w"]) @ p["v"]

    for kwargs in ({}, {"trace_axes": ()}, {"trace_axes": (), "diagonal_axes": (-1,)}):
        got = layer_ntk(logits, params, x, method="nt", nt_implementation=implementation, **kwargs)
        ref = layer_ntk(logits, params, x, method="jacobian", **kwargs)
        for name in ref:
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-10, atol=1e-12)
    first = layer_ntk(
        lambda p, x: logits(p, x)[:, 0], params, x, method="nt", nt_implementation=implementation
    )
    ref = layer_ntk(lambda p, x: logits(p, x)[:, 0], params, x)
    for name in ref:
        np.testing.assert_allclose(first[name], ref[name], rtol=1e-10, atol=1e-12)
