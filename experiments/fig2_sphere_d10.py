"""Figure 2: layer contributions for degree-k Gegenbauer sums on S⁹ (d = 10), ReLU, 4 layers.

Command::

    python -m experiments.fig2_sphere_d10 [--scale smoke|default|paper] [--out figures/]

Runtime: smoke ~10 s, default (width 512, n = 1024, 8 draws × 4 seeds, k = 1…4) ~1 min on 2 CPU cores,
paper (width 1024, n = 2000, 8 draws × 20 seeds) a few minutes on a GPU. Expected picture (paper Figure 2):
relative contributions of early layers grow with k. With the paper's sampled targets at n ≈ 10³ they do not
(lower degrees leak into a degree-k target on the sample); with lower degrees projected out, and with the
debiased estimator, they do (``sphere_large_n`` follows the estimators to n = 10⁵).

See ``experiments.protocols.sphere`` for what is computed and plotted.
"""

from __future__ import annotations

from experiments.protocols import sphere

EXPERIMENT = sphere.experiment("fig2_sphere_d10", __doc__, {"dim": 10})

main = EXPERIMENT.main


if __name__ == "__main__":
    main()
