"""Beyond the paper: Figure 2's setting (d = 10, 4 layers) with the erf activation.

Command::

    python -m experiments.sphere_erf_d10 [--scale smoke|default|paper] [--out figures/]

Runtime as fig2_sphere_d10. erf is odd: without bias the even degrees are undefined, as in
``fig8_sphere_tanh`` (not drawn; verdicts on ``k = 1, 3``).

See ``experiments.protocols.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import sphere

EXPERIMENT = sphere.experiment("sphere_erf_d10", __doc__, {"dim": 10, "network.activation": "erf"})

main = EXPERIMENT.main


if __name__ == "__main__":
    main()
