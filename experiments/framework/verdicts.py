"""Verdicts on the paper's ordering claims that survive resampling: one rule for every experiment.

Every sphere and real-data experiment repeats its protocol over ``num_draws`` independent data draws (points,
centres or image subsets), with ``num_seeds`` initialisations nested in each draw. A *draw's* ratio is
``c̄_ℓ/c̄_{L-1}``, the ratio of its seed-mean contributions ``c̄_ℓ = mean_s c_ℓ(θ_s)``: it estimates
``E_θ c_ℓ / E_θ c_{L-1}``, whose width → ∞ limit is the infinite-width ratio. It is not the mean of the
per-seed ratios: a debiased contribution of one seed can vanish or be negative, so a per-seed ratio can be
undefined or arbitrarily large (a seed's debiased last-layer form can be non-positive) while the seed
mean is positive. The verdict looks at how the draws' ratios agree; the sphere and image figures draw the median of the
same draw ratios and their 10–90% interval (``experiments.framework.plotting.BAND``).

Claims (paper Figures 1–3, 5, 7, 8, §5.6 and §6), on ratios ``r`` of shape ``(…, K, L-1)`` over the
well-defined degrees:

* ``"A"``: layer 0's ratio increases strictly with the degree;
* ``"B"``: every layer's ratio (``ℓ < L-1``) increases strictly with the degree;
* ``"C"``: at the highest degree, layer 0 has the largest ratio;
* ``"D"``: layer 0's ratio is larger at the highest degree than at the lowest (a weaker form of A that
  tolerates non-monotone steps in between).

Rule (``RULE``): a claim *holds* if it holds for the median over draws and in at least ``agreement``
(default 80%) of the draws; it *fails* if it fails for the median and fails in at least ``agreement`` of the
draws; otherwise it is *unresolved* (the draws disagree: the sample does not decide). Both shares are of
all draws: a draw whose compared ratios are not all finite (undecided) counts neither as holding nor as
failing but stays in the denominator, so undecided draws make either verdict harder to reach; a median with
a NaN is unresolved.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "AGREEMENT",
    "CLAIMS",
    "claim_holds",
    "claim_rows",
    "draw_means",
    "nanmedian",
    "rule_text",
    "rule_verdict",
    "verdict",
]

AGREEMENT = 0.8
"""Default fraction of draws a verdict needs (module docstring)."""

CLAIMS = {
    "A": "layer 0's ratio increases with k",
    "B": "every layer's ratio (ℓ < L-1) increases with k",
    "C": "layer 0 has the largest ratio at the highest k",
    "D": "layer 0's ratio is larger at the highest k than at the lowest",
}


def rule_text(agreement: float = AGREEMENT) -> str:
    """The rule in words, for REPORT rows."""
    return (
        f"holds: median over draws and ≥ {agreement:.0%} of all draws; fails: median fails and "
        f"≥ {agreement:.0%} of all draws fail (a draw with a non-finite ratio: neither); else unresolved"
    )


def nanmedian(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Median over ``axis`` ignoring NaN; NaN (without a warning) where every entry is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        return np.nanmedian(a, axis=axis)


def draw_means(values: np.ndarray) -> np.ndarray:
    """The mean over seeds (axis 1) of ``values`` ``(D, S, …)``: ``(D, …)``; NaN where a seed is NaN.

    A draw's ratio is the ratio of its seed-mean contributions (module docstring): take ``draw_means`` of
    the contributions, then divide by the last layer.
    """
    return np.asarray(values, dtype=float).mean(axis=1)


def claim_holds(r: np.ndarray, claim: str) -> np.ndarray:
    """Whether ``claim`` holds for ratios ``r`` of shape ``(…, K, L-1)`` (a NaN compared: does not hold)."""
    with np.errstate(invalid="ignore"):
        if claim == "A":
            return np.all(np.diff(r[..., 0], axis=-1) > 0, axis=-1)
        if claim == "B":
            return np.all(np.diff(r, axis=-2) > 0, axis=(-2, -1))
        if claim == "C":
            top = r[..., -1, :]
            return np.all(top[..., :1] >= top[..., 1:], axis=-1) & np.isfinite(top).all(-1)
        if claim == "D":
            return r[..., -1, 0] > r[..., 0, 0]
    raise ValueError(f"claim must be one of {tuple(CLAIMS)}, got {claim!r}")


def _compared(r: np.ndarray, claim: str) -> np.ndarray:
    """The entries of ``r`` (…, K, L-1) that ``claim`` compares."""
    return {"A": r[..., 0], "B": r, "C": r[..., -1, :], "D": r[..., [0, -1], 0]}[claim]


def verdict(r: np.ndarray, claim: str, agreement: float = AGREEMENT) -> tuple[str, float]:
    """``("holds" | "fails" | "unresolved", fraction of draws where it holds)`` for ``r`` ``(D, K, L-1)``.

    The module docstring's rule.
    """
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {tuple(CLAIMS)}, got {claim!r}")
    r = np.asarray(r, dtype=float)
    finite = np.isfinite(_compared(r, claim)).reshape(len(r), -1).all(-1)
    med = nanmedian(r)
    if not np.isfinite(_compared(med, claim)).all():
        return "unresolved", float(np.mean(claim_holds(r, claim)))
    return rule_verdict(claim_holds(r, claim), finite, bool(claim_holds(med, claim)), agreement)


def rule_verdict(
    holds: np.ndarray, decided: np.ndarray, median_holds: bool, agreement: float = AGREEMENT
) -> tuple[str, float]:
    """The module docstring's rule for any per-draw statement.

    Args:
      holds: ``(D,)`` whether the statement holds in each draw.
      decided: ``(D,)`` whether the draw could decide it (e.g. its values are finite); an undecided draw
        counts neither as holding nor as failing, and both shares are of all ``D`` draws.
      median_holds: whether it holds for the median over draws.
      agreement: the fraction of draws a verdict needs.

    Returns:
      ``(verdict, fraction of draws where it holds)``.
    """
    holds, decided = np.asarray(holds, bool), np.asarray(decided, bool)
    frac, against = float(np.mean(holds)), float(np.mean(decided & ~holds))
    if median_holds and frac >= agreement:
        return "holds", frac
    if not median_holds and against >= agreement:
        return "fails", frac
    return "unresolved", frac


def claim_rows(
    draws: np.ndarray,
    degrees: np.ndarray,
    label: str,
    *,
    expected: str,
    claims: str = "ABCD",
    agreement: float = AGREEMENT,
    reference: np.ndarray | None = None,
    reference_label: str = "∞-width on the same points",
) -> list[dict]:
    """REPORT rows for ``claims`` on per-draw ratios ``draws`` ``(D, K, L-1)`` at ``degrees`` ``(K,)``.

    Degrees whose ratios are NaN in every draw (undefined, e.g. vanishing eigenvalues) are left out and
    named; the ``measured`` column gives the median over draws and the fraction of draws that agree.
    ``reference`` ``(D, K, L-1)`` (e.g. the infinite-width ratios of the same draws) gets its own verdict
    under the same rule, appended to ``expected``.
    """
    draws = np.asarray(draws, dtype=float)
    degrees = np.asarray(degrees)
    defined = ~np.isnan(draws).all(axis=(0, 2))
    skipped = degrees[~defined]
    r, degs = draws[:, defined], degrees[defined]
    note = f"; k = {', '.join(map(str, skipped))} undefined (left out)" if skipped.size else ""
    med = nanmedian(r)
    rows = []
    for claim in claims:
        if claim in "ABD" and len(degs) < 2:
            continue
        v, frac = verdict(r, claim, agreement)
        ref = ""
        if reference is not None:
            ref_v, ref_frac = verdict(np.asarray(reference, float)[:, defined], claim, agreement)
            ref = f"; {reference_label}: {ref_v} ({ref_frac:.0%} of draws)"
        if claim == "C":
            measured = (
                f"median at k={int(degs[-1])}: " + ", ".join(f"{x:.3g}" for x in med[-1])
                if len(degs)
                else "no defined degree"
            )
        else:
            layers = [0] if claim in "AD" else range(med.shape[1])
            measured = "median: " + "; ".join(
                f"ℓ={i}: " + ", ".join(f"{x:.3g}" for x in med[:, i]) for i in layers
            )
        rows.append(
            {
                "check": f"{CLAIMS[claim]} ({label}; {len(r)} draws, k ∈ "
                f"{tuple(int(k) for k in degs)}{note}) — rule: {rule_text(agreement)}",
                "measured": f"{measured}; holds in {frac:.0%} of draws",
                "expected": expected + ref,
                "verdict": v,
            }
        )
    return rows
