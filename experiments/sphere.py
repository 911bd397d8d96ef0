"""Layer contributions for harmonics on the sphere (paper §6.1–6.2, Figures 1, 2 and 8), shared by the
``fig1_sphere_d2``, ``fig2_sphere_d10``, ``fig8_sphere_tanh``, ``sphere_erf_d10`` and ``sphere_gelu_d10`` modules.

For targets ``y_k`` of spherical-harmonic degree ``k`` (``cos kθ`` on S¹, Gegenbauer sums in higher ``d``) on
``n`` points it measures the relative contributions ``c_ℓ / c_{L-1}`` with ``c_ℓ = y_kᵀ G^(ℓ) y_k`` (paper
appendix §13) over random initialisations (mean and 95% Student-t interval), and overlays what the paper does
not show:

* the infinite-width prediction on the same points, ``y_kᵀ κ^(ℓ) y_k / y_kᵀ κ^(L-1) y_k`` (``infinite_layer_ntk``);
* the ratio of Mercer eigenvalues ``μ_k^(ℓ) / μ_k^(L-1)`` (Funk–Hecke, ``gegenbauer``), which is what the
  quadratic-form ratio estimates (paper Eq. 5 and Theorem 1).

A sampled degree-``k`` target is not orthogonal to lower degrees in the empirical measure, and lower degrees
have much larger eigenvalues, so the raw quadratic-form ratio is biased towards the lower-degree ratios. The
right panel applies the correction: the target's least-squares component on all polynomials of degree ``< k``
is projected out on the sample (``targets.project_out_lower_degrees``). The saved ``bias_raw`` and
``bias_projected`` measure the relative deviation of the infinite-width quadratic-form ratio from the Mercer
ratio before and after the correction.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from experiments._framework import Experiment, RunContext
from experiments.plotting import figure, layer_bands, layer_colors, per_layer_text
from spectral_layers import contributions as contrib
from spectral_layers import targets
from spectral_layers.infinite import sphere_layer_ntk
from spectral_layers.models import Network
from spectral_layers.spectra import layer_mercer_eigenvalues

CAPTION = (
    "Relative contribution c_ℓ/c_(L-1) of each layer for degree-k targets (mean and 95% t-interval over "
    "initialisations); dashed: the infinite-width prediction on the same points, dotted: the ratio of Mercer "
    "eigenvalues. Left: the paper's sampled targets; right: with lower degrees projected out on the sample."
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Sphere experiment configuration (defaults: Figure 1 at default scale)."""

    seed: int = 0  # master seed: points, target centres and initialisations all derive from it
    num_seeds: int = 10  # random initialisations; intervals are over these
    seed_chunk: int = 5  # seeds per vmapped call and per checkpoint
    dim: int = 2  # input dimension d: points on S^{d-1}
    num_points: int = 1024  # sample size n
    sampling: str = "uniform"  # "uniform" on the sphere, or "equispaced" (d = 2 only)
    degrees: tuple[int, ...] = (1, 2, 3, 4)  # harmonic degrees k of the targets
    num_centers: int = 4  # centres x_l of the Gegenbauer-sum targets (d > 2; paper: 4)
    network: Network = Network(depth=4, width=512, input_scaling="none")  # noqa: RUF009 (frozen)
    # paper §5.4: 4 bias-free layers, NTK parameterisation, pre-activation wᵀx (unit variance on the sphere)
    mercer: bool = True  # also compute the Mercer-eigenvalue ratios (infinite width)

    def __post_init__(self):
        if self.network.width is None:
            raise ValueError("network.width must be set (the finite networks' hidden width)")
        if self.dim < 2:
            raise ValueError(f"dim must be >= 2, got {self.dim}")
        if self.network.depth < 2:
            raise ValueError(
                "network.depth must be >= 2 (contributions are relative to the last layer), "
                f"got {self.network.depth}"
            )
        for name in ("num_seeds", "seed_chunk", "num_points", "num_centers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.degrees or min(self.degrees) < 0:
            raise ValueError(
                f"degrees must be a non-empty tuple of integers >= 0, got {self.degrees}"
            )
        if self.sampling not in ("uniform", "equispaced"):
            raise ValueError(f"sampling must be 'uniform' or 'equispaced', got {self.sampling!r}")
        if self.sampling == "equispaced" and self.dim != 2:
            raise ValueError("sampling='equispaced' is only defined for dim=2")


def sample_points_and_targets(cfg: Config, key: jax.Array):
    """Points ``x`` (n, d), raw targets ``Y_raw`` (K, n) and projected targets ``Y_proj`` (K, n), unit norm."""
    k_points, k_centers = jax.random.split(key)
    if cfg.sampling == "equispaced":
        x = targets.equispaced_circle(cfg.num_points)
    else:
        x = targets.sample_sphere(k_points, cfg.num_points, cfg.dim)
    centers = None if cfg.dim == 2 else targets.random_centers(k_centers, cfg.dim, cfg.num_centers)
    y_raw, y_proj = [], []
    for k in cfg.degrees:
        y = targets.sphere_target(x, k, centers)
        y_raw.append(y / jnp.linalg.norm(y))
        if k == 0 or math.comb(cfg.dim + k - 1, k - 1) < cfg.num_points:
            p = targets.project_out_lower_degrees(x, y, k)
            y_proj.append(p / jnp.linalg.norm(p))
        else:
            warnings.warn(
                f"too few points to project out degrees < {k} in d={cfg.dim}; NaN", stacklevel=2
            )
            y_proj.append(jnp.full_like(y, jnp.nan))
    return x, jnp.stack(y_raw), jnp.stack(y_proj)


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Computes finite-width contributions over seeds, and the infinite-width and Mercer predictions."""
    ctx = ctx or RunContext("sphere", progress=False)
    key = jax.random.key(cfg.seed)
    k_data, k_init = jax.random.split(key)
    x, y_raw, y_proj = sample_points_and_targets(cfg, k_data)
    y_all = jnp.concatenate([y_raw, jnp.nan_to_num(y_proj)])
    num_k = len(cfg.degrees)
    apply_fn, _ = cfg.network.init(k_init, cfg.dim)

    def chunk(seed_indices: np.ndarray) -> dict[str, np.ndarray]:
        _, params = cfg.network.init_seeds(k_init, 0, cfg.dim, seed_indices=seed_indices)
        c = contrib.stack_layers(
            ctx.gather(
                contrib.layer_contributions(apply_fn, params, x, y_all, stacked=True, mesh=ctx.mesh)
            )
        )
        return {"contributions_raw": c[:, :num_k], "contributions_projected": c[:, num_k:]}

    finite = ctx.seed_loop(cfg, chunk, num_seeds=cfg.num_seeds, chunk=cfg.seed_chunk)
    results = {
        "degrees": np.asarray(cfg.degrees),
        "points": np.asarray(x),
        "contributions_raw": finite["contributions_raw"],
        "contributions_projected": np.where(
            np.isnan(np.asarray(y_proj)).any(axis=1)[None, :, None],
            np.nan,
            finite["contributions_projected"],
        ),
    }
    results.update(infinite_width_predictions(cfg, x, y_raw, y_proj))
    return results


def infinite_width_predictions(cfg: Config, x, y_raw, y_proj) -> dict[str, np.ndarray]:
    """Infinite-width quadratic forms on the sample and Mercer eigenvalues per layer and degree."""

    kernels = sphere_layer_ntk(x, network=cfg.network)
    q_raw = contrib.stack_layers(contrib.quadratic_forms(kernels, y_raw))
    q_proj = contrib.stack_layers(contrib.quadratic_forms(kernels, jnp.nan_to_num(y_proj)))
    q_proj = np.where(np.isnan(np.asarray(y_proj)).any(axis=1)[:, None], np.nan, q_proj)
    out = {"infinite_raw": q_raw, "infinite_projected": q_proj}
    if cfg.mercer:
        mu = mercer_eigenvalues(cfg)
        out["mercer"] = mu
        rel_mu = mu[:, :-1] / mu[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["bias_raw"] = np.abs(q_raw[:, :-1] / q_raw[:, -1:] / rel_mu - 1)
            out["bias_projected"] = np.abs(q_proj[:, :-1] / q_proj[:, -1:] / rel_mu - 1)
    return out


def mercer_eigenvalues(cfg: Config) -> np.ndarray:
    """``μ_k^(ℓ)`` (K, L): Funk–Hecke eigenvalues of every infinite-width layer kernel (``spectra``)."""
    mu = layer_mercer_eigenvalues(cfg.dim, max(cfg.degrees), network=cfg.network)
    return contrib.stack_layers(mu)[np.asarray(cfg.degrees)]


def relative(c: np.ndarray) -> np.ndarray:
    """Contributions relative to the last layer (last axis = layers)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / c[..., -1:]


def plot(results, cfg: Config):
    """Two panels (sampled targets | lower degrees projected out): relative contribution per layer vs degree."""
    fig, axes = figure(2, aspect=0.95, sharey=True)
    degrees = results["degrees"]
    num_layers = results["contributions_raw"].shape[-1]
    colors = layer_colors(num_layers)
    panels = [("raw", "sampled targets (paper)"), ("projected", "degrees < k projected out")]
    for ax, (kind, title) in zip(axes[0], panels):
        rel = relative(results[f"contributions_{kind}"])
        layer_bands(ax, degrees, rel, relative(results[f"infinite_{kind}"]), colors)
        for layer in range(num_layers - 1):
            if "mercer" in results:
                ax.plot(
                    degrees,
                    relative(results["mercer"])[:, layer],
                    ls=":",
                    marker="+",
                    color="k",
                    lw=0.8,
                    ms=5,
                )
        ax.set_yscale("log")
        ax.set_xticks(degrees)
        ax.set_xlabel("degree $k$")
        ax.set_title(title)
    axes[0][0].set_ylabel(r"$c_\ell / c_{L-1}$")
    handles, labels = axes[0][0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles += [
        Line2D([], [], ls="--", marker="x", color="gray"),
        Line2D([], [], ls=":", marker="+", color="k"),
    ]
    labels += [r"$\infty$-width $y^\top\kappa y$", r"Mercer $\mu_k^{(\ell)}/\mu_k^{(L-1)}$"]
    n_seeds = results["contributions_raw"].shape[0]
    fig.suptitle(
        f"{cfg.network.activation}, d={cfg.dim}, n={cfg.num_points} ({cfg.sampling}), "
        f"L={cfg.network.depth}, width {cfg.network.width}, {n_seeds} seeds (95% t-interval)",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=len(labels),
        bbox_to_anchor=(0.5, 0.0),
        handlelength=2.2,
        columnspacing=1.0,
    )
    return fig


def summarize(results, cfg: Config) -> list[dict]:
    """Checks for REPORT.md: the paper's ordering claim, and the finite-sample bias with/without correction."""
    rows = []
    for kind in ("raw", "projected"):
        rel = relative(results[f"contributions_{kind}"]).mean(axis=0)[:, :-1]  # (K, L-1)
        if np.isnan(rel).all():
            continue
        increasing = bool(np.all(np.diff(rel, axis=0) > 0))
        first_largest = bool(np.all(rel[-1, 0] >= rel[-1, 1:]))
        rows.append(
            {
                "check": f"c_ℓ/c_(L-1) increases with k for every ℓ < L-1 ({kind} targets, seed mean)",
                "measured": per_layer_text(rel),
                "expected": "increasing in k (paper §6)",
                "verdict": "agrees" if increasing else "does not hold for every k",
            }
        )
        rows.append(
            {
                "check": f"layer 0 has the largest relative contribution at k={int(results['degrees'][-1])} ({kind})",
                "measured": ", ".join(f"{v:.3g}" for v in rel[-1]),
                "expected": "earliest layer largest at high degree (paper §5.6)",
                "verdict": "agrees" if first_largest else "disagrees",
            }
        )
    if "bias_raw" in results:
        rows.append(
            {
                "check": "relative deviation of the ∞-width quadratic-form ratio from the Mercer ratio",
                "measured": f"raw targets: max {np.nanmax(results['bias_raw']):.2e}; "
                f"lower degrees projected out: max {np.nanmax(results['bias_projected']):.2e}",
                "expected": "0 in the n → ∞ limit (Theorem 1)",
                "verdict": "correction reduces the finite-sample bias"
                if np.nanmax(results["bias_projected"]) < np.nanmax(results["bias_raw"])
                else "no improvement",
            }
        )
    return rows


SMOKE = {
    "num_seeds": 2,
    "seed_chunk": 1,
    "num_points": 64,
    "network.width": 16,
    "degrees": (1, 2, 3),
}
"""Smoke-scale overrides shared by the sphere experiments (seconds; used by the tests)."""

PAPER = {"num_seeds": 20, "num_points": 2000, "network.width": 1024}
"""Paper-scale overrides shared by the sphere experiments (width ≥ 1024, n ≥ 1000, ≥ 20 seeds)."""


def experiment(name: str, doc: str, setting: dict, *, paper: dict | None = None) -> Experiment:
    """The ``Experiment`` of a sphere figure.

    ``setting`` (e.g. ``{"dim": 10, "network.activation": "tanh"}``) applies at every scale, on top of the
    shared ``SMOKE`` / ``PAPER`` overrides (``paper`` adds to ``PAPER``).
    """
    smoke = {**SMOKE, **({"num_points": 96} if setting.get("dim", 2) > 2 else {})}
    return Experiment(
        name=name,
        config_cls=Config,
        run=run,
        plot=plot,
        scales={
            "default": dict(setting),
            "smoke": {**smoke, **setting},
            "paper": {**PAPER, **(paper or {}), **setting},
        },
        description=doc.splitlines()[0],
        x64_default=True,
        summarize=summarize,
        caption=CAPTION,
    )
