"""Experiments reproducing (and extending) every figure of Dandi & Jacot; one module per figure.

Run one with ``python -m experiments.<name>``, all with ``python -m experiments``.
"""

SPHERE = ("fig1_sphere_d2", "fig2_sphere_d10", "fig8_sphere_tanh", "sphere_erf_d10", "sphere_gelu_d10")

INFINITE = ("width_convergence",)

ALL: tuple[str, ...] = SPHERE + INFINITE
"""Names of every experiment module, in the order the runner executes them."""
