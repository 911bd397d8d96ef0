"""Theorem 2 checked: the ratio ``r(i)`` of the two layers' NTK power series is ``i``, not ``i²``.

Command::

    python -m experiments.theory_hermite [--scale smoke|default|paper] [--out figures/]

Scales: smoke: degrees ≤ 8; default and paper: degrees ≤ 30, all in float64 NumPy.
Runtimes and results: ``figures/REPORT.md`` (generated).
Expected picture: on log-log axes every activation's ``r(i)`` lies on the line ``i``, a factor ``i``
below the paper's ``i²``; the right panel shows ``|r(i)/i − 1|`` at the quadrature's rounding level,
larger where ``a_i²`` nears the resolution limit (``sin``: ``a_i² = e^{-1}/i!``).

What is measured. For the two-layer network of paper §5.4 (``f = m^{-1/2} Σ_j v_j σ(w_jᵀx)``,
weights ``N(0, 1)``, no bias, unit-norm inputs) the layers' infinite-width NTK contributions are
power series in ``u = ⟨x, x'⟩``: ``κ^(1)(u) = E[σσ] = Σ_i a_i² u^i`` (Mehler, paper Eq. 12) and
``κ^(0)(u) = u E[σ'σ'] = Σ_i (a'_{i-1})² u^i``. ``spectral_layers.hermite.hermite_ratio`` computes
``r(i) = [κ^(0)]_i / [κ^(1)]_i`` with the Hermite coefficients ``a'_n`` of ``σ'`` obtained by
quadrature of ``σ'`` itself, so it *tests* the relation rather than assuming it. Paper Theorem 2
states ``r(i) = i²`` (Eq. 17); Gaussian integration by parts gives ``a'_n = sqrt(n+1) a_{n+1}`` for
the orthonormal coefficients, hence ``r(i) = i`` (the paper's Eq. 16 holds for the un-normalised
``He`` coefficients and Eq. 17 mixes the two conventions; derivation and a second proof by Price's
theorem in ``docs/theory.md`` §2). ``r(i)`` is undefined (NaN, not drawn) where ``a_i = 0``: odd
``i ≥ 3`` for relu, gelu, softplus; even ``i`` for tanh, erf, sin.

The summary rows compare ``max |r(i)/i − 1|`` and ``max |r(i)/i² − 1|`` (``i ≥ 2``) with
``agree_tol`` and name the statement the data agree with; the verdict is computed from the saved
numbers (``verdict``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments.framework.cli import RunContext
from experiments.framework.plotting import OKABE_ITO, figure, suptitle
from spectral_layers.activations import ACTIVATIONS

CAPTION = (
    "Ratio r(i) = [κ^(0)]_i/[κ^(1)]_i of the power-series coefficients of the first- and "
    "second-layer NTK contributions of a two-layer network (paper Theorem 2), per activation. "
    "Left: r(i) against i with the corrected r(i) = i (solid) and the paper's i² (dashed); "
    "right: |r(i)/i − 1|."
)

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclasses.dataclass(frozen=True)
class Config:
    """Hermite-ratio experiment configuration (defaults: the default scale)."""

    # activations σ whose r(i) is measured (names in activations.ACTIVATIONS)
    activations: tuple[str, ...] = ("relu", "tanh", "erf", "gelu", "softplus", "sin")  # σ compared
    max_degree: int = 30  # largest power i of u in the two-layer kernels
    zero_tol: float = 1e-10  # r(i) is NaN where |a_i| <= zero_tol·sqrt(E[σ²]) (hermite_ratio)
    agree_tol: float = 1e-4  # verdict threshold on max |r/i − 1|; ratios err by ≲ 1e-15/zero_tol

    def __post_init__(self):
        if not self.activations:
            raise ValueError("activations must be a non-empty tuple of activation names")
        for name in self.activations:
            if name not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
        if len(set(self.activations)) != len(self.activations):
            raise ValueError(f"activations must be distinct, got {self.activations}")
        if (
            isinstance(self.max_degree, bool)
            or not isinstance(self.max_degree, int)
            or self.max_degree < 2
        ):
            raise ValueError(
                "max_degree must be an integer >= 2 (i = 2 separates i from i²), "
                f"got {self.max_degree}"
            )
        if not 0 < self.zero_tol < 1:
            raise ValueError(f"zero_tol must be in (0, 1), got {self.zero_tol}")
        if not 0 < self.agree_tol < 0.5:
            raise ValueError(
                "agree_tol must be in (0, 0.5) (i and i² differ by a factor >= 2), "
                f"got {self.agree_tol}"
            )


SCALES = {
    "default": {},
    "smoke": {"max_degree": 8},
    "paper": {},
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """``r(i)`` and the two power series for every activation (float64 NumPy, deterministic)."""
    from spectral_layers.hermite import hermite_ratio, two_layer_power_series

    ratio, k0, k1 = [], [], []
    for name in cfg.activations:
        ratio.append(hermite_ratio(name, cfg.max_degree, zero_tol=cfg.zero_tol))
        c0, c1 = two_layer_power_series(name, cfg.max_degree)
        k0.append(c0)
        k1.append(c1)
    return {
        "degrees": np.arange(cfg.max_degree + 1),
        "ratio": np.stack(ratio),  # (A, K+1): r(i), NaN where a_i = 0
        "kappa0_coeffs": np.stack(k0),  # (A, K+1): [κ^(0)]_i
        "kappa1_coeffs": np.stack(k1),  # (A, K+1): [κ^(1)]_i = a_i²
    }


def deviations(results, index: int) -> tuple[float, float, np.ndarray]:
    """``(max |r(i)/i − 1|, max |r(i)/i² − 1|, resolved degrees)`` of activation ``index``.

    The first maximum is over resolved ``i ≥ 1``, the second over resolved ``i ≥ 2`` (at ``i = 1``
    the two statements coincide).
    """
    i = np.asarray(results["degrees"], dtype=float)
    r = np.asarray(results["ratio"][index], dtype=float)
    ok = np.isfinite(r) & (i >= 1)
    two = ok & (i >= 2)
    dev_i = float(np.max(np.abs(r[ok] / i[ok] - 1))) if ok.any() else np.nan
    dev_i2 = float(np.max(np.abs(r[two] / i[two] ** 2 - 1))) if two.any() else np.nan
    return dev_i, dev_i2, i[ok].astype(int)


def verdict(dev_i: float, dev_i2: float, tol: float) -> str:
    """Which statement the measured deviations support (NaN: no resolved degree ``i ≥ 2``)."""
    if not np.isfinite(dev_i2):
        return "undecided: no resolved degree i >= 2"
    if dev_i <= tol < dev_i2:
        return (
            "agrees with the corrected statement r(i) = i; the paper's Theorem 2 (i²) does not hold"
        )
    if dev_i2 <= tol < dev_i:
        return "agrees with the paper's Theorem 2 (r(i) = i²)"
    return "agrees with neither r(i) = i nor the paper's r(i) = i²"


def summarize(results, cfg: Config) -> list[dict]:
    """One row per activation: deviations from ``i`` and ``i²``, verdict computed from them."""
    rows = []
    for a, name in enumerate(cfg.activations):
        dev_i, dev_i2, resolved = deviations(results, a)
        r = np.asarray(results["ratio"][a])
        first = next((k for k in resolved if k >= 2), None)
        example = "" if first is None else f"; r({first}) = {r[first]:.6g} vs i² = {first**2}"
        rows.append(
            {
                "check": f"Theorem 2, {name}: r(i) = [κ^(0)]_i/[κ^(1)]_i, resolved i ≤ "
                f"{cfg.max_degree} ({len(resolved)} degrees)",
                "measured": f"max |r(i)/i − 1| = {dev_i:.1e}; "
                f"max |r(i)/i² − 1| (i ≥ 2) = {dev_i2:.3g}{example}",
                "expected": "paper: r(i) = i²; corrected (docs/theory.md §2): r(i) = i",
                "verdict": verdict(dev_i, dev_i2, cfg.agree_tol),
            }
        )
    return rows


def plot(results, cfg: Config):
    """Left: ``r(i)`` vs ``i`` with the lines ``i`` and ``i²``; right: ``|r(i)/i − 1|``."""
    fig, axes = figure(2, aspect=0.95, extra_height=0.5)
    ax_r, ax_dev = axes[0]
    i = np.asarray(results["degrees"], dtype=float)
    grid = np.linspace(1, i[-1], 200)
    ax_r.plot(grid, grid, color="k", lw=1.0, label="$i$ (corrected)", zorder=1)
    ax_r.plot(grid, grid**2, color="0.5", ls="--", lw=1.0, label="$i^2$ (paper Thm. 2)", zorder=1)
    colors = [OKABE_ITO[c] for c in ("vermillion", "sky_blue", "bluish_green", "reddish_purple")]
    colors += [OKABE_ITO["orange"], OKABE_ITO["blue"]]  # no layers here: every Okabe–Ito hue
    floor = 1e-17
    for a, name in enumerate(cfg.activations):
        r = np.asarray(results["ratio"][a], dtype=float)
        ok = np.isfinite(r) & (i >= 1)
        style = dict(
            color=colors[a % len(colors)],
            marker=_MARKERS[a % len(_MARKERS)],
            ls="none",
            mfc="none",
            ms=3 + 0.6 * (len(cfg.activations) - a),
            mew=0.8,
        )
        ax_r.plot(i[ok], r[ok], label=name, **style)
        ax_dev.plot(i[ok], np.maximum(np.abs(r[ok] / i[ok] - 1), floor), **style)
    ax_r.set_xscale("log")
    ax_r.set_yscale("log")
    ax_r.set_xlabel("power $i$ of $u$")
    ax_r.set_ylabel(r"$r(i) = [\kappa^{(0)}]_i / [\kappa^{(1)}]_i$")
    fig.legend(*ax_r.get_legend_handles_labels(), loc="outside lower center", ncol=4)
    ax_r.set_title("two-layer NTK: measured ratio")
    ax_dev.set_yscale("log")
    ax_dev.axhline(cfg.agree_tol, color="k", ls=":", lw=0.8)
    ax_dev.text(i[-1], cfg.agree_tol * 1.6, "agreement tolerance", ha="right", va="bottom")
    ax_dev.set_ylim(floor / 3, 1.0)
    ax_dev.set_xlabel("power $i$ of $u$")
    ax_dev.set_ylabel(r"$|r(i)/i - 1|$ (floored at $10^{-17}$)")
    ax_dev.set_title(r"deviation from $r(i) = i$")
    suptitle(fig, "Theorem 2: r(i) = i, not i² (unresolved i with $a_i = 0$ omitted)")
    return fig
