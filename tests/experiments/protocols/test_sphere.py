"""The sphere experiments (``experiments.sphere``) over independent draws: resampled points, identical
numbers from the same seed, nested draws and seeds, and undefined (NaN) ratios where a Mercer eigenvalue
vanishes (tanh without bias: every even degree)."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments import fig1_sphere_d2 as fig1
from experiments.framework import verdicts
from experiments.protocols import sphere
from tests._fakes import assert_first_draw

VERDICTS = {"holds", "fails", "unresolved"}
PER_DRAW = [f"{a}_{k}" for a in ("contributions", "infinite", "bias") for k in sphere.KINDS]
"""Result arrays with a leading draw axis."""


def _config(**overrides):
    """fig1 at smoke scale (2 draws × 2 seeds, width 16, k = 1, 2, 3) on 48 points."""
    return fig1.EXPERIMENT.config("smoke", **{"num_points": 48, **overrides})


@pytest.fixture(scope="module")
def relu():
    cfg = _config()
    return cfg, sphere.run(cfg)


@pytest.mark.parametrize("sampling", ["uniform", "equispaced"])
def test_draws_resample_the_points(sampling):
    cfg = _config(sampling=sampling)
    (x0, y0), (x1, y1) = (
        sphere.sample_points_and_targets(cfg, sphere.draw_keys(cfg, r)[0]) for r in (0, 1)
    )
    assert x0.shape == x1.shape == (48, 2) and y0.shape == y1.shape == (3, 48)
    np.testing.assert_allclose(np.linalg.norm(x0, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(y0, axis=1), 1.0, rtol=1e-12)
    assert not np.allclose(x0, x1) and not np.allclose(y0, y1)
    x0_again, y0_again = sphere.sample_points_and_targets(cfg, sphere.draw_keys(cfg, 0)[0])
    np.testing.assert_array_equal(x0_again, x0)
    np.testing.assert_array_equal(y0_again, y0)
    if sampling == "equispaced":  # a rotated grid: same spacing, different offset
        for x in (x0, x1):
            step = np.diff(np.unwrap(np.arctan2(x[:, 1], x[:, 0])))
            np.testing.assert_allclose(step, 2 * np.pi / 48, rtol=1e-10)
    # the data and init keys of a draw differ, and differ between draws
    keys = [np.asarray(jax.random.key_data(k)) for r in (0, 1) for k in sphere.draw_keys(cfg, r)]
    assert len({k.tobytes() for k in keys}) == 4


def test_result_layout(relu):
    cfg, res = relu
    d, s, k, num_layers = cfg.num_draws, cfg.num_seeds, len(cfg.degrees), cfg.network.depth
    assert (d, s) == (2, 2)
    assert "points" not in res
    for kind in sphere.KINDS:
        assert res[f"contributions_{kind}"].shape == (d, s, k, num_layers)
        assert res[f"infinite_{kind}"].shape == (d, k, num_layers)
        assert res[f"bias_{kind}"].shape == (d, k, num_layers - 1)
    assert res["mercer"].shape == (k, num_layers)
    assert res["mercer_ratio"].shape == (num_layers - 1, k)
    np.testing.assert_array_equal(res["degrees"], cfg.degrees)
    # ReLU: every degree is defined
    assert np.isfinite(res["mercer_ratio"]).all() and (res["mercer_ratio"] > 0).all()
    # draws resample the points: their contributions differ
    for key in ("contributions_raw", "infinite_raw"):
        assert not np.allclose(res[key][0], res[key][1]), key


def test_same_seed_same_numbers_and_nested_draws_and_seeds(relu):
    cfg, res = relu
    again = sphere.run(cfg)
    assert sorted(again) == sorted(res)
    for key in res:
        np.testing.assert_array_equal(again[key], res[key], err_msg=key)
    # one draw: draw 0 of two, exactly
    one = sphere.run(dataclasses.replace(cfg, num_draws=1))
    assert_first_draw(one, res, PER_DRAW)
    # one seed: seed 0 of two in every draw, exactly (seeds are nested in their draw)
    first = sphere.run(dataclasses.replace(cfg, num_seeds=1))
    for kind in sphere.KINDS:
        key = f"contributions_{kind}"
        np.testing.assert_array_equal(first[key], res[key][:, :1], err_msg=key)
        np.testing.assert_array_equal(first[f"infinite_{kind}"], res[f"infinite_{kind}"])


def test_relative_masks_undefined_ratios():
    c = np.array([[2.0, 3.0, 4.0], [1.0, 1.0, -1.0]])  # (K, L); k = 1: the last form is negative
    np.testing.assert_allclose(sphere.relative(c)[0], [0.5, 0.75, 1.0], rtol=1e-15)
    assert np.isnan(sphere.relative(c)[1, :-1]).all()
    ratio = np.array([[1.0, 2.0], [np.nan, 3.0]])  # (L-1, K): layer 1 undefined at k = 0
    rel = sphere.relative(c, ratio)
    np.testing.assert_allclose(rel[0], [0.5, np.nan, 1.0], rtol=1e-15)
    assert np.isnan(rel[1, :-1]).all()


def test_a_draw_ratio_is_the_ratio_of_seed_mean_contributions():
    # Two draws × three seeds, one degree, two layers. Draw 0's second seed has a negative last-layer
    # (debiased) form: its per-seed ratio is undefined, the draw's ratio of seed means is not.
    c = np.array(
        [
            [[[3.0, 2.0]], [[1.0, -0.5]], [[2.0, 1.5]]],
            [[[4.0, 1.0]], [[2.0, 2.0]], [[3.0, 3.0]]],
        ]
    )  # (D, S, K, L)
    assert np.isnan(sphere.relative(c)[0, 1, 0, 0])
    got = sphere.draw_ratios(c)
    np.testing.assert_allclose(got[:, 0, 0], [6.0 / 3.0, 9.0 / 6.0], rtol=1e-15)
    # not the mean of the per-seed ratios (draw 1: (4 + 1 + 1)/3 = 2 ≠ 1.5)
    assert sphere.relative(c)[1, :, 0, 0].mean() == pytest.approx(2.0)
    np.testing.assert_allclose(got[..., -1], 1.0)
    # a non-positive seed-mean last-layer form leaves the draw undefined
    c[1, :, 0, 1] = [-1.0, 0.5, 0.5]
    assert np.isnan(sphere.draw_ratios(c)[1, 0, 0])


def _undefined_named(rows, degrees):
    """The claim rows of each estimator, whose check names the undefined ``degrees``."""
    claims = [r for r in rows if r["check"].startswith(tuple(verdicts.CLAIMS.values()))]
    assert len(claims) == 4 * len(sphere.KINDS)  # claims A, B, C, D per estimator
    for row in claims:
        assert row["verdict"] in VERDICTS, row
        if degrees:
            assert f"k = {degrees} undefined (left out)" in row["check"], row["check"]
        else:
            assert "undefined" not in row["check"], row["check"]
    return claims


def test_tanh_without_bias_has_undefined_even_degrees():
    cfg = _config(**{"network.activation": "tanh", "degrees": (1, 2, 3, 4)})
    assert not cfg.network.use_bias
    res = sphere.run(cfg)
    ratio = res["mercer_ratio"]  # (L-1, K)
    even = np.asarray(cfg.degrees) % 2 == 0
    assert np.isnan(ratio[:, even]).all()
    assert np.isfinite(ratio[:, ~even]).all() and (ratio[:, ~even] > 0).all()
    for kind in sphere.KINDS:
        # the saved forms stay as measured; the ratios are NaN exactly at even k, for ℓ < L-1
        assert np.isfinite(res[f"contributions_{kind}"]).all(), kind
        assert np.isfinite(res[f"infinite_{kind}"]).all(), kind
        bias = res[f"bias_{kind}"]  # (D, K, L-1)
        assert np.isnan(bias[:, even]).all() and np.isfinite(bias[:, ~even]).all(), kind
    rel = sphere.relative(res["contributions_raw"], ratio)  # (D, S, K, L)
    assert np.isnan(rel[..., even, :-1]).all()
    assert np.isfinite(rel[..., ~even, :]).all() and (rel[..., ~even, :-1] > 0).all()
    np.testing.assert_array_equal(rel[..., -1], 1.0)
    assert np.isfinite(sphere.relative(res["contributions_raw"])).all()  # the mask is Mercer's
    rows = sphere.summarize(res, cfg)
    assert "k ∈ (1, 3)" in rows[0]["check"]  # the Mercer row: the defined degrees
    _undefined_named(rows, "2, 4")


def test_tanh_with_bias_defines_every_degree():
    cfg = _config(
        **{"network.activation": "tanh", "network.use_bias": True, "degrees": (1, 2, 3, 4)}
    )
    res = sphere.run(cfg)
    assert np.isfinite(res["mercer_ratio"]).all() and (res["mercer_ratio"] > 0).all()
    for kind in sphere.KINDS:
        assert np.isfinite(res[f"bias_{kind}"]).all(), kind
    rel = sphere.relative(res["contributions_raw"], res["mercer_ratio"])
    assert np.isfinite(rel).all() and (rel > 0).all()
    _undefined_named(sphere.summarize(res, cfg), "")
