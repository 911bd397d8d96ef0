"""Figure 8: layer contributions for degree-k Gegenbauer sums on S⁹ (d = 10), tanh, 4 layers.

Command::

    python -m experiments.fig8_sphere_tanh [--scale smoke|default|paper] [--out figures/]

Runtime as fig2_sphere_d10. Expected picture (paper appendix §16): the same ordering as ReLU, much less
pronounced.

See ``experiments.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments import sphere

EXPERIMENT = sphere.experiment(
    "fig8_sphere_tanh", __doc__, {"dim": 10, "network.activation": "tanh"}
)

main = EXPERIMENT.main


if __name__ == "__main__":
    main()
