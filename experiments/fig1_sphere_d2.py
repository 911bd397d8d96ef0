"""Figure 1: layer contributions for cos kθ on the circle S¹ (d = 2), ReLU, 4 layers.

Command::

    python -m experiments.fig1_sphere_d2 [--scale smoke|default|paper] [--out figures/]

Runtime: smoke ~10 s, default (width 512, n = 1024, 8 draws × 4 seeds, k = 1…4) ~1 min on 2 CPU cores,
paper (width 1024, n = 2000, 8 draws × 20 seeds, k = 1…8) a few minutes on a GPU. Expected picture: for every layer
ℓ < L-1 the relative contribution c_ℓ/c_{L-1} grows with the degree k, and more for earlier layers.

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
