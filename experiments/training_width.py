"""Training across widths: kernel movement, the kernel prediction's error, and the layer-wise bias.

Command::

    python -m experiments.training_width [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: the kernel's relative movement during training and the error of the kernel prediction
shrink as the width grows (slopes near −1/2 and −1 on log-log axes); the layer-wise ratios keep their order
across widths, while the large-learning-rate contrast moves the kernel by O(1).

What is computed and plotted: ``experiments.protocols.training_width``.
"""

from __future__ import annotations

from experiments.framework.cli import register
from experiments.protocols import training_width

EXPERIMENT = register("training_width", training_width, __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
