"""Figure 3: layer contributions for radial waves sin(k r̃) on MNIST, ReLU, 4 layers (paper §6.3).

Command::

    python -m experiments.fig3_mnist_radial --data-dir /work/shared/data [--out figures/]
    (--scale smoke|default|paper; the data folder may hold mnist/ or be its parent)

Runtime: smoke (synthetic images, n = 64, width 16, 2 draws × 2 seeds) ~10–30 s; default (n = 1000,
width 784, 8 draws × 4 seeds, k = 1…8) ~15 s on 2 idle CPU cores; paper (8 draws × 20 seeds) about five
times that. Expected picture: left (the paper's targets) ratios that jump around with k — k = 1 has a
large constant component, which the last layer dominates; right (sample mean removed) the ratios of
the early layers grow with k up to k ≈ 6, layer 0 the most; the dashed infinite-width lines lie on
the bands.

See ``experiments.protocols.realdata`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import realdata

EXPERIMENT = realdata.experiment(
    "fig3_mnist_radial", __doc__, {"dataset": "mnist", "target": "radial"}
)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
