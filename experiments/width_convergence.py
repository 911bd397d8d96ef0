"""Finite → infinite width: each layer's empirical Gram G^(ℓ) converges to its infinite-width kernel κ^(ℓ).

Command::

    python -m experiments.width_convergence [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: on log-log axes every layer's relative Frobenius error falls with the width with a slope
near −1/2; the seed-averaged Gram's error falls faster until the O(1/m) bias remains.

What is computed and plotted: ``experiments.protocols.width_convergence``.
"""

from __future__ import annotations

from experiments.protocols import width_convergence

EXPERIMENT = width_convergence.experiment("width_convergence", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
