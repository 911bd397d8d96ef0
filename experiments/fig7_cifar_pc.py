"""Figure 7: layer contributions for sin/cos(k t̃) along the first principal component of CIFAR-10
(paper App. 15).

Command::

    python -m experiments.fig7_cifar_pc --data-dir /work/shared/data [--out figures/]
    (--scale smoke|default|paper; the data folder may hold cifar-10-batches-py/ or be its parent)

Runtime: smoke (synthetic images, n = 64, width 16, 2 draws × 2 seeds) ~10–30 s; default (n = 1000,
inputs of dimension 3072, width 784, 8 draws × 4 seeds, k = 1…8, sin and cos) ~35 s on 2 idle CPU cores;
paper (8 draws × 20 seeds) about five times that. Expected picture: as Figure 5: erratic ratios for
the paper's targets; once the mean is removed, ratios above 1 that are larger for earlier layers
and larger at k ≥ 3 than at k = 1, but not monotone in k; dashed infinite-width lines on the bands.

See ``experiments.protocols.realdata`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import realdata

EXPERIMENT = realdata.experiment("fig7_cifar_pc", __doc__, {"dataset": "cifar10", "target": "pc"})
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
