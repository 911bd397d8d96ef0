"""Experiments reproducing (and extending) every figure of Dandi & Jacot; one module per figure.

Run one with ``python -m experiments.<name>``, all with ``python -m experiments``.
"""

SPHERE = (
    "fig1_sphere_d2",
    "fig2_sphere_d10",
    "fig8_sphere_tanh",
    "sphere_erf_d10",
    "sphere_gelu_d10",
)

TRAINING = ("fig4_layer_training", "training_width", "training_width_mnist")

REALDATA = (
    "fig3_mnist_radial",
    "fig5_mnist_pc",
    "fig6_mnist_eigvec",
    "fig7_cifar_pc",
    "cnn_cifar_pc",
)

INFINITE = ("width_convergence",)

THEORY = ("theory_hermite", "theory_spectra", "theory_concentration")

LARGE_N = ("sphere_large_n",)

SENSITIVITY = ("protocol_sensitivity",)

ALL: tuple[str, ...] = SPHERE + TRAINING + REALDATA + INFINITE + THEORY + LARGE_N + SENSITIVITY
"""Names of every experiment module, in the order the runner executes them."""
