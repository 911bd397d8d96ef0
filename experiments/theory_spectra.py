"""Per-layer Mercer spectra of deep networks on the sphere; Corollary 1 checked at depth 2 and L.

Command::

    python -m experiments.theory_spectra [--scale smoke|default|paper] [--out figures/]

Runtime: seconds at smoke scale, minutes at default scale on a CPU; the paper scale is meant for a GPU
(the measured wall times are in ``figures/REPORT.md``).

Expected picture: per-layer spectra decay with k (polynomially for ReLU, faster for smooth activations);
the ratio profiles μ_k^(ℓ)/μ_k^(L-1) grow with k, more for earlier layers; at depth 2 the measured
μ_k^(0)/μ_k^(1) lies between k (the corrected Corollary 1) and the paper's k².

What is computed and plotted: ``experiments.protocols.theory_spectra``.
"""

from __future__ import annotations

from experiments.protocols import theory_spectra

EXPERIMENT = theory_spectra.experiment("theory_spectra", __doc__)
main = EXPERIMENT.main

if __name__ == "__main__":
    main()
