"""Layer contributions on real images (paper §6.3, App. 14–15: Figures 3, 5, 6 and 7), shared by the
``fig3_mnist_radial``, ``fig5_mnist_pc``, ``fig6_mnist_eigvec`` and ``fig7_cifar_pc`` modules.

Setup (paper App. 14): images flattened to vectors (784 for MNIST, 3072 for CIFAR-10), ``n = 1000``
points drawn at random, a 4-layer fully connected ReLU network without bias in the NTK
parameterisation. For targets ``y_k`` of increasing "degree" ``k``
it measures the relative contributions ``c_ℓ / c_{L-1}`` with ``c_ℓ = y_kᵀ G^(ℓ) y_k`` (paper
appendix §13), with three families of targets (``spectral_layers.data_targets``).

Uncertainty covers every random choice: the protocol is repeated over ``num_draws`` independent
subsets of ``n`` images (draw ``r``: ``fold_in(key(seed), r)``), with ``num_seeds`` initialisations
nested in each draw. A draw's ratio is that of its seed-mean contributions; the figure shows the median over draws
and the 10–90% interval of the same draw ratios, and verdicts follow the rule of ``experiments.framework.verdicts``.
Saved: ``contributions`` ``(D, S, P, K, L)`` (``P`` panels), ``infinite`` ``(D, P, K, L)``,
``indices`` ``(D, n)``, ``targets`` of draw 0 ``(P, K, n)``. Target families:

* ``target="radial"`` (Figure 3): ``sin(k r̃)``, ``r`` the distance to the sample mean mapped onto
  ``[0, 2π]`` (``k`` periods over the data; ``radial_center``, ``target_scale``). The paper's target
  (§6.3, after Rahaman et al., 2019) is ``sin(k‖x‖)``: the default differs from it, and the panel
  titles say so;
* ``target="pc"`` (Figures 5, 7): ``sin(k t̃)`` / ``cos(k t̃)``, ``t`` the projection on the first
  principal component mapped onto ``[−π, π]`` (Xu, 2020);
* ``target="eigvec"`` (Figure 6): the eigenvectors of each network's full empirical NTK Gram
  ``Σ_ℓ G^(ℓ)``, "degree" = rank of the eigenvalue (1 = largest).

What the paper does not show, overlaid or added:

* the infinite-width prediction on the same points (dashed), ``yᵀ κ^(ℓ) y / yᵀ κ^(L-1) y`` with
  ``κ^(ℓ)`` from ``infinite_layer_ntk``; for ``eigvec`` the analogue is the eigenvectors of the
  infinite-width NTK ``Σ_ℓ κ^(ℓ)`` with their forms ``vᵀ κ^(ℓ) v``;
* for ``radial`` / ``pc``, a second column with the sample mean of every target removed. On
  uncentred images the NTK's top eigenvector is almost the vector of input norms ``‖x_i‖``, hence
  nearly constant, with an eigenvalue well above the next one, and the last layer dominates it (ratios
  below 1: the rank-1 point of Figure 6). A target's mean component, small but
  different for each ``k``, then pulls its ratio down erratically. Removing the mean (projecting
  out constants) shows the trend with ``k``;
* for ``eigvec``, a second column with targets fixed across seeds: the eigenvectors of the
  infinite-width NTK, fed to every finite network (there the dashed line is directly the
  infinite-width limit of the plotted quantity).

Preprocessing (``Config.scale_pixels``, ``center_inputs``, ``standardize``, ``normalize``): the paper
only flattens. The default divides by 255 (pixels in ``[0, 1]``) and does nothing else. Without bias a ReLU
network is positively homogeneous, so scaling every input by ``α`` scales every ``G^(ℓ)`` (and
``κ^(ℓ)``) by ``α²``, and the ``"range"``-scaled targets do not change: relative contributions do
not depend on a global input scale (checked exactly in the tests), and ``input_scaling="fan_in"``
(first layer ``1/sqrt(d)``) only sets that irrelevant scale. Centring, standardising or normalising
the inputs does change them (``protocol_sensitivity`` measures whether the verdicts do).

Computation: the Grams ``G^(ℓ)`` come from ``layer_ntk`` (structured, no Jacobian) and ``c_ℓ`` from
``gram_forms``. For ``n = 1000`` and ~20 targets this is far cheaper than the gradient
identity ``c_ℓ = ‖∇_{θ_ℓ} ⟨y, f(X)⟩‖²`` (``contributions.layer_contributions``: one backward pass
per target, ``O(T n m²)`` against ``O(n² m)``); ``contribution_method="gradient"`` selects it for
fixed targets (the tests check that both give the same numbers).

Data (``Config.data_dir``): a folder with the dataset files (or their parent; see
``spectral_layers.data.load_dataset``), ``None`` for the loader's cache (which may download), or
``"synthetic"``: random smooth ``uint8`` images of the dataset's shape generated in-process, for
smoke tests without files or network (not data: the figure says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework import keys, verdicts
from experiments.framework.cli import Experiment, RunContext, check_counts, define, summary_line
from experiments.framework.plotting import (
    BAND,
    censored_note,
    draw_bands,
    figure,
    layer_colors,
    plain_log_y,
    ratio_legend_below,
    suptitle,
)
from experiments.framework.shared import (
    IMAGE_SHAPES,
    SMOKE_DRAWS,
    SYNTHETIC,
    check_depth,
)
from experiments.framework.shared import load_images as load_images_shared
from spectral_layers import contributions as contrib
from spectral_layers import data
from spectral_layers import data_targets as dt
from spectral_layers.empirical import layer_ntk
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network

TARGETS = ("radial", "pc", "eigvec")
CONTRIBUTION_METHODS = ("gram", "gradient")
_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

CAPTION = (
    "Relative contribution c_ℓ/c_(L-1) of each layer for targets of increasing degree on n sampled "
    "images (median over independent image subsets of each subset's ratio of seed-mean contributions, bar: "
    "10–90% of the same subset ratios); "
    "dashed: the infinite-width prediction "
    "on the same points. Radial / principal-component targets: left the paper's targets, right "
    "with their sample mean removed. Kernel eigenvectors: left each network's own empirical-NTK "
    "eigenvectors (the paper's), right the infinite-width NTK's eigenvectors, the same for all "
    "seeds."
)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The data and targets of a real-data protocol (every field but the model)."""

    seed: int = 0  # master seed: draw r uses fold_in(key(seed), r) for its image subset and seeds
    num_draws: int = 8  # independent draws of the n-image subset (module docstring)
    num_seeds: int = 4  # random initialisations nested in each draw
    seed_chunk: int = 2  # seeds per vmapped call
    dataset: str = "mnist"  # "mnist", "fashion_mnist" or "cifar10"
    split: str = "any"  # "train", "test", or "any": train (the paper's) if present, else test
    data_dir: str | None = None  # dataset folder (or parent); None: loader cache; "synthetic": fake
    num_points: int = 1000  # n sampled images for the PCA, targets and Grams (paper App. 14)
    scale_pixels: bool = True  # divide pixels by 255 (irrelevant for ReLU without bias, see above)
    center_inputs: bool = False  # subtract the mean image of the sample (the paper does not)
    standardize: bool = False  # divide each pixel by its std over the sample (with center: z-score)
    normalize: str = "none"  # "none" (paper), "sphere" or "sqrt_dim" (data.preprocess)
    target: str = "radial"  # "radial" (Fig. 3), "pc" (Figs. 5, 7) or "eigvec" (Fig. 6)
    degrees: tuple[int, ...] = tuple(range(1, 9))  # frequencies k, or eigenvalue ranks (1 = top)
    pc_kinds: tuple[str, ...] = ("sin", "cos")  # "pc": sin(k t̃) and/or cos(k t̃), one row each
    radial_center: bool = True  # "radial": radius from the sample mean (False: ‖x‖, Rahaman et al.)
    target_scale: str = "range"  # "range": k periods over the data; "raw": sin(k r), sin(k t)
    agreement: float = (
        verdicts.AGREEMENT
    )  # fraction of draws a verdict needs (experiments.framework.verdicts)

    def __post_init__(self):
        if self.dataset not in IMAGE_SHAPES:
            raise ValueError(f"dataset must be one of {tuple(IMAGE_SHAPES)}, got {self.dataset!r}")
        check_counts(self, "num_draws", "num_seeds", "seed_chunk")
        if self.num_points < 3:
            raise ValueError(f"num_points must be >= 3, got {self.num_points}")
        checks = (
            ("split", data.SPLITS),
            ("normalize", data.NORMALIZATIONS),
            ("target", TARGETS),
            ("target_scale", dt.SCALES),
        )
        for name, choices in checks:
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not self.degrees or min(self.degrees) < 1 or len(set(self.degrees)) != len(self.degrees):
            raise ValueError(
                f"degrees must be a non-empty tuple of distinct integers >= 1, got {self.degrees}"
            )
        if self.target == "eigvec" and max(self.degrees) > self.num_points:
            raise ValueError(
                f"degrees (eigenvalue ranks) must be <= num_points={self.num_points}, "
                f"got {max(self.degrees)}"
            )
        if not 0.5 < self.agreement <= 1:
            raise ValueError(f"agreement must be in (0.5, 1], got {self.agreement}")
        if not self.pc_kinds or any(k not in dt.KINDS for k in self.pc_kinds):
            raise ValueError(
                f"pc_kinds must be a non-empty tuple of {dt.KINDS}, got {self.pc_kinds}"
            )


@dataclasses.dataclass(frozen=True)
class Config(DataConfig):
    """Real-data experiment configuration (defaults: Figure 3, MNIST radial targets)."""

    network: Network = Network(depth=4, width=784)  # noqa: RUF009 (frozen)
    # paper: 4 ReLU layers of width 784, no bias, NTK parameterisation; first layer 1/sqrt(d) (fan_in):
    # unit-order pre-activations for pixels
    contribution_method: str = "gram"  # "gram": yᵀG^(ℓ)y; "gradient": ‖∇_θℓ⟨y, f⟩‖² (not eigvec)

    def __post_init__(self):
        super().__post_init__()
        if self.network.width is None:
            raise ValueError("network.width must be set (the finite networks' hidden width)")
        check_depth(self, "contributions are relative to the last layer")
        if self.contribution_method not in CONTRIBUTION_METHODS:
            raise ValueError(
                f"contribution_method must be one of {CONTRIBUTION_METHODS}, "
                f"got {self.contribution_method!r}"
            )
        if self.target == "eigvec" and self.contribution_method != "gram":
            raise ValueError(
                "contribution_method must be 'gram' for target='eigvec' "
                "(the targets are eigenvectors of the Grams themselves)"
            )

    def model_label(self) -> str:
        """The network, for figure titles and REPORT rows."""
        net = self.network
        param = net.parameterization.upper() if net.parameterization == "ntk" else "standard"
        return (
            f"{net.activation}, L={net.depth}, width {net.width}, {param} param., "
            f"{'bias' if net.use_bias else 'no bias'}"
        )


def load_images(cfg: DataConfig) -> tuple[np.ndarray, str]:
    """All images of the configured split (``uint8``) and the split's name (``framework.shared.load_images``).

    ``split="any"`` asks for the training split first and falls back to the test split with a
    ``DatasetWarning`` (the paper samples training points; the test split is the same
    distribution): ``data.load_dataset`` says which one it read. Synthetic images come from
    ``key(cfg.seed)`` (the draws' subsets from ``fold_in`` of it).
    """
    return load_images_shared(cfg.dataset, cfg.split, cfg.data_dir, cfg.num_points, cfg.seed)


def draw_keys(cfg: DataConfig, draw: int) -> tuple[jax.Array, jax.Array]:
    """``(subset, init)`` keys of draw ``draw``; seed ``s`` of the draw is ``fold_in(init, s)``."""
    k_pick, k_init = keys.draw_keys(cfg.seed, draw, "subset", "init")
    return k_pick, k_init


def draw_points(
    cfg: DataConfig, images: np.ndarray, key: jax.Array
) -> tuple[jax.Array, np.ndarray]:
    """One draw's inputs ``x`` ``(n, D)`` (preprocessed) and their indices in ``images``."""
    indices = np.asarray(data.sample_indices(key, len(images), cfg.num_points))
    x = data.preprocess(
        images[indices],
        scale=cfg.scale_pixels,
        center=cfg.center_inputs,
        standardize=cfg.standardize,
        normalize=cfg.normalize,
    )
    return x, indices


def draw_loop(
    cfg: DataConfig,
    ctx: RunContext,
    one_draw: Callable[[jax.Array, jax.Array], Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Runs ``one_draw(x, k_init)`` for every draw (checkpointed per draw) and stacks the draws.

    Returns ``one_draw``'s arrays with a leading draw axis, ``indices`` ``(D, n)``, ``split`` and
    ``num_available``; ``targets`` (if ``one_draw`` returns them) are kept for draw 0 only (every draw's
    are ``fixed_targets`` of its points: saving all would multiply the results' size by ``D``).
    """
    images, split = load_images(cfg)

    def step(draw_index: np.ndarray) -> dict[str, np.ndarray]:
        (r,) = draw_index
        k_pick, k_init = draw_keys(cfg, int(r))
        x, indices = draw_points(cfg, images, k_pick)
        out = {k: np.asarray(v)[None] for k, v in one_draw(x, k_init).items()}
        return {"indices": indices[None], **out}

    per_draw = ctx.seed_loop(cfg, step, num_seeds=cfg.num_draws, chunk=1, desc="draws")
    if "targets" in per_draw:
        per_draw["targets"] = per_draw["targets"][0]
    return {"split": np.array(split), "num_available": np.array(len(images)), **per_draw}


def seed_chunks(cfg: DataConfig) -> list[np.ndarray]:
    """The seed indices of each vmapped call within a draw."""
    return [
        np.arange(s0, min(s0 + cfg.seed_chunk, cfg.num_seeds))
        for s0 in range(0, cfg.num_seeds, cfg.seed_chunk)
    ]


def stack_chunks(parts: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenates per-chunk arrays along the seed axis."""
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def panel_labels(cfg: Config, *, tex: bool = True) -> list[list[str]]:
    """Titles of the figure's panels, rows × columns (the results' panel axis flattens them).

    ``tex=False`` gives plain-text labels (REPORT.md).
    """
    if cfg.target == "eigvec":
        inf = r"$\infty$" if tex else "∞"
        return [["own empirical-NTK eigenvectors (paper)", f"{inf}-width NTK eigenvectors"]]
    if cfg.target == "radial":
        # What is computed (data_targets.radial_sinusoid): r = ‖x − x̄‖ (radial_center) or ‖x‖,
        # rescaled to [0, 2π] (target_scale="range") or not; the paper's target is sin(k‖x‖).
        radius = r"\|x-\bar x\|" if cfg.radial_center else r"\|x\|"
        plain_radius = "‖x − x̄‖" if cfg.radial_center else "‖x‖"
        if cfg.target_scale == "range":
            name = (
                rf"$\sin(k\tilde r)$, $\tilde r$: ${radius}$ on $[0, 2\pi]$"
                if tex
                else f"sin(k r̃), r̃: {plain_radius} rescaled to [0, 2π]"
            )
        else:
            name = rf"$\sin(k{radius})$" if tex else f"sin(k{plain_radius})"
        paper = not cfg.radial_center and cfg.target_scale != "range"
        target = r"$\sin(k\|x\|)$" if tex else "sin(k‖x‖)"
        first = f"{name} (paper)" if paper else f"{name}{chr(10) if tex else ' '}(paper: {target})"
        return [[first, f"{name}, mean removed"]]
    names = [f"$\\{kind}(k\\tilde t)$" if tex else f"{kind}(k t̃)" for kind in cfg.pc_kinds]
    return [[f"{name} along PC 1 (paper)", f"{name}, mean removed"] for name in names]


def fixed_targets(cfg: Config, x: jax.Array) -> jax.Array:
    """Targets ``(P, K, n)`` of ``radial`` / ``pc``, unit norm; panels as in ``panel_labels``.

    Unit norm changes no ratio; the second panel of each row is the target minus its sample mean.
    """
    if cfg.target == "radial":
        families = [
            [
                dt.radial_sinusoid(x, k, center=cfg.radial_center, scale=cfg.target_scale)
                for k in cfg.degrees
            ]
        ]
    else:
        pc = dt.first_principal_component(x)
        families = [
            [
                dt.principal_component_sinusoid(x, k, kind=kind, pc=pc, scale=cfg.target_scale)
                for k in cfg.degrees
            ]
            for kind in cfg.pc_kinds
        ]
    panels = []
    for ys in families:
        y_raw = jnp.stack(ys)
        panels += [y_raw, y_raw - y_raw.mean(axis=1, keepdims=True)]
    y = jnp.stack(panels)
    norms = jnp.linalg.norm(y, axis=-1, keepdims=True)
    if bool((norms <= 1e-8 * jnp.sqrt(y.shape[-1])).any()):
        raise ValueError(
            "a target is (numerically) zero on the sample, e.g. constant before its "
            "mean is removed; change target_scale or the preprocessing"
        )
    return y / norms


def run(cfg: Config, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Every draw: finite-width contributions over its seeds and the infinite-width prediction."""
    ctx = ctx or RunContext("realdata", progress=False)
    return {"degrees": np.asarray(cfg.degrees), **draw_loop(cfg, ctx, partial(one_draw, cfg, ctx))}


def one_draw(
    cfg: Config, ctx: RunContext, x: jax.Array, k_init: jax.Array
) -> dict[str, np.ndarray]:
    """One draw's contributions ``(S, P, K, L)``, infinite-width forms ``(P, K, L)`` and targets."""
    in_dim = x.shape[1]
    apply_fn, _ = cfg.network.init(k_init, in_dim)
    kernels = infinite_layer_ntk(x, network=cfg.network)
    ranks = [k - 1 for k in cfg.degrees]
    if cfg.target == "eigvec":
        v_inf, lam_inf = dt.kernel_eigenvectors(
            sum(kernels.values()), ranks, return_eigenvalues=True
        )
        y_inf = v_inf.T  # (K, n)
        q_inf = contrib.stack_layers(contrib.gram_forms(kernels, y_inf))  # (K, L)
        parts = []
        for seed_indices in seed_chunks(cfg):
            _, params = cfg.network.init_seeds(k_init, 0, in_dim, seed_indices=seed_indices)
            grams = ctx.gather(layer_ntk(apply_fn, params, x, stacked=True, mesh=ctx.mesh))
            full = sum(grams.values())
            own, lams = [], []
            for s in range(len(seed_indices)):
                v, lam = dt.kernel_eigenvectors(full[s], ranks, return_eigenvalues=True)
                own.append(
                    contrib.stack_layers(
                        contrib.gram_forms({n: g[s] for n, g in grams.items()}, v.T)
                    )
                )
                lams.append(np.asarray(lam))
            fixed = contrib.stack_layers(contrib.gram_forms(grams, y_inf))  # (s, K, L)
            parts.append(
                {
                    "contributions": np.stack([np.stack(own), fixed], axis=1),
                    "eigenvalues": np.stack(lams),
                }
            )
        return {
            **stack_chunks(parts),
            "infinite": np.stack([q_inf, q_inf]),
            "eigenvalues_infinite": np.asarray(lam_inf),
            "targets": np.asarray(y_inf)[None],
        }
    y = fixed_targets(cfg, x)  # (P, K, n)
    num_p, num_k = y.shape[:2]
    y_flat = y.reshape(num_p * num_k, -1)
    q_inf = contrib.stack_layers(contrib.gram_forms(kernels, y_flat))
    parts = []
    for seed_indices in seed_chunks(cfg):
        _, params = cfg.network.init_seeds(k_init, 0, in_dim, seed_indices=seed_indices)
        if cfg.contribution_method == "gram":
            c = contrib.gram_forms(
                ctx.gather(layer_ntk(apply_fn, params, x, stacked=True, mesh=ctx.mesh)), y_flat
            )
        else:
            c = ctx.gather(
                contrib.layer_contributions(
                    apply_fn, params, x, y_flat, stacked=True, mesh=ctx.mesh
                )
            )
        c = contrib.stack_layers(c)  # (s, P·K, L)
        parts.append({"contributions": c.reshape(len(seed_indices), num_p, num_k, -1)})
    return {
        **stack_chunks(parts),
        "infinite": q_inf.reshape(num_p, num_k, -1),
        "targets": np.asarray(y),
    }


def draw_ratios(c: np.ndarray) -> np.ndarray:
    """Each draw's ratios of its seed-mean contributions ``c`` ``(D, S, …, L)`` to the last layer's:
    ``(D, …, L)`` (``experiments.framework.verdicts``: why not the mean of per-seed ratios)."""
    return contrib.layer_ratios(verdicts.draw_means(c))


def panel_ratios(results, cfg: Config) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(panel names, finite (P, D, K, L-1), ∞-width (P, D, K, L-1))``: the per-draw ratios of every panel
    (``Experiment.panel_ratios``)."""
    labels = [t for row in panel_labels(cfg, tex=False) for t in row]
    rel = draw_ratios(results["contributions"])[..., :-1]  # (D, P, K, L-1)
    inf = contrib.layer_ratios(results["infinite"])[..., :-1]
    return labels, np.moveaxis(rel, 1, 0), np.moveaxis(inf, 1, 0)


def preprocessing_label(cfg: Config) -> str:
    """How the inputs were preprocessed, in words (figure title)."""
    steps = ["flattened"] if hasattr(cfg, "network") else []  # an MLP reads vectors, a CNN images
    steps.append("pixels/255" if cfg.scale_pixels else "raw pixels")
    if cfg.center_inputs:
        steps.append("centred")
    if cfg.standardize:
        steps.append("per-pixel std 1")
    if cfg.normalize != "none":
        steps.append({"sphere": "unit norm", "sqrt_dim": "norm √D"}[cfg.normalize])
    return ", ".join(steps)


def plot(results, cfg: Config):
    """One panel per target variant (``panel_labels``): relative contributions vs degree."""
    from matplotlib import ticker

    labels = panel_labels(cfg)
    nrows, ncols = len(labels), len(labels[0])
    fig, axes = figure(
        ncols, nrows, aspect=0.8, sharey=True, sharex=True, columns=2, extra_height=0.9
    )
    degrees = results["degrees"]
    per_draw = draw_ratios(results["contributions"])  # (D, P, K, L)
    inf_all = contrib.layer_ratios(results["infinite"])  # (D, P, K, L)
    num_layers = per_draw.shape[-1]
    colors = layer_colors(num_layers)
    log_x = degrees.max() / degrees.min() >= 20
    notes = {}
    for p, ax in enumerate(axes.ravel()):
        title = labels[p // ncols][p % ncols]
        counts = draw_bands(ax, degrees, per_draw[:, p], inf_all[:, p], colors, log_x=log_x)
        notes[title] = censored_note(degrees, counts, per_draw.shape[0])
        ax.axhline(1.0, color="0.5", lw=0.6, ls="-", zorder=1)
        ax.set_yscale("log")
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(title)
    plain_log_y(axes)
    for ax in axes[-1]:
        ax.set_xlabel("eigenvalue rank" if cfg.target == "eigvec" else "degree $k$")
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$c_\ell / c_{L-1}$")
    has_inf = not np.isnan(inf_all).all()  # no infinite-width curve for a model without its kernel
    num_draws, num_seeds = results["contributions"].shape[:2]
    split = str(results["split"])
    suptitle(
        fig,
        f"{_TITLES[cfg.dataset]} ({split}"
        f"{', NOT DATA' if split == SYNTHETIC else ' split'}), n={cfg.num_points}, "
        f"{preprocessing_label(cfg)}; {cfg.model_label()}; line: median over {num_draws} image "
        f"subsets (each the ratio of its {num_seeds} seeds' mean contributions), bar: "
        f"{BAND[0]}–{BAND[1]}% of the same subset ratios",
    )
    ratio_legend_below(fig, colors, num_layers, notes, infinite=has_inf)
    return fig


def summarize(results, cfg: Config) -> list[dict]:
    """REPORT rows: the paper's claims per panel under ``experiments.framework.verdicts``' rule (with the
    infinite-width verdict on the same draws), and the finite- vs infinite-width match."""
    rows = []
    labels = [t for row in panel_labels(cfg, tex=False) for t in row]
    rel = draw_ratios(results["contributions"])[..., :-1]  # (D, P, K, L-1)
    inf = contrib.layer_ratios(results["infinite"])[..., :-1]  # (D, P, K, L-1)
    for p, label in enumerate(labels):
        has_inf = not np.isnan(inf[:, p]).all()  # no infinite-width kernel for a CNN
        rows += verdicts.claim_rows(
            rel[:, p],
            results["degrees"],
            label,
            expected="paper: holds (§6.3, §5.6)",
            agreement=cfg.agreement,
            reference=inf[:, p] if has_inf else None,
        )
        if not has_inf:
            continue
        dev = verdicts.nanmedian(np.nanmax(np.abs(rel[:, p] / inf[:, p] - 1), axis=(1, 2)))
        rows.append(
            {
                "check": f"finite vs ∞-width ratio on the same points ({label}): max over (layer, "
                "degree) of |draw ratio/∞ − 1|, median over draws",
                "measured": f"{dev:.2g}",
                "expected": f"small for {cfg.model_label()} (O(1/width) corrections)",
                "verdict": "agrees (< 20%)" if dev < 0.2 else "finite-width deviation > 20%",
            }
        )
    return rows


SMOKE = {
    "data_dir": SYNTHETIC,
    **SMOKE_DRAWS,
}
"""Smoke-scale overrides shared by the real-data experiments (seconds, synthetic images; the tests)."""

PAPER = {"num_draws": 8, "num_seeds": 20, "network.width": 784}
"""Paper-scale overrides shared by the real-data experiments (paper App. 14: width 784, 20 seeds)."""


# ------------------------------------------------------------------------------------------------
# model="cnn": Figure 7's protocol with a small convolutional network


CNN_DOC = """Beyond the paper: Figure 7's protocol (CIFAR-10, sin/cos along PC 1) with a small convolutional network.

Question: does the layer-wise spectral bias of the MLPs (early layers contribute relatively more to
high-frequency targets) hold in a convolutional network? Protocol of ``fig7_cifar_pc``
(``experiments.protocols.realdata``: n CIFAR-10 images, pixels ÷ 255, targets ``sin(k t̃)`` / ``cos(k t̃)`` along the
first principal component of the sample, with and without their sample mean), on a linen CNN written as a
user would write it: ``len(channels)`` convolutions ``kernel_size × kernel_size`` with stride ``stride``,
SAME padding and ReLU, then a dense readout of the flattened features; no bias; Flax's default
initialisation (LeCun normal, the standard parameterisation). The per-layer Grams ``G^(ℓ)`` come from
``layer_ntk`` on the images ``(n, 32, 32, 3)`` (the structured engine: patch identity or per-example
gradients for each convolution, no Jacobian), the layers in call order ``Conv_0 … Dense_0``; contributions
``c_ℓ = yᵀ G^(ℓ) y`` relative to the readout, over ``num_draws`` independent subsets of images with
``num_seeds`` initialisations nested in each (median over draws, 10–90% band; verdicts by the rule of
``experiments.framework.verdicts``).

No infinite-width curve: the package has no infinite-width CNN kernels (neural-tangents has them, but no
core path depends on it); the saved ``infinite`` array is NaN.

Precision: float32 by default (``--x64`` for float64). XLA's CPU convolutions in float64 are far slower
and, vmapped over seeds, need far more memory at n = 1000; relative contributions need no more than
float32's 7 digits. Seeds go one at a time (``seed_chunk = 1``) for the same memory reason.

Default scale: n = 1000, channels 32, 32, 32, 8 draws × 4 seeds.
Runtimes and results: ``figures/REPORT.md`` (generated).
"""

CNN_CAPTION = (
    "Relative contribution c_ℓ/c_(L-1) of each layer of a small CNN (three 3×3 stride-2 convolutions and a "
    "dense readout) for sin/cos targets along the first principal component of CIFAR-10 images (median over "
    "independent image subsets, bar: 10–90% of the same subset ratios); left the paper's targets, "
    "right with their sample mean removed. "
    "No infinite-width curve (no infinite-width CNN kernels in the package)."
)


@dataclasses.dataclass(frozen=True)
class CNNConfig(DataConfig):
    """CNN configuration (``model="cnn"``): the data and targets of ``DataConfig`` (Figure 7) and the CNN."""

    seed_chunk: int = 1  # seeds per call (one: bounded memory, see the module docstring)
    dataset: str = "cifar10"  # images (n, H, W, C); CIFAR-10 as in Figure 7
    target: str = "pc"  # "pc" (Fig. 7) or "radial"; "eigvec" is not offered here
    channels: tuple[int, ...] = (32, 32, 32)  # output channels of the convolutions, in call order
    kernel_size: int = 3  # convolution window (kernel_size × kernel_size)
    stride: int = 2  # stride of every convolution (SAME padding)

    def __post_init__(self):
        super().__post_init__()
        if self.target == "eigvec":
            raise ValueError(
                "target must be 'pc' or 'radial' for the CNN (no infinite-width kernel)"
            )
        if self.dataset != "cifar10":
            raise ValueError(
                f"dataset must be 'cifar10' (images with channels), got {self.dataset!r}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be positive integers, got {self.channels}")
        check_counts(self, "kernel_size", "stride")

    def model_label(self) -> str:
        """The network, for figure titles and REPORT rows."""
        k, s = self.kernel_size, self.stride
        return (
            f"CNN: {len(self.channels)} conv {k}×{k}/{s} ({', '.join(map(str, self.channels))} "
            "channels) + dense readout, ReLU, no bias, Flax default init"
        )


class CNN(nn.Module):
    """Convolutions with ReLU, then a dense readout to one output (the module docstring's network)."""

    channels: tuple[int, ...]
    kernel_size: int
    stride: int

    @nn.compact
    def __call__(self, x):
        k = (self.kernel_size, self.kernel_size)
        for c in self.channels:
            x = nn.relu(nn.Conv(c, k, strides=self.stride, padding="SAME", use_bias=False)(x))
        return nn.Dense(1, use_bias=False)(x.reshape(x.shape[0], -1))[:, 0]


def run_cnn(cfg: CNNConfig, ctx: RunContext | None = None) -> dict[str, np.ndarray]:
    """Contributions of every layer of the CNN over draws and initialisations (``CNN_DOC``)."""
    ctx = ctx or RunContext("cnn_cifar_pc", progress=False)
    model = CNN(tuple(cfg.channels), cfg.kernel_size, cfg.stride)

    def apply_fn(params, inputs):
        return model.apply({"params": params}, inputs)

    def one_draw(x: jax.Array, k_init: jax.Array) -> dict[str, np.ndarray]:
        images = x.reshape(x.shape[0], *IMAGE_SHAPES[cfg.dataset])  # x: (n, 3072)
        y = fixed_targets(cfg, x)  # (P, K, n), unit norm
        num_p, num_k = y.shape[:2]
        y_flat = y.reshape(num_p * num_k, -1)
        init = jax.jit(jax.vmap(lambda s: model.init(jax.random.fold_in(k_init, s), images[:1])))
        parts = []
        for seed_indices in seed_chunks(cfg):
            params = init(jnp.asarray(seed_indices))["params"]
            grams = ctx.gather(layer_ntk(apply_fn, params, images, stacked=True, mesh=ctx.mesh))
            c = contrib.stack_layers(contrib.gram_forms(grams, y_flat))  # (s, P·K, L)
            parts.append({"contributions": c.reshape(len(seed_indices), num_p, num_k, -1)})
        finite = stack_chunks(parts)
        num_layers = finite["contributions"].shape[-1]
        # no infinite-width CNN kernel here: NaN (the figure and REPORT leave it out)
        return {**finite, "infinite": np.full((num_p, num_k, num_layers), np.nan), "targets": y}

    return {"degrees": np.asarray(cfg.degrees), **draw_loop(cfg, ctx, one_draw)}


CNN_SCALES = {
    "default": {},
    "smoke": {
        "data_dir": SYNTHETIC,
        "num_draws": 2,
        "num_seeds": 2,
        "seed_chunk": 1,
        "num_points": 48,
        "channels": (4, 4),
        "degrees": (1, 2, 3),
    },
    "paper": {"num_draws": 8, "num_seeds": 20},
}
"""Scales of the CNN protocol (``experiment(..., model="cnn")``)."""

MODELS = ("mlp", "cnn")


def experiment(
    name: str, doc: str, setting: dict, *, smoke: dict | None = None, model: str = "mlp"
) -> Experiment:
    """The ``Experiment`` of a real-data figure.

    ``setting`` (e.g. ``{"dataset": "mnist", "target": "pc"}``) applies at every scale, on top of the shared
    ``SMOKE`` (``smoke`` adds to it) and ``PAPER`` overrides. ``model="cnn"`` runs the protocol on the
    convolutional network of ``CNN_DOC`` (``CNNConfig``, ``run_cnn``, scales ``CNN_SCALES`` with ``setting``
    on top; float32 by default); ``"mlp"`` on the MLP of ``Config``.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model == "cnn":
        namespace = {
            "Config": CNNConfig,
            "run": run_cnn,
            "plot": plot,
            "summarize": summarize,
            "CAPTION": CNN_CAPTION,
        }
        return define(
            name,
            namespace,
            scales={k: {**v, **setting} for k, v in CNN_SCALES.items()},
            x64_default=False,
            description=summary_line(doc),
        )
    return define(
        name,
        globals(),
        scales={
            "default": dict(setting),
            "smoke": {**setting, **SMOKE, **(smoke or {})},
            "paper": {**setting, **PAPER},
        },
        description=summary_line(doc),
    )
