r"""Estimators of layer-wise ratios from finite samples, and the statistics of their convergence.

* ``paper_estimate``: the paper's §5.3 estimator of ``λ^(ℓ1)/λ^(ℓ2)`` from per-point values.
* ``fitted_slope``: the rate ``err ∝ n^slope`` of an estimator's error, with a bootstrap interval.
* ``theorem1_bounds``: the paper's Theorem 1 bound as printed and the corrected one (``docs/theory.md``).
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Float

__all__ = ["fitted_slope", "paper_estimate", "theorem1_bounds"]


def paper_estimate(
    g: Float[np.ndarray, " n"], t_g1: Float[np.ndarray, " n"], t_g2: Float[np.ndarray, " n"]
) -> float:
    """The paper's §5.3 estimator ``Σ_i φ_1(x_i) / Σ_i φ_2(x_i)`` with ``φ_ℓ = g · T_ℓ g`` at ``x_i``.

    Args:
      g: the target at the sample points.
      t_g1, t_g2: the integral operators of the two layer kernels applied to ``g``, at the same points.
    """
    return float(np.sum(g * t_g1) / np.sum(g * t_g2))


def fitted_slope(
    n: Float[np.ndarray, " m"], err: Float[np.ndarray, "s m"], *, num_boot: int = 400
) -> tuple[float, float, float]:
    """Least-squares slope of ``log mean_s |err|`` against ``log n``, with a 95% bootstrap interval.

    Args:
      n: sample sizes ``(m,)``.
      err: errors of ``s`` independent samples at each size, ``(s, m)``; columns with NaN (estimator
        undefined at that ``n``) are left out.
      num_boot: bootstrap resamples of the ``s`` samples (fixed generator: reproducible numbers).

    Returns:
      ``(slope, low, high)``; NaN when fewer than two columns are usable or a mean error is zero.
    """
    cols = np.all(np.isfinite(err), axis=0)
    a = np.abs(err[:, cols])
    x = np.log(np.asarray(n)[cols].astype(float))
    if cols.sum() < 2 or not np.all(a.mean(0) > 0):
        return np.nan, np.nan, np.nan
    slope = float(np.polyfit(x, np.log(a.mean(0)), 1)[0])
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(num_boot):
        m = a[rng.integers(0, a.shape[0], a.shape[0])].mean(0)
        if np.all(m > 0):
            boot.append(np.polyfit(x, np.log(m), 1)[0])
    lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return slope, float(lo), float(hi)


def theorem1_bounds(
    n: Float[np.ndarray, " m"],
    *,
    kernel_sup: tuple[float, float],
    eigenvalue_sums: tuple[float, float],
    target_sup: float,
    delta: float,
) -> dict[str, np.ndarray]:
    r"""Theorem 1 (paper §5.3) for a mixed target: the bound as printed (absolute) and the corrected one.

    With ``A_ℓ ≥ sup |κ^(ℓ)|`` (``κ^(ℓ)(1)`` for a positive-definite dot-product kernel), ``C ≥ sup |g|`` and
    ``λ_ℓ = Σ_j μ_j^(ℓ)`` over the target's degrees, the printed bound on the error of the estimator is
    ``log(4/δ)/sqrt(n) · max_ℓ sqrt(A_ℓ C² / (2 λ_ℓ²))``; the corrected bound on the *relative* error
    (Hoeffding with the right range; ``docs/theory.md``) is ``sqrt(32 log(4/δ) / n) · max_ℓ A_ℓ C² / λ_ℓ``.

    Args:
      n: sample sizes.
      kernel_sup: ``(A_ℓ1, A_ℓ2)``.
      eigenvalue_sums: ``(λ_ℓ1, λ_ℓ2)``.
      target_sup: ``C``.
      delta: failure probability ``δ ∈ (0, 1)``.

    Returns:
      ``{"printed_abs": (m,), "corrected_rel": (m,)}``.
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    (a1, a2), (l1, l2), c = kernel_sup, eigenvalue_sums, float(target_sup)
    n = np.asarray(n, dtype=float)
    log_term = math.log(4 / delta)
    printed = (
        log_term
        / np.sqrt(n)
        * max(math.sqrt(a1 * c**2 / (2 * l1**2)), math.sqrt(a2 * c**2 / (2 * l2**2)))
    )
    corrected = np.sqrt(32 * log_term / n) * max(a1 * c**2 / l1, a2 * c**2 / l2)
    return {"printed_abs": printed, "corrected_rel": corrected}
