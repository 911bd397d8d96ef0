"""Sharded Grams equal single-device Grams (x64, 1e-12) on 4 forced host devices, n not divisible by 4.

XLA's device count is fixed at start-up, so the check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import spectral_layers as sl
    from spectral_layers.sharding import make_mesh
    assert jax.device_count() == 4, jax.devices()
    mesh = make_mesh()
    x1 = jax.random.normal(jax.random.key(0), (13, 3))  # 13 rows: not divisible by 4
    x2 = jax.random.normal(jax.random.key(1), (6, 3))
    f, p = sl.init_mlp(jax.random.key(2), 3, depth=3, width=8, activation="tanh", use_bias=True)
    fs, ps = sl.init_mlp_seeds(jax.random.key(3), 2, 3, depth=3, width=8)
    net = sl.Network(depth=3, activation="tanh")
    cases = [
        (sl.layer_ntk(f, p, x1, mesh=mesh), sl.layer_ntk(f, p, x1)),
        (sl.layer_ntk(f, p, x1, x2, mesh=mesh), sl.layer_ntk(f, p, x1, x2)),
        (sl.layer_ntk(f, p, x1, x2, mesh=mesh, method="jacobian"), sl.layer_ntk(f, p, x1, x2)),
        (sl.layer_ntk(fs, ps, x1, mesh=mesh, stacked=True), sl.layer_ntk(fs, ps, x1, stacked=True)),
        (sl.infinite_layer_ntk(x1, x2, network=net, mesh=mesh),
         sl.infinite_layer_ntk(x1, x2, network=net)),
    ]
    for sharded, single in cases:
        assert list(sharded) == list(single)
        for k in single:
            assert sharded[k].shape == single[k].shape, (k, sharded[k].shape)
            np.testing.assert_allclose(sharded[k], single[k], rtol=1e-12, atol=1e-14)
    g = sl.layer_ntk(f, p, x1, mesh=mesh)["layer_0"]
    assert len(g.sharding.device_set) == 4
    print("SHARDED-OK")
    """
)


@pytest.mark.slow
def test_sharded_equals_single_device():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0 and "SHARDED-OK" in out.stdout, out.stderr[-3000:]


def test_make_mesh_and_errors():
    import jax

    from spectral_layers.sharding import make_mesh, sharded_rows

    mesh = make_mesh()
    assert mesh.shape["rows"] == jax.device_count()
    with pytest.raises(ValueError, match="devices"):
        make_mesh([])
    with pytest.raises(TypeError, match="mesh"):
        sharded_rows(lambda x: x, jax.numpy.ones((2, 2)), mesh="all")
