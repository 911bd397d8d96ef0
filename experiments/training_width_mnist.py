"""Training across widths on MNIST: kernel movement and the layer-wise bias for targets along PC 1.

Command::

    python -m experiments.training_width_mnist --data-dir /work/shared/data [--scale smoke|default|paper]
    [--out figures/]   (the data folder may hold mnist/ or be its parent)

Runtime: seconds at smoke scale (synthetic images), minutes at default scale on a CPU; the paper scale is
meant for a GPU (the measured wall times are in ``figures/REPORT.md``).

``training_width``'s protocol (same widths, draws, training and verdict rule) on real images instead of
the sphere (issue 23): each draw samples ``n`` MNIST digits, scales them to unit norm, and trains on the
sum of components ``cos(k t̃)`` (k = 1, 2, 4, 8) along the sample's first principal component, mean
removed and made orthogonal on the sample (``PCConfig``). Expected picture: as on the sphere, each
layer's movement falls with the width, its local slope steepening toward −1; the per-width verdicts say
whether layer 0's relative contribution still grows with the frequency after training.

What is computed and plotted: ``experiments.protocols.training_width`` ("Real data").
"""

from __future__ import annotations

from experiments.framework.cli import define, summary_line
from experiments.protocols import training_width

EXPERIMENT = define(
    "training_width_mnist",
    {**vars(training_width), "Config": training_width.PCConfig},
    scales=training_width.PC_SCALES,
    description=summary_line(__doc__),
)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
