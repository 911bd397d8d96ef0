"""One process of the multi-process tests (``test_distributed.py``): sharded results against one device.

Run by ``spectral_layers.distributed.launch_local`` as
``python -m tests._mp_worker OUT COORDINATOR NUM_PROCESSES PROCESS_ID full|short|estimators``. Every
process joins the runtime, computes Grams, cross-Grams (one seed and stacked seeds), infinite-width kernels
and contributions (``full``, ``short``), or the estimators' forms (``estimators``:
``estimators.estimator_forms``, stacked seeds, every estimator, exact traces and Hutchinson probes) on a
mesh over the devices of all processes (the package's ``make_mesh`` and an ``Explicit``-axes
``jax.make_mesh``; ``n`` divisible by the device count, and not), gathers them (``sharding.gather``).
Process 0 also computes the same on its first local device without a mesh (the one-process reference) and
saves both to ``OUT`` (``.npz``).
"""

import sys

import jax
import numpy as np

from spectral_layers import distributed

FULL = ("gram", "cross", "stacked", "infinite", "contributions", "contributions_one")
"""Cases on the package's mesh; the ``Explicit``-axes mesh does ``SHORT``."""
SHORT = ("gram", "contributions")
"""The ``Explicit``-axes mesh's cases; a ``short`` run does only these and ``"cross"`` on that mesh."""
ESTIMATORS = ("estimators", "estimators_even")
"""An ``estimators`` run's cases (on the package's mesh; ``test_estimators.py`` covers other meshes)."""
MESH_CASES = {
    "full": {"auto": FULL, "explicit": SHORT},
    "short": {"explicit": (*SHORT, "cross")},
    "estimators": {"auto": ESTIMATORS},
}
"""``{level: {mesh: cases}}``."""


def main(out: str, address: str, num_processes: int, process_id: int, level: str) -> None:
    distributed.initialize(address, num_processes, process_id, coordinator_bind_address=address)
    jax.config.update("jax_enable_x64", True)
    import spectral_layers as sl
    from spectral_layers import contributions, estimators, sharding

    assert jax.process_count() == num_processes, jax.process_count()
    num_devices = jax.device_count()
    assert num_devices == num_processes * jax.local_device_count()
    meshes = {
        "auto": sharding.make_mesh(),
        "explicit": jax.make_mesh((num_devices,), ("data",)),  # Explicit axes in JAX 0.10
    }
    x1 = jax.random.normal(jax.random.key(0), (2 * num_devices + 3, 3))  # not divisible
    x1_even = x1[: 2 * num_devices]
    x2 = jax.random.normal(jax.random.key(1), (5, 3))
    f, p = sl.init_mlp(jax.random.key(2), 3, depth=3, width=8, activation="tanh", use_bias=True)
    fs, ps = sl.init_mlp_seeds(jax.random.key(3), 2, 3, depth=3, width=8)
    y = jax.random.normal(jax.random.key(4), (2, x1.shape[0]))
    sphere = x1 / jax.numpy.linalg.norm(x1, axis=1, keepdims=True)  # the estimators' points

    def forms(n, **kw):
        """``estimator_forms`` on the first ``n`` points, as ``{estimator/layer: form}``."""
        out = estimators.estimator_forms(
            fs, ps, sphere[:n], y[:, :n], degree=(1, 2), stacked=True, **kw
        )
        return {f"{e}/{layer}": v for e, by_layer in out.items() for layer, v in by_layer.items()}

    def cases(mesh, names):
        kw = {} if mesh is None else {"mesh": mesh}
        fns = {
            # divisible n: row-sharded results, gathered across processes
            "gram": lambda: sl.layer_ntk(f, p, x1_even, **kw),
            "stacked": lambda: sl.layer_ntk(fs, ps, x1_even, stacked=True, **kw),
            # n not divisible: padded, trimmed, replicated
            "cross": lambda: sl.layer_ntk(f, p, x1, x2, **kw),
            "infinite": lambda: sl.infinite_layer_ntk(
                x1, x2, network=sl.Network(depth=3, use_bias=True), **kw
            ),
            "contributions": lambda: contributions.layer_contributions(
                fs, ps, x1, y, stacked=True, **kw
            ),
            "contributions_one": lambda: contributions.layer_contributions(f, p, x1, y[0], **kw),
            # n not divisible (exact traces), and divisible (Hutchinson probes, the same in every process)
            "estimators": lambda: forms(x1.shape[0], **kw),
            "estimators_even": lambda: forms(
                x1_even.shape[0], trace_probes=2, key=jax.random.key(5), **kw
            ),
        }
        return {name: fns[name]() for name in names}

    arrays = {}
    mesh_cases = MESH_CASES[level]
    for mesh_name, names in mesh_cases.items():
        for case, result in sharding.gather(cases(meshes[mesh_name], names)).items():
            for layer, v in result.items():
                arrays[f"{mesh_name}/{case}/{layer}"] = v
    if process_id == 0:  # the one-device reference, and the file
        with jax.default_device(jax.local_devices()[0]):
            names = dict.fromkeys(name for names in mesh_cases.values() for name in names)
            for case, result in cases(None, tuple(names)).items():
                for layer, v in result.items():
                    arrays[f"single/{case}/{layer}"] = np.asarray(v)
        np.savez(out, **arrays)
    print(f"process {process_id} of {jax.process_count()}: {num_devices} devices, OK", flush=True)


if __name__ == "__main__":
    out, address, num, pid, level = sys.argv[1:6]
    main(out, address, int(num), int(pid), level)
