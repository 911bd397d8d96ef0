"""One figure style for every experiment: single-column paper width, readable fonts, PDF + PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from spectral_layers.contributions import t_interval

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


def layer_bands(ax, x, rel, infinite, colors) -> None:
    """Every layer but the last: mean and 95% t-interval over seeds of ``rel`` ``(S, K, L)`` against ``x``
    ``(K,)`` (``band``, labelled ``layer ℓ``), and the infinite-width values ``infinite`` ``(K, L)``
    dashed with crosses in the same colour."""
    mean, lo, hi = t_interval(rel, axis=0)
    for layer in range(rel.shape[-1] - 1):
        band(
            ax,
            x,
            mean[:, layer],
            lo[:, layer],
            hi[:, layer],
            color=colors[layer],
            label=f"layer {layer}",
        )
        ax.plot(x, infinite[:, layer], ls="--", marker="x", color=colors[layer], lw=0.9)


def per_layer_text(values) -> str:
    """``ℓ=0: a, b, …; ℓ=1: …`` for ``values`` ``(K, L)`` (degrees × layers), three significant digits: the
    ``measured`` column of REPORT rows."""
    return "; ".join(
        f"ℓ={i}: " + ", ".join(f"{v:.3g}" for v in values[:, i]) for i in range(values.shape[1])
    )
