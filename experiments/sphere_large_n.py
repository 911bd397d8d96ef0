"""Large n on S⁹: do the layer-ratio estimators converge to the Mercer ratios, and does Figure 2's claim hold?

Command::

    python -m experiments.sphere_large_n [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: as n grows the debiased estimator converges to the Mercer ratios (dashed), the paper's and
the projected estimators keep their bias; the claims' verdicts are read off at the largest n.

What is computed and plotted: ``experiments.protocols.sphere_large_n``.
"""

from __future__ import annotations

from experiments.protocols import sphere_large_n

EXPERIMENT = sphere_large_n.experiment("sphere_large_n", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
