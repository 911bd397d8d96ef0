"""Finite → infinite width: each layer's empirical Gram G^(ℓ) converges to its infinite-width kernel κ^(ℓ).

Command::

    python -m experiments.width_convergence [--scale smoke|default|paper] [--out figures/]

For widths m (64 … 1024 at default scale, 64 … 4096 at paper scale) and independent initialisations it measures
the relative Frobenius error ``‖G^(ℓ)_m − κ^(ℓ)‖_F / ‖κ^(ℓ)‖_F`` of every layer on a sample of points on
S^{d-1}, and the error of the seed-averaged Gram. The sample is redrawn ``num_draws`` times (draw ``r``:
``fold_in(key(seed), r)``), with ``num_seeds`` initialisations per width nested in each draw; the slope is
fitted per draw and judged by the rule of ``experiments.framework.verdicts`` (within 0.15 of −1/2 for the median over
draws and in ≥ 80% of draws). Theory (Jacot et al., 2018; fluctuations of the NTK at
initialisation, Hanin & Nica, 2020) predicts ``O(m^{-1/2})`` per draw; the seed average removes part of the
fluctuation but keeps the ``O(m^{-1})`` bias. The figure is log-log with the least-squares slope per layer.

Scales: default (widths 64…1024, 8 draws × 4 seeds, n = 64, d = 10, ReLU, 4 layers) for a CPU; paper
(widths up to 4096, 8 draws × 8 seeds) for a GPU. Runtimes and results: ``figures/REPORT.md`` (generated).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments.framework import keys, verdicts
from experiments.framework.cli import RunContext, check_counts
from experiments.framework.plotting import BAND, band, figure, layer_colors, suptitle
from spectral_layers import targets
from spectral_layers.empirical import layer_ntk, relative_frobenius
from spectral_layers.estimators import loglog_slope
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network

CAPTION = (
    "Relative Frobenius error between each layer's finite-width Gram G^(ℓ) and its infinite-width kernel κ^(ℓ) "
    "against width (median over draws of points and initialisations, 10–90% band, solid; error of each draw's "
    "seed-averaged Gram, median, dashed), with the median of the per-draw log-log slopes (theory: −1/2)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Width-convergence configuration (default scale)."""

    seed: int = (
        0  # master seed: draw r uses fold_in(key(seed), r) for its points and initialisations
    )
    num_draws: int = 8  # independent draws of the points (module docstring)
    num_seeds: int = 4  # independent initialisations per width, nested in each draw
    seed_chunk: int = 4  # seeds per vmapped call
    agreement: float = verdicts.AGREEMENT  # fraction of draws a verdict needs
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)  # hidden widths m
    dim: int = 10  # input dimension d (points on S^{d-1})
    num_points: int = 64  # sample size n of the Grams
    network: Network = Network(depth=4, input_scaling="none")  # noqa: RUF009 (frozen)
    # 4 bias-free ReLU layers, NTK parameterisation (it has a width-free limit), paper §5.4 input scaling;
    # network.width is ignored: the widths are the sweep above

    def __post_init__(self):
        if not self.widths or min(self.widths) < 1:
            raise ValueError(
                f"widths must be a non-empty tuple of positive integers, got {self.widths}"
            )
        for w in self.widths:
            self.network.replace(width=w).spec(self.dim)
        if self.network.parameterization != "ntk":
            raise ValueError(
                "network.parameterization must be 'ntk': the standard one has no width-free limit"
            )
        if not 0.5 < self.agreement <= 1:
            raise ValueError(f"agreement must be in (0.5, 1], got {self.agreement}")
        check_counts(self, "num_draws", "num_seeds", "seed_chunk", "num_points")
        if self.dim < 2:
            raise ValueError(f"dim must be >= 2, got {self.dim}")


SCALES = {
    "smoke": {
        "widths": (8, 16, 32),
        "num_draws": 2,
        "num_seeds": 2,
        "seed_chunk": 1,
        "num_points": 12,
    },
    "paper": {
        "widths": (64, 128, 256, 512, 1024, 2048, 4096),
        "num_seeds": 8,
        "seed_chunk": 4,
        "num_points": 128,
    },
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Per-draw, per-seed, per-width, per-layer errors, errors of the seed-averaged Grams, fitted slopes."""
    ctx = ctx or RunContext("width_convergence", progress=False)

    def one_draw(draw_index: np.ndarray) -> dict[str, np.ndarray]:
        (r,) = draw_index
        k_points, k_init = keys.draw_keys(cfg.seed, int(r), "points", "init")
        x = targets.sample_sphere(k_points, cfg.num_points, cfg.dim)
        inf = infinite_layer_ntk(x, network=cfg.network.replace(width=None))
        kappa = np.stack([np.asarray(v) for v in inf.values()])  # (L, n, n)
        grams = []
        for s0 in range(0, cfg.num_seeds, cfg.seed_chunk):
            idx = np.arange(s0, min(s0 + cfg.seed_chunk, cfg.num_seeds))
            per_width = []
            for w in cfg.widths:
                apply_fn, params = cfg.network.replace(width=w).init_seeds(
                    jax.random.fold_in(k_init, w), 0, cfg.dim, seed_indices=idx
                )
                g = ctx.gather(layer_ntk(apply_fn, params, x, stacked=True, mesh=ctx.mesh))
                per_width.append(
                    np.stack([np.asarray(v) for v in g.values()], axis=1)
                )  # (s, L, n, n)
            grams.append(np.stack(per_width, axis=1))  # (s, W, L, n, n)
        grams = np.concatenate(grams)
        return {
            "errors": relative_frobenius(grams, kappa[None, None])[None],  # (1, S, W, L)
            "mean_gram_errors": relative_frobenius(grams.mean(axis=0), kappa[None])[
                None
            ],  # (1, W, L)
        }

    out = ctx.seed_loop(cfg, one_draw, num_seeds=cfg.num_draws, chunk=1, desc="draws")
    widths = np.asarray(cfg.widths, dtype=float)

    def slopes(err):  # (D, W, L) -> (D, L): least-squares slope of log err vs log width per draw
        return np.array([[loglog_slope(widths, col)[0] for col in e.T] for e in err])

    return {
        "widths": np.asarray(cfg.widths),
        **out,
        "slopes": slopes(out["errors"].mean(axis=1)),
        "mean_gram_slopes": slopes(out["mean_gram_errors"]),
    }


def plot(results, cfg: Config):
    """Log-log error against width per layer, with fitted slopes in the legend."""
    fig, axes = figure(1, aspect=0.75, columns=1, extra_height=1.3)
    ax = axes[0][0]
    widths = results["widths"]
    errors = results["errors"]  # (D, S, W, L)
    num_layers = errors.shape[-1]
    colors = layer_colors(num_layers)
    mean = np.median(errors.mean(axis=1), axis=0)  # (W, L): median over draws of the seed means
    lo, hi = np.percentile(errors.mean(axis=1), BAND, axis=0)  # the same draw values
    slopes = np.median(results["slopes"], axis=0)
    for layer in range(num_layers):
        band(
            ax,
            widths,
            mean[:, layer],
            np.maximum(lo[:, layer], 1e-8),
            hi[:, layer],
            color=colors[layer],
            label=f"layer {layer}: slope {slopes[layer]:.2f}",
        )
        ax.plot(
            widths,
            np.median(results["mean_gram_errors"], axis=0)[:, layer],
            ls="--",
            color=colors[layer],
            lw=0.9,
        )
    ref = mean[0].max() * (widths / widths[0]) ** -0.5
    ax.plot(widths, ref, color="k", ls=":", lw=0.8, label=r"$\propto m^{-1/2}$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width $m$")
    ax.set_ylabel(r"$\|G^{(\ell)} - \kappa^{(\ell)}\|_F / \|\kappa^{(\ell)}\|_F$")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    suptitle(
        fig,
        f"{cfg.network.activation}, d={cfg.dim}, n={cfg.num_points}, L={cfg.network.depth}"
        f"; line: median over {errors.shape[0]} draws (each the mean over {errors.shape[1]} seeds), "
        f"band: {BAND[0]}–{BAND[1]}% of the same; dashed: seed-averaged Gram",
    )
    return fig


def summarize(results, cfg: Config) -> list[dict]:
    """Per-draw fitted slopes per layer against the theoretical −1/2, under the verdict rule."""
    slopes = results["slopes"]  # (D, L)
    ok = np.all(np.abs(slopes + 0.5) < 0.15, axis=1)
    med = np.median(slopes, axis=0)
    v, frac = verdicts.rule_verdict(
        ok, np.isfinite(slopes).all(axis=1), bool(np.all(np.abs(med + 0.5) < 0.15)), cfg.agreement
    )
    return [
        {
            "check": "log-log slope of the error ‖G^(ℓ)−κ^(ℓ)‖_F/‖κ^(ℓ)‖_F (seed mean) vs width, within 0.15 "
            f"of −1/2 for every layer — rule: {verdicts.rule_text(cfg.agreement)}",
            "measured": "median over draws: "
            + ", ".join(f"ℓ={i}: {s:.3f}" for i, s in enumerate(med))
            + f"; holds in {frac:.0%} of {len(slopes)} draws",
            "expected": "≈ −1/2 (NTK fluctuations, Jacot et al. 2018)",
            "verdict": v,
        },
        {
            "check": "log-log slope of the seed-averaged Gram error vs width (median over draws)",
            "measured": ", ".join(
                f"ℓ={i}: {s:.3f}"
                for i, s in enumerate(np.median(results["mean_gram_slopes"], axis=0))
            ),
            "expected": "between −1/2 (fluctuation-dominated) and −1 (bias-dominated)",
            "verdict": "—",
        },
    ]
