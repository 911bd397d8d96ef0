"""Theorem 1 checked: finite-sample estimates of the ratio of layer decrements, against ``n``.

Command::

    python -m experiments.theory_concentration [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: left (pure harmonic), the paper's estimator at the rounding floor while the raw Gram ratio
carries an O(1/n) bias (dotted prediction on top of it) that projection and diagonal removal take away;
right (mixed target), the paper's estimator decays like n^(-1/2) (Theorem 1's rate).

What is computed and plotted: ``experiments.protocols.theory_concentration``.
"""

from __future__ import annotations

from experiments.protocols import theory_concentration

EXPERIMENT = theory_concentration.experiment("theory_concentration", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
