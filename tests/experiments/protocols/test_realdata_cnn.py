"""The CNN version of Figure 7 (``experiments.cnn_cifar_pc``): its contributions, recomputed independently."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import cnn_cifar_pc as cnn
from experiments.protocols import realdata
from spectral_layers.empirical import layer_ntk


@pytest.fixture(scope="module")
def tiny():
    cfg = cnn.EXPERIMENT.config("smoke", num_seeds=2, num_points=20, channels=(3, 2))
    return cfg, realdata.run_cnn(cfg)


def test_contributions_match_jacobian_grams(tiny):
    """Draw 0, seed 1 recomputed: brute-force Jacobian Grams (jax.jacrev per layer) and NumPy forms."""
    cfg, res = tiny
    images_all, _ = realdata.load_images(cfg)
    k_pick, k_init = realdata.draw_keys(cfg, 0)
    x, indices = realdata.draw_points(cfg, images_all, k_pick)
    np.testing.assert_array_equal(indices, res["indices"][0])
    images = x.reshape(x.shape[0], 32, 32, 3)
    model = realdata.CNN(cfg.channels, cfg.kernel_size, cfg.stride)
    params = model.init(jax.random.fold_in(k_init, 1), images[:1])["params"]
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    grams = layer_ntk(lambda p, z: model.apply({"params": p}, z), params, images, method="jacobian")
    assert list(grams) == ["Conv_0", "Conv_1", "Dense_0"]  # call order
    y = res["targets"].reshape(-1, x.shape[0])  # draw 0's targets
    want = np.stack([[v @ np.asarray(g) @ v for g in grams.values()] for v in y])
    assert res["contributions"].shape == (cfg.num_draws, cfg.num_seeds, 4, 3, 3)
    got = res["contributions"][0, 1].reshape(len(y), -1)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # (draws, (sin, cos) × (raw, mean removed), degrees, layers)
    assert np.isnan(res["infinite"]).all() and res["infinite"].shape == (cfg.num_draws, 4, 3, 3)


def test_bad_config():
    with pytest.raises(ValueError, match="target"):
        realdata.CNNConfig(target="eigvec")
    with pytest.raises(ValueError, match="channels"):
        realdata.CNNConfig(channels=(0,))
    with pytest.raises(ValueError, match="dataset"):
        realdata.CNNConfig(dataset="mnist")
