"""Figure 5: layer contributions for sin/cos(k t̃) along the first principal component of MNIST
(paper App. 14).

Command::

    python -m experiments.fig5_mnist_pc --data-dir /work/shared/data [--out figures/]
    (--scale smoke|default|paper; the data folder may hold mnist/ or be its parent)

Runtime: smoke (synthetic images, n = 64, width 16, 2 draws × 2 seeds) ~10–30 s; default (n = 1000,
width 784, 8 draws × 4 seeds, k = 1…8, sin and cos) ~15 s on 2 idle CPU cores; paper (8 draws × 20 seeds)
about five times that. Expected picture: left (the paper's targets) ratios that jump around with k,
pulled down whenever the target has a sizeable mean; right (sample mean removed) early layers'
ratios grow with k (not strictly), layer 0 the most; the dashed infinite-width lines lie on the
bands.

See ``experiments.protocols.realdata`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import realdata

EXPERIMENT = realdata.experiment("fig5_mnist_pc", __doc__, {"dataset": "mnist", "target": "pc"})
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
