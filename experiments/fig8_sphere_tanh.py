"""Figure 8: layer contributions for degree-k Gegenbauer sums on S⁹ (d = 10), tanh, 4 layers.

Command::

    python -m experiments.fig8_sphere_tanh [--scale smoke|default|paper] [--out figures/]

Runtime as fig2_sphere_d10. Expected picture (paper appendix §16): the same ordering as ReLU, much less
pronounced.

See ``experiments.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments import sphere
from experiments._framework import Experiment
from experiments._framework import main as _main

EXPERIMENT = Experiment(
    name="fig8_sphere_tanh",
    config_cls=sphere.Config,
    run=sphere.run,
    plot=sphere.plot,
    scales={
        "default": {"dim": 10, "activation": "tanh"},
        "smoke": {
            "dim": 10,
            "num_seeds": 2,
            "seed_chunk": 1,
            "num_points": 96,
            "width": 16,
            "degrees": (1, 2, 3),
            "activation": "tanh",
        },
        "paper": {
            "dim": 10,
            "activation": "tanh",
            "num_seeds": 20,
            "num_points": 2000,
            "width": 1024,
        },
    },
    description=__doc__.splitlines()[0],
    x64_default=True,
    summarize=sphere.summarize,
    caption=sphere.CAPTION,
)


def main(argv: list[str] | None = None):
    """Runs the experiment from the command line (see experiments._framework)."""
    return _main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
