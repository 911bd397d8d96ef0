"""Figure 4: residual components per degree while training one layer at a time (paper §5.7, §12).

Command::

    python -m experiments.fig4_layer_training [--scale smoke|default|paper] [--out figures/]

Scales (float64, the default): smoke is nearly all compilation; default (width 100, n = 500,
8 draws × 1 seed, 2000 steps) is for a CPU; paper (n = 1000, 8 draws × 4 seeds, 10⁴ steps) is meant
for a GPU. Runtimes and results: ``figures/REPORT.md`` (generated). One figure, two rows
(``--plot-only`` regenerates it).

What is computed. A 4-layer ReLU network (width 100, as in the paper) on ``n`` points uniform on S⁹
(d = 10) fits ``y* = Σ_i y_i*`` with ``y_i*`` of harmonic degree ``i = 1…4``: the Gegenbauer sum
``Σ_l P_i(⟨x, x_l⟩)`` over 4 random centres (paper §6.2), made orthogonal on the sample by
projecting out every polynomial of degree ``< i`` (``targets.project_out_lower_degrees``) and then a
Gram–Schmidt pass over the components in degree order (after the projection the components are
already orthogonal up to rounding; the pass removes that rounding). Each component has root mean
square ``target_rms`` on the sample. For each layer ℓ alone (the others frozen) and for all layers
together (the reference), full-batch gradient descent on ``1/(2n) Σ (f − y*)²``
(``training.train_layers``) records ``r_i(t) = ((y(t) − y*)ᵀ y_i*)² / ‖y_i*‖²`` (appendix §12) at
log-spaced steps (``log_schedule``).

Uncertainty covers every random choice (issue 13). The protocol is repeated over ``num_draws``
independent draws: draw ``r`` splits ``fold_in(key(seed), r)`` into a data key (its points and
centres, ``draw_data``) and an initialisation key, from which its ``num_seeds`` initialisations come
(``Network.init_seeds``; ``draw_keys``). Each draw has its own points, targets, infinite-width
kernels and learning rates; results are checkpointed per draw, so a killed run resumes with
identical numbers, and ``num_draws = 1`` reproduces draw 0 of any longer run.

Learning rates: ``η = lr_factor · n / λ_max`` with ``λ_max`` the top eigenvalue of the draw's
infinite-width Gram ``Σ_{ℓ trained} κ^(ℓ)`` on its sample (one ``η`` per draw and run, the same for
every seed of the draw), so the top kernel mode decays by ``1 − lr_factor`` per step and the x axis
(steps) is time in units of ``n/(η λ_max)``. Absolute times are therefore not comparable across
runs; ratios between degrees are. Stability needs ``η λ_max(G)/n < 2`` for the empirical Gram ``G``
too; its value at initialisation per draw, seed and run is saved (``stability``).

Kernel predictions (dashed, dotted) of the same ``r_i(t)``: ``e(t) = (I − ηG/n)^t e(0)``
(``training.predict_residuals``, Eq. 22 for discrete steps) with ``e(0)`` the seed's initial
residual and ``G`` either the seed's empirical Gram at initialisation (``layer_ntk``) or the draw's
infinite-width Gram (``infinite_layer_ntk``). Training only the last layer is linear in its
parameters, so its empirical prediction is exact; its Gram ``h hᵀ/m`` has rank ``≤ width``, so with
``n > width`` part of each component cannot be fitted at all (a plateau that the full-rank
infinite-width kernel does not have). ``kernel_change`` saves ``‖G_T − G_0‖_F / ‖G_0‖_F`` of the
trained Gram at the end of each run: how far training left the kernel regime.

Saved arrays (``D`` draws, ``S`` seeds per draw, ``runs`` = depth + 1, ``T`` logged steps, ``K``
degrees): ``degrees`` ``(K,)``, ``steps`` ``(T,)``; ``r_measured``, ``r_empirical``,
``r_infinite`` ``(D, S, runs, T, K)``; ``stability``, ``kernel_change`` ``(D, S, runs)``;
``halving_measured``, ``halving_empirical``, ``halving_infinite`` ``(D, S, runs, K)``;
``learning_rates``, ``lambda_max_infinite`` ``(D, runs)``.

Figure: top row, one panel per trained layer and one for all layers, the measured ``r_i(t)`` per
degree (grey levels, dark to light; median over draws of each draw's geometric seed mean, band between
the 10% and 90% percentiles of the same draw values). Bottom row: the step at which each ``r_i`` halves
(``training.halving_time``) per run (layer colours): measured, measured relative to the second degree
(``t½(i)/t½(2)``, the ratio the README's verdict quotes), and predicted (dashed: empirical kernel at
initialisation, dotted: infinite-width kernel); a triangle marks a component that did not halve
within the run in at least one draw, and the legend gives, per run, the number of draws in which it
did not.

Verdict (``summarize``). The paper's claim, ``t½(top degree)/t½(reference degree)`` smaller for
earlier layers (§12), is judged per draw on the mean over the draw's seeds
(``earlier_layers_faster``: layer 0's ratio finite and each layer's below the next one's; two
layers that both never halved count as in order) under ``experiments.framework.verdicts``' rule
(``ordering_verdict``): it holds if it holds for the median over draws and in at least
``agreement`` (80%) of the draws, fails if it fails for the median and in at least ``agreement`` of
the draws, and is unresolved otherwise. The other checks pool every draw and seed.

Learning-rate factor: 0.8 at default scale. With 1.0 (η = n/λ_max of the infinite-width kernel),
``η λ_max(G)/n`` of the empirical Gram can exceed 2 (the kernel prediction is then unstable), so the
default keeps a margin; the saved ``stability`` shows the value per draw, seed and run. Runtimes and
results: ``figures/REPORT.md`` (generated from the saved results).
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework import keys, verdicts
from experiments.framework.cli import RunContext, check_counts
from experiments.framework.plotting import (
    ALL_LAYERS_COLOR,
    BAND,
    band,
    degree_grays,
    layer_colors,
    new_figure,
    suptitle,
)
from experiments.framework.shared import (
    check_training_config,
    stability_row,
    target_components,
)
from spectral_layers import training as tr
from spectral_layers.empirical import layer_ntk, relative_frobenius
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network, layer_name

CAPTION = (
    "Residual components r_i(t) per degree i while training one layer (others frozen) or all "
    "layers with full-batch gradient descent, η = {lr_factor}·n/λ_max of each run's infinite-width "
    "kernel on the draw's points (line: median over independent draws of points and centres of each "
    "draw's geometric mean over the initialisations nested in it; band: 10–90% of the same draw "
    "values). Bottom: steps to halve each component, measured, relative to degree 2, and predicted "
    "(dashed: the empirical kernel at initialisation, dotted: the infinite-width kernel); a triangle "
    "marks a degree not halved within the run in at least one draw (the legend counts the draws)."
)

ALL_LAYERS = "all"


@dataclasses.dataclass(frozen=True)
class Config:
    """Layer-wise training configuration (defaults: Figure 4 at default scale)."""

    seed: int = 0  # master seed: draw r uses fold_in(key(seed), r) for its data and initialisations
    num_draws: int = 8  # independent draws of the points and centres (>= 8 at default scale)
    num_seeds: int = 1  # network initialisations nested in each draw
    seed_chunk: int = 1  # seeds per vmapped training call (checkpoints are per draw)
    dim: int = 10  # input dimension d: points on S^{d-1} (paper: 10)
    num_points: int = 500  # training points n
    degrees: tuple[int, ...] = (1, 2, 3, 4)  # degrees i of the target components y_i* (increasing)
    num_centers: int = 4  # centres x_l of each Gegenbauer-sum component (paper §6.2: 4)
    network: Network = Network(depth=4, width=100, input_scaling="none")  # noqa: RUF009 (frozen)
    # paper §5.4 / Fig. 4: 4 bias-free ReLU layers of width 100, NTK parameterisation, wᵀx on the sphere
    target_rms: float = 1.0  # root mean square of each component y_i* on the sample
    lr_factor: float = 0.8  # η = lr_factor · n / λ_max(infinite-width Gram of the run), in (0, 2)
    steps: int = 2000  # gradient-descent steps of every run
    logs_per_decade: int = 20  # logged steps per decade of t (every step below 10 at >= 10)
    agreement: float = verdicts.AGREEMENT  # fraction of draws a verdict needs (summarize)

    def __post_init__(self):
        if self.network.width is None:
            raise ValueError("network.width must be set (the trained networks' hidden width)")
        check_counts(
            self,
            "num_draws",
            "num_seeds",
            "seed_chunk",
            "num_points",
            "num_centers",
            "steps",
            "logs_per_decade",
        )
        check_training_config(self)
        if not 0.5 < self.agreement <= 1:
            raise ValueError(f"agreement must be in (0.5, 1], got {self.agreement}")


def run_names(depth: int) -> list[str]:
    """The training runs: ``layer_0 … layer_{L-1}`` alone, then all layers together."""
    return [layer_name(i) for i in range(depth)] + [ALL_LAYERS]


def run_labels(depth: int) -> list[str]:
    """Panel titles of the runs."""
    return [f"train layer {i}" for i in range(depth)] + ["train all layers"]


def log_schedule(steps: int, per_decade: int) -> list[tuple[int, int]]:
    """Segments ``(num_steps, log_every)`` that together log about ``per_decade`` steps per decade.

    Decade ``j`` (steps ``10^j … 10^{j+1}``, the first from 0) is one ``train_layers`` call logging
    every ``max(1, round(10^{j+1} / per_decade))`` steps; the last segment ends at ``steps``.

    Example:
      >>> log_schedule(250, 10)
      [(10, 1), (90, 10), (150, 100)]
    """
    steps = int(steps)
    segments, start, j = [], 0, 0
    while start < steps:
        end = min(steps, 10 ** (j + 1))
        every = min(max(1, round(10 ** (j + 1) / per_decade)), end - start)
        segments.append((end - start, every))
        start, j = end, j + 1
    return segments


def schedule_steps(segments: list[tuple[int, int]]) -> np.ndarray:
    """The logged steps of ``log_schedule`` segments run one after the other (0 first)."""
    out, start = [0], 0
    for num, every in segments:
        out.extend(start + tr.logged_steps(num, every)[1:])
        start += num
    return np.asarray(out)


def _train(apply_fn, params, x, y, layers, learning_rate, segments):
    """``train_layers`` over ``log_schedule`` segments: outputs (s, T, n) and the final params."""
    outputs = []
    for i, (num, every) in enumerate(segments):
        res = tr.train_layers(
            apply_fn,
            params,
            x,
            y,
            layers=layers,
            learning_rate=learning_rate,
            steps=num,
            log_every=every,
            stacked=True,
        )
        outputs.append(res.outputs if i == 0 else res.outputs[:, 1:])  # row 0 repeats the last log
        params = res.params  # plain GD (optax.sgd) has no optimiser state: restarting is exact
    return jnp.concatenate(outputs, axis=1), params


def draw_keys(cfg: Config, draw: int) -> tuple[jax.Array, jax.Array]:
    """``(data, init)`` keys of draw ``draw``: ``fold_in(key(seed), draw)`` split in two.

    The data key gives the draw's points and centres (``target_components``); seed ``s`` of the
    draw is ``init_seeds(init, …, seed_indices=[s])`` (``Network.init_seeds``).
    """
    k_data, k_init = keys.draw_keys(cfg.seed, draw, "data", "init")
    return k_data, k_init


def draw_data(cfg: Config, draw: int):
    """Points ``x`` (n, d) and components ``Y`` (K, n) of draw ``draw`` (``target_components``)."""
    return target_components(cfg, draw_keys(cfg, draw)[0])


def _seed_chunk(cfg: Config, ctx: RunContext, k_init, seed_indices, x, y_comps, names, lrs, kappas):
    """Every run for the seeds ``seed_indices`` of one draw: arrays ``(s, runs, …)``."""
    n = cfg.num_points
    y_star = jnp.sum(y_comps, axis=0)
    segments = log_schedule(cfg.steps, cfg.logs_per_decade)
    steps = schedule_steps(segments)
    apply_fn, params = cfg.network.init_seeds(k_init, 0, cfg.dim, seed_indices=seed_indices)
    grams = ctx.gather(layer_ntk(apply_fn, params, x, stacked=True, mesh=ctx.mesh))
    out = {k: [] for k in ("r_measured", "r_empirical", "r_infinite", "stability", "kernel_change")}
    for name, lr, g_inf in zip(names, lrs, kappas):
        layers = None if name == ALL_LAYERS else name
        outputs, final = _train(apply_fn, params, x, y_star, layers, float(lr), segments)
        e0 = outputs[:, 0] - y_star[None, :]  # (s, n): the seed's initial residual
        g_emp = tr.trained_gram(grams, layers)  # (s, n, n)
        e_emp = tr.predict_residuals(g_emp, e0, float(lr), steps)
        e_inf = tr.predict_residuals(g_inf, e0, float(lr), steps)
        out["r_measured"].append(tr.residual_components(outputs, y_comps))
        out["r_empirical"].append(tr.project_residual(e_emp, y_comps))
        out["r_infinite"].append(tr.project_residual(e_inf, y_comps))
        lam_emp = np.linalg.eigvalsh(np.asarray(g_emp, np.float64))[:, -1]
        out["stability"].append(lr * lam_emp / n)
        # How far training left the kernel regime: ‖G_T − G_0‖_F / ‖G_0‖_F of the trained Gram.
        g_end = tr.trained_gram(
            ctx.gather(layer_ntk(apply_fn, final, x, stacked=True, mesh=ctx.mesh)), layers
        )
        out["kernel_change"].append(relative_frobenius(g_end, g_emp))
    # (s, runs, T, K) and (s, runs)
    return {k: np.stack([np.asarray(v) for v in vs], axis=1) for k, vs in out.items()}


SCALES = {
    "default": {},
    "smoke": {
        "num_draws": 2,
        "num_seeds": 1,
        "seed_chunk": 1,
        "num_points": 80,
        "network.width": 16,
        "degrees": (1, 2, 3),
        "steps": 10,
        "logs_per_decade": 10,
    },
    "paper": {
        "num_draws": 8,
        "num_seeds": 4,
        "seed_chunk": 4,
        "num_points": 1000,
        "steps": 10000,
    },
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Every draw: its data, kernels and learning rates; every run over the draw's seeds."""
    ctx = ctx or RunContext("fig4_layer_training", progress=False)
    n = cfg.num_points
    names = run_names(cfg.network.depth)
    steps = schedule_steps(log_schedule(cfg.steps, cfg.logs_per_decade))

    def one_draw(draw_index: np.ndarray) -> dict[str, np.ndarray]:
        (r,) = draw_index
        k_data, k_init = draw_keys(cfg, int(r))
        x, y_comps = target_components(cfg, k_data)
        kappa = infinite_layer_ntk(x, network=cfg.network)
        kappas = [tr.trained_gram(kappa, None if nm == ALL_LAYERS else nm) for nm in names]
        lam_inf = np.array([np.linalg.eigvalsh(np.asarray(g, np.float64))[-1] for g in kappas])
        lrs = cfg.lr_factor * n / lam_inf
        parts = [
            _seed_chunk(
                cfg,
                ctx,
                k_init,
                np.arange(s0, min(s0 + cfg.seed_chunk, cfg.num_seeds)),
                x,
                y_comps,
                names,
                lrs,
                kappas,
            )
            for s0 in range(0, cfg.num_seeds, cfg.seed_chunk)
        ]
        per_seed = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return {
            "learning_rates": lrs[None],
            "lambda_max_infinite": lam_inf[None],
            **{k: v[None] for k, v in per_seed.items()},  # (1, S, runs, …)
        }

    res = ctx.seed_loop(cfg, one_draw, num_seeds=cfg.num_draws, chunk=1, desc="draws")
    results = {"degrees": np.asarray(cfg.degrees), "steps": steps, **res}
    for kind in ("measured", "empirical", "infinite"):
        results[f"halving_{kind}"] = np.asarray(tr.halving_time(res[f"r_{kind}"], steps))
    return results


# ------------------------------------------------------------------------------------------------
# figure and checks


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def _nanmean(a: np.ndarray, axis) -> np.ndarray:
    """``np.nanmean`` that returns NaN for all-NaN slices without a warning."""
    a = np.asarray(a, dtype=float)
    count = np.sum(~np.isnan(a), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.nansum(a, axis=axis) / count, np.nan)


def draw_stats(samples: np.ndarray, floor: float = 0.0):
    """Median and ``plotting.BAND`` percentiles over draws of each draw's geometric seed mean.

    ``samples`` ``(D, S, …)``; a draw's value is the geometric mean over its seeds (of
    ``max(samples, floor)``), ``inf`` if a seed never halved. The median and nearest-rank percentiles are
    taken over the ``D`` draws (``inf`` counts as the largest value); ``inf`` or NaN results come back as
    NaN (not drawn). Returns ``(median, low, high)`` and the number of draws with a non-finite value.
    """
    a = np.asarray(samples, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log10(np.maximum(a, floor) if floor > 0 else a)
    per_draw = logs.mean(axis=1)  # (D, …): inf if any seed is inf
    lo, med, hi = np.percentile(per_draw, (BAND[0], 50, BAND[1]), axis=0, method="nearest")
    censored = np.sum(~np.isfinite(per_draw), axis=0)
    return (*tuple(_finite(10.0**v) for v in (med, lo, hi)), censored)


def relative_halving(t_half: np.ndarray, reference: int = 0) -> np.ndarray:
    """Halving times relative to one degree: ``t½(k) / t½(k_ref)`` (last axis = degrees)."""
    t_half = np.asarray(t_half, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return t_half / t_half[..., reference : reference + 1]


REFERENCE = 1
"""Index of the degree the bottom-right panel divides by: ``t½(i)/t½(degrees[1])``, the ratio whose
``t½(top)/t½(degrees[1])`` the README's verdict quotes."""


def plot(results, cfg: Config):
    """Top: measured ``r_i(t)`` per run; bottom: halving times measured, relative to the second degree,
    and predicted by the kernels."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    degrees = np.asarray(results["degrees"])
    steps = np.asarray(results["steps"])
    num_draws, num_seeds, num_runs = results["r_measured"].shape[:3]
    labels = run_labels(num_runs - 1)
    dcol = degree_grays(len(degrees))
    rcol = [*layer_colors(num_runs - 1), ALL_LAYERS_COLOR]
    fig = new_figure(2, 5.4)
    outer = fig.add_gridspec(2, 1, height_ratios=[1.0, 1.25])
    top = outer[0].subgridspec(1, num_runs + 1, width_ratios=[1.0] * num_runs + [0.62])
    t = steps[1:]  # log axis: step 0 left out
    r0 = float(np.median(results["r_measured"][..., 0, :]))
    floor = 1e-6 * r0  # plotted range: six decades below r(0); smaller values are clipped to it
    top_axes = []
    for c in range(num_runs):
        ax = fig.add_subplot(top[0, c], sharey=top_axes[0] if top_axes else None)
        top_axes.append(ax)
        for i in range(len(degrees)):
            med, lo, hi, _ = draw_stats(results["r_measured"][:, :, c, 1:, i], floor)
            band(ax, t, med, lo, hi, color=dcol[i], marker=None, lw=1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(floor, 3 * r0)
        ax.set_title(labels[c].replace("train ", "train\n"), color=rcol[c])
        ax.set_xlabel("step $t$")
        if c:
            ax.tick_params(labelleft=False)
    top_axes[0].set_ylabel(r"$r_i(t)$")
    bottom = outer[1].subgridspec(1, 3)
    ax_abs, ax_rel, ax_pred = (fig.add_subplot(bottom[0, j]) for j in range(3))
    ref_name = f"$t_{{1/2}}(i)/t_{{1/2}}({degrees[REFERENCE]})$"
    never = set()  # runs with a component not halved in at least one draw
    for ax, values, title in (
        (ax_abs, results["halving_measured"], "measured $t_{1/2}(i)$"),
        (ax_rel, relative_halving(results["halving_measured"], REFERENCE), ref_name),
    ):
        for c in range(num_runs):
            med, lo, hi, censored = draw_stats(values[:, :, c])
            band(ax, degrees, med, lo, hi, color=rcol[c], label=labels[c].removeprefix("train "))
            out = censored > 0  # some draw never halved this degree within the run
            if out.any():
                never.add(c)
            ax.plot(
                degrees[out] + 0.09 * (c - (num_runs - 1) / 2),
                np.full(out.sum(), 0.97),
                ls="none",
                marker="^",
                ms=5,
                color=rcol[c],
                transform=ax.get_xaxis_transform(),
                clip_on=True,
            )
        ax.set_title(title)
    for c in range(num_runs):
        for kind, ls, m in (("empirical", "--", "x"), ("infinite", ":", "+")):
            pred, _, _, _ = draw_stats(results[f"halving_{kind}"][:, :, c])
            ax_pred.plot(degrees, pred, ls=ls, marker=m, color=rcol[c], lw=0.9, ms=4)
    ax_pred.set_title("predicted $t_{1/2}(i)$")
    for ax in (ax_abs, ax_rel, ax_pred):
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(degrees)
        ax.set_xlim(degrees[0] - 0.4, degrees[-1] + 0.4)
        ax.set_xlabel("degree $i$")
    from matplotlib.legend_handler import HandlerTuple

    ax_deg = fig.add_subplot(top[0, num_runs])
    ax_deg.axis("off")
    ax_deg.legend(
        [Line2D([], [], color=dcol[i], lw=1.5) for i in range(len(degrees))],
        [f"degree {k}" for k in degrees],
        loc="center left",
        borderaxespad=0,
    )
    handles, names = ax_abs.get_legend_handles_labels()
    handles += [
        tuple(Line2D([], [], color=rcol[c], ls="--", marker="x", ms=4) for c in range(num_runs)),
        tuple(Line2D([], [], color=rcol[c], ls=":", marker="+", ms=4) for c in range(num_runs)),
    ]
    names += ["empirical $G$ at init", r"$\infty$-width $\kappa$"]
    if never:
        handles.append(
            tuple(Line2D([], [], ls="none", marker="^", ms=5, color=rcol[c]) for c in sorted(never))
        )
        counts = {  # per run: the most draws in which one degree did not halve
            c: int(np.max(draw_stats(results["halving_measured"][:, :, c])[3])) for c in never
        }
        names.append(
            "not halved: "
            + ", ".join(
                f"{labels[c].removeprefix('train ')} in {counts[c]}/{num_draws} draws"
                for c in sorted(never)
            )
        )
    fig.legend(
        handles,
        names,
        loc="outside lower center",
        ncol=4,
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)},
    )
    suptitle(
        fig,
        f"{cfg.network.activation}, d={cfg.dim}, n={cfg.num_points}, L={cfg.network.depth}, "
        f"width {cfg.network.width}, η = {cfg.lr_factor:g}·n/λ_max(κ); line: median over "
        f"{num_draws} draws (each the geometric mean of its {num_seeds} "
        f"seed{'s' * (num_seeds > 1)}), band: {BAND[0]}–{BAND[1]}% of the same draw values",
    )
    return fig


def earlier_layers_faster(a: np.ndarray) -> np.ndarray:
    """The paper's claim on ``a`` ``(…, depth)``, per layer ``t½(top)/t½(ref)``: smaller for earlier
    layers, i.e. layer 0's value finite and each layer's value below the next one's (two layers that
    both never halved the top degree, ``inf`` and ``inf``, count as in order). A NaN: does not hold."""
    a = np.asarray(a, dtype=float)
    lo, hi = a[..., :-1], a[..., 1:]
    with np.errstate(invalid="ignore"):
        in_order = (lo < hi) | (np.isposinf(lo) & np.isposinf(hi))
    return np.isfinite(a[..., 0]) & np.all(in_order, axis=-1)


def ordering_verdict(per_draw: np.ndarray, agreement: float) -> tuple[str, float, float]:
    """``(verdict, fraction of draws where it holds, fraction where it fails)`` of
    ``earlier_layers_faster`` for per-draw values ``(D, depth)``, by ``verdicts.rule_verdict`` (the one
    verdict rule): holds if it holds for the median over draws and in ``>= agreement`` of the draws; fails if
    it fails for the median and in ``>= agreement`` of the draws; else unresolved. A draw with a NaN
    counts neither way; a median with a NaN is unresolved."""
    per_draw = np.asarray(per_draw, dtype=float)
    holds = earlier_layers_faster(per_draw)
    decided = ~np.isnan(per_draw).any(axis=-1)
    against = float(np.mean(decided & ~holds))
    med = verdicts.nanmedian(per_draw)
    if np.isnan(med).any():
        return "unresolved", float(np.mean(holds)), against
    v, frac = verdicts.rule_verdict(holds, decided, bool(earlier_layers_faster(med)), agreement)
    return v, frac, against


def summarize(results, cfg: Config) -> list[dict]:
    """Checks for REPORT.md: the paper's claim per draw (``verdicts`` rule), the kernel predictions,
    exactness, kernel change and stability over every draw and seed."""
    degrees = results["degrees"]
    names = run_names(cfg.network.depth)
    depth = cfg.network.depth
    rows = []
    # (D, S, runs, K); inf: not halved within the run
    t_half = np.asarray(results["halving_measured"], dtype=float)
    num_draws, num_seeds = t_half.shape[:2]
    for ref in range(min(2, len(degrees) - 1)):  # the ratio to degree 2 too: see the docstring
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = verdicts.draw_means(t_half[..., -1] / t_half[..., ref])  # (D, runs)
        v, frac, against = ordering_verdict(rel[:, :depth], cfg.agreement)
        med = verdicts.nanmedian(rel)
        rows.append(
            {
                "check": f"t½(degree {degrees[-1]}) / t½(degree {degrees[ref]}) training one layer "
                f"(measured; per draw the mean over its {num_seeds} seeds; {num_draws} draws; inf: "
                f"not halved) — rule: {verdicts.rule_text(cfg.agreement)}",
                "measured": "median over draws: "
                + ", ".join(f"{nm}: {x:.3g}" for nm, x in zip(names, med))
                + f"; holds in {frac:.0%}, fails in {against:.0%} of draws",
                "expected": "smaller for earlier layers (high degrees relatively faster, §12)",
                "verdict": v,
            }
        )
    meas = _finite(results["halving_measured"])
    for kind in ("empirical", "infinite"):
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(np.log(_finite(results[f"halving_{kind}"]) / meas))  # (D, S, runs, K)
        with warnings.catch_warnings():  # all-NaN runs (nothing halved) give NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            per_run = np.nanmedian(err, axis=(0, 1, 3))
            worst = np.nanmax(per_run) if np.isfinite(per_run).any() else np.nan
        rows.append(
            {
                "check": f"|log(t½ predicted / t½ measured)| per run, {kind} kernel "
                "(median over draws, seeds and degrees)",
                "measured": ", ".join(f"{nm}: {v:.2g}" for nm, v in zip(names, per_run)),
                "expected": "≈ 0 in the lazy regime (Eq. 22); 0 for the last layer, empirical G",
                "verdict": "agrees within 10%"
                if worst < np.log(1.1)
                else f"off by up to a factor {np.exp(worst):.2g} for some run",
            }
        )
    last = depth - 1
    r_meas, r_emp = results["r_measured"][:, :, last], results["r_empirical"][:, :, last]
    dev = np.max(np.abs(r_meas - r_emp)) / np.max(r_meas[..., 0, :])
    tol = 1e4 * np.finfo(results["r_measured"].dtype).eps
    rows.append(
        {
            "check": "last layer alone: max |r measured − r predicted (empirical G)| / r(0) "
            "over draws and seeds",
            "measured": f"{dev:.1e}",
            "expected": "rounding only (f is linear in the last layer's weights)",
            "verdict": "agrees" if dev < tol else "disagrees",
        }
    )
    if "kernel_change" in results:
        change = np.mean(results["kernel_change"], axis=(0, 1))
        rows.append(
            {
                "check": "‖G_T − G_0‖_F / ‖G_0‖_F of the trained kernel at the end (mean over "
                "draws and seeds)",
                "measured": ", ".join(f"{nm}: {v:.2g}" for nm, v in zip(names, change)),
                "expected": "≪ 1 in the lazy regime (the predictions assume G_T = G_0)",
                "verdict": "lazy" if change.max() < 0.1 else "kernel moves: not lazy for some run",
            }
        )
    rows.append(
        stability_row(
            float(np.max(results["stability"])),
            "max over draws, seeds and runs of η λ_max(G_emp at init)/n",
            "unstable",
        )
    )
    return rows
