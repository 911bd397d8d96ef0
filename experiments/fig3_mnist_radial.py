"""Figure 3: layer contributions for radial waves sin(k r̃) on MNIST, ReLU, 4 layers (paper §6.3).

The paper's targets are ``sin(k‖x‖)``; the default computes ``sin(k r̃)`` with ``r̃`` the distance to the
sample mean rescaled to ``[0, 2π]`` (``experiments.protocols.realdata``), and the panel titles say so.

Command::

    python -m experiments.fig3_mnist_radial --data-dir /work/shared/data [--out figures/]
    (--scale smoke|default|paper; the data folder may hold mnist/ or be its parent)

Runtime: seconds at smoke scale, minutes at default scale on a CPU, the paper scale on a GPU (the measured
wall times are in ``figures/REPORT.md``). Expected picture: left (targets not centred, as in the paper)
ratios that jump around with k — k = 1 has a large constant component, which the last layer dominates;
right (sample mean removed) the ratios of the early layers grow with k, layer 0 the most; the dashed
infinite-width lines lie on the bands.

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
