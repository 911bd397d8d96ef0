"""Beyond the paper: do the verdicts of Figures 2, 5, 7 and 8 survive other readings of the protocol?

Command::

    python -m experiments.protocol_sensitivity [--scale smoke|default|paper] [--out figures/] [--data-dir DIR]

The paper leaves open whether the layers have biases, the parameterisation, the input scaling, how the
principal-component coordinate of the targets is normalised, how pixels are preprocessed, and ``n`` on the
sphere. The figures pick one reading of each (the *baseline*: no bias, NTK parameterisation, inputs as in
``sphere`` / ``realdata``, ``target_scale="range"``, pixels ÷ 255, the figures' ``n``). This experiment re-runs
each figure's own protocol (its module's ``run``, all draws and seeds) with one choice changed at a time and
applies the rule of ``experiments.framework.verdicts`` to claims A (layer 0's ratio increases with ``k``), D (layer 0's
ratio is larger at the highest ``k`` than at the lowest) and C (layer 0 has the largest ratio at the highest
``k``), for the finite networks and for the infinite-width kernels on
the same draws. A verdict that flips under a reasonable reading is not a property of the network but of the
reading.

Choices (``VARIANTS``; each applies to the figures named):

* ``bias``: biases in every layer (``σ_b = 1``); for tanh this creates the even degrees (``docs/theory.md``
  §9.1), so fig8's claims are then judged on ``k = 1…4``;
* ``standard``: the standard parameterisation (``Network.parameterization``);
* ``input_fan_in`` (sphere) / ``input_none`` (images): the other first-layer input scaling;
* ``pc_raw`` (fig5, fig7): the PC coordinate unscaled (``target_scale="raw"``: ``sin(k t)``) instead of ``k``
  periods over the data;
* ``pixels_standardized`` / ``pixels_unit_norm`` (fig5, fig7): z-scored pixels / images on the unit sphere;
* ``n_half`` / ``n_double``: half and twice the figure's ``n``.

Panels judged: sphere figures, the paper's sampled targets (``raw``) and the ``debiased`` estimator; image
figures, the paper's ``sin`` and ``cos`` targets with and without their sample mean.

Cost: every variant runs ``num_draws × num_seeds`` networks of width ``width`` (default 8 × 2 at width 256, the
figures use 512 and 784; the width is not among the protocol's open choices, the infinite-width verdict shows
what more width gives). Runtimes and results: ``figures/REPORT.md`` (generated).

Saved arrays (``U`` units = (figure, variant) pairs, ``P = 4`` panel slots, ``D`` draws, ``K = 8`` degree
slots, ``L`` layers; unused slots NaN / code ``-2``): ``unit_figure``, ``unit_variant`` ``(U,)``;
``panel_names`` ``(U, P)``; ``degrees`` ``(U, K)``; ``verdict`` ``(U, 2, P, 3)`` (finite | ∞-width, panel,
claim A | D | C; 1 holds, 0 unresolved, −1 fails, −2 not applicable); ``fraction`` ``(U, 2, P, 3)`` of draws where
the claim holds; ``draw_ratios`` ``(U, 2, P, D, K, L-1)`` the per-draw ratios (of seed-mean contributions) behind them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments.framework import verdicts
from experiments.framework.cli import (
    RunContext,
    check_counts,
    registered,
)
from experiments.framework.plotting import OKABE_ITO, new_figure, suptitle
from experiments.framework.shared import SYNTHETIC

CAPTION = (
    "Verdicts on claims A (layer 0's ratio increases with k), D (larger at the highest k than at the lowest) "
    "and C (layer 0 largest at the highest k) under one protocol choice changed at a time (rows) for Figures "
    "2, 5, 7 and 8: blue holds, orange fails, grey unresolved (rule: median over draws and ≥ 80% of draws); the "
    "number is the percentage of draws in which the claim holds. Every row, the baseline included, uses one "
    "width and number of seeds (in the title), smaller than the shipped figures'. REPORT.md adds the "
    "infinite-width verdicts."
)

FIGURES = ("fig2_sphere_d10", "fig5_mnist_pc", "fig7_cifar_pc", "fig8_sphere_tanh")
"""The figures whose protocols are varied (issue 13)."""

_SPHERE, _IMAGES = "sphere", "images"
VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("both", {}),
    "bias": ("both", {"network.use_bias": True}),
    "standard": ("both", {"network.parameterization": "standard"}),
    "input_fan_in": (_SPHERE, {"network.input_scaling": "fan_in"}),
    "input_none": (_IMAGES, {"network.input_scaling": "none"}),
    "pc_raw": (_IMAGES, {"target_scale": "raw"}),
    "pixels_standardized": (_IMAGES, {"center_inputs": True, "standardize": True}),
    "pixels_unit_norm": (_IMAGES, {"normalize": "sphere"}),
    "n_half": ("both", {}),
    "n_double": ("both", {}),
}
"""``name -> (figures it applies to: "sphere", "images" or "both"; config overrides)``; ``n_*`` scale ``n``."""

CLAIMS = "ADC"
PANEL_SLOTS, DEGREE_SLOTS = 4, 8
_CODES = {"holds": 1, "unresolved": 0, "fails": -1}


@dataclasses.dataclass(frozen=True)
class Config:
    """Protocol-sensitivity configuration (defaults: the default scale)."""

    seed: int = 0  # master seed of every figure's protocol (the figures' own default)
    figures: tuple[str, ...] = FIGURES  # figure modules whose protocols are varied
    variants: tuple[str, ...] = tuple(VARIANTS)  # choices changed one at a time (VARIANTS)
    num_draws: int = 8  # independent data draws per (figure, variant)
    num_seeds: int = 2  # initialisations nested in each draw
    width: int = 256  # hidden width of every network (module docstring)
    data_dir: str | None = None  # image datasets (fig5, fig7): as the figures' --data-dir
    scale: str = "default"  # the figures' scale whose settings are varied ("smoke" in tests)
    agreement: float = verdicts.AGREEMENT  # fraction of draws a verdict needs

    def __post_init__(self):
        unknown = [f for f in self.figures if f not in FIGURES]
        if not self.figures or unknown:
            raise ValueError(f"figures must be a non-empty subset of {FIGURES}, got {self.figures}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if not self.variants or bad:
            raise ValueError(f"variants must be names in {tuple(VARIANTS)}, got {self.variants}")
        check_counts(self, "num_draws", "num_seeds", "width")
        if self.scale not in ("smoke", "default", "paper"):
            raise ValueError(f"scale must be 'smoke', 'default' or 'paper', got {self.scale!r}")
        if not 0.5 < self.agreement <= 1:
            raise ValueError(f"agreement must be in (0.5, 1], got {self.agreement}")


def _kind(figure_name: str) -> str:
    return _SPHERE if figure_name.startswith("fig2") or figure_name.startswith("fig8") else _IMAGES


def units(cfg: Config) -> list[tuple[str, str]]:
    """The (figure, variant) pairs that apply, figures outer, in ``cfg`` order."""
    return [
        (f, v) for f in cfg.figures for v in cfg.variants if VARIANTS[v][0] in ("both", _kind(f))
    ]


def figure_config(cfg: Config, figure_name: str, variant: str):
    """The figure's config at ``cfg.scale`` with the shared sizes and the variant's change."""
    exp = registered(figure_name)
    shared = {
        "seed": cfg.seed,
        "num_draws": cfg.num_draws,
        "num_seeds": cfg.num_seeds,
        "seed_chunk": cfg.num_seeds,
        "network.width": cfg.width,
    }
    if _kind(figure_name) == _IMAGES and cfg.data_dir is not None:
        shared["data_dir"] = cfg.data_dir
    base = exp.config(cfg.scale, **shared)
    overrides = dict(VARIANTS[variant][1])
    if variant in ("n_half", "n_double"):
        overrides["num_points"] = (
            base.num_points // 2 if variant == "n_half" else 2 * base.num_points
        )
    return exp, exp.config(cfg.scale, **shared, **overrides)


def panel_ratios(figure_name: str, results, fig_cfg) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(panel names, finite (P, D, K, L-1), ∞-width (P, D, K, L-1))``: per-draw ratios of the judged panels
    (the figure's own ``Experiment.panel_ratios``)."""
    return registered(figure_name).panel_ratios(results, fig_cfg)


def judge(ratios: np.ndarray, agreement: float) -> tuple[np.ndarray, np.ndarray]:
    """Verdict codes and fractions ``(P, len(CLAIMS))`` of ``CLAIMS`` for ratios ``(P, D, K, L-1)``.

    Degrees undefined in every draw (NaN) are left out first, as in ``verdicts.claim_rows``.
    """
    shape = (len(ratios), len(CLAIMS))
    codes, fracs = np.full(shape, -2), np.full(shape, np.nan)
    for p, r in enumerate(ratios):
        r = r[:, ~np.isnan(r).all(axis=(0, 2))]
        for c, claim in enumerate(CLAIMS):
            if claim in "AD" and r.shape[1] < 2:
                continue
            v, frac = verdicts.verdict(r, claim, agreement)
            codes[p, c], fracs[p, c] = _CODES[v], frac
    return codes, fracs


SCALES = {
    "default": {},
    "smoke": {
        "scale": "smoke",
        "num_draws": 2,
        "num_seeds": 1,
        "width": 16,
        "data_dir": SYNTHETIC,
        "figures": ("fig5_mnist_pc", "fig8_sphere_tanh"),
        "variants": ("baseline", "pc_raw", "n_double"),
    },
    "paper": {"scale": "paper", "num_seeds": 4, "width": 784},
}
"""Overrides per scale (``framework.cli.register``)."""


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Runs every (figure, variant) unit (checkpointed per unit) and judges its panels."""
    ctx = ctx or RunContext("protocol_sensitivity", progress=False)
    todo = units(cfg)

    def one_unit(index: np.ndarray) -> dict[str, np.ndarray]:
        (u,) = index
        figure_name, variant = todo[int(u)]
        exp, fig_cfg = figure_config(cfg, figure_name, variant)
        results = exp.run(fig_cfg, RunContext(exp.name, progress=False, mesh=ctx.mesh))
        names, fin, inf = panel_ratios(figure_name, results, fig_cfg)
        verdict = np.full((2, PANEL_SLOTS, len(CLAIMS)), -2)
        fraction = np.full((2, PANEL_SLOTS, len(CLAIMS)), np.nan)
        ratios = np.full((2, PANEL_SLOTS, cfg.num_draws, DEGREE_SLOTS, fin.shape[-1]), np.nan)
        for i, r in enumerate((fin, inf)):
            p, k = r.shape[0], r.shape[2]
            verdict[i, :p], fraction[i, :p] = judge(r, cfg.agreement)
            ratios[i, :p, :, :k] = r
        degrees = np.full(DEGREE_SLOTS, -1)
        degrees[: len(results["degrees"])] = results["degrees"]
        panel_names = np.array((names + [""] * PANEL_SLOTS)[:PANEL_SLOTS])
        return {
            "verdict": verdict[None],
            "fraction": fraction[None],
            "draw_ratios": ratios[None],
            "degrees": degrees[None],
            "panel_names": panel_names[None],
        }

    out = ctx.seed_loop(cfg, one_unit, num_seeds=len(todo), chunk=1, desc="units")
    return {
        "unit_figure": np.array([f for f, _ in todo]),
        "unit_variant": np.array([v for _, v in todo]),
        **out,
    }


def _cell(code: int, frac: float) -> str:
    """A grid cell's text: the percentage of draws in which the claim holds ("" if not applicable)."""
    return "" if code == -2 else f"{frac:.0%}"


def summarize(results, cfg: Config) -> list[dict]:
    """One REPORT row per (figure, variant): verdicts per panel and claim, and the change from baseline."""
    names = {1: "holds", 0: "unresolved", -1: "fails"}
    rows = []
    figs, variants = results["unit_figure"], results["unit_variant"]
    for u in range(len(figs)):
        verdict, frac = results["verdict"][u], results["fraction"][u]
        panels = [str(p) for p in results["panel_names"][u] if str(p)]
        parts, flips = [], []
        base = [b for b in range(len(figs)) if figs[b] == figs[u] and variants[b] == "baseline"]
        for p, panel in enumerate(panels):
            cells = []
            for c, claim in enumerate(CLAIMS):
                if verdict[0, p, c] == -2:
                    continue
                cells.append(
                    f"{claim} {names[int(verdict[0, p, c])]} ({frac[0, p, c]:.0%}; ∞-width "
                    f"{names.get(int(verdict[1, p, c]), 'n/a')})"
                )
                if base and results["verdict"][base[0]][0, p, c] != verdict[0, p, c]:
                    was = names[int(results["verdict"][base[0]][0, p, c])]
                    flips.append(f"{panel} {claim}: {was} → {names[int(verdict[0, p, c])]}")
            parts.append(f"{panel}: " + ", ".join(cells))
        variant = str(variants[u])
        overrides = dict(VARIANTS[variant][1])
        if variant in ("n_half", "n_double"):
            overrides["num_points"] = "×½" if variant == "n_half" else "×2"
        change = ", ".join(f"{k}={v}" for k, v in overrides.items()) or (
            f"the figure's own choices, at width {cfg.width} with {cfg.num_seeds} seeds per draw; "
            "the shipped figure uses its own width and seeds"
        )
        rows.append(
            {
                "check": f"{figs[u]} under '{variants[u]}' ({change}): "
                f"claims {', '.join(CLAIMS)} — rule: {verdicts.rule_text(cfg.agreement)}",
                "measured": "; ".join(parts),
                "expected": f"paper: {', '.join(CLAIMS)} hold",
                "verdict": "baseline"
                if variants[u] == "baseline"
                else ("same verdicts as baseline" if not flips else "changes: " + "; ".join(flips)),
            }
        )
    return rows


VERDICT_COLORS = {
    "holds": OKABE_ITO["blue"],
    "unresolved": "#d9d9d9",
    "fails": OKABE_ITO["orange"],
    "not applicable": "white",
}
"""Cell colours of the verdict grids: the colour-blind-safe blue/orange pair of Okabe–Ito and grey."""


def plot(results, cfg: Config):
    """One verdict grid per figure: rows variants, columns (panel, claim) cells coloured by verdict.

    Claims are shown in alphabetical order (``A, C, D``) whatever order they are stored in; grids with
    at most six columns share a row of the figure, wider ones take a full row; a legend is the colour key.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    figs = list(dict.fromkeys(str(f) for f in results["unit_figure"]))
    order = sorted(range(len(CLAIMS)), key=lambda c: CLAIMS[c])  # stored order → A, B, C, D
    units = {n: [u for u, f in enumerate(results["unit_figure"]) if str(f) == n] for n in figs}
    panels = {n: [str(p) for p in results["panel_names"][units[n][0]] if str(p)] for n in figs}
    narrow = [n for n in figs if len(panels[n]) * len(CLAIMS) <= 6]
    layout = [narrow[i : i + 2] for i in range(0, len(narrow), 2)]
    layout += [[n] for n in figs if n not in narrow]
    heights = [max(len(units[n]) for n in row) for row in layout]
    fig = new_figure(2, sum(0.17 * h + 1.05 for h in heights) + 0.55)
    grid = fig.add_gridspec(len(layout), 2, height_ratios=[0.17 * h + 1.05 for h in heights])
    cmap = ListedColormap(
        [VERDICT_COLORS[k] for k in ("not applicable", "fails", "unresolved", "holds")]
    )
    for r, row in enumerate(layout):
        for j, name in enumerate(row):
            ax = fig.add_subplot(grid[r, j] if len(row) > 1 or name in narrow else grid[r, :])
            rows = units[name]
            cols = [(p, c) for p in range(len(panels[name])) for c in order]
            verdict = np.asarray(results["verdict"])[rows][:, 0]  # (V, P, C)
            cells = np.array([[verdict[i, p, c] for p, c in cols] for i in range(len(rows))])
            ax.imshow(cells + 2, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto")
            for i, u in enumerate(rows):
                for x, (p, c) in enumerate(cols):
                    code = results["verdict"][u][0, p, c]
                    text = _cell(code, results["fraction"][u][0, p, c]).rstrip("%")
                    color = "white" if code == 1 else "black"
                    ax.text(x, i, text, ha="center", va="center", fontsize=8, color=color)
            for p in range(1, len(panels[name])):
                ax.axvline(len(CLAIMS) * p - 0.5, color="k", lw=0.8)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([str(results["unit_variant"][u]).replace("_", " ") for u in rows])
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels(
                [f"{_short(panels[name][p])} {CLAIMS[c]}" for p, c in cols], rotation=90
            )
            ax.set_title(name)
            ax.grid(False)
    shown = set(np.asarray(results["verdict"])[:, 0].ravel().tolist())  # codes present: keyed
    codes = {"holds": 1, "unresolved": 0, "fails": -1, "not applicable": -2}
    key = [
        Patch(facecolor=VERDICT_COLORS[k], edgecolor="0.4", label=k)
        for k in VERDICT_COLORS
        if codes[k] in shown
    ]
    fig.legend(
        handles=key,
        loc="outside lower center",
        ncol=len(key),
        title=(
            "verdict of the claim (columns: target variant and claim); number: % of draws in which it holds"
        ),
    )
    suptitle(
        fig,
        f"Verdicts with one protocol choice changed (width {cfg.width}, {cfg.num_draws} draws × "
        f"{cfg.num_seeds} seeds; rule: holds for the median over draws and in ≥ {cfg.agreement:.0%} of "
        "draws)",
    )
    return fig


def _short(panel: str) -> str:
    """A compact column label for a panel name."""
    return (
        panel.replace(" along PC 1 (paper)", "")
        .replace(" along PC 1", "")
        .replace(", mean removed", "−mean")
        .replace("(k t̃)", "")
    )
