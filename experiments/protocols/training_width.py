"""Training across widths: kernel movement, the kernel prediction's error, and the layer-wise bias.

Command::

    python -m experiments.training_width [--scale smoke|default|paper] [--out figures/]

Runtime (float64, the default): smoke (depth 2, two widths) ~30 s of CPU time, nearly all
compilation; default (widths 16 … 256, n = 200, degrees 1–3, 200 steps, 8 data draws × 2
initialisations) 92–134 s on 2 idle CPU cores; paper (widths
64 … 2048, n = 500, degrees 1–4, 2000 steps, 8 draws × 4 initialisations) is meant for a GPU.

What is computed. Figure 4's protocol (``experiments.fig4_layer_training``: a 4-layer bias-free
ReLU network in NTK parameterisation on ``n`` points uniform on S⁹, target ``y* = Σ_i y_i*`` of
orthogonal components of harmonic degree ``i``, full-batch gradient descent on
``1/(2n) Σ (f − y*)²`` with ``η = lr_factor · n / λ_max``) at several widths ``m``. One deviation
from Figure 4, needed across widths: by default (``lr_reference="empirical"``) ``λ_max`` is the top
eigenvalue of each initialisation's own empirical Gram of the trained layers, not of the
infinite-width Gram. At width 16–64 the empirical ``λ_max`` exceeds the infinite-width one by up
to ×10, so Figure 4's rate makes gradient descent diverge there (measured: ``η λ_max(G(0))/n`` up
to 11); with the empirical reference every run starts at ``η λ_max(G(0))/n = lr_factor``, and the
two coincide as ``m → ∞``. ``lr_reference="infinite"`` restores Figure 4's choice.

Each layer is trained alone (the others frozen) and all layers together;
a non-lazy contrast trains all layers with ``η = contrast_lr_factor · n / λ_max`` (default 3, above
the linearised stability bound 2: the catapult phase of Lewkowycz et al. 2020, "The large learning
rate phase of deep learning", where the kernel moves by O(1) at every width).

Resampling (issue 13): ``num_draws`` independent data draws (points and Gegenbauer centres), each
with ``num_seeds`` initialisations nested inside it. Draw ``d`` uses
``k_d = fold_in(key(seed), d)``; its data come from ``fold_in(k_d, 0)`` and initialisation ``s``
from ``fold_in(fold_in(k_d, 1), s)`` (``init_mlp_seeds``), the same at every width.

Measured (``training.train_layers(track=True)`` and ``training.kernel_track``):

* ``kernel_movement`` ``(W, draws, seeds, L)``: ``‖G_ℓ(T) − G_ℓ(0)‖_F / ‖G_ℓ(0)‖_F`` of every
  layer's Gram at the end of the all-layers run. The lazy theory (Jacot et al. 2018; Lee et al.
  2019, Theorem 2.1) gives ``O(m^{-1/2})``. ``movement`` ``(W, draws, seeds, runs, L)`` holds it
  for every run (training layer ℓ alone also moves the kernels of the other layers), and
  ``movement_trajectory`` ``(W, draws, seeds, T, L)`` the all-layers run at every logged step.
* ``prediction_error`` ``(W, draws, seeds, runs)``: the relative error of the kernel-at-
  initialisation prediction of the training residual,

      err = max_t ‖ê(t) − e(t)‖₂ / ‖e(0)‖₂,   ê(t) = (I − η G(0)/n)^t e(0),

  over the logged steps ``t``, with ``e(t) = f_t(X) − y*`` the measured residual and ``G(0)`` the
  seed's empirical Gram of the trained layers at initialisation (``training.predict_residuals``).
  Lee et al. (2019) bound it by ``O(m^{-1/2})``. Training only the last layer is linear in its
  weights, so its error is rounding only (excluded from the fitted slopes). For the contrast
  ``ê`` grows like ``|1 − contrast_lr_factor|^t`` along the top mode: the error is huge by design.
* ``ratios_init``, ``ratios_end``, ``contrast_ratios_end`` ``(W, draws, seeds, K, L)``: the layer
  contributions to each target component relative to the last layer, ``c_ℓ,i / c_{L−1},i`` with
  ``c_ℓ,i = y_i*ᵀ G_ℓ y_i*`` (paper appendix §13, Gram-free), at initialisation and at the end of
  the all-layers run (and of the contrast).
* ``contributions`` ``(W, draws, seeds, 2, T, K, L)`` (all-layers run, contrast) and
  ``alignment`` ``(W, draws, seeds, 2, T, L)`` / ``ntk_alignment`` ``(W, draws, seeds, 2, T)``:
  the tracked contributions and kernel–target alignments at every logged step.
* ``learning_rates`` and ``stability`` ``(W, draws, seeds, runs)`` (``η`` and ``η λ_max(G(0))/n``
  of the empirical Gram at initialisation), ``losses`` ``(W, draws, seeds, runs, T)``, ``movement_slopes`` ``(L,)`` and
  ``prediction_error_slopes`` ``(runs,)``: least-squares slopes of ``log median`` (over draws and
  seeds) against ``log m``.

Runs (``run_names``): ``layer_0 … layer_{L−1}`` alone, ``all``, ``all_large_lr`` (the contrast).

Verdict rule (``summarize``) for "does training keep early layers' bias toward high frequencies?":
in one draw, layer 0 has the bias if its ratio ``c̄_0/c̄_{L−1}`` (of the contributions averaged over
the draw's seeds, ``draw_ratios``) increases strictly from each degree to the next. The bias holds at
a width if it holds for the median over draws (of the per-draw ratios) and in at least 80% of the
draws; training keeps it if it holds at initialisation and still holds at the end of training.

Figure: (a) kernel movement of every layer against width (all layers trained; median and
interquartile range over draws × seeds; dashed: the contrast), log-log with fitted slopes and a
``m^{-1/2}`` guide; (b) prediction error of each run against width; (c, d) ``c_ℓ/c_{L−1}`` per
degree at initialisation (solid) and after training (dashed; dotted: contrast) at the smallest and
largest width.

What the default run shows (8 draws × 2 seeds; widths 16 … 256). No width here is lazy: when all
layers train, the kernels move by ×6.5 (layer 0), ×4.5, ×1.2 and ×0.27 (last layer) of their
initial norm at width 256 (medians), and the movement falls with fitted slopes −0.27, −0.15,
−0.33, −0.46, shallower than the lazy −1/2 except for the last layer. The kernel-at-initialisation
prediction errs by 0.21 / 0.17 / 0.14 (layers 0, 1, 2 alone) and 0.37 (all layers) at width 256,
with slopes −0.30, −0.28, −0.18, −0.21; the last layer alone is exact (1e-14). Training does not
keep layer 0's bias toward high frequencies: at initialisation ``c̄_0/c̄_{L−1}`` rises with degree
(width 256: 1.08, 2.65, 6.81; all 8 draws at widths 32–256, 6 of 8 at width 16), after training it
falls (width 256: 4.70, 2.87, 1.12; no draw increasing at widths 32–256, one at width 16); layers 1
and 2 behave alike. The large
learning rate (``η λ_max/n = 3``) diverges at widths 16–32 and at 64–256 moves the kernels *less*
than the base rate (layer 0: 2.9 vs 6.5 at width 256), so at these widths it is no non-lazy
contrast; whether the bias survives in the lazy regime needs the paper scale (widths ≥ 1024).
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework import keys, verdicts
from experiments.framework.cli import RunContext, check_counts
from experiments.framework.plotting import layer_colors
from experiments.framework.shared import (
    check_dim_and_depth,
    check_targets_and_rate,
    stability_row,
    target_components,
)
from spectral_layers import contributions as contrib
from spectral_layers import training as tr
from spectral_layers.empirical import layer_ntk
from spectral_layers.estimators import loglog_slope
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network

CAPTION = (
    "Training across widths (Figure 4's protocol): (a) relative movement ‖G_ℓ(T) − G_ℓ(0)‖_F/‖G_ℓ(0)‖_F "
    "of each layer's kernel when all layers train, (b) relative error of the kernel-at-initialisation "
    "prediction of the residual, against width (median and interquartile range over data draws × "
    "initialisations; fitted log-log slopes; grey: the lazy theory's m^{-1/2}; dashed: a learning rate "
    "above the stability bound). (c, d) layer contributions relative to the last layer per degree, "
    "at initialisation (solid) and after training (dashed; dotted: large learning rate)."
)

ALL_LAYERS = "all"
CONTRAST = "all_large_lr"


@dataclasses.dataclass(frozen=True)
class Config:
    """Training-across-widths configuration (defaults: default scale, ≤ 5 min on 2 CPU cores)."""

    seed: int = 0  # master seed: draw d uses fold_in(key(seed), d) (module docstring)
    num_draws: int = 8  # independent data draws (points and centres)
    num_seeds: int = 2  # initialisations per draw (nested inside each draw)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # hidden widths m (>= 4, spanning >= 16x)
    dim: int = 10  # input dimension d: points on S^{d-1} (paper: 10)
    num_points: int = 200  # training points n
    degrees: tuple[int, ...] = (1, 2, 3)  # degrees i of the target components (increasing)
    num_centers: int = 4  # centres of each Gegenbauer-sum component (paper §6.2: 4)
    network: Network = Network(depth=4, input_scaling="none")  # noqa: RUF009 (frozen)
    # paper §5.4 / Fig. 4: 4 bias-free ReLU layers, NTK parameterisation, wᵀx on the unit sphere;
    # network.width is ignored: the widths are the sweep above
    target_rms: float = 1.0  # root mean square of each component y_i* on the sample
    lr_factor: float = 1.0  # η = lr_factor · n / λ_max (see lr_reference), in (0, 2)
    lr_reference: str = "empirical"  # λ_max of: each seed's Gram at init, or "infinite" (Fig. 4)
    contrast_lr_factor: float = 3.0  # the non-lazy contrast: all layers, η = this · n / λ_max
    steps: int = 200  # gradient-descent steps of every run
    num_logs: int = 10  # logged steps besides step 0 (every steps // num_logs steps, and the last)

    def __post_init__(self):
        for w in self.widths:
            self.network.replace(width=w).spec(self.dim)
        if len(self.widths) < 2 or any(b <= a for a, b in itertools.pairwise(self.widths)):
            raise ValueError(
                f"widths must be at least two strictly increasing integers, got {self.widths}"
            )
        check_dim_and_depth(self)
        check_counts(
            self, "num_draws", "num_seeds", "num_points", "num_centers", "steps", "num_logs"
        )
        if self.num_logs > self.steps:
            raise ValueError(f"num_logs must be <= steps={self.steps}, got {self.num_logs}")
        degrees = self.degrees
        if (
            len(degrees) < 2
            or min(degrees) < 0
            or any(b <= a for a, b in itertools.pairwise(degrees))
        ):
            raise ValueError(
                f"degrees must be at least two strictly increasing integers >= 0, got {degrees}"
            )
        check_targets_and_rate(self)
        if self.lr_reference not in ("empirical", "infinite"):
            raise ValueError(
                f"lr_reference must be 'empirical' or 'infinite', got {self.lr_reference!r}"
            )
        if not (isinstance(self.contrast_lr_factor, int | float) and self.contrast_lr_factor > 0):
            raise ValueError(
                f"contrast_lr_factor must be a positive number, got {self.contrast_lr_factor!r}"
            )


def run_names(layers: list[str] | tuple[str, ...]) -> list[str]:
    """The runs: every layer alone (in layer order), all layers, all layers at the large rate."""
    return [*layers, ALL_LAYERS, CONTRAST]


def draw_keys(cfg: Config, draw: int) -> tuple[jax.Array, jax.Array]:
    """``(data key, initialisation key)`` of draw ``draw`` (module docstring)."""
    return keys.draw_keys(cfg.seed, draw, "data", "init", derive="fold_in")


def prediction_error(
    predicted: np.ndarray | jax.Array, measured: np.ndarray | jax.Array
) -> np.ndarray:
    """``max_t ‖ê(t) − e(t)‖₂ / ‖e(0)‖₂`` over the logged steps (axis −2; module docstring)."""
    predicted, measured = np.asarray(predicted), np.asarray(measured)
    with np.errstate(over="ignore", invalid="ignore"):
        dist = np.linalg.norm(predicted - measured, axis=-1)
    return np.max(dist, axis=-1) / np.linalg.norm(measured[..., 0, :], axis=-1)


def _unit(cfg: Config, width: int, draw: int) -> dict[str, np.ndarray]:
    """Every run at one width for one data draw and all its seeds (arrays with a seed axis)."""
    k_data, k_init = draw_keys(cfg, draw)
    x, y_comps = target_components(cfg, k_data)
    y_star = jnp.sum(y_comps, axis=0)
    n = cfg.num_points
    every = cfg.steps // cfg.num_logs
    steps = tr.logged_steps(cfg.steps, every)

    apply_fn, params = cfg.network.replace(width=width).init_seeds(k_init, cfg.num_seeds, cfg.dim)
    grams = layer_ntk(apply_fn, params, x, stacked=True)  # G(0) per layer, (s, n, n)
    layers = list(grams)
    names = run_names(layers)
    kappa = (
        infinite_layer_ntk(x, network=cfg.network.replace(width=width))
        if cfg.lr_reference == "infinite"
        else None
    )
    out: dict[str, list] = {
        k: [] for k in ("movement", "prediction_error", "stability", "losses", "learning_rates")
    }
    tracked = {}
    for name in names:
        selection = None if name in (ALL_LAYERS, CONTRAST) else name
        factor = cfg.contrast_lr_factor if name == CONTRAST else cfg.lr_factor
        g0 = tr.trained_gram(grams, selection)  # (s, n, n)
        lam_emp = np.linalg.eigvalsh(np.asarray(g0))[:, -1]  # (s,)
        if cfg.lr_reference == "empirical":
            lr = factor * n / lam_emp
        else:
            lam_inf = np.linalg.eigvalsh(np.asarray(tr.trained_gram(kappa, selection)))[-1]
            lr = np.full(cfg.num_seeds, factor * n / lam_inf)
        track = selection is None
        res = tr.train_layers(
            apply_fn,
            params,
            x,
            y_star,
            layers=selection,
            learning_rate=lr,
            steps=cfg.steps,
            log_every=every,
            stacked=True,
            track=track,
            track_components=y_comps if track else None,
        )
        if track:
            tracked[name] = res.track
            movement = res.track.movement[:, -1]
        else:  # the end point only: kernel_track on the final parameters
            movement = tr.kernel_track(
                apply_fn, res.params, x, y_star, grams, components=y_comps, stacked=True
            ).movement
        e = res.outputs - y_star  # (s, T, n)
        e_pred = np.stack(
            [tr.predict_residuals(g0[i], e[i, 0], float(lr[i]), steps) for i in range(len(lr))]
        )
        out["movement"].append(np.asarray(movement))
        out["prediction_error"].append(prediction_error(e_pred, e))
        out["stability"].append(lr * lam_emp / n)
        out["losses"].append(np.asarray(res.losses))
        out["learning_rates"].append(lr)
    result = {k: np.stack(v, axis=1) for k, v in out.items()}  # (s, runs, ...)
    both = [tracked[ALL_LAYERS], tracked[CONTRAST]]
    for field in ("contributions", "alignment", "ntk_alignment"):
        result[field] = np.stack([np.asarray(getattr(t, field)) for t in both], axis=1)
    result["movement_trajectory"] = np.asarray(tracked[ALL_LAYERS].movement)
    result["steps"] = steps
    result["run_names"] = np.asarray(names)
    return result


SCALES = {
    "default": {},
    "smoke": {
        "num_draws": 2,
        "num_seeds": 2,
        "widths": (8, 32),
        "network.depth": 2,  # fewer runs, fewer compilations (smoke time is nearly all compilation)
        "num_points": 80,
        "steps": 6,
        "num_logs": 3,
    },
    "paper": {
        "num_draws": 8,
        "num_seeds": 4,
        "widths": (64, 256, 1024, 2048),
        "num_points": 500,
        "degrees": (1, 2, 3, 4),
        "steps": 2000,
        "num_logs": 20,
    },
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Every run at every width, draw and seed (module docstring)."""
    ctx = ctx or RunContext("training_width", progress=False)
    units = [(w, d) for w in cfg.widths for d in range(cfg.num_draws)]

    def chunk(idx: np.ndarray) -> dict[str, np.ndarray]:
        parts = [_unit(cfg, *units[int(u)]) for u in idx]
        return {k: np.stack([p[k] for p in parts]) for k in parts[0]}

    res = ctx.seed_loop(cfg, chunk, num_seeds=len(units), chunk=1, desc="width × draw")
    meta = {"steps": res.pop("steps")[0], "run_names": res.pop("run_names")[0]}
    shape = (len(cfg.widths), cfg.num_draws)
    res = {k: v.reshape(*shape, *v.shape[1:]) for k, v in res.items()}
    contributions = res["contributions"]  # (W, D, S, 2, T, K, L)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = contributions / contributions[..., -1:]
    widths = np.asarray(cfg.widths)
    names = [str(s) for s in meta["run_names"]]
    results = {
        "widths": widths,
        "degrees": np.asarray(cfg.degrees),
        "steps": meta["steps"],
        "run_names": meta["run_names"],
        "kernel_movement": res["movement"][:, :, :, names.index(ALL_LAYERS)],
        "ratios_init": ratios[:, :, :, 0, 0],
        "ratios_end": ratios[:, :, :, 0, -1],
        "contrast_ratios_end": ratios[:, :, :, 1, -1],
        **res,
    }
    results["movement_slopes"] = fitted_slopes(widths, results["kernel_movement"])
    results["prediction_error_slopes"] = fitted_slopes(widths, res["prediction_error"])
    return results


def fitted_slopes(widths: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``log median`` (over axes 1, 2: draws, seeds) against ``log m``.

    ``values`` has shape ``(W, draws, seeds, …)``; the result has the trailing shape. Non-finite
    or non-positive medians are left out; fewer than two points left give NaN.
    """
    med = np.median(np.asarray(values, dtype=float), axis=(1, 2))  # (W, …)
    flat = med.reshape(len(widths), -1)
    out = np.array([loglog_slope(widths, flat[:, j])[0] for j in range(flat.shape[1])])
    return out.reshape(med.shape[1:])


# ------------------------------------------------------------------------------------------------
# verdicts and figure


RATIO_SOURCES = {"ratios_init": (0, 0), "ratios_end": (0, -1), "contrast_ratios_end": (1, -1)}
"""Which ``(run, logged step)`` of ``contributions`` each saved per-seed ratio array comes from."""


def draw_ratios(results, key: str) -> np.ndarray:
    """Per-draw ratios ``c̄_ℓ/c̄_{L−1}`` behind ``results[key]`` (a ``RATIO_SOURCES`` key): the ratio of the
    seed-mean contributions, as in every experiment (``experiments.framework.verdicts``), shape ``(W, D, K, L)``."""
    run, step = RATIO_SOURCES[key]
    c = verdicts.draw_means(
        np.moveaxis(results["contributions"], 2, 1)
    )  # (W, S, D, …) → mean over S
    c = c[:, :, run, step]  # (W, D, K, L)
    return contrib.layer_ratios(c)  # the one ratio rule


def bias_verdicts(
    per_draw: np.ndarray, layer: int = 0
) -> tuple[list[tuple[str, float]], np.ndarray]:
    """Claim A of ``experiments.framework.verdicts`` (layer ``layer``'s ratio increases with the degree) per width.

    Args:
      per_draw: the draws' ratios ``c̄_ℓ/c̄_{L−1}`` (``draw_ratios``), shape ``(W, D, K, L)``.

    Returns:
      ``([(verdict, fraction of draws where it holds)] per width, median ratios (W, K) of the layer)``.
    """
    per_draw = np.asarray(per_draw)[..., layer : layer + 1]  # (W, D, K, 1): the claim's layer first
    found = [verdicts.verdict(per_draw[j], "A") for j in range(len(per_draw))]
    return found, verdicts.nanmedian(per_draw[..., 0], axis=1)


def summarize(results, cfg: Config) -> list[dict]:
    """Verdict rows for REPORT.md: slopes, the contrast, and the layer-wise bias before/after."""
    widths = np.asarray(results["widths"])
    names = [str(s) for s in results["run_names"]]
    rows = []
    ms = np.asarray(results["movement_slopes"])
    rows.append(
        {
            "check": "slope of log median ‖G_ℓ(T) − G_ℓ(0)‖_F/‖G_ℓ(0)‖_F vs log width "
            "(all layers trained)",
            "measured": ", ".join(f"layer {i}: {v:.2f}" for i, v in enumerate(ms)),
            "expected": "−1/2 (lazy limit, Lee et al. 2019); rule: |slope + 1/2| ≤ 0.15",
            "verdict": "agrees"
            if np.all(np.abs(ms + 0.5) <= 0.15)
            else "differs for some layer (see measured)",
        }
    )
    ps = np.asarray(results["prediction_error_slopes"])
    lazy = [i for i, nm in enumerate(names) if nm != CONTRAST and i != cfg.network.depth - 1]
    rows.append(
        {
            "check": "slope of log median prediction error vs log width (last layer excluded: exact)",
            "measured": ", ".join(f"{names[i]}: {ps[i]:.2f}" for i in lazy),
            "expected": "−1/2 (Lee et al. 2019); rule: |slope + 1/2| ≤ 0.15",
            "verdict": "agrees"
            if np.all(np.abs(ps[lazy] + 0.5) <= 0.15)
            else "differs for some run (see measured)",
        }
    )
    err = np.median(results["prediction_error"], axis=(1, 2))  # (W, runs)
    a = names.index(ALL_LAYERS)
    rows.append(
        {
            "check": "median prediction error, all layers trained, per width",
            "measured": ", ".join(f"m={m}: {v:.3g}" for m, v in zip(widths, err[:, a])),
            "expected": "→ 0 as m grows (kernel regime)",
            "verdict": "decreases with width"
            if np.all(np.diff(err[:, a]) < 0)
            else "not monotone in width",
        }
    )
    mv = np.median(results["movement"][..., names.index(CONTRAST), :], axis=(1, 2))  # (W, L)
    lazy_mv = np.median(results["kernel_movement"], axis=(1, 2))
    rows.append(
        {
            "check": f"contrast (η = {cfg.contrast_lr_factor:g}·n/λ_max): median layer-0 movement "
            "at the largest width vs the lazy run",
            "measured": f"{mv[-1, 0]:.3g} vs {lazy_mv[-1, 0]:.3g} (slope "
            f"{fitted_slopes(widths, results['movement'][..., names.index(CONTRAST), :])[0]:.2f})",
            "expected": "O(1), not decaying with width (catapult phase, Lewkowycz et al. 2020)",
            "verdict": "non-lazy"
            if mv[-1, 0] > 3 * lazy_mv[-1, 0]
            else "no clear contrast at these widths",
        }
    )
    question = "does training keep early layers' bias toward high frequencies?"
    init, init_vals = bias_verdicts(draw_ratios(results, "ratios_init"))
    end, end_vals = bias_verdicts(draw_ratios(results, "ratios_end"))
    con, con_vals = bias_verdicts(draw_ratios(results, "contrast_ratios_end"))
    deg = ", ".join(str(int(k)) for k in results["degrees"])
    for j, m in enumerate(widths):
        (v0, f0), (v1, f1), (vc, fc) = init[j], end[j], con[j]
        kept = (
            "kept"
            if v0 == "holds" and v1 == "holds"
            else ("lost" if v0 == "holds" else "absent at initialisation")
        )
        rows.append(
            {
                "check": f"width {m}: {question} (c_0/c_(L−1) at degrees {deg}, median over draws) — "
                f"rule: {verdicts.rule_text()}",
                "measured": (
                    f"init {_fmt(init_vals[j])} ({f0:.0%} of draws increasing); "
                    f"end {_fmt(end_vals[j])} ({f1:.0%}); "
                    f"large lr end {_fmt(con_vals[j])} ({fc:.0%})"
                ),
                "expected": "holds before and after training",
                "verdict": f"{kept} (init: {v0}; end: {v1}; large lr end: {vc})",
            }
        )
    stab = np.max(results["stability"][..., [i for i, nm in enumerate(names) if nm != CONTRAST]])
    rows.append(
        stability_row(
            float(stab), "max η λ_max(G_emp(0))/n over the lazy runs", "unstable for some width"
        )
    )
    return rows


def _fmt(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _median_iqr(values: np.ndarray):
    v = np.asarray(values, dtype=float).reshape(values.shape[0], -1)
    with np.errstate(invalid="ignore"):
        return (np.nanmedian(v, 1), np.nanpercentile(v, 25, 1), np.nanpercentile(v, 75, 1))


def plot(results, cfg: Config):
    """(a) movement, (b) prediction error vs width; (c, d) ratios before/after at two widths."""
    import matplotlib.pyplot as plt

    from experiments.framework.plotting import SINGLE_COLUMN_IN, STYLE

    plt.rcParams.update(STYLE)
    widths = np.asarray(results["widths"], dtype=float)
    degrees = np.asarray(results["degrees"])
    names = [str(s) for s in results["run_names"]]
    num_layers = results["kernel_movement"].shape[-1]
    lcol = layer_colors(num_layers)
    fig, axes = plt.subplots(2, 2, figsize=(2.1 * SINGLE_COLUMN_IN, 1.25 * SINGLE_COLUMN_IN))
    (ax_mv, ax_err), (ax_lo, ax_hi) = axes
    guide = widths**-0.5

    con = names.index(CONTRAST)
    for i in range(num_layers):
        slope = results["movement_slopes"][i]
        med, lo, hi = _median_iqr(results["kernel_movement"][..., i])
        ax_mv.plot(widths, med, marker="o", color=lcol[i], label=f"layer {i} ({slope:.2f})")
        ax_mv.fill_between(widths, lo, hi, color=lcol[i], alpha=0.2, lw=0)
        med_c, _, _ = _median_iqr(results["movement"][..., con, i])
        ax_mv.plot(widths, med_c, ls="--", marker="x", color=lcol[i], lw=0.8)
    top = np.nanmedian(results["kernel_movement"][0])
    ax_mv.plot(widths, top * guide / guide[0], color="0.5", lw=2, alpha=0.5, label="$m^{-1/2}$")
    ax_mv.set_title(r"(a) $\|G_\ell(T)-G_\ell(0)\|_F/\|G_\ell(0)\|_F$, all layers trained")
    ax_mv.set_ylabel("relative kernel movement")

    rcol = [*lcol, "k", "k"]
    err = np.asarray(results["prediction_error"], dtype=float)
    for r, name in enumerate(names):
        if r == num_layers - 1 or name == CONTRAST:
            continue  # last layer alone: exact up to rounding; contrast: diverges (docstring)
        slope = results["prediction_error_slopes"][r]
        med, lo, hi = _median_iqr(err[..., r])
        label = "all layers" if name == ALL_LAYERS else name.replace("_", " ") + " alone"
        ax_err.plot(widths, med, marker="o", color=rcol[r], label=f"{label} ({slope:.2f})")
        ax_err.fill_between(widths, lo, hi, color=rcol[r], alpha=0.15, lw=0)
    all_med = np.nanmedian(err[0, ..., names.index(ALL_LAYERS)])
    ax_err.plot(widths, all_med * guide / guide[0], color="0.5", lw=2, alpha=0.5)
    ax_err.set_title(r"(b) $\max_t\|\hat e(t)-e(t)\|/\|e(0)\|$, kernel at init")
    ax_err.set_ylabel("prediction error")
    for ax in (ax_mv, ax_err):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width $m$ (slopes in the legend)")
        ax.legend(fontsize=5, loc="lower left", ncol=2)

    for ax, j, tag in ((ax_lo, 0, "(c)"), (ax_hi, len(widths) - 1, "(d)")):
        for key, ls, mk in (
            ("ratios_init", "-", "o"),
            ("ratios_end", "--", "s"),
            ("contrast_ratios_end", ":", "x"),
        ):
            per_draw = draw_ratios(results, key)[j]  # (D, K, L)
            for i in range(num_layers - 1):
                med = np.median(per_draw[..., i], axis=0)
                lo, hi = np.percentile(per_draw[..., i], [25, 75], axis=0)
                ax.plot(degrees, med, ls=ls, marker=mk, color=lcol[i], ms=3)
                if key == "ratios_init":
                    ax.fill_between(degrees, lo, hi, color=lcol[i], alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_xticks(degrees)
        ax.set_xlabel("degree $i$")
        ax.set_title(f"{tag} $c_\\ell/c_{{L-1}}$, width {int(widths[j])}")
    ax_lo.set_ylabel(r"$c_\ell / c_{L-1}$")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=lcol[i], lw=1.5) for i in range(num_layers - 1)]
    handles += [
        Line2D([], [], color="gray", ls=s, marker=m)
        for s, m in (("-", "o"), ("--", "s"), (":", "x"))
    ]
    labels = [f"layer {i}" for i in range(num_layers - 1)] + ["init", "end", "end, large η"]
    ax_lo.legend(handles, labels, fontsize=5, loc="upper left", ncol=2)
    d, s = results["kernel_movement"].shape[1:3]
    fig.suptitle(
        f"{cfg.network.activation}, d={cfg.dim}, n={cfg.num_points}, L={cfg.network.depth}, {cfg.steps} GD steps, "
        f"η = {cfg.lr_factor:g}·n/λ_max (dashed: {cfg.contrast_lr_factor:g}·n/λ_max), "
        f"{d} draws × {s} seeds (median, IQR)\nlast layer alone: exact (not drawn); "
        "large η: its kernel prediction diverges (not drawn in b)",
        fontsize=7,
    )
    fig.tight_layout()
    return fig
