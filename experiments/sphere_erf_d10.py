"""Beyond the paper: Figure 2's setting (d = 10, 4 layers) with the erf activation.

Command::

    python -m experiments.sphere_erf_d10 [--scale smoke|default|paper] [--out figures/]

Runtime as fig2_sphere_d10.

See ``experiments.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments import sphere
from experiments._framework import Experiment
from experiments._framework import main as _main

EXPERIMENT = Experiment(
    name="sphere_erf_d10",
    config_cls=sphere.Config,
    run=sphere.run,
    plot=sphere.plot,
    scales={
        "default": {"dim": 10, "activation": "erf"},
        "smoke": {
            "dim": 10,
            "num_seeds": 2,
            "seed_chunk": 1,
            "num_points": 96,
            "width": 16,
            "degrees": (1, 2, 3),
            "activation": "erf",
        },
        "paper": {
            "dim": 10,
            "activation": "erf",
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
