"""spectral-layers: layer-wise NTK contributions and their spectra (Dandi & Jacot).

The modules follow the paper's structure, each importing only the ones above it:

* ``activations``: named activations (JAX and float64 NumPy forms, derivatives, dual kernels, the NT layer);
* ``models``: ``Network`` (the one network description), ``init_mlp`` (Flax linen MLP);
* ``layers``: the layers of any model (modules owning parameters) in call order, ``from_nnx``;
* ``empirical``: ``layer_ntk`` (per-layer empirical NTK Grams), ``full_ntk``;
* ``infinite``: ``infinite_layer_ntk`` (per-layer infinite-width kernels), sphere kernels, the
  neural-tangents cross-check;
* ``hermite``, ``gegenbauer``: Hermite coefficients; Gegenbauer polynomials, ``N(d, k)``, Funk–Hecke;
* ``spectra``: per-layer Mercer eigenvalues on the sphere;
* ``targets``: points on the sphere, harmonic targets, projections; ``data_targets``: targets on real data
  (radial and principal-component sinusoids, kernel eigenvectors);
* ``contributions``: ``yᵀG^(ℓ)y`` (Gram-free), relative contributions, intervals over seeds;
  ``estimators``: ratio estimators and their convergence statistics;
* ``training``: layer-isolated training and its kernel prediction;
* ``data``: MNIST / Fashion-MNIST / CIFAR-10 loaders; ``sharding``: Grams and contributions across devices
  (any mesh); ``distributed``: several processes on JAX's distributed runtime; ``nt_compat``: neural-tangents
  on recent JAX.

Experiment protocols, saved results and plotting live in the ``experiments`` package.
"""

from spectral_layers import (
    activations,
    contributions,
    data,
    data_targets,
    distributed,
    empirical,
    estimators,
    gegenbauer,
    hermite,
    infinite,
    layers,
    models,
    nt_compat,
    sharding,
    spectra,
    targets,
    training,
)
from spectral_layers.activations import ACTIVATIONS
from spectral_layers.contributions import gram_forms, layer_contributions, layer_ratios
from spectral_layers.data import DatasetError
from spectral_layers.empirical import (
    FallbackWarning,
    KernelCheckError,
    PrecisionWarning,
    full_ntk,
    layer_ntk,
)
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.layers import from_nnx, layer_names
from spectral_layers.models import Network, init_mlp, init_mlp_seeds
from spectral_layers.nt_compat import NeuralTangentsUnavailable
from spectral_layers.spectra import (
    MercerSpectrum,
    layer_mercer_eigenvalues,
    layer_mercer_ratios,
    layer_mercer_spectrum,
)
from spectral_layers.training import train_layers

__version__ = "0.3.0"

__all__ = [
    # the paper's nouns (a network, its per-layer kernels, contributions, ratios and spectra, training),
    # errors and warnings, and the modules, where everything else lives
    "ACTIVATIONS",
    "DatasetError",
    "FallbackWarning",
    "KernelCheckError",
    "MercerSpectrum",
    "Network",
    "NeuralTangentsUnavailable",
    "PrecisionWarning",
    "activations",
    "contributions",
    "data",
    "data_targets",
    "distributed",
    "empirical",
    "estimators",
    "from_nnx",
    "full_ntk",
    "gegenbauer",
    "gram_forms",
    "hermite",
    "infinite",
    "infinite_layer_ntk",
    "init_mlp",
    "init_mlp_seeds",
    "layer_contributions",
    "layer_mercer_eigenvalues",
    "layer_mercer_ratios",
    "layer_mercer_spectrum",
    "layer_names",
    "layer_ntk",
    "layer_ratios",
    "layers",
    "models",
    "nt_compat",
    "sharding",
    "spectra",
    "targets",
    "train_layers",
    "training",
]
