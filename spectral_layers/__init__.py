"""spectral-layers: layer-wise NTK contributions and their spectra (Dandi & Jacot).

Public API re-exported from the private-by-convention modules.
"""

from spectral_layers.empirical import full_ntk, layer_ntk, mlp_layer_features
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

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "MLPApply",
    "MLPSpec",
    "full_ntk",
    "init_mlp",
    "init_mlp_seeds",
    "layer_names",
    "layer_ntk",
    "make_spec",
    "mlp_layer_features",
]
