"""Beyond the paper: Figure 2's setting (d = 10, 4 layers) with the erf activation.

Command::

    python -m experiments.sphere_erf_d10 [--scale smoke|default|paper] [--out figures/]

Runtime as fig2_sphere_d10.

See ``experiments.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments import sphere
from experiments._framework import main as _main

EXPERIMENT = sphere.experiment("sphere_erf_d10", __doc__, {"dim": 10, "activation": "erf"})


def main(argv: list[str] | None = None):
    """Runs the experiment from the command line (see experiments._framework)."""
    return _main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
