"""Beyond the paper: do the verdicts of Figures 2, 5, 7 and 8 survive other readings of the protocol?

Command::

    python -m experiments.protocol_sensitivity [--scale smoke|default|paper] [--out figures/] [--data-dir DIR]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: a grid of verdicts (rows: figure panels, columns: claims) per reading of the protocol; a
verdict that flips under a reasonable reading is a property of the reading, not of the network.

What is computed and plotted: ``experiments.protocols.protocol_sensitivity``.
"""

from __future__ import annotations

from experiments.protocols import protocol_sensitivity

EXPERIMENT = protocol_sensitivity.experiment("protocol_sensitivity", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
