"""Training across widths: kernel movement, the kernel prediction's error, and the layer-wise bias.

Command::

    python -m experiments.training_width [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: each layer's relative kernel movement during training falls with the width, its local
slope per octave steepening toward −1 (the 1/m change of the NTK during training, ``docs/theory.md`` §10)
at the widest widths (16 … 2048 at default scale, 64 … 8192 at paper scale); the width at which each layer's
movement falls below 0.1 is measured and predicted from the fit; the verdict on the early layers' bias is
stated per width and per regime (narrow, wide).

What is computed and plotted: ``experiments.protocols.training_width``.
"""

from __future__ import annotations

from experiments.framework.cli import register
from experiments.protocols import training_width

EXPERIMENT = register("training_width", training_width, __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
