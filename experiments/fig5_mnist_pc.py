"""Figure 5: layer contributions for sin/cos(k t̃) along the first principal component of MNIST
(paper App. 14).

Command::

    python -m experiments.fig5_mnist_pc --data-dir /work/shared/data [--out figures/]
    (--scale smoke|default|paper; the data folder may hold mnist/ or be its parent)

Runtime: seconds at smoke scale, minutes at default scale on a CPU, the paper scale on a GPU (the measured
wall times are in ``figures/REPORT.md``). Expected picture: left (the paper's targets) ratios that jump around
with k, pulled down whenever the target has a sizeable mean; right (sample mean removed) early layers' ratios
grow with k (not strictly), layer 0 the most; the dashed infinite-width lines lie on the bands.

See ``experiments.protocols.realdata`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import realdata

EXPERIMENT = realdata.experiment("fig5_mnist_pc", __doc__, {"dataset": "mnist", "target": "pc"})
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
