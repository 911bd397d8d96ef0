"""Figure 1: layer contributions for cos kθ on the circle S¹ (d = 2), ReLU, 4 layers.

Command::

    python -m experiments.fig1_sphere_d2 [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU, the paper scale on a GPU (the measured
wall times are in ``figures/REPORT.md``). Expected picture: for every layer ℓ < L-1 the relative contribution
c_ℓ/c_{L-1} grows with the degree k, and more for earlier layers.

See ``experiments.protocols.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import sphere

EXPERIMENT = sphere.experiment(
    "fig1_sphere_d2", __doc__, {}, paper={"degrees": (1, 2, 3, 4, 5, 6, 7, 8)}
)

main = EXPERIMENT.main


if __name__ == "__main__":
    main()
