"""Kernel tracking during training (``training.train_layers(track=True)``, ``kernel_track``) and the
``experiments.training_width`` experiment (files, CLI and ``--plot-only`` are covered for every
experiment by ``tests/experiments/test_experiments.py``)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import training_width as tw_reg
from experiments import training_width_mnist as twm_reg
from experiments.framework.cli import RunContext
from experiments.protocols import training_width as tw
from spectral_layers.empirical import layer_ntk
from spectral_layers.models import init_mlp
from spectral_layers.training import kernel_track, train_layers
from tests._fakes import smooth_images, write_mnist
from tests._net import assert_config_rejected
from tests._typecheck import unchecked

N, D = 16, 3
TRAIN_KW = dict(learning_rate=0.5, steps=6, log_every=2)


def _data(n=N, d=D, seed=1):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jnp.sin(2.0 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * jax.random.normal(ky, (n,))
    comps = jnp.stack([jnp.sin(2.0 * x[:, 0]), x[:, 1] * x[:, 2], x[:, 2]])
    return x, y, comps


def _net():
    return init_mlp(jax.random.key(0), D, depth=3, width=16, use_bias=True)


def _direct(apply_fn, params_t, grams0, x, y, comps):
    """The tracked statistics from Grams formed directly (Jacobian method, NumPy algebra)."""
    g = {k: np.asarray(v) for k, v in layer_ntk(apply_fn, params_t, x, method="jacobian").items()}
    y, comps = np.asarray(y), np.asarray(comps)
    norm = np.linalg.norm
    ntk = sum(g.values())
    return {
        "movement": [norm(g[k] - grams0[k]) / norm(grams0[k]) for k in g],
        "contributions": [[c @ g[k] @ c for k in g] for c in comps],
        "alignment": [y @ g[k] @ y / (norm(g[k]) * (y @ y)) for k in g],
        "ntk_alignment": y @ ntk @ y / (norm(ntk) * (y @ y)),
    }


def _gd_step(apply_fn, params, x, y, layers, lr):
    """θ_ℓ ← θ_ℓ − η ∇_{θ_ℓ} 1/(2n) Σ (f − y)² for the layers in ``layers``."""

    def loss(p):
        return 0.5 * jnp.mean((apply_fn(p, x) - y) ** 2)

    grads = jax.grad(loss)(params)
    return {
        k: jax.tree.map(lambda a, g: a - lr * g, v, grads[k]) if k in layers else v
        for k, v in params.items()
    }


@pytest.mark.parametrize(
    "extra",
    [
        dict(),
        dict(track_block_size=5, progress=True),  # blocked norms (16 = 3·5 + 1: padded rows)
    ],
)
def test_tracking_equals_grams_formed_directly_at_the_logged_steps(extra):
    x, y, comps = _data()
    apply_fn, params = _net()
    layers = ("layer_0", "layer_2")  # the frozen layer_1 moves too (its inputs and outputs do)
    res = train_layers(
        apply_fn, params, x, y, layers=layers, track=True, track_components=comps,
        **TRAIN_KW, **extra,
    )  # fmt: skip
    track = res.track
    assert track.layers == ("layer_0", "layer_1", "layer_2")
    T = len(res.steps)
    assert track.movement.shape == (T, 3) and track.contributions.shape == (T, 3, 3)
    assert track.alignment.shape == (T, 3) and track.ntk_alignment.shape == (T,)
    g0 = {k: np.asarray(v) for k, v in layer_ntk(apply_fn, params, x, method="jacobian").items()}
    p_t, step = params, 0
    for j, t in enumerate(res.steps):
        while step < t:  # hand-written full-batch GD up to step t (no optax, no scan)
            p_t = _gd_step(apply_fn, p_t, x, y, layers, 0.5)
            step += 1
        ref = _direct(apply_fn, p_t, g0, x, y, comps)
        np.testing.assert_allclose(track.movement[j], ref["movement"], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(track.contributions[j], ref["contributions"], rtol=1e-10)
        np.testing.assert_allclose(track.alignment[j], ref["alignment"], rtol=1e-10)
        np.testing.assert_allclose(track.ntk_alignment[j], ref["ntk_alignment"], rtol=1e-10)
    assert (track.movement[-1] > 1e-3).all()  # it did move, the frozen layer included
    # kernel_track on the final parameters gives the last logged row.
    grams0 = layer_ntk(apply_fn, params, x)
    end = kernel_track(apply_fn, res.params, x, y, grams0, components=comps, block_size=7)
    np.testing.assert_allclose(end.movement, track.movement[-1], rtol=1e-10)
    np.testing.assert_allclose(end.contributions, track.contributions[-1], rtol=1e-10)
    np.testing.assert_allclose(end.ntk_alignment, track.ntk_alignment[-1], rtol=1e-10)


def test_zero_learning_rate_gives_exactly_zero_movement():
    x, y, _ = _data()
    apply_fn, params = _net()
    stacked = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
    for kw in (dict(), dict(track_block_size=5)):
        res = train_layers(
            apply_fn, stacked, x, y, optimizer=optax.sgd(0.0), steps=4, log_every=2,
            stacked=True, track=True, **kw,
        )  # fmt: skip
        np.testing.assert_array_equal(res.track.movement, 0.0)
        assert res.track.movement.shape == (2, 3, 3)
        # Nothing changes, so the contributions and alignments are constant in time. The step-0
        # statistics are compiled outside the training scan and the later ones inside it, and XLA
        # does not promise bitwise-equal reductions across fusion contexts: the alignment (a ratio
        # of Frobenius norms) may differ in the last ulp (measured 1.7e-16), the movement may not.
        c, a = res.track.contributions, res.track.ntk_alignment
        np.testing.assert_array_equal(c, np.broadcast_to(c[:, :1], c.shape))
        np.testing.assert_allclose(a, np.broadcast_to(a[:, :1], a.shape), rtol=4 * 2.3e-16)
    # kernel_track against the parameters' own Grams: exactly zero as well.
    grams = layer_ntk(apply_fn, stacked, x, stacked=True)
    same = kernel_track(apply_fn, stacked, x, y, grams, stacked=True)
    np.testing.assert_array_equal(same.movement, 0.0)


def test_layer_axis_follows_layer_order_beyond_ten_layers():
    # A dict that crosses a jit boundary comes back key-sorted (layer_10 before layer_2): the
    # layer axis must still follow the network's order.
    x, y, _ = _data(n=6)
    apply_fn, params = init_mlp(jax.random.key(2), D, depth=12, width=4, activation="tanh")
    moved = jax.tree.map(
        lambda a: a * (1.0 + 0.1 * jnp.cos(jnp.arange(a.size).reshape(a.shape))), params
    )
    grams0 = layer_ntk(apply_fn, params, x)
    track = kernel_track(apply_fn, moved, x, y, grams0)
    assert track.layers == tuple(f"layer_{i}" for i in range(12))
    ref = _direct(apply_fn, moved, {k: np.asarray(v) for k, v in grams0.items()}, x, y, y[None])
    assert np.isfinite(ref["movement"]).all() and len(set(np.round(ref["movement"], 6))) == 12
    np.testing.assert_allclose(track.movement, ref["movement"], rtol=1e-10)
    np.testing.assert_allclose(track.contributions, ref["contributions"], rtol=1e-10)


def _custom_apply(params, x):
    """A model that is not an ``init_mlp`` network (tracking uses the Jacobian path)."""
    h = jnp.tanh(x @ params["inner"]["w"] + params["inner"]["b"][None, :])
    return (h @ params["outer"]["w"])[:, 0]


def test_tracking_any_model_against_hand_made_jacobians():
    x, y, comps = _data()
    k1, k2 = jax.random.split(jax.random.key(5))
    params = {
        "inner": {"w": jax.random.normal(k1, (D, 8)), "b": jnp.zeros(8)},
        "outer": {"w": jax.random.normal(k2, (8, 1)) / jnp.sqrt(8.0)},
    }
    res = train_layers(
        _custom_apply, params, x, y, learning_rate=0.2, steps=3, log_every=3, track=True,
        track_components=comps,
    )  # fmt: skip

    def grams(p):  # G_ℓ = J_ℓ J_ℓᵀ from jax.jacrev of each subtree, flattened by hand
        out = {}
        for name in p:
            jac = jax.jacrev(lambda sub, name=name: _custom_apply({**p, name: sub}, x))(p[name])
            j = np.concatenate([np.asarray(a).reshape(N, -1) for a in jax.tree.leaves(jac)], 1)
            out[name] = j @ j.T
        return out

    g0, g1 = grams(params), grams(res.params)
    assert res.track.layers == ("inner", "outer")
    for i, name in enumerate(res.track.layers):
        move = np.linalg.norm(g1[name] - g0[name]) / np.linalg.norm(g0[name])
        np.testing.assert_allclose(res.track.movement[-1, i], move, rtol=1e-10)
        c = np.einsum("kn,nm,km->k", np.asarray(comps), g1[name], np.asarray(comps))
        np.testing.assert_allclose(res.track.contributions[-1, :, i], c, rtol=1e-10)


def test_tracking_default_components_and_bad_arguments():
    x, y, _ = _data()
    apply_fn, params = _net()
    res = train_layers(apply_fn, params, x, y, track=True, **TRAIN_KW)
    assert res.track.contributions.shape == (len(res.steps), 1, 3)  # default: y itself
    # Alignment of each layer: c_ℓ(y) / (‖G_ℓ‖_F ‖y‖²), so c = A ‖G‖_F ‖y‖² is positive.
    assert (res.track.alignment > 0).all() and (res.track.alignment <= 1).all()
    assert train_layers(apply_fn, params, x, y, **TRAIN_KW).track is None
    with pytest.raises(ValueError, match="track=True"):
        train_layers(apply_fn, params, x, y, track_block_size=4, **TRAIN_KW)
    with unchecked(), pytest.raises(ValueError, match="track_components"):  # the package's message
        train_layers(apply_fn, params, x, y, track=True, track_components=y[:5][None], **TRAIN_KW)
    with pytest.raises(ValueError, match="track_block_size"):
        train_layers(apply_fn, params, x, y, track=True, track_block_size=0, **TRAIN_KW)
    with pytest.raises(ValueError, match="reference"):
        kernel_track(apply_fn, params, x, y, {"layer_0": jnp.eye(N)})


def test_one_learning_rate_per_seed_equals_separate_runs():
    x, y, _ = _data()
    apply_fn, params = _net()
    seeds = [params, jax.tree.map(lambda a: 0.5 * a, params)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *seeds)
    rates = np.array([0.3, 0.7])
    for progress in (False, True):
        res = train_layers(
            apply_fn, stacked, x, y, learning_rate=rates, steps=4, log_every=2, stacked=True,
            track=True, progress=progress,
        )  # fmt: skip
        for i, (p, lr) in enumerate(zip(seeds, rates)):
            one = train_layers(
                apply_fn, p, x, y, learning_rate=float(lr), steps=4, log_every=2, track=True
            )
            np.testing.assert_allclose(res.outputs[i], one.outputs, rtol=1e-12)
            np.testing.assert_allclose(res.track.movement[i], one.track.movement, rtol=1e-10)
    with pytest.raises(ValueError, match="learning_rate"):
        train_layers(apply_fn, stacked, x, y, learning_rate=rates[:1], steps=2, stacked=True)
    with pytest.raises(ValueError, match="learning_rate"):
        train_layers(apply_fn, params, x, y, learning_rate=rates, steps=2)
    with pytest.raises(ValueError, match="learning_rate"):
        train_layers(apply_fn, stacked, x, y, learning_rate=-rates, steps=2, stacked=True)


# ------------------------------------------------------------------------------------------------
# the experiment


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("tw")
    res = tw_reg.main(["--scale", "smoke", "--out", str(out), "--no-progress"])
    return tw_reg.EXPERIMENT.config("smoke"), res, out


@pytest.mark.slow
def test_smoke_saves_the_documented_arrays(smoke):
    cfg, res, out = smoke
    saved = np.load(out / "training_width.npz")
    W, Dr, S, K, L = (
        len(cfg.widths),
        cfg.num_draws,
        cfg.num_seeds,
        len(cfg.degrees),
        cfg.network.depth,
    )
    T = cfg.num_logs + 1
    R = L + 2
    shapes = {
        "widths": (W,),
        "kernel_movement": (W, Dr, S, L),
        "movement": (W, Dr, S, R, L),
        "movement_trajectory": (W, Dr, S, T, L),
        "prediction_error": (W, Dr, S, R),
        "ratios_init": (W, Dr, S, K, L),
        "ratios_end": (W, Dr, S, K, L),
        "contrast_ratios_end": (W, Dr, S, K, L),
        "contributions": (W, Dr, S, 2, T, K, L),
        "alignment": (W, Dr, S, 2, T, L),
        "ntk_alignment": (W, Dr, S, 2, T),
        "learning_rates": (W, Dr, S, R),
        "stability": (W, Dr, S, R),
        "losses": (W, Dr, S, R, T),
        "movement_slopes": (L,),
        "prediction_error_slopes": (R,),
        "octave_slopes": (W - 1, L),
        "octave_slopes_networks": (W - 1, Dr * S, L),
        "tail_fit": (L, 2),
        "crossing_measured": (L,),
        "crossing_fit": (L,),
    }
    for k, shape in shapes.items():
        assert saved[k].shape == shape, k
    np.testing.assert_array_equal(saved["widths"], cfg.widths)
    assert [str(s) for s in saved["run_names"]] == [
        *(f"layer_{i}" for i in range(L)),
        tw.ALL_LAYERS,
        tw.CONTRAST,
    ]
    # The all-layers run's movement is the end of its trajectory; it starts at exactly 0.
    np.testing.assert_array_equal(res["kernel_movement"], res["movement_trajectory"][:, :, :, -1])
    np.testing.assert_array_equal(res["movement_trajectory"][:, :, :, 0], 0.0)
    # The single-layer runs and the contrast exist up to all_runs_max_width, NaN beyond; the
    # all-layers run exists everywhere.
    made = np.asarray(cfg.widths) <= cfg.all_runs_max_width
    assert 0 < made.sum() < W  # the smoke scale covers both
    names = [str(s) for s in saved["run_names"]]
    others = [i for i, nm in enumerate(names) if nm != tw.ALL_LAYERS]
    assert np.isfinite(res["prediction_error"][made]).all()
    assert np.isnan(res["prediction_error"][~made][..., others]).all()
    assert np.isfinite(res["prediction_error"][..., names.index(tw.ALL_LAYERS)]).all()
    assert np.isnan(res["contrast_ratios_end"][~made]).all()
    assert np.isfinite(res["kernel_movement"]).all()
    # The last layer alone is linear in its weights: its kernel prediction is exact up to the
    # rounding of the training dtype, and its own kernel does not move (earlier layers frozen).
    last = L - 1
    eps = np.finfo(cfg.dtype).eps
    assert res["prediction_error"][made][..., last].max() < 1e4 * eps
    np.testing.assert_array_equal(res["movement"][made][..., last, last], 0.0)
    # Ratios are relative to the last layer.
    np.testing.assert_allclose(res["ratios_init"][..., -1], 1.0)
    rows = tw.summarize(res, cfg)
    assert any("high frequencies" in r["check"] for r in rows)
    assert all({"check", "measured", "expected", "verdict"} <= set(r) for r in rows)


@pytest.mark.slow
def test_summary_per_claim_and_regime(smoke):
    cfg, res, _ = smoke
    rows = tw.summarize(res, cfg)
    for claim in ("A", "D"):  # one row per width and one per regime (narrow, wide) for each claim
        per_width = [
            r for r in rows if r["check"].startswith("width ") and f"claim {claim}" in r["check"]
        ]
        regimes = [
            r for r in rows if "widths" in r["check"][:20] and f"claim {claim}" in r["check"]
        ]
        assert len(per_width) == len(cfg.widths) and len(regimes) == 2
    # every octave in the fitted tail: no narrow regime, and no crash after the run
    rows = tw.summarize(res, dataclasses.replace(cfg, tail_octaves=len(cfg.widths) - 1))
    assert not [r for r in rows if r["check"].startswith("narrow")]
    assert len([r for r in rows if r["check"].startswith("wide")]) == 2


@pytest.mark.slow
def test_same_seed_same_numbers_and_draws_differ(smoke):
    cfg, res, _ = smoke
    again = tw.run(cfg, RunContext("training_width", progress=False))
    assert sorted(again) == sorted(res)
    for k in res:
        np.testing.assert_array_equal(again[k], res[k], err_msg=k)
    # Draws resample the data: their initial contributions differ.
    c = res["contributions"][0, :, 0, 0, 0]  # (draws, K, L) at the smallest width, seed 0, t = 0
    assert not np.allclose(c[0], c[1])


def test_default_and_paper_scales_span_the_widths():
    # issue 23: >= 128x of width in octaves, up to >= 2048 (default) and >= 8192 (paper)
    for scale, widest in (("default", 2048), ("paper", 8192)):
        cfg = tw_reg.EXPERIMENT.config(scale)
        w = np.asarray(cfg.widths)
        assert w[-1] >= widest and w[-1] >= 128 * w[0], scale
        np.testing.assert_array_equal(w[1:], 2 * w[:-1], err_msg=scale)  # octaves
        assert cfg.num_draws >= 8, scale
    paper = tw_reg.EXPERIMENT.config("paper")
    assert (paper.dim, paper.num_points, paper.network.depth) == (10, 500, 4)


@pytest.mark.slow
def test_draw_ratios_are_ratios_of_seed_mean_contributions(smoke):
    # Per draw: mean over seeds of the contributions of (run, step), then divided by the last layer;
    # not a mean (or geometric mean) of the saved per-seed ratios.
    _, res, _ = smoke
    c = np.asarray(res["contributions"])  # (W, D, S, 2, T, K, L)
    for key, (run, step) in tw.RATIO_SOURCES.items():
        mean = c[:, :, :, run, step].mean(axis=2)  # (W, D, K, L)
        np.testing.assert_allclose(tw.draw_ratios(res, key), mean / mean[..., -1:], rtol=1e-12)
        per_seed = c[:, :, :, run, step] / c[:, :, :, run, step][..., -1:]
        np.testing.assert_allclose(res[key], per_seed, rtol=1e-12)  # the saved per-seed ratios


def test_fitted_slopes_recover_a_power_law():
    widths = np.array([16.0, 64.0, 256.0])
    values = 3.0 * widths[:, None, None, None] ** -0.5 * np.ones((3, 2, 2, 4))
    np.testing.assert_allclose(tw.fitted_slopes(widths, values), -0.5, rtol=1e-12)


def test_movement_rates_of_a_broken_power_law():
    # median movement 4·m^{-1/2} up to 256, then continuous with slope -1: octave slopes -1/2 then
    # -1; the tail fit (last two octaves) has slope -1 and crosses 0.1 where the curve does.
    widths = 16.0 * 2.0 ** np.arange(8)
    curve = np.where(widths <= 256, 4 * widths**-0.5, 4 * 16 * widths**-1.0)  # (W,)
    noise = np.array([0.9, 1.0, 1.1])  # three networks; the median is the curve itself
    mv = curve[:, None, None, None] * noise[None, :, None, None] * np.ones((8, 3, 1, 2))
    mv[..., 1] *= 10  # a second layer, ten times higher: never below 0.1 within the widths
    got = tw.movement_rates(widths, mv, tail_octaves=2, level=0.1)
    expected = np.where(widths[1:] <= 256, -0.5, -1.0)
    np.testing.assert_allclose(got["octave_slopes"], np.stack([expected, expected], 1), atol=1e-12)
    np.testing.assert_allclose(got["octave_slopes_networks"][:, 1, 0], expected, atol=1e-12)
    np.testing.assert_allclose(got["tail_fit"][:, 0], -1.0, atol=1e-12)
    # 64/m = 0.1 at m = 640, between 512 and 1024 on the 1/m branch
    np.testing.assert_allclose(got["crossing_measured"][0], 640.0, rtol=1e-12)
    np.testing.assert_allclose(got["crossing_fit"], [640.0, 6400.0], rtol=1e-10)
    assert got["crossing_measured"][1] == np.inf


BAD_CONFIGS = {  # --set override -> the field the error names
    "widths=64": "widths",
    "widths=64,32": "widths",
    "num_draws=0": "num_draws",
    "lr_factor=2": "lr_factor",
    "contrast_lr_factor=0": "contrast_lr_factor",
    "num_logs=500": "num_logs",
    "degrees=2": "degrees",
    "dtype=float16": "dtype",
    "all_runs_max_width=4": "all_runs_max_width",
    "tail_octaves=0": "tail_octaves",
    "level=0": "level",
}


@pytest.mark.parametrize("override", BAD_CONFIGS)
def test_bad_config_fails_before_work(override, tmp_path, capsys):
    assert_config_rejected(tw_reg, override, BAD_CONFIGS[override], tmp_path, capsys)


# ------------------------------------------------------------------------------------------------
# training_width_mnist: the same protocol on images, targets along PC 1 (PCConfig)


@pytest.mark.filterwarnings("ignore:.*differs from the published:UserWarning")  # tiny files
def test_pc_components_against_numpy_svd_and_qr(tmp_path):
    # Independent route: NumPy's SVD for the principal component and QR for the Gram–Schmidt.
    rng = np.random.default_rng(5)
    images = smooth_images(rng, 90, (28, 28))
    write_mnist(tmp_path / "mnist", {"test": images}, rng)
    cfg = tw.PCConfig(
        data_dir=str(tmp_path), split="test", num_points=60, degrees=(1, 2, 4), target_rms=1.5
    )
    with jax.enable_x64(True):
        x, comps = cfg.draw_data(jax.random.key(3))
        x, comps = np.asarray(x), np.asarray(comps)
    assert x.dtype == comps.dtype == np.float64 and comps.shape == (3, 60)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)  # unit-norm images
    flat = images.reshape(90, -1) / 255.0
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    match = np.abs(x @ unit.T - 1) < 1e-12  # every point is one of the files' images
    assert (match.sum(axis=1) == 1).all() and len(set(match.argmax(axis=1))) == 60
    xc = x - x.mean(axis=0)
    t = xc @ np.linalg.svd(xc, full_matrices=False)[2][0]
    t = -np.pi + 2 * np.pi * (t - t.min()) / (t.max() - t.min())  # cos: the PC's sign is immaterial
    raw = np.stack([np.cos(k * t) for k in cfg.degrees], axis=1)
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    expected = q.T * 1.5 * np.sqrt(60)
    signs = np.sign(np.sum(expected * comps, axis=1, keepdims=True))
    np.testing.assert_allclose(comps, signs * expected, atol=1e-10)
    np.testing.assert_allclose(comps @ comps.T, 1.5**2 * 60 * np.eye(3), atol=1e-9)


def test_pc_config_checks_and_scales():
    for field, value in (("dataset", "svhn"), ("split", "val"), ("pc_kind", "tan")):
        with pytest.raises(ValueError, match=field):
            tw.PCConfig(**{field: value})
    with pytest.raises(ValueError, match="num_points"):
        tw.PCConfig(num_points=4, degrees=(1, 2, 3, 4))
    tw.PCConfig(num_points=5, degrees=(1, 2, 3, 4), dim=2)  # dim is not used by the images
    cfg = twm_reg.EXPERIMENT.config("default")
    assert isinstance(cfg, tw.PCConfig) and cfg.widths == tw.Config().widths
    assert twm_reg.EXPERIMENT.config("smoke").data_dir == "synthetic"
    assert twm_reg.EXPERIMENT.config("paper").widths[-1] >= 8192
    with pytest.raises(ValueError, match="claim"):
        tw.bias_verdicts(np.ones((2, 3, 2, 2)), claim="B")


def test_claim_d_tolerates_a_dip_that_claim_a_does_not():
    # One width, 5 draws, degrees 1..3, two layers: layer 0's ratio dips at degree 2 in every draw.
    r = np.ones((1, 5, 3, 2))
    r[..., 0] = [1.0, 0.8, 1.5]
    assert tw.bias_verdicts(r, claim="A")[0][0][0] == "fails"
    assert tw.bias_verdicts(r, claim="D")[0][0][0] == "holds"
    assert tw._kept("holds", "fails") == "lost" and tw._kept("fails", "holds").startswith("absent")


def test_crossing_widths_are_written_for_a_reader():
    widths = np.array([16, 32, 64])
    assert tw._width(np.inf, widths) == "> 64" and tw._width(np.nan, widths) == "< 16 or n/a"
    assert tw._width(1479.4, widths) == "1479"
    assert tw._width(4.8012e22, widths) == "4.8e+22"  # a flat fit's extrapolation: no false digits
