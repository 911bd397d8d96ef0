"""Every registered figure drawn from saved results in the paper style, checked as a reviewer would.

The saved results are the committed ``figures/<name>.npz/json`` (default scale, made by the current code);
a figure whose results are absent, or were made by other code (another code hash), is skipped with the
reason. Checks (``check_figure``): the declared column
width (3.25 in or 6.75 in); every drawn text (titles, labels, ticks, legends, notes) inside the canvas and at
least 8 pt; no NaN or infinite vertex in a band or interval; no line joined across an undefined degree; every
legend entry drawn in the figure (same colour, line style and marker). The helpers of
``experiments.framework.plotting`` that make gaps and keys are tested on synthetic data below.
"""

import importlib
import itertools
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

import experiments
from experiments.framework import cli as fw
from experiments.framework import plotting
from experiments.framework.results import load_results

FIGURES = Path(__file__).resolve().parents[2] / "figures"


def _visible_line(line: Line2D) -> bool:
    return line.get_linestyle() not in ("None", "none", "", " ") and line.get_linewidth() > 0


def _drawn_lines(fig) -> list[Line2D]:
    """Lines of the axes (not legend handles) with at least one finite point."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            if line.get_visible() and np.isfinite(y).any():
                out.append(line)
    return out


def _same_line(handle: Line2D, line: Line2D) -> bool:
    if not np.allclose(to_rgb(handle.get_color()), to_rgb(line.get_color()), atol=1e-3):
        return False
    if _visible_line(handle) != _visible_line(line):
        return False
    if _visible_line(handle) and handle.get_linestyle() != line.get_linestyle():
        return False
    marker = handle.get_marker()
    return marker in (None, "None", "none", "") or marker == line.get_marker()


def _face_colours(fig) -> list[tuple]:
    """RGB colours filled anywhere: patches, polygon collections and the colour maps of images."""
    colours = []
    for ax in fig.axes:
        for patch in ax.patches:
            colours.append(to_rgb(patch.get_facecolor()))
        for coll in ax.collections:
            colours += [tuple(c[:3]) for c in coll.get_facecolor()]
        for im in ax.get_images():
            cmap = im.get_cmap()
            colours += [tuple(cmap(v)[:3]) for v in np.linspace(0, 1, cmap.N)]
    return colours


def _legend_handles(fig):
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            yield handle, text.get_text()


def _joins_across_gap(line: Line2D, ticks: np.ndarray) -> bool:
    """Whether two consecutive finite points of ``line`` enclose a tick with no NaN between them."""
    x = np.asarray(line.get_xdata(), dtype=float)
    y = np.asarray(line.get_ydata(), dtype=float)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for i, j in itertools.pairwise(finite):
        if j == i + 1 and np.any((ticks > min(x[i], x[j]) + 0.5) & (ticks < max(x[i], x[j]) - 0.5)):
            return True
    return False


def check_figure(fig) -> None:
    """The reviewer's checks of the module docstring; raises AssertionError naming what fails."""
    assert fig.get_figwidth() in (3.25, 6.75), fig.get_figwidth()
    bbox = plotting.finish_figure(fig)
    assert bbox is fig.bbox_inches  # paper style: the declared size is the printed size
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches
    assert tight.x0 >= -0.02 and tight.y0 >= -0.02, f"drawing outside the canvas: {tight}"
    assert tight.x1 <= fig.get_figwidth() + 0.02, f"drawing wider than the canvas: {tight}"
    assert tight.y1 <= fig.get_figheight() + 0.02, f"drawing taller than the canvas: {tight}"
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            assert text.get_fontsize() >= plotting.MIN_FONT_PT, (
                text.get_text(),
                text.get_fontsize(),
            )
    for ax in fig.axes:
        for coll in ax.collections:
            for path in coll.get_paths():
                assert np.isfinite(path.vertices).all(), (
                    f"non-finite vertex in {type(coll).__name__}"
                )
            if isinstance(coll, LineCollection):
                for seg in coll.get_segments():
                    assert np.isfinite(seg).all(), "non-finite interval"
        if ax.get_xscale() != "linear":
            continue
        ticks = np.asarray(ax.get_xticks(), dtype=float)
        lo, hi = sorted(ax.get_xlim())
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
        if not len(ticks) or not np.allclose(ticks, np.round(ticks)) or len(ticks) > 12:
            continue  # only axes of integer degrees
        for line in ax.get_lines():
            if _visible_line(line) and len(line.get_xdata()) <= 64:
                assert not _joins_across_gap(line, ticks), f"line joined across a gap: {line}"
    lines = _drawn_lines(fig)
    faces = _face_colours(fig)
    for handle, label in _legend_handles(fig):
        if isinstance(handle, Line2D):
            assert any(_same_line(handle, line) for line in lines), (
                f"legend entry not drawn: {label}"
            )
        elif isinstance(handle, Patch):
            rgb = to_rgb(handle.get_facecolor())
            assert any(np.allclose(rgb, c, atol=2e-2) for c in faces), (
                f"legend patch not drawn: {label}"
            )
    for legend in list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.has_data():
                assert not box.overlaps(ax.get_window_extent(renderer)), "legend over the data"


@pytest.fixture
def paper_style():
    plotting.set_style("paper")
    yield
    plotting.set_style("screen")
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("name", experiments.ALL)
def test_saved_figure_passes_the_checks(name, paper_style):
    stem = FIGURES / name
    if not stem.with_suffix(".npz").exists():
        pytest.skip(f"no saved results {stem}.npz")
    exp = importlib.import_module(f"experiments.{name}").EXPERIMENT
    results, meta = load_results(stem)
    if meta.get("code_hash") != fw.code_hash():  # older saved arrays need not match today's plot
        pytest.skip(
            f"{stem}.npz was made by other code (code hash {meta.get('code_hash')}): regenerate it"
        )
    cfg = fw.config_from_dict(exp.config_cls, meta["config"])
    check_figure(exp.plot(results, cfg))


def _ratios_with_gap():
    """Draw ratios ``(D, K, L)`` with degree 2 undefined in every draw and degree 4 in half of them."""
    rng = np.random.default_rng(0)
    per_draw = 1.0 + rng.random((8, 4, 3))
    per_draw[:, 1] = np.nan
    per_draw[:4, 3, 0] = np.nan
    return per_draw


def test_draw_bands_leaves_gaps_and_counts_censored_draws(paper_style):
    per_draw = _ratios_with_gap()
    fig, axes = plotting.figure(1, columns=1, extra_height=0.8)
    ax = axes[0][0]
    counts = plotting.draw_bands(ax, np.arange(1, 5), per_draw, per_draw, plotting.layer_colors(3))
    np.testing.assert_array_equal(counts, [8, 0, 8, 4])
    assert plotting.censored_note(np.arange(1, 5), counts, 8) == (
        "draws with a defined ratio: k=2: 0/8, k=4: 4/8"
    )
    layer0 = ax.get_lines()[0]
    assert np.isnan(layer0.get_ydata()[1])  # the undefined degree stays in the data: a break
    np.testing.assert_allclose(layer0.get_ydata()[3], np.median(per_draw[4:, 3, 0]))
    handles, labels = plotting.ratio_legend(plotting.layer_colors(3), 3)
    plotting.legend_below(fig, handles, labels, note="note")
    check_figure(fig)


def test_check_figure_catches_a_line_joined_across_a_gap(paper_style):
    """The checker fails when a curve drops the undefined degree and joins its neighbours."""
    fig, axes = plotting.figure(1, columns=1)
    ax = axes[0][0]
    ax.plot([1, 3], [1.0, 2.0], marker="o")  # degree 2 left out: joined across it
    ax.set_xticks([1, 2, 3])
    with pytest.raises(AssertionError, match="joined across a gap"):
        check_figure(fig)


def test_check_figure_catches_an_undrawn_legend_entry_and_small_fonts(paper_style):
    fig, axes = plotting.figure(1, columns=1, extra_height=0.5)
    ax = axes[0][0]
    ax.plot([1, 2], [1, 2], color="C0")
    fig.legend([Line2D([], [], color="0.5", ls="--")], ["not drawn"], loc="outside lower center")
    with pytest.raises(AssertionError, match="legend entry not drawn"):
        check_figure(fig)
    fig, axes = plotting.figure(1, columns=1)
    axes[0][0].plot([1, 2], [1, 2])
    axes[0][0].set_title("small", fontsize=5)
    plotting.finish_figure(fig)
    assert axes[0][0].title.get_fontsize() == plotting.MIN_FONT_PT  # raised before saving


def test_check_figure_catches_text_outside_the_canvas(paper_style):
    fig, axes = plotting.figure(1, columns=1)
    axes[0][0].plot([1, 2], [1, 2])
    fig.text(1.05, 0.5, "outside")
    with pytest.raises(AssertionError, match="canvas"):
        check_figure(fig)


def test_suptitle_and_key_note_wrap_to_the_measured_width(paper_style):
    """A title of wide glyphs and mathtext (the training_width_mnist title a 0.52-em character count
    let run 0.15 in past the canvas) is broken so that every line fits; ``$…$`` spans stay whole."""
    text = (
        r"MNIST (unit-norm images), $\cos(k\tilde t)$ along PC 1, mean removed; relu, n=200, L=4, "
        "200 GD steps (float32), η = 1·n/λ_max; 8 draws × 1 seed (line: median over draws of each "
        "draw's seed mean, band: 10–90% of the same draw values; (b): over networks); WWWW MMMM "
        * 2
    )
    fig, axes = plotting.figure(2, columns=2)
    axes[0][0].plot([1, 2], [1, 2], color="C0", label="a")
    plotting.suptitle(fig, text)
    plotting.legend_below(fig, *axes[0][0].get_legend_handles_labels(), note=text)
    check_figure(fig)  # inside the canvas
    lines = fig.get_suptitle().split("\n")
    assert len(lines) >= 4 and " ".join(lines) == " ".join(text.split())
    assert all(line.count("$") % 2 == 0 for line in lines)  # no mathtext span broken
    probe = fig.text(0, 0, "", fontsize=plotting.MIN_FONT_PT)
    renderer = fig.canvas.get_renderer()
    for line in lines:
        probe.set_text(line)
        assert probe.get_window_extent(renderer).width <= 0.97 * fig.get_figwidth() * fig.dpi
    matplotlib.pyplot.close(fig)


def test_style_paper_declares_column_widths():
    for ncols, columns in ((1, 1), (3, 2)):
        fig, _ = plotting.figure(ncols)
        assert fig.get_figwidth() == plotting.COLUMN_WIDTH_IN[columns]
        matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="style"):
        plotting.set_style("poster")
    with pytest.raises(ValueError, match="columns"):
        plotting.column_width(3)
    assert matplotlib.rcParams["pdf.fonttype"] == 42  # TrueType fonts embedded in the PDF


def test_runner_plot_only_paper_style_writes_column_width_and_embedded_fonts(tmp_path):
    """``python -m experiments --plot-only --style paper`` redraws from saved results only: a PNG of the
    declared width at 300 dpi and a PDF with embedded TrueType fonts (no Type 3)."""
    import shutil

    from matplotlib.image import imread

    from experiments.__main__ import main

    name = "fig8_sphere_tanh"
    if not (FIGURES / f"{name}.npz").exists():
        pytest.skip(f"no saved results {FIGURES / name}.npz")
    for suffix in (".npz", ".json"):
        shutil.copy(FIGURES / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    before = (tmp_path / f"{name}.npz").read_bytes()
    try:
        code = main(["--only", name, "--out", str(tmp_path), "--plot-only", "--style", "paper",
                     "--no-report", "--no-progress"])  # fmt: skip
    finally:
        plotting.set_style("screen")
    assert code == 0
    assert (tmp_path / f"{name}.npz").read_bytes() == before  # nothing recomputed
    width_px = imread(tmp_path / f"{name}.png").shape[1]
    assert width_px == round(plotting.COLUMN_WIDTH_IN[2] * 300)
    pdf = (tmp_path / f"{name}.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf
