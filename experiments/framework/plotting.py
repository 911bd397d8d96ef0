"""One figure style for every experiment: paper column widths, fonts ≥ 8 pt, colour-blind-safe colours.

Two styles (``set_style``; the CLI's ``--style``): ``"screen"`` (the default) lays a figure out at its
declared width and saves it with a tight bounding box; ``"paper"`` saves it at exactly its declared width —
a single column (``COLUMN_WIDTH_IN[1]`` = 3.25 in) or a double column (``COLUMN_WIDTH_IN[2]`` = 6.75 in), each
figure declares which through ``figure(columns=…)`` — so that its fonts (all ≥ ``MIN_FONT_PT``) are their
printed size. PDFs embed TrueType fonts (``pdf.fonttype`` 42) in both styles.

Colours: layers take the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"; safe for the common
colour-vision deficiencies) in ``LAYER_COLORS``; other categories (estimators, activations) take the
Okabe–Ito hues no layer uses (``OTHER_COLORS``); ordered quantities such as degrees take grey levels
(``degree_grays``), so that no degree shares a layer's hue. Heat maps use colour-blind-safe maps (``cividis``,
or Okabe–Ito hues for categories) and always carry a colour key.

Undefined values are gaps: ``draw_bands`` draws NaN as a break in the line (never joined across), draws an
interval only where it is defined, limits the x-axis to the drawn degrees, and counts the draws whose ratio
is undefined (``censored_note``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from experiments.framework.verdicts import nanmedian

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
"""The Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008)."""

LAYER_COLORS = tuple(OKABE_ITO[c] for c in ("blue", "orange", "bluish_green", "reddish_purple"))
"""Layer ℓ's colour (ℓ = 0, 1, …); ``layer_colors`` extends it past four layers."""

OTHER_COLORS = tuple(OKABE_ITO[c] for c in ("vermillion", "sky_blue", "black", "yellow"))
"""Colours of categories that are not layers (estimators, activations): no hue of ``LAYER_COLORS``."""

ALL_LAYERS_COLOR = OKABE_ITO["black"]
"""Colour of a run that trains every layer together (fig4, training_width)."""

SEQUENTIAL_CMAP = "cividis"
"""Sequential colour map of heat maps (perceptually uniform, colour-blind-safe)."""

COLUMN_WIDTH_IN = {1: 3.25, 2: 6.75}
"""Printed width in inches of a single-column (1) and a double-column (2) figure."""

MIN_FONT_PT = 8.0
"""Smallest font size at the printed width."""

BAND = (10, 90)
"""Percentiles of every interval drawn around a median (over draws): the one band statistic of the figures."""

SINGLE_COLUMN_IN = COLUMN_WIDTH_IN[1]
"""Width of a single-column figure in inches (kept for callers of the former name)."""

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "legend.columnspacing": 1.0,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "image.cmap": SEQUENTIAL_CMAP,
}

STYLES = ("screen", "paper")
"""Names accepted by ``set_style`` (module docstring)."""

_style = {"name": "screen"}


def set_style(name: str) -> None:
    """Selects the figure style of every later ``save_figure``: ``"screen"`` or ``"paper"``."""
    if name not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {name!r}")
    _style["name"] = name


def current_style() -> str:
    """The name of the selected style (``set_style``)."""
    return _style["name"]


def column_width(columns: int) -> float:
    """Printed width in inches of a figure spanning ``columns`` (1 or 2) columns."""
    if columns not in COLUMN_WIDTH_IN:
        raise ValueError(f"columns must be 1 or 2, got {columns!r}")
    return COLUMN_WIDTH_IN[columns]


def new_figure(columns: int, height: float):
    """An empty figure of the declared column width and ``height`` inches, with constrained layout."""
    plt.rcParams.update(STYLE)
    fig = plt.figure(figsize=(column_width(columns), height), layout="constrained")
    fig.columns = columns
    return fig


def figure(
    ncols: int = 1,
    nrows: int = 1,
    *,
    columns: int | None = None,
    width: float | None = None,
    aspect: float = 0.75,
    extra_height: float = 0.0,
    **kwargs,
):
    """A ``(fig, axes)`` pair in the package style, laid out by constrained layout.

    Args:
        ncols, nrows: panels per row and rows.
        columns: the printed width it declares, 1 (3.25 in) or 2 (6.75 in); ``None``: 1 for a single panel
            per row, else 2.
        width: ignored unless ``columns`` is ``None`` and ``width`` ≤ 3.6 (then single column); kept so that
            callers passing a width keep working.
        aspect: height / width of one panel.
        extra_height: inches added for a legend, note or title outside the panels.
    """
    if columns is None:
        columns = 1 if (ncols == 1 or (width is not None and width <= 3.6)) else 2
    w = column_width(columns)
    height = w / ncols * aspect * nrows + extra_height + 0.35
    fig = new_figure(columns, height)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def layer_colors(num_layers: int) -> list:
    """One colour per layer (``LAYER_COLORS``, then the rest of Okabe–Ito past four layers)."""
    extra = [OKABE_ITO[c] for c in ("sky_blue", "vermillion", "yellow", "black")]
    palette = [*LAYER_COLORS, *extra]
    return [palette[i % len(palette)] for i in range(max(num_layers, 1))]


def degree_grays(num_degrees: int) -> list:
    """One grey level per degree, low degree dark to high degree light: no layer hue."""
    return [str(v) for v in np.linspace(0.0, 0.62, max(num_degrees, 1)).round(3)]


def _words(text: str) -> list[str]:
    """``text`` split at spaces, except inside ``$…$`` (a mathtext span is never broken across lines)."""
    words, current, in_math = [], "", False
    for char in text:
        if char == "$":
            in_math = not in_math
        if char == " " and not in_math:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    return [*words, current] if current else words


def wrap_to_width(
    fig, text: str, *, fontsize: float = MIN_FONT_PT, fraction: float = 0.97, **font
) -> str:
    """``text`` broken at spaces into lines whose rendered width is at most ``fraction`` of ``fig``'s width.

    Widths are measured with the figure's renderer in the figure's font (mathtext spans rendered, kept
    whole), not estimated from a character count: a count misjudges wide glyphs and ``$…$`` markup. A
    single word wider than the limit stays on its own line. Existing newlines are kept.
    """
    renderer = fig.canvas.get_renderer()
    probe = fig.text(0, 0, "", fontsize=fontsize, **font)
    limit = fraction * fig.get_figwidth() * fig.dpi

    def width(line: str) -> float:
        probe.set_text(line)
        return probe.get_window_extent(renderer).width

    out = []
    try:
        for paragraph in text.split("\n"):
            line = ""
            for word in _words(paragraph):
                candidate = f"{line} {word}" if line else word
                if line and width(candidate) > limit:
                    out.append(line)
                    line = word
                else:
                    line = candidate
            out.append(line)
    finally:
        probe.remove()
    return "\n".join(out)


def suptitle(fig, text: str, **kwargs):
    """A figure title at ``MIN_FONT_PT`` wrapped to the figure's measured width (``wrap_to_width``)."""
    return fig.suptitle(wrap_to_width(fig, text), fontsize=MIN_FONT_PT, **kwargs)


def band(ax, x, mean, low, high, *, color, label=None, marker="o", **kwargs):
    """A line with markers and a shaded band; NaN entries break both (nothing joined across them)."""
    ax.plot(x, mean, marker=marker, color=color, label=label, **kwargs)
    ax.fill_between(x, low, high, color=color, alpha=0.25, linewidth=0)


def _offsets(num: int, x: np.ndarray, log_x: bool, dodge: float) -> list[np.ndarray]:
    """``x`` shifted per series so that intervals of several series at one degree do not overlap."""
    x = np.asarray(x, dtype=float)
    shifts = (np.arange(num) - (num - 1) / 2) * dodge
    if log_x:
        return [x * 10.0**s for s in shifts * 0.12]
    step = np.min(np.diff(x)) if len(x) > 1 else 1.0
    return [x + s * step for s in shifts]


def draw_bands(
    ax,
    x,
    per_draw,
    infinite,
    colors,
    *,
    mercer=None,
    band: tuple[float, float] = BAND,
    log_x: bool = False,
    dodge: float = 0.12,
) -> np.ndarray:
    """Ratios per layer (every layer but the last) against degrees ``x`` ``(K,)``, one statistic throughout.

    The draws' ratios ``per_draw`` ``(D, K, L)`` (``experiments.framework.verdicts``: the ratio of each draw's
    seed-mean contributions) give a line of their median over draws with markers (labelled ``layer ℓ``) and
    a vertical interval between their ``band`` percentiles over draws, both over the draws whose ratio is
    defined; ``infinite`` ``(D, K, L)`` gives the median over draws of the infinite-width ratio, dashed with
    crosses; ``mercer`` ``(L-1, K)`` the Mercer ratio, dotted with plus signs — all in the layer's colour,
    shifted slightly along x per layer (``dodge``) so that the intervals do not hide one another. A NaN
    (undefined) value is a gap: lines break there, no interval is drawn. The x-axis spans the drawn degrees.

    Returns:
        ``(K,)`` the number of draws whose ratio is defined for every layer at each degree (of ``D``).
    """
    per_draw = np.asarray(per_draw, dtype=float)
    med = nanmedian(per_draw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: gaps
        lo, hi = np.nanpercentile(per_draw, band, axis=0)
    inf = None if infinite is None else nanmedian(np.asarray(infinite, dtype=float))
    x = np.asarray(x, dtype=float)
    num = per_draw.shape[-1] - 1
    xs_all = _offsets(num, x, log_x, dodge)
    for layer, xs in enumerate(xs_all):
        c = colors[layer]
        ax.plot(xs, med[:, layer], marker="o", color=c, label=f"layer {layer}", zorder=3)
        ok = np.isfinite(lo[:, layer]) & np.isfinite(hi[:, layer])
        ax.vlines(xs[ok], lo[ok, layer], hi[ok, layer], color=c, lw=1.0, alpha=0.7, zorder=2)
        if inf is not None and np.isfinite(inf[:, layer]).any():
            ax.plot(xs, inf[:, layer], ls="--", marker="x", color=c, lw=0.9, ms=4, zorder=4)
        if mercer is not None:
            ref = np.asarray(mercer, dtype=float)[layer]
            ax.plot(xs, ref, ls=":", marker="+", color=c, lw=1.0, ms=6, zorder=4)
    defined = np.isfinite(med[:, :num]).any(axis=1)
    if mercer is not None:
        defined |= np.isfinite(np.asarray(mercer, dtype=float)).any(axis=0)
    if defined.any():
        first, last = np.flatnonzero(defined)[[0, -1]]
        span = x[first : last + 1]
        if log_x:
            ax.set_xlim(span[0] / 10**0.15, span[-1] * 10**0.15)
        else:
            step = np.min(np.diff(x)) if len(x) > 1 else 1.0
            ax.set_xticks(span)
            ax.set_xlim(span[0] - 0.5 * step, span[-1] + 0.5 * step)
    return np.isfinite(per_draw[..., :num]).all(axis=-1).sum(axis=0)


def ratio_legend(colors, num_layers: int, *, infinite: bool = True, mercer: bool = False):
    """Legend ``(handles, labels)`` matching ``draw_bands``: one entry per layer, and the ∞-width and Mercer
    references as one entry each whose handle shows every layer's colour, as drawn."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colors[i], marker="o", label=f"layer {i}")
        for i in range(num_layers - 1)
    ]
    labels = [f"layer {i}" for i in range(num_layers - 1)]
    references = (
        (infinite, {"ls": "--", "marker": "x", "lw": 0.9, "ms": 4}, r"$\infty$-width"),
        (
            mercer,
            {"ls": ":", "marker": "+", "lw": 1.0, "ms": 6},
            r"Mercer $\mu_k^{(\ell)}/\mu_k^{(L-1)}$",
        ),
    )
    for drawn, style, label in references:
        if drawn:
            handles.append(
                tuple(Line2D([], [], color=colors[i], **style) for i in range(num_layers - 1))
            )
            labels.append(label)
    return handles, labels


def ratio_legend_below(
    fig, colors, num_layers: int, notes: dict[str, str], *, infinite=True, mercer=False, note=""
) -> None:
    """``legend_below`` with the ``ratio_legend`` entries, titled by ``note`` then the ``merged_notes`` of
    the panels' ``notes`` (each left out where empty)."""
    handles, labels = ratio_legend(colors, num_layers, infinite=infinite, mercer=mercer)
    legend_below(fig, handles, labels, note="; ".join(filter(None, [note, merged_notes(notes)])))


def censored_note(x, counts, num_draws: int, *, name: str = "k") -> str:
    """``"defined in: k=2: 0/8 draws, …"`` for the degrees ``x`` where fewer than ``num_draws`` draws have a
    defined ratio (``counts`` ``(K,)`` from ``draw_bands``); empty when every draw is defined."""
    parts = [
        f"{name}={int(k)}: {int(c)}/{num_draws}" for k, c in zip(x, counts) if int(c) < num_draws
    ]
    return f"draws with a defined ratio: {', '.join(parts)}" if parts else ""


def merged_notes(notes: dict[str, str]) -> str:
    """``notes`` per panel title as one sentence: one note when every panel's is the same."""
    distinct = set(notes.values()) - {""}
    if not distinct:
        return ""
    if len(distinct) == 1 and all(notes.values()):
        return f"every panel: {distinct.pop()}"
    return "; ".join(f"{title}: {n}" for title, n in notes.items() if n)


def plain_log_y(axes) -> None:
    """Plain numbers at 1-2-5 steps on log y-axes spanning less than two decades (not ``2×10⁰``)."""
    from matplotlib import ticker

    axes = list(np.ravel(axes))
    low, high = axes[0].get_ylim()
    if high / low >= 100:
        return
    for ax in axes:
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def undefined_note(degrees, ratio) -> str:
    """A figure note naming the degrees where a Mercer ratio ``ratio`` ``(L-1, K)`` is undefined (NaN)."""
    bad = [int(k) for k, col in zip(degrees, np.isnan(ratio).T) if col.any()]
    if not bad:
        return ""
    return (
        f"k = {', '.join(map(str, bad))}: Mercer ratio undefined, not drawn (an eigenvalue vanishes, e.g. "
        "by parity for an odd activation without bias: docs/theory.md §9.1)"
    )


def legend_below(fig, handles, labels, *, note: str = "", ncol: int | None = None, **_) -> None:
    """One legend (and an optional note as its title) under the panels, outside every axes."""
    from matplotlib.legend_handler import HandlerTuple

    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=ncol or len(labels),
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)},
        title=wrap_to_width(fig, note, style="italic") if note else None,
        title_fontproperties={"style": "italic", "size": MIN_FONT_PT},
    )


def floor_fonts(fig, minimum: float = MIN_FONT_PT) -> int:
    """Raises every text of ``fig`` (titles, labels, tick labels, legends, notes) to ``minimum`` points;
    returns how many were raised."""
    raised = 0
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text() and text.get_fontsize() < minimum:
            text.set_fontsize(minimum)
            raised += 1
    return raised


def finish_figure(fig):
    """Raises every font of ``fig`` to ``MIN_FONT_PT`` and returns the ``bbox_inches`` of the selected
    style (the whole declared canvas, or ``"tight"``: cropped); what ``save_figure`` does before saving.
    (``None`` would not do: ``savefig`` reads it as ``rcParams["savefig.bbox"]``, which is tight.)"""
    floor_fonts(fig)
    return fig.bbox_inches if current_style() == "paper" else "tight"


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Saves ``<out_dir>/<name>.pdf`` and ``.png`` in the selected style and closes the figure.

    ``"paper"``: at exactly the figure's declared column width (``figure``), fonts raised to ``MIN_FONT_PT``;
    ``"screen"``: the same, cropped to a tight bounding box. Returns the paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bbox = finish_figure(fig)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png"]
    for p in paths:
        tmp = p.with_name(f".{p.name}.tmp{p.suffix}")
        fig.savefig(tmp, bbox_inches=bbox)
        os.replace(tmp, p)
    plt.close(fig)
    return paths


def per_layer_text(values) -> str:
    """``ℓ=0: a, b, …; ℓ=1: …`` for ``values`` ``(K, L)`` (degrees × layers), three significant digits: the
    ``measured`` column of REPORT rows."""
    return "; ".join(
        f"ℓ={i}: " + ", ".join(f"{v:.3g}" for v in values[:, i]) for i in range(values.shape[1])
    )
