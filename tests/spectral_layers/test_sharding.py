"""Sharded Grams and contributions equal single-device ones (x64, 1e-12) on 4 forced host devices.

Any mesh: the package's ``make_mesh`` (auto axes), ``jax.make_mesh`` (explicit axes in JAX 0.10; also as
the context mesh, and inside the caller's ``jit``), auto axes, a 2-D mesh with rows over either or both
axes; ``n`` not divisible by the number of shards, and divisible (the result then stays row-sharded on the
caller's mesh). XLA's device count is fixed at start-up, so the check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

import textwrap

import numpy as np
import pytest

from tests._fakes import run_on_four_cpu_devices

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    import spectral_layers as sl
    from spectral_layers import contributions as C
    from spectral_layers.sharding import make_mesh
    assert jax.device_count() == 4, jax.devices()
    x1 = jax.random.normal(jax.random.key(0), (13, 3))  # 13 rows: not divisible by 2 or 4
    x2 = jax.random.normal(jax.random.key(1), (6, 3))
    y = jax.random.normal(jax.random.key(4), (2, 13))
    f, p = sl.init_mlp(jax.random.key(2), 3, depth=3, width=8, activation="tanh", use_bias=True)
    fs, ps = sl.init_mlp_seeds(jax.random.key(3), 2, 3, depth=3, width=8)
    net = sl.Network(depth=3, activation="tanh")

    def close(sharded, single):
        assert list(sharded) == list(single)
        for k in single:
            assert sharded[k].shape == single[k].shape, (k, sharded[k].shape)
            np.testing.assert_allclose(sharded[k], single[k], rtol=1e-12, atol=1e-14)

    explicit = jax.make_mesh((4,), ("data",))
    assert explicit.axis_types == (AxisType.Explicit,)
    # every method and kernel on the explicit-axes mesh
    m = explicit
    close(sl.layer_ntk(f, p, x1, mesh=m), sl.layer_ntk(f, p, x1))
    close(sl.layer_ntk(f, p, x1, x2, mesh=m), sl.layer_ntk(f, p, x1, x2))
    close(sl.layer_ntk(f, p, x1, x2, mesh=m, method="jacobian"), sl.layer_ntk(f, p, x1, x2))
    close(sl.layer_ntk(fs, ps, x1, mesh=m, stacked=True), sl.layer_ntk(fs, ps, x1, stacked=True))
    close(sl.infinite_layer_ntk(x1, x2, network=net, mesh=m),
          sl.infinite_layer_ntk(x1, x2, network=net))
    close(C.layer_contributions(fs, ps, x1, y, stacked=True, mesh=m),
          C.layer_contributions(fs, ps, x1, y, stacked=True))
    close(C.layer_contributions(f, p, x1, y[0], mesh=m), C.layer_contributions(f, p, x1, y[0]))
    # inside the caller's jit
    close(jax.jit(lambda p, x: sl.layer_ntk(f, p, x, mesh=m))(p, x1), sl.layer_ntk(f, p, x1))
    close(jax.jit(lambda p, x: C.layer_contributions(f, p, x, y[1], mesh=m))(p, x1),
          C.layer_contributions(f, p, x1, y[1]))
    # divisible n: the Gram stays row-sharded, on the caller's mesh, usable under it as context mesh
    g = sl.layer_ntk(f, p, x1[:12], mesh=m)["layer_0"]
    assert g.sharding.mesh == m and g.sharding.spec == P("data"), g.sharding
    gs = sl.layer_ntk(fs, ps, x1[:12], mesh=m, stacked=True)["layer_1"]
    assert gs.sharding.spec == P(None, "data"), gs.sharding
    with jax.set_mesh(m):
        close(sl.layer_ntk(f, p, x1, mesh=m), sl.layer_ntk(f, p, x1))
        assert float(jnp.sum(g)) == float(jnp.sum(sl.layer_ntk(f, p, x1[:12])["layer_0"]))

    # the package's mesh, auto axes, 2-D meshes with rows over one axis or both
    auto = jax.make_mesh((4,), ("data",), axis_types=(AxisType.Auto,))
    two_d = jax.make_mesh((2, 2), ("a", "b"))
    for m, axis in [(make_mesh(), None), (auto, None), (two_d, None), (two_d, "b"),
                    (two_d, ("a", "b"))]:
        kw = dict(mesh=m, mesh_axis=axis)
        close(sl.layer_ntk(f, p, x1, x2, **kw), sl.layer_ntk(f, p, x1, x2))
        close(C.layer_contributions(fs, ps, x1, y, stacked=True, **kw),
              C.layer_contributions(fs, ps, x1, y, stacked=True))
        g = sl.layer_ntk(f, p, x1[:12], **kw)["layer_0"]
        rows = ("a",) if axis is None and m is two_d else (axis if isinstance(axis, tuple) else
               (axis or m.axis_names[0],))
        assert g.sharding.spec == P(rows if len(rows) > 1 else rows[0]), (g.sharding, rows)
    close(sl.infinite_layer_ntk(x1, network=net, mesh=two_d, mesh_axis="b"),
          sl.infinite_layer_ntk(x1, network=net))
    print("SHARDED-OK")
    """
)


@pytest.mark.slow
def test_sharded_equals_single_device_on_any_mesh():
    run_on_four_cpu_devices(SCRIPT, "SHARDED-OK")


def test_make_mesh_and_errors():
    import jax

    from spectral_layers.sharding import make_mesh, sharded_rows

    mesh = make_mesh()
    assert mesh.shape["rows"] == jax.device_count()
    with pytest.raises(ValueError, match="devices"):
        make_mesh([])
    with pytest.raises(TypeError, match="mesh"):
        sharded_rows(lambda x: x, jax.numpy.ones((2, 2)), mesh="all")
    with pytest.raises(ValueError, match="axis"):
        sharded_rows(lambda x: x, jax.numpy.ones((2, 2)), mesh=mesh, axis="data")


def test_gather_one_process():
    import jax

    import spectral_layers as sl
    from spectral_layers.sharding import gather, make_mesh

    x = jax.random.normal(jax.random.key(0), (5, 3))
    f, p = sl.init_mlp(jax.random.key(1), 3, depth=2, width=4)
    got = gather(sl.layer_ntk(f, p, x, mesh=make_mesh()))
    ref = sl.layer_ntk(f, p, x)
    assert all(isinstance(v, np.ndarray) for v in got.values())
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, atol=1e-14)


PRIMITIVES = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    from spectral_layers.sharding import make_mesh, row_mesh, sharded_sum, take
    assert jax.device_count() == 4, jax.devices()
    two_d = jax.make_mesh((2, 2), ("a", "b"))
    m, axes, shards = row_mesh(two_d)
    assert axes == ("a",) and shards == 2 and m.axis_types == (AxisType.Auto,) * 2, (axes, shards)
    assert row_mesh(two_d, ("a", "b"))[1:] == (("a", "b"), 4)
    x = jax.random.normal(jax.random.key(0), (13, 3))  # 13 rows: padding rows on 2 and 4 shards
    v = jax.random.normal(jax.random.key(1), (3,))

    def fn(rows, w, v):  # partial sums over a block; padding rows have weight 0
        return {"s": jnp.sum(w[:, None] * rows, axis=0), "q": jnp.sum(w * (rows @ v) ** 2)}

    for mesh, axis in [(make_mesh(), None), (two_d, None), (two_d, "b"), (two_d, ("a", "b"))]:
        got = sharded_sum(fn, x, v, mesh=mesh, axis=axis, finalize=lambda t: {**t, "r": jnp.sqrt(t["q"])})
        np.testing.assert_allclose(got["s"], np.asarray(x).sum(0), rtol=1e-13, atol=1e-14)
        q = float(np.sum((np.asarray(x) @ np.asarray(v)) ** 2))
        np.testing.assert_allclose(got["q"], q, rtol=1e-13)
        np.testing.assert_allclose(got["r"], np.sqrt(q), rtol=1e-13)
    explicit = jax.make_mesh((4,), ("data",))
    a = jax.device_put(jnp.arange(16.0).reshape(8, 2), NamedSharding(explicit, P("data")))
    got = take(lambda t: t[jnp.array([1, 6]), 0], a, explicit)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, [2.0, 12.0])
    print("PRIMITIVES-OK")
    """
)


def test_row_mesh_sharded_sum_and_take_on_four_devices():
    """``row_mesh`` (axes, shard count, ``Auto`` types), ``sharded_sum`` with padding rows (13 rows on 2
    and 4 shards) against the plain NumPy sums, ``take`` of two entries of a row-sharded array."""
    run_on_four_cpu_devices(PRIMITIVES, "PRIMITIVES-OK")
