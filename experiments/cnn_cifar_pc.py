"""Beyond the paper: Figure 7's protocol (CIFAR-10, sin/cos along PC 1) with a small convolutional network.

Command::

    python -m experiments.cnn_cifar_pc [--scale smoke|default|paper] [--out figures/] [--data-dir DIR]

Runtime: seconds at smoke scale (synthetic images), minutes at default scale on a CPU (float32; the measured
wall times are in ``figures/REPORT.md``). Expected picture: as Figure 7, the relative contribution of every
earlier layer (convolutions ``Conv_0 …``) to the readout's grows with the degree ``k`` if the layer-wise
spectral bias of the MLPs carries over to a convolutional network; no infinite-width curve.

What is computed and plotted: ``experiments.protocols.realdata`` (``model="cnn"``, ``CNN_DOC``).
"""

from __future__ import annotations

from experiments.protocols import realdata

EXPERIMENT = realdata.experiment(
    "cnn_cifar_pc", __doc__, {"dataset": "cifar10", "target": "pc"}, model="cnn"
)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
