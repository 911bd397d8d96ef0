"""What is specific to ``experiments.fig4_layer_training`` (files, CLI and ``--plot-only`` are
covered for every experiment by ``tests/test_experiments.py``)."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments import fig4_layer_training as fig4_reg
from experiments.framework import verdicts
from experiments.framework.cli import RunContext
from experiments.protocols import layer_training as fig4
from spectral_layers.gegenbauer import gegenbauer_polynomial
from tests._net import assert_config_rejected


@pytest.fixture(scope="module")
def smoke():
    cfg = fig4_reg.EXPERIMENT.config("smoke")
    return cfg, fig4.run(cfg, RunContext("fig4_layer_training", progress=False))


def test_log_schedule_by_hand():
    # Decade j logs every 10^(j+1)/per_decade steps; the last segment stops at `steps`.
    assert fig4.log_schedule(250, 10) == [(10, 1), (90, 10), (150, 100)]
    expected = [*range(11), *range(20, 101, 10), 200, 250]
    np.testing.assert_array_equal(fig4.schedule_steps(fig4.log_schedule(250, 10)), expected)
    np.testing.assert_array_equal(fig4.schedule_steps(fig4.log_schedule(7, 20)), range(8))


def test_components_orthogonal_and_free_of_lower_degrees():
    cfg = fig4_reg.EXPERIMENT.config("smoke")
    x, Y = fig4.target_components(cfg, jax.random.key(3))
    x, Y = np.asarray(x), np.asarray(Y)
    n = cfg.num_points
    np.testing.assert_allclose(Y @ Y.T, n * np.eye(len(cfg.degrees)), atol=1e-9 * n)
    # Independent of the monomial basis used for the projection: every polynomial of degree j < i,
    # here P_j(<x, c>) for random directions c, is orthogonal to the degree-i component.
    c = np.random.default_rng(4).standard_normal((5, cfg.dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    for row, i in zip(Y, cfg.degrees):
        for j in range(i):
            p = np.asarray(gegenbauer_polynomial(j, cfg.dim, x @ c.T))  # (n, 5)
            overlap = row @ p / (np.linalg.norm(row) * np.linalg.norm(p, axis=0))
            np.testing.assert_allclose(overlap, 0.0, atol=1e-10, err_msg=f"degree {i} vs {j}")


def test_last_layer_prediction_is_exact(smoke):
    # f is linear in the last layer's weights, so e(t) = (I − ηG/n)^t e(0) holds exactly for
    # gradient descent on that layer: autodiff training vs the eigendecomposition of layer_ntk.
    cfg, res = smoke
    last = cfg.network.depth - 1
    r_meas, r_pred = res["r_measured"][:, :, last], res["r_empirical"][:, :, last]
    assert r_meas.shape == (cfg.num_draws, cfg.num_seeds, len(res["steps"]), len(cfg.degrees))
    np.testing.assert_allclose(r_meas, r_pred, rtol=0, atol=1e-10 * r_meas[..., 0, :].max())
    # It trained where gradient descent is stable (η λ_max(G)/n < 2). Where it is not (at width 16 a
    # draw's empirical λ_max can exceed the infinite-width one that sets η) only the top mode grows,
    # which in 10 steps need not dominate the residual: nothing is asserted there beyond exactness.
    stable = res["stability"][:, :, last] < 2  # (D, S)
    start, end = r_meas[..., 0, :].max(-1), r_meas[..., -1, :].max(-1)
    assert stable.any()
    assert (end[stable] < start[stable]).all()
    # Its Gram (σ_w²/m) h hᵀ depends only on the frozen layers: bit-identical after training.
    np.testing.assert_array_equal(res["kernel_change"][:, :, last], 0.0)
    assert (res["kernel_change"][:, :, :last] > 0).all()
    # The other layers are not linear: their measured and predicted trajectories differ.
    assert np.abs(res["r_measured"][:, :, 0] - res["r_empirical"][:, :, 0]).max() > 1e-6


def test_shapes_have_a_draw_axis(smoke):
    cfg, res = smoke
    d, s, runs = cfg.num_draws, cfg.num_seeds, cfg.network.depth + 1
    t, k = len(res["steps"]), len(cfg.degrees)
    for name in ("r_measured", "r_empirical", "r_infinite"):
        assert res[name].shape == (d, s, runs, t, k), name
    for name in ("stability", "kernel_change"):
        assert res[name].shape == (d, s, runs), name
    for kind in ("measured", "empirical", "infinite"):
        assert res[f"halving_{kind}"].shape == (d, s, runs, k), kind
    assert res["learning_rates"].shape == res["lambda_max_infinite"].shape == (d, runs)


def test_learning_rate_normalises_each_draws_infinite_kernel(smoke):
    cfg, res = smoke
    np.testing.assert_allclose(
        res["learning_rates"] * res["lambda_max_infinite"] / cfg.num_points, cfg.lr_factor
    )
    assert (res["stability"] > 0).all()
    # Each draw has its own points, hence its own infinite-width kernel and learning rates.
    assert (res["learning_rates"][0] != res["learning_rates"][1]).all()


def test_two_draws_have_different_points_and_targets():
    cfg = fig4_reg.EXPERIMENT.config("smoke")
    (x0, y0), (x1, y1) = fig4.draw_data(cfg, 0), fig4.draw_data(cfg, 1)
    assert x0.shape == x1.shape == (cfg.num_points, cfg.dim)
    assert np.abs(np.asarray(x0) - np.asarray(x1)).min() > 0  # every point resampled
    assert not np.allclose(np.asarray(y0), np.asarray(y1))
    # Draw r's data come from fold_in(key(seed), r), split into (data, init).
    k_data, _ = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), 1))
    np.testing.assert_array_equal(fig4.target_components(cfg, k_data)[0], x1)


def test_same_seed_same_numbers(smoke):
    cfg, res = smoke
    again = fig4.run(cfg, RunContext("fig4_layer_training", progress=False))
    assert sorted(again) == sorted(res)
    for k in res:
        np.testing.assert_array_equal(again[k], res[k], err_msg=k)


def test_one_draw_is_draw_zero_of_two(smoke):
    cfg, res = smoke
    assert cfg.num_draws == 2
    one = fig4.run(
        dataclasses.replace(cfg, num_draws=1), RunContext("fig4_layer_training", progress=False)
    )
    assert sorted(one) == sorted(res)
    for k in ("degrees", "steps"):
        np.testing.assert_array_equal(one[k], res[k], err_msg=k)
    for k in set(res) - {"degrees", "steps"}:
        assert one[k].shape[0] == 1, k
        np.testing.assert_array_equal(one[k][0], res[k][0], err_msg=k)
    # ... and draw 1 is not a copy of draw 0.
    assert not np.allclose(res["r_measured"][1], res["r_measured"][0])


def test_killed_run_resumes_after_the_last_finished_draw(smoke, tmp_path, monkeypatch):
    cfg, res = smoke
    real, calls = fig4.target_components, {"n": 0}

    def dies_on_second_draw(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(fig4, "target_components", dies_on_second_draw)
    ctx = RunContext("fig4_layer_training", out_dir=tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fig4.run(cfg, ctx)
    assert (tmp_path / "fig4_layer_training.partial.npz").exists()
    calls["n"] = 0
    resumed = fig4.run(cfg, ctx)
    assert calls["n"] == 1  # draw 0 came from the checkpoint; only draw 1 was computed again
    for k in res:
        np.testing.assert_array_equal(resumed[k], res[k], err_msg=k)


def test_ordering_verdict_rule():
    ok, bad = [1.0, 2.0, 3.0, np.inf], [3.0, 2.0, 1.0, np.inf]
    v = fig4.ordering_verdict
    assert v(np.array([ok] * 8 + [bad] * 2), 0.8) == ("holds", 0.8, 0.2)
    assert v(np.array([ok] * 7 + [bad] * 3), 0.8)[0] == "unresolved"
    assert v(np.array([bad] * 9 + [ok]), 0.8) == ("fails", 0.1, 0.9)
    assert v(np.array([bad] * 7 + [ok] * 3), 0.8)[0] == "unresolved"
    # A draw with a NaN counts neither way; an all-NaN layer makes the median undecidable.
    nan = [1.0, np.nan, 3.0, 4.0]
    assert v(np.array([ok] * 8 + [nan] * 2), 0.8) == ("holds", 0.8, 0.0)
    assert v(np.array([[1.0, np.nan, 3.0, 4.0]] * 4), 0.8) == ("unresolved", 0.0, 0.0)
    # Layers that both never halved (inf, inf) are in order; layer 0 must have halved.
    assert fig4.earlier_layers_faster(np.array([1.0, 2.0, np.inf, np.inf]))
    assert not fig4.earlier_layers_faster(np.array([np.inf, np.inf, np.inf, np.inf]))
    assert not fig4.earlier_layers_faster(np.array([1.0, 1.0, 2.0, 3.0]))  # strict


def test_summary_rows(smoke):
    cfg, res = smoke
    rows = fig4.summarize(res, cfg)
    assert all({"check", "measured", "expected", "verdict"} <= set(r) for r in rows)
    exact = next(r for r in rows if r["check"].startswith("last layer alone"))
    assert exact["verdict"] == "agrees", exact
    claims = [r for r in rows if "training one layer" in r["check"]]
    assert len(claims) == 2
    for r in claims:
        assert verdicts.rule_text(cfg.agreement) in r["check"]
        assert r["verdict"] in ("holds", "fails", "unresolved")
        assert "of draws" in r["measured"]
    # The claim rows judge the per-draw seed means under the rule, as ordering_verdict does.
    t = res["halving_measured"]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_draw = (t[..., -1] / t[..., 0]).mean(axis=1)[:, : cfg.network.depth]
    assert claims[0]["verdict"] == fig4.ordering_verdict(per_draw, cfg.agreement)[0]


@pytest.mark.parametrize(
    "override,match",
    [
        ("num_points=60", "num_points"),  # degree 3 in d = 10 needs n > C(12, 2) = 66
        ("lr_factor=2", "lr_factor"),
        ("degrees=2,1", "degrees"),
        ("steps=0", "steps"),
        ("network.depth=1", "depth"),
        ("target_rms=0", "target_rms"),
        ("dim=2", "dim"),
        ("num_draws=0", "num_draws"),
        ("agreement=0.5", "agreement"),
    ],
)
def test_bad_config_fails_before_work(override, match, tmp_path, capsys):
    assert_config_rejected(fig4_reg, override, match, tmp_path, capsys)
