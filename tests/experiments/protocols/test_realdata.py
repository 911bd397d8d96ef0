"""Tests of the real-data experiments (Figures 3, 5, 6, 7; ``experiments.realdata``).

Every dataset file is written here in its real format (MNIST: gzipped IDX, LeCun et al.'s header
layout written with ``struct``; CIFAR-10: a protocol-2 pickle with bytes keys, like the official
batches), so ``main`` runs end to end without network. The numbers are checked against independent
computations: the targets against NumPy formulas on the images read back from the test arrays, the
contributions against a second method (gradient identity vs Grams; Jacobian Grams + NumPy ``eigh``
for the eigenvector targets), and exact identities (``Σ_ℓ vᵀG^(ℓ)v = λ``; invariance under a global
input scale for a ReLU network without bias).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pickle
import warnings

import jax
import numpy as np
import pytest

from experiments.framework import cli as fw
from experiments.framework import shared
from experiments.protocols import realdata
from spectral_layers.data import DatasetUnavailableError, DatasetWarning
from tests._fakes import assert_first_draw, smooth_images, write_mnist

REALDATA = ("fig3_mnist_radial", "fig5_mnist_pc", "fig6_mnist_eigvec", "fig7_cifar_pc")
RNG = np.random.default_rng(20240611)
N_TRAIN, N_TEST = 80, 72  # images per split in the test files (smoke scale samples 64)

# Tiny files never match the official checksums.
pytestmark = pytest.mark.filterwarnings("ignore:.*differs from the published:UserWarning")


def _module(name):
    return importlib.import_module(f"experiments.{name}")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A parent folder with ``mnist/`` (train + test IDX), ``cifar-10-batches-py/test_batch``."""
    root = tmp_path_factory.mktemp("data")
    mnist = {
        "train": smooth_images(RNG, N_TRAIN, (28, 28)),
        "test": smooth_images(RNG, N_TEST, (28, 28)),
    }
    write_mnist(root / "mnist", mnist, RNG)
    # CIFAR-10 rows hold the R, G, B planes (1024 bytes each); only the test batch exists.
    cifar_hwc = smooth_images(RNG, N_TEST, (32, 32, 3))
    rows = np.concatenate([cifar_hwc[..., c].reshape(N_TEST, 1024) for c in range(3)], axis=1)
    entry = {
        b"batch_label": b"test",
        b"labels": [int(v) for v in RNG.integers(0, 10, N_TEST)],
        b"data": rows,
        b"filenames": [],
    }
    (root / "cifar-10-batches-py").mkdir()
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    return root, mnist


@pytest.fixture(scope="module")
def smoke_runs(data_root, tmp_path_factory):
    """``main`` at smoke scale on the test files for every real-data module, with its warnings."""
    root, _ = data_root
    out = tmp_path_factory.mktemp("out")
    runs = {}
    for name in REALDATA:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = _module(name).main(
                ["--scale", "smoke", "--out", str(out), "--data-dir", str(root), "--no-progress"]
            )
        runs[name] = (res, [w for w in caught if issubclass(w.category, DatasetWarning)])
    return out, runs


def mnist_points(data_root, results, draw: int = 0) -> np.ndarray:
    """A draw's sampled inputs, rebuilt from the test arrays and the saved indices (pixels / 255)."""
    _, mnist = data_root
    images = mnist[str(results["split"])]
    indices = results["indices"][draw]
    return images[indices].reshape(len(indices), -1) / 255.0


def cfg_of(out, name):
    meta = json.loads((out / f"{name}.json").read_text())
    return fw.config_from_dict(realdata.Config, meta["config"])


@pytest.mark.parametrize("name", REALDATA)
def test_main_writes_everything_and_replots(name, smoke_runs, data_root):
    out, runs = smoke_runs
    res, dataset_warnings = runs[name]
    fallbacks = [
        str(w.message) for w in dataset_warnings if "using the test split" in str(w.message)
    ]
    for suffix in (".npz", ".json", ".pdf", ".png"):
        assert (out / f"{name}{suffix}").stat().st_size > 0, suffix
    assert not (out / f"{name}.partial.npz").exists()
    meta = json.loads((out / f"{name}.json").read_text())
    assert meta["config"]["data_dir"] == str(data_root[0]) and meta["checks"]
    cfg = cfg_of(out, name)
    num_panels = 2 * (len(cfg.pc_kinds) if cfg.target == "pc" else 1)
    num_d, num_k = cfg.num_draws, len(cfg.degrees)
    shape = (num_d, cfg.num_seeds, num_panels, num_k, cfg.network.depth)
    assert res["contributions"].shape == shape
    assert res["infinite"].shape == (num_d, *shape[2:])
    assert np.all(res["contributions"] > 0) and np.all(res["infinite"] > 0)
    assert res["indices"].shape == (num_d, cfg.num_points)
    for indices in res["indices"]:  # each draw: n distinct images
        assert len(set(indices.tolist())) == cfg.num_points
    num_rows = 1 if cfg.target == "eigvec" else num_panels
    assert res["targets"].shape == (num_rows, num_k, cfg.num_points)  # draw 0's
    if cfg.target == "eigvec":
        assert res["eigenvalues"].shape == (num_d, cfg.num_seeds, num_k)
        assert res["eigenvalues_infinite"].shape == (num_d, num_k)
    if cfg.dataset == "mnist":  # both splits present: "any" takes the train split, silently
        assert str(res["split"]) == "train" and int(res["num_available"]) == N_TRAIN
        assert not fallbacks
    else:  # only the CIFAR test batch: falls back with a warning saying so
        assert str(res["split"]) == "test" and int(res["num_available"]) == N_TEST
        assert fallbacks
    if name != "fig5_mnist_pc":  # --plot-only of every module: test_experiments.py
        return
    (out / f"{name}.png").unlink()
    replot = _module(name).main(["--plot-only", "--out", str(out)])
    assert (out / f"{name}.png").exists()
    assert sorted(replot) == sorted(res)
    for k in res:
        np.testing.assert_array_equal(replot[k], res[k], err_msg=k)


def _unit(y):
    return y / np.linalg.norm(y, axis=-1, keepdims=True)


def test_radial_targets_match_numpy(data_root, smoke_runs):
    """sin(k r̃), r = ‖x − x̄‖ mapped onto [0, 2π] (data_targets docstring), recomputed in NumPy."""
    res = smoke_runs[1]["fig3_mnist_radial"][0]
    x = mnist_points(data_root, res)
    r = np.linalg.norm(x - x.mean(axis=0), axis=1)
    r = 2 * np.pi * (r - r.min()) / (r.max() - r.min())
    y = np.stack([np.sin(k * r) for k in res["degrees"]])
    np.testing.assert_allclose(res["targets"][0], _unit(y), atol=1e-12)
    np.testing.assert_allclose(res["targets"][1], _unit(y - y.mean(1, keepdims=True)), atol=1e-12)


def test_principal_component_targets_match_numpy(data_root, smoke_runs):
    """sin/cos(k t̃), t the projection on the top right-singular vector, mapped onto [−π, π]."""
    res = smoke_runs[1]["fig5_mnist_pc"][0]
    x = mnist_points(data_root, res)
    xc = x - x.mean(axis=0)
    t = xc @ np.linalg.svd(xc, full_matrices=False)[2][0]
    t = -np.pi + 2 * np.pi * (t - t.min()) / (t.max() - t.min())
    ks = res["degrees"][:, None]
    for row, fn in enumerate((np.sin, np.cos)):  # smoke: pc_kinds = ("sin", "cos")
        y = fn(ks * t)
        for col, target in enumerate((_unit(y), _unit(y - y.mean(1, keepdims=True)))):
            got = res["targets"][2 * row + col]
            sign = np.sign(np.sum(got * target))  # the PC's sign flips sin, not cos
            assert fn is np.sin or sign == 1
            np.testing.assert_allclose(got, sign * target, atol=1e-12)


def test_gram_and_gradient_methods_agree(data_root, smoke_runs):
    """yᵀG^(ℓ)y from structured Grams equals ‖∇_θℓ ⟨y, f(X)⟩‖² (contributions module docstring)."""
    out, runs = smoke_runs
    cfg = cfg_of(out, "fig5_mnist_pc")
    res = realdata.run(dataclasses.replace(cfg, contribution_method="gradient"))
    ref = runs["fig5_mnist_pc"][0]
    np.testing.assert_allclose(res["contributions"], ref["contributions"], rtol=1e-10)
    np.testing.assert_array_equal(res["infinite"], ref["infinite"])


def test_eigenvector_identities(smoke_runs):
    """Σ_ℓ vᵀG^(ℓ)v = vᵀ(Σ_ℓ G^(ℓ))v = λ for each network's own eigenvectors; same at ∞ width
    (every draw)."""
    res = smoke_runs[1]["fig6_mnist_eigvec"][0]
    np.testing.assert_allclose(
        res["contributions"][:, :, 0].sum(-1), res["eigenvalues"], rtol=1e-10
    )
    np.testing.assert_allclose(
        res["infinite"][:, 0].sum(-1), res["eigenvalues_infinite"], rtol=1e-10
    )
    np.testing.assert_array_equal(res["infinite"][:, 0], res["infinite"][:, 1])
    assert np.all(np.diff(res["eigenvalues"], axis=-1) <= 0)  # ranks in decreasing order
    assert np.all(np.diff(res["eigenvalues_infinite"], axis=-1) <= 0)
    v = res["targets"][0]
    np.testing.assert_allclose(v @ v.T, np.eye(len(v)), atol=1e-12)


def test_eigenvector_contributions_match_jacobian_grams(data_root, smoke_runs):
    """Draw 0, seed 0 recomputed independently: Jacobian Grams (jax.jacrev), NumPy eigh, NumPy forms."""
    from spectral_layers.empirical import layer_ntk
    from spectral_layers.models import init_mlp

    out, runs = smoke_runs
    res = runs["fig6_mnist_eigvec"][0]
    cfg = cfg_of(out, "fig6_mnist_eigvec")
    x = mnist_points(data_root, res)
    # draw r: split(fold_in(key(seed), r)) = (subset key, k_init); seed s: fold_in(k_init, s)
    k_init = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), 0))[1]
    apply_fn, params = init_mlp(jax.random.fold_in(k_init, 0), x.shape[1], **cfg.network.kwargs())
    grams = [np.asarray(g) for g in layer_ntk(apply_fn, params, x, method="jacobian").values()]
    lam, vecs = np.linalg.eigh(sum(grams))
    cols = [len(lam) - k for k in res["degrees"]]  # rank k (1 = largest) in ascending order
    own = np.stack([[v @ g @ v for g in grams] for v in vecs[:, cols].T])
    np.testing.assert_allclose(res["eigenvalues"][0, 0], lam[cols], rtol=1e-9)
    np.testing.assert_allclose(res["contributions"][0, 0, 0], own, rtol=1e-8)
    fixed = np.stack([[v @ g @ v for g in grams] for v in res["targets"][0]])
    np.testing.assert_allclose(res["contributions"][0, 0, 1], fixed, rtol=1e-9)


def test_relative_contributions_invariant_to_input_scale(data_root):
    """ReLU without bias is positively homogeneous: x → αx scales every G^(ℓ) and κ^(ℓ) by α²."""
    root, _ = data_root
    cfg = _module("fig3_mnist_radial").EXPERIMENT.config("smoke", data_dir=str(root))
    scaled = realdata.run(cfg)
    raw = realdata.run(dataclasses.replace(cfg, scale_pixels=False))  # pixels 0…255
    for key in ("contributions", "infinite"):
        np.testing.assert_allclose(raw[key], 255.0**2 * scaled[key], rtol=1e-9, err_msg=key)
    np.testing.assert_allclose(raw["targets"], scaled["targets"], atol=1e-12)


def test_smoke_scale_runs_without_files():
    """Without --data-dir, smoke scale makes images in-process (tests/experiments/test_experiments.py)."""
    for name in REALDATA:
        assert _module(name).EXPERIMENT.config("smoke").data_dir == realdata.SYNTHETIC
    a = shared.synthetic_images(jax.random.key(3), "cifar10", 5)
    assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, shared.synthetic_images(jax.random.key(3), "cifar10", 5))


@pytest.mark.parametrize(
    "name,override,match",
    [
        ("fig3_mnist_radial", "dataset=svhn", "dataset"),
        ("fig3_mnist_radial", "target=fourier", "target"),
        ("fig3_mnist_radial", "degrees=0,1", "degrees"),
        ("fig3_mnist_radial", "degrees=2,2", "degrees"),
        ("fig3_mnist_radial", "num_points=2", "num_points"),
        ("fig3_mnist_radial", "network.width=0", "width"),
        ("fig3_mnist_radial", "network.depth=1", "depth"),
        ("fig3_mnist_radial", "split=validation", "split"),
        ("fig3_mnist_radial", "normalize=l2", "normalize"),
        ("fig5_mnist_pc", "pc_kinds=sin,tan", "pc_kinds"),
        ("fig5_mnist_pc", "target_scale=octave", "target_scale"),
        ("fig6_mnist_eigvec", "contribution_method=gradient", "contribution_method"),
        ("fig6_mnist_eigvec", "degrees=1,65", "degrees"),
        ("fig7_cifar_pc", "seed_chunk=0", "seed_chunk"),
    ],
)
def test_bad_config_fails_before_work(name, override, match, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _module(name).main(["--scale", "smoke", "--out", str(tmp_path), "--set", override])
    assert match in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_missing_or_too_small_dataset_fails_clearly(data_root, tmp_path):
    root, _ = data_root
    mod = _module("fig3_mnist_radial")
    base = ["--scale", "smoke", "--out", str(tmp_path), "--debug"]
    with pytest.raises(DatasetUnavailableError, match="does not exist"):
        mod.main([*base, "--data-dir", str(tmp_path / "no")])
    with pytest.raises(DatasetUnavailableError, match="min_points=200"):
        mod.main([*base, "--data-dir", str(root), "--set", "num_points=200"])
    assert not list(tmp_path.glob("*.json"))


# --------------------------------------------------------------------------------------------------
# independent draws of the image subset (synthetic images, smoke scale)

PER_DRAW = ("indices", "contributions", "infinite", "eigenvalues", "eigenvalues_infinite")
"""Result arrays with a leading draw axis (the eigenvalues: ``eigvec`` only)."""


@pytest.mark.parametrize("name", ["fig3_mnist_radial", "fig6_mnist_eigvec"])
def test_draws_resample_the_images_and_nest(name):
    from experiments.framework import verdicts

    cfg = _module(name).EXPERIMENT.config("smoke", num_points=32)
    assert cfg.data_dir == realdata.SYNTHETIC and cfg.num_draws == 2
    res = realdata.run(cfg)
    # draw r's subset is the documented one: draw_points with draw_keys(cfg, r)
    images, split = realdata.load_images(cfg)
    assert str(res["split"]) == split and int(res["num_available"]) == len(images)
    for r in range(cfg.num_draws):
        _, indices = realdata.draw_points(cfg, images, realdata.draw_keys(cfg, r)[0])
        np.testing.assert_array_equal(res["indices"][r], indices)
    assert set(res["indices"][0].tolist()) != set(res["indices"][1].tolist())
    assert not np.allclose(res["contributions"][0], res["contributions"][1])
    # one draw: draw 0 of two, exactly (targets: draw 0's in both)
    one = realdata.run(dataclasses.replace(cfg, num_draws=1))
    assert_first_draw(one, res, PER_DRAW)
    # REPORT rows: every claim row carries a verdict of the rule
    rows = realdata.summarize(res, cfg)
    claims = [r for r in rows if r["check"].startswith(tuple(verdicts.CLAIMS.values()))]
    assert len(claims) == 4 * 2  # claims A, B, C, D for each of the two panels
    for row in claims:
        assert row["verdict"] in {"holds", "fails", "unresolved"}, row
        assert "2 draws" in row["check"] and "∞-width on the same points" in row["expected"]
