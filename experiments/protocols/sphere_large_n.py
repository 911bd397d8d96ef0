r"""Large n on S⁹: do the layer-ratio estimators converge to the Mercer ratios, and does Figure 2's claim hold?

Command::

    python -m experiments.sphere_large_n [--scale smoke|default|paper] [--out figures/]

Scales: smoke is mostly compilation; default (n = 10³ … 10⁵, 8 draws, width 128, ReLU k = 1…4 and tanh
k = 1, 3) is for a CPU; paper (n up to 10⁶, 16 draws × 2 seeds, width 512) is for a GPU.
Runtimes and results: ``figures/REPORT.md`` (generated).

Setting (paper §6.2, Figure 2): d = 10, 4-layer bias-free network, NTK parameterisation, input scaling
"none"; targets ``g_k = Σ_l P_k(⟨x, x_l⟩)`` with 4 random centres. Every draw ``r`` (``fold_in(key, r)``)
resamples the points, the centres and the initialisations (seeds ``fold_in`` inside the draw); within a
draw the samples of increasing ``n`` are nested prefixes of one stream of points and the network is the
same, so each draw traces one path ``n ↦ ratio`` converging to that network's own ratio.

Route: finite networks, Gram-free (``estimators.estimator_forms``: one backward pass per target plus
per-example gradient norms). Infinite-width Grams cost ``O(n²)`` kernel evaluations (out of reach
on a CPU at n = 10⁵), while the Gram-free route costs ``O(n)`` per target.
The price: a width-``m`` network's own ratio differs from the infinite-width Mercer ratio by
``O(m^{-1/2})`` (the bands at the largest ``n`` show it).

Estimators (``estimators.ESTIMATORS``): ``paper`` (``yᵀG^(ℓ)y / yᵀG^(L-1)y``), ``projected`` (degrees
``< k`` removed on the sample), ``debiased`` (projected plus the diagonal correction of
``docs/theory.md`` §9, with a one-probe Hutchinson estimate of ``tr(PGP)``). Reference: the Mercer ratio
``μ_k^(ℓ)/μ_k^(L-1)`` of the infinite-width kernels (``spectra.layer_mercer_ratios``; NaN degrees, e.g.
even ``k`` for tanh without bias, are skipped).

Saved arrays (``E`` = 3 estimators, ``N`` sizes, ``K_a`` degrees of activation ``a``, ``L`` layers):

* ``num_points`` ``(N,)``; ``estimators`` ``(E,)``;
* ``{a}_degrees`` ``(K_a,)``; ``{a}_ratios`` ``(draws, seeds, E, N, K_a, L-1)``: ratio of layer ``ℓ`` to
  the last, NaN where undefined (denominator not positive);
* ``{a}_mercer_ratio`` ``(L-1, K_a)``.

Verdict rule: a claim *holds* at ``(estimator, n)`` if it holds for the median over draws × seeds and in
``≥ agreement`` (80%) of them; it *fails* if it fails for the median and fails (with finite ratios) in
``≥ agreement`` of them; otherwise it is *unresolved*. A sample *resolves* the claim from the smallest
``n`` from which the verdict equals the Mercer verdict (n → ∞, infinite width) at that and every larger
``n``. Claims (paper Figure 2 and §5.6): (A) layer 0's ratio increases with ``k``; (B) every layer's ratio ``ℓ < L-1``
increases with ``k``; (C) at the highest degree layer 0 has the largest ratio.

Expected picture: the paper's and the projected ratios sit far from the Mercer ratio at small ``n``
(``O(κ(1)/(n μ_k))`` bias, constant ~10⁴ at k = 4) and approach it slowly; the debiased ratio reaches it,
within the spread over networks, at far smaller ``n``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework import keys
from experiments.framework.cli import RunContext, check_counts
from experiments.framework.plotting import BAND, OTHER_COLORS, figure, suptitle
from experiments.framework.verdicts import CLAIMS, claim_holds, rule_text, verdict
from experiments.framework.verdicts import nanmedian as _nanmedian
from spectral_layers import estimators, targets
from spectral_layers.models import Network
from spectral_layers.spectra import layer_mercer_ratios

CAPTION = (
    "Layer-0/last-layer contribution ratio against n on S⁹ (d = 10, 4 bias-free layers): median over "
    "independent draws of points, centres and initialisations (line) and 10–90% band, for the paper's, "
    "the projected and the debiased estimator; dashed: the infinite-width Mercer ratio."
)

COLORS = dict(zip(("paper", "projected", "debiased"), OTHER_COLORS))


@dataclasses.dataclass(frozen=True)
class Config:
    """Large-n configuration (defaults: the default scale)."""

    seed: int = (
        0  # master seed: draw r uses fold_in(key(seed), r) for points, centres, inits, probes
    )
    num_draws: int = 8  # independent data draws (points, centres and initialisations resampled)
    draw_chunk: int = 1  # draws per checkpoint
    num_seeds: int = 1  # initialisations per draw (stacked), nested in the draw
    dim: int = 10  # input dimension d: points on S^{d-1}
    num_points: tuple[int, ...] = (1000, 3162, 10000, 31623, 100000)  # nested sample sizes n
    degrees: tuple[int, ...] = (
        1,
        2,
        3,
        4,
    )  # harmonic degrees k (those with a NaN Mercer ratio skipped)
    activations: tuple[str, ...] = ("relu", "tanh")  # each runs network.replace(activation=a)
    num_centers: int = 4  # centres of the Gegenbauer-sum targets (paper §6.2: 4)
    network: Network = Network(depth=4, width=128, input_scaling="none")  # noqa: RUF009 (frozen)
    # paper §5.4: bias-free, NTK parameterisation; width 128 to fit n = 10⁵ on 2 CPU cores
    trace_probes: int = 1  # Hutchinson probes of tr(PGP) for the debiased estimator
    target_chunk: int = (
        0  # targets per backward pass; 0: automatic (estimators.TARGET_MEMORY_BUDGET)
    )
    agreement: float = 0.8  # fraction of draws a verdict needs (module docstring)

    def __post_init__(self):
        if self.network.width is None:
            raise ValueError("network.width must be set (finite networks, Gram-free)")
        if self.network.depth < 2:
            raise ValueError(f"network.depth must be >= 2, got {self.network.depth}")
        check_counts(self, "num_draws", "draw_chunk", "num_seeds", "num_centers", "trace_probes")
        if self.target_chunk < 0:
            raise ValueError(f"target_chunk must be >= 0, got {self.target_chunk}")
        if self.dim < 3:
            raise ValueError(f"dim must be >= 3 (Gegenbauer-sum targets), got {self.dim}")
        if (
            not self.degrees
            or min(self.degrees) < 1
            or list(self.degrees) != sorted(set(self.degrees))
        ):
            raise ValueError(
                f"degrees must be increasing distinct integers >= 1, got {self.degrees}"
            )
        n = self.num_points
        if not n or list(n) != sorted(set(n)):
            raise ValueError(f"num_points must be increasing distinct sizes, got {n}")
        need = math.comb(self.dim + max(self.degrees) - 1, max(self.degrees) - 1)
        if min(n) <= need:
            raise ValueError(
                f"num_points must exceed {need} (projecting out degrees < {max(self.degrees)} in "
                f"d = {self.dim}), got {min(n)}"
            )
        if not self.activations:
            raise ValueError("activations must not be empty")
        for a in self.activations:
            self.network.replace(activation=a)  # validates the name
        if not 0.5 < self.agreement <= 1:
            raise ValueError(f"agreement must be in (0.5, 1], got {self.agreement}")


def degrees_and_mercer(cfg: Config, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """``(degrees (K_a,), Mercer ratios (L-1, K_a))``: the degrees of ``cfg`` whose ratios are defined."""
    net = cfg.network.replace(activation=activation, width=None)
    r = layer_mercer_ratios(cfg.dim, max(cfg.degrees), network=net)
    keep = [k for k in cfg.degrees if np.isfinite(r[:, k]).all()]
    return np.asarray(keep, dtype=int), r[:, keep]


SCALES = {
    "default": {},
    "smoke": {
        "num_draws": 2,
        "num_seeds": 1,
        "dim": 5,
        "num_points": (32, 96),
        "degrees": (1, 2, 3),
        "network.width": 16,
    },
    "paper": {
        "num_draws": 16,
        "num_seeds": 2,
        "num_points": (1000, 3162, 10000, 31623, 100000, 316228, 1000000),
        "network.width": 512,
    },
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Ratios of every estimator for every draw, seed, n, degree and layer; the Mercer ratios."""
    ctx = ctx or RunContext("sphere_large_n", progress=False)
    per_act = {a: degrees_and_mercer(cfg, a) for a in cfg.activations}
    n_max = max(cfg.num_points)
    L1 = cfg.network.depth - 1

    def one_draw(r: int) -> dict[str, np.ndarray]:
        k_points, k_centers, k_init, k_probe = keys.draw_keys(
            cfg.seed, r, "points", "centres", "init", "probes"
        )
        stream = targets.sample_sphere(k_points, n_max, cfg.dim)
        centers = targets.random_centers(k_centers, cfg.dim, cfg.num_centers)
        out = {}
        for a in cfg.activations:
            degs = per_act[a][0]
            net = cfg.network.replace(activation=a)
            apply_fn, params = net.init_seeds(k_init, cfg.num_seeds, cfg.dim)
            ratios = np.full(
                (cfg.num_seeds, len(estimators.ESTIMATORS), len(cfg.num_points), len(degs), L1),
                np.nan,
            )
            for i, n in enumerate(cfg.num_points):
                x = stream[:n]
                Y = jnp.stack([targets.gegenbauer_sum_target(x, int(k), centers) for k in degs])
                Y = Y / jnp.linalg.norm(Y, axis=1, keepdims=True)
                forms = estimators.estimator_forms(
                    apply_fn,
                    params,
                    x,
                    Y,
                    degree=degs,
                    stacked=True,
                    target_chunk=cfg.target_chunk or None,
                    trace_probes=cfg.trace_probes,
                    key=jax.random.fold_in(k_probe, i),
                    mesh=ctx.mesh,
                )
                for e, name in enumerate(estimators.ESTIMATORS):
                    rel = estimators.ratios_from_forms(forms[name])
                    ratios[:, e, i] = np.stack(list(rel.values()), axis=-1)  # (S, K_a, L-1)
            out[f"{a}_ratios"] = ratios
        return out

    def chunk(draws: np.ndarray) -> dict[str, np.ndarray]:
        per = [one_draw(int(r)) for r in draws]
        return {k: np.stack([p[k] for p in per]) for k in per[0]}

    done = ctx.seed_loop(cfg, chunk, num_seeds=cfg.num_draws, chunk=cfg.draw_chunk, desc="draws")
    results = {
        "num_points": np.asarray(cfg.num_points),
        "estimators": np.asarray(estimators.ESTIMATORS),
    }
    for a, (degs, mercer) in per_act.items():
        results[f"{a}_degrees"] = degs
        results[f"{a}_mercer_ratio"] = mercer
        results[f"{a}_ratios"] = done[f"{a}_ratios"]
    return results


# --------------------------------------------------------------------------------------------------
# verdicts


def _flat(results, a: str) -> np.ndarray:
    """``{a}_ratios`` with draws and seeds merged: ``(D·S, E, N, K, L-1)``."""
    r = results[f"{a}_ratios"]
    return r.reshape(-1, *r.shape[2:])


def resolution(results, cfg: Config, a: str, claim: str) -> dict:
    """Verdicts per estimator and n, the Mercer verdict, and the n from which each estimator resolves it."""
    truth = "holds" if bool(claim_holds(results[f"{a}_mercer_ratio"].T, claim)) else "fails"
    r = _flat(results, a)
    n = results["num_points"]
    out = {"truth": truth, "per": {}}
    for e, name in enumerate(results["estimators"]):
        v = [verdict(r[:, e, i], claim, cfg.agreement) for i in range(len(n))]
        ok = [vi[0] == truth for vi in v]
        first = next((int(n[i]) for i in range(len(n)) if all(ok[i:])), None)
        out["per"][str(name)] = {"verdicts": v, "from_n": first}
    return out


def _resolved(from_n: int | None, n: np.ndarray) -> str:
    """``"resolved from n = …"``, or that no sample size up to the largest resolves the claim."""
    if from_n is None:
        return f"not resolved up to n = {int(n[-1])}"
    return f"resolved from n = {from_n}"


def summarize(results, cfg: Config) -> list[dict]:
    """Per activation and claim: the Mercer verdict, each estimator's verdict against n; accuracy rows."""
    rows = []
    n = results["num_points"]
    rule = rule_text(cfg.agreement)
    for a in cfg.activations:
        degs = results[f"{a}_degrees"]
        mercer = results[f"{a}_mercer_ratio"]
        for claim in CLAIMS:
            if claim in "ABD" and len(degs) < 2:
                continue
            res = resolution(results, cfg, a, claim)
            measured = []
            for name, info in res["per"].items():
                steps = ", ".join(
                    f"n={int(ni)}: {v} ({f:.0%})" for ni, (v, f) in zip(n, info["verdicts"])
                )
                measured.append(f"{name}: {steps}; {_resolved(info['from_n'], n)}")
            rows.append(
                {
                    "check": f"{a}, k ∈ {tuple(int(k) for k in degs)}: claim {claim} ({CLAIMS[claim]}) "
                    f"— rule: {rule}",
                    "measured": "; ".join(measured),
                    "expected": f"Mercer ratios (n → ∞, infinite width): claim {res['truth']} "
                    f"(layer 0: {', '.join(f'{v:.3g}' for v in mercer[0])})",
                    "verdict": f"Mercer: {res['truth']}; debiased: "
                    f"{_resolved(res['per']['debiased']['from_n'], n)}; paper's estimator: "
                    f"{_resolved(res['per']['paper']['from_n'], n)}",
                }
            )
        r = _flat(results, a)
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(r[..., -1, 0] / mercer[0, -1] - 1)  # (D·S, E, N): layer 0, top degree
        parts = []
        for e, name in enumerate(results["estimators"]):
            med = _nanmedian(err[:, e])
            parts.append(f"{name}: " + ", ".join(f"{m:.2f}" for m in med))
        rows.append(
            {
                "check": f"{a}: layer-0 ratio at k = {int(degs[-1])} vs Mercer ratio "
                f"{mercer[0, -1]:.3g}: median |r̂/r − 1| over draws at n = {', '.join(map(str, n))}",
                "measured": "; ".join(parts),
                "expected": "→ 0 as n → ∞ up to the width-"
                f"{cfg.network.width} network's own deviation O(m^(-1/2))",
                "verdict": "debiased closest at every n"
                if np.all(np.nan_to_num(_nanmedian(err[:, 2]), nan=np.inf)
                          <= np.nan_to_num(_nanmedian(err[:, 0]), nan=np.inf))
                else "debiased not closest at every n",
            }
        )  # fmt: skip
        # Sampling error alone: against the same draw's debiased ratio at the largest n (the network's
        # own ratio, up to its sampling error there), which removes the width-m deviation from Mercer.
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.abs(r[..., -1, 0] / r[:, 2:3, -1:, -1, 0] - 1)  # (D·S, E, N)
        parts = [
            f"{name}: " + ", ".join(f"{m:.2f}" for m in _nanmedian(own[:, e]))
            for e, name in enumerate(results["estimators"])
        ]
        rows.append(
            {
                "check": f"{a}: layer-0 ratio at k = {int(degs[-1])} vs the same draw's debiased ratio "
                f"at n = {int(n[-1])} (sampling error without the width effect): median |r̂/r_own − 1| "
                f"at n = {', '.join(map(str, n))}",
                "measured": "; ".join(parts),
                "expected": "→ 0 with n; O(κ(1)/(n μ_k)) for paper and projected",
                "verdict": "see measured",
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------
# figure


def plot(results, cfg: Config):
    """One panel per (activation, degree): layer-0 ratio vs n per estimator, Mercer ratio dashed."""
    acts = list(cfg.activations)
    ncols = max(len(results[f"{a}_degrees"]) for a in acts)
    fig, axes = figure(ncols, len(acts), aspect=0.9)
    n = results["num_points"].astype(float)
    for row, a in enumerate(acts):
        r = _flat(results, a)
        degs, mercer = results[f"{a}_degrees"], results[f"{a}_mercer_ratio"]
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(degs):
                ax.axis("off")
                continue
            for e, name in enumerate(results["estimators"]):
                v = r[:, e, :, col, 0]  # (D·S, N)
                if not np.isfinite(v).any():
                    continue
                ok = np.isfinite(v).any(0)  # NaN where no draw is defined: a gap, never joined
                med = np.where(ok, _nanmedian(np.where(ok, v, 0.0)), np.nan)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, hi = np.nanquantile(v, [BAND[0] / 100, BAND[1] / 100], axis=0)
                ax.plot(n, med, marker="o", color=COLORS[str(name)], label=str(name), ms=2.5)
                ax.fill_between(n, lo, hi, color=COLORS[str(name)], alpha=0.2, lw=0)
            ax.axhline(mercer[0, col], color="0.3", ls="--", lw=0.9, label="Mercer (n → ∞)")
            ax.set_xscale("log")
            ax.set_title(f"{a}, k = {int(degs[col])}")
            if col == 0:
                ax.set_ylabel("layer 0 / last")
            if row == len(acts) - 1:
                ax.set_xlabel("$n$")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    suptitle(
        fig,
        f"d={cfg.dim}, L={cfg.network.depth}, width {cfg.network.width}; line: median over "
        f"{results[f'{acts[0]}_ratios'].shape[0] * cfg.num_seeds} independent draws of points, centres "
        f"and initialisations, band: {BAND[0]}–{BAND[1]}% of the same",
    )
    return fig
