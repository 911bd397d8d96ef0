"""What is specific to ``experiments.fig4_layer_training`` (files, CLI and ``--plot-only`` are
covered for every experiment by ``tests/test_experiments.py``)."""

import jax
import numpy as np
import pytest

from experiments import fig4_layer_training as fig4
from experiments._framework import RunContext
from spectral_layers.gegenbauer import gegenbauer_polynomial
from tests._net import assert_config_rejected


@pytest.fixture(scope="module")
def smoke():
    cfg = fig4.EXPERIMENT.config("smoke")
    return cfg, fig4.run(cfg, RunContext("fig4_layer_training", progress=False))


def test_log_schedule_by_hand():
    # Decade j logs every 10^(j+1)/per_decade steps; the last segment stops at `steps`.
    assert fig4.log_schedule(250, 10) == [(10, 1), (90, 10), (150, 100)]
    expected = [*range(11), *range(20, 101, 10), 200, 250]
    np.testing.assert_array_equal(fig4.schedule_steps(fig4.log_schedule(250, 10)), expected)
    np.testing.assert_array_equal(fig4.schedule_steps(fig4.log_schedule(7, 20)), range(8))


def test_components_orthogonal_and_free_of_lower_degrees():
    cfg = fig4.EXPERIMENT.config("smoke")
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
    r_meas, r_pred = res["r_measured"][:, last], res["r_empirical"][:, last]
    assert r_meas.shape == (cfg.num_seeds, len(res["steps"]), len(cfg.degrees))
    np.testing.assert_allclose(r_meas, r_pred, rtol=0, atol=1e-10 * r_meas[:, 0].max())
    assert r_meas[:, -1].max() < r_meas[:, 0].max()  # it did train
    # Its Gram (σ_w²/m) h hᵀ depends only on the frozen layers: bit-identical after training.
    np.testing.assert_array_equal(res["kernel_change"][:, last], 0.0)
    assert (res["kernel_change"][:, :last] > 0).all()
    # The other layers are not linear: their measured and predicted trajectories differ.
    assert np.abs(res["r_measured"][:, 0] - res["r_empirical"][:, 0]).max() > 1e-6


def test_learning_rate_normalises_the_infinite_kernel(smoke):
    cfg, res = smoke
    np.testing.assert_allclose(
        res["learning_rates"] * res["lambda_max_infinite"] / cfg.num_points, cfg.lr_factor
    )
    assert res["stability"].shape == (cfg.num_seeds, cfg.network.depth + 1)
    assert (res["stability"] > 0).all()


def test_same_seed_same_numbers(smoke):
    cfg, res = smoke
    again = fig4.run(cfg, RunContext("fig4_layer_training", progress=False))
    assert sorted(again) == sorted(res)
    for k in res:
        np.testing.assert_array_equal(again[k], res[k], err_msg=k)


def test_summary_rows(smoke):
    cfg, res = smoke
    rows = {r["check"]: r for r in fig4.summarize(res, cfg)}
    exact = next(r for c, r in rows.items() if c.startswith("last layer alone"))
    assert exact["verdict"] == "agrees", exact
    assert all({"check", "measured", "expected", "verdict"} <= set(r) for r in rows.values())


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
    ],
)
def test_bad_config_fails_before_work(override, match, tmp_path, capsys):
    assert_config_rejected(fig4, override, match, tmp_path, capsys)
