"""Theorem 2 checked: the ratio ``r(i)`` of the two layers' NTK power series is ``i``, not ``i²``.

Command::

    python -m experiments.theory_hermite [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: on log-log axes every activation's r(i) lies on the line i, a factor i below the paper's
i²; the right panel shows |r(i)/i − 1| at the quadrature's rounding level.

What is computed and plotted: ``experiments.protocols.theory_hermite``.
"""

from __future__ import annotations

from experiments.protocols import theory_hermite

EXPERIMENT = theory_hermite.experiment("theory_hermite", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
