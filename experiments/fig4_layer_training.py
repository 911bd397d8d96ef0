"""Figure 4: residual components per degree while training one layer at a time (paper §5.7, §12).

Command::

    python -m experiments.fig4_layer_training [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: for every degree the residual component decays fastest when the earliest layer is trained
alone; higher degrees are learned more slowly, and the earlier layers' advantage grows with the degree.

What is computed and plotted: ``experiments.protocols.layer_training``.
"""

from __future__ import annotations

from experiments.protocols import layer_training

EXPERIMENT = layer_training.experiment("fig4_layer_training", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
