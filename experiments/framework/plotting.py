"""One figure style for every experiment: single-column paper width, readable fonts, PDF + PNG."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from experiments.framework.verdicts import nanmedian

SINGLE_COLUMN_IN = 3.4
"""Width of a single-column figure in inches (NeurIPS/ICML column width ≈ 3.25–3.4 in)."""

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
}


def figure(
    ncols: int = 1, nrows: int = 1, *, width: float | None = None, aspect: float = 0.75, **kwargs
):
    """A ``(fig, axes)`` pair in the package style; ``width`` defaults to one column per panel row."""
    plt.rcParams.update(STYLE)
    width = width or SINGLE_COLUMN_IN * (1 if ncols == 1 else min(2.1, 0.55 * ncols + 0.5))
    height = width / ncols * aspect * nrows
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kwargs)


def layer_colors(num_layers: int) -> list:
    """One colour per layer, from early (dark purple) to late (yellow) in viridis."""
    return [plt.get_cmap("viridis")(v) for v in np.linspace(0.0, 0.85, max(num_layers, 1))]


def band(ax, x, mean, low, high, *, color, label=None, marker="o", **kwargs):
    """Mean line with markers and a shaded confidence band."""
    ax.plot(x, mean, marker=marker, color=color, label=label, **kwargs)
    ax.fill_between(x, low, high, color=color, alpha=0.25, linewidth=0)


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Saves ``<out_dir>/<name>.pdf`` and ``.png`` and closes the figure; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png"]
    for p in paths:
        tmp = p.with_name(f".{p.name}.tmp{p.suffix}")
        fig.savefig(tmp)
        os.replace(tmp, p)
    plt.close(fig)
    return paths


def draw_bands(
    ax, x, per_draw, per_seed, infinite, colors, *, band: tuple[float, float] = (10, 90)
) -> None:
    """Every layer but the last, against ``x`` ``(K,)``: the median over draws of the draws' ratios
    ``per_draw`` ``(D, K, L)`` (line with markers, labelled ``layer ℓ``; ``experiments.framework.verdicts``: the ratio
    of each draw's seed-mean contributions), a band between the ``band`` percentiles of the ``D·S`` per-seed
    ratios ``per_seed`` ``(D, S, K, L)``, and the median over draws of ``infinite`` ``(D, K, L)`` dashed with
    crosses in the same colour. Degrees where a curve is NaN (undefined ratios) are left out of it."""
    med = nanmedian(np.asarray(per_draw, dtype=float))
    per_seed = np.asarray(per_seed, dtype=float)
    flat = per_seed.reshape(-1, *per_seed.shape[2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: gaps
        lo, hi = np.nanpercentile(flat, band, axis=0)
    inf = nanmedian(np.asarray(infinite, dtype=float))
    x = np.asarray(x)
    for layer in range(per_seed.shape[-1] - 1):
        ok = np.isfinite(med[:, layer])  # undefined degrees are skipped, the defined ones joined
        ax.plot(x[ok], med[ok, layer], marker="o", color=colors[layer], label=f"layer {layer}")
        ax.fill_between(
            x[ok], lo[ok, layer], hi[ok, layer], color=colors[layer], alpha=0.2, linewidth=0
        )
        ok = np.isfinite(inf[:, layer])
        ax.plot(x[ok], inf[ok, layer], ls="--", marker="x", color=colors[layer], lw=0.9)


def undefined_note(degrees, ratio) -> str:
    """A figure note naming the degrees where a Mercer ratio ``ratio`` ``(L-1, K)`` is undefined (NaN)."""
    bad = [int(k) for k, col in zip(degrees, np.isnan(ratio).T) if col.any()]
    if not bad:
        return ""
    return (
        f"k = {', '.join(map(str, bad))}: ratio undefined, not drawn (a Mercer eigenvalue vanishes, e.g. by "
        "parity for an odd activation without bias: docs/theory.md §9.1)"
    )


def legend_below(
    fig, handles, labels, *, note: str = "", fontsize: float = 6.5, rows: int = 1
) -> None:
    """Lays the figure out with one legend row (and an optional note) under ``rows`` rows of panels."""
    margin = (0.12 + (0.05 if note else 0.0)) / rows
    fig.tight_layout(rect=(0, margin, 1, 1))
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=len(labels),
        fontsize=fontsize,
        handlelength=2.0,
        columnspacing=1.0,
        bbox_to_anchor=(0.5, 0.05 / rows if note else 0.0),
    )
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=6, style="italic")


def per_layer_text(values) -> str:
    """``ℓ=0: a, b, …; ℓ=1: …`` for ``values`` ``(K, L)`` (degrees × layers), three significant digits: the
    ``measured`` column of REPORT rows."""
    return "; ".join(
        f"ℓ={i}: " + ", ".join(f"{v:.3g}" for v in values[:, i]) for i in range(values.shape[1])
    )
