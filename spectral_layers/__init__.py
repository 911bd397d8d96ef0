"""spectral-layers: layer-wise NTK contributions and their spectra (Dandi & Jacot).

The main entry points are re-exported here; the submodules hold the rest:

* ``models``: ``init_mlp`` (Flax linen MLP, one parameter subtree per layer);
* ``empirical``: ``layer_ntk`` (per-layer empirical NTK Grams), ``full_ntk``;
* ``infinite``: ``infinite_layer_ntk`` (per-layer infinite-width kernels), the neural-tangents cross-check;
* ``contributions``: ``yᵀG^(ℓ)y``, relative contributions, intervals over seeds;
* ``targets``: points on the sphere, harmonic targets, real-data targets;
* ``hermite``, ``gegenbauer``: Hermite coefficients, Mercer eigenvalues on the sphere;
* ``training``: layer-isolated training and its kernel prediction;
* ``data``: MNIST / Fashion-MNIST / CIFAR-10 loaders;
* ``sharding``: Grams and contributions across devices (any mesh); ``distributed``: several processes on
  JAX's distributed runtime; ``nt_compat``: neural-tangents on recent JAX;
"""

from spectral_layers import (
    contributions,
    data,
    distributed,
    gegenbauer,
    hermite,
    infinite,
    models,
    nt_compat,
    sharding,
    targets,
    training,
)
from spectral_layers.contributions import (
    layer_contributions,
    quadratic_forms,
    relative_contributions,
)
from spectral_layers.empirical import full_ntk, layer_ntk, mlp_layer_features
from spectral_layers.gegenbauer import (
    gegenbauer_eigenvalues,
    layer_gegenbauer_eigenvalues,
    multiplicity,
)
from spectral_layers.hermite import hermite_coefficients
from spectral_layers.infinite import (
    check_against_nt,
    infinite_layer_kernel_fn,
    infinite_layer_ntk,
    nt_layer_ntk,
)
from spectral_layers.models import (
    ACTIVATIONS,
    MLP,
    MLPApply,
    MLPSpec,
    init_mlp,
    init_mlp_seeds,
    layer_names,
    make_spec,
)
from spectral_layers.sharding import gather, make_mesh
from spectral_layers.training import train_layers

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "MLPApply",
    "MLPSpec",
    "check_against_nt",
    "contributions",
    "data",
    "distributed",
    "full_ntk",
    "gather",
    "gegenbauer",
    "gegenbauer_eigenvalues",
    "hermite",
    "hermite_coefficients",
    "infinite",
    "infinite_layer_kernel_fn",
    "infinite_layer_ntk",
    "init_mlp",
    "init_mlp_seeds",
    "layer_contributions",
    "layer_gegenbauer_eigenvalues",
    "layer_names",
    "layer_ntk",
    "make_mesh",
    "make_spec",
    "mlp_layer_features",
    "models",
    "multiplicity",
    "nt_compat",
    "nt_layer_ntk",
    "quadratic_forms",
    "relative_contributions",
    "sharding",
    "targets",
    "train_layers",
    "training",
]
