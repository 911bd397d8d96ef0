"""Training across widths: kernel movement, the kernel prediction's error, and the layer-wise bias.

Command::

    python -m experiments.training_width [--scale smoke|default|paper] [--out figures/]

Scales: smoke (depth 2, three widths) is nearly all compilation; default (widths 16 … 2048 in
octaves, n = 200, degrees 1–3, 200 steps, 8 data draws × 1 initialisation, training in float32;
the single-layer runs and the contrast only at widths ≤ 256) is for a CPU; paper (widths 64 … 8192,
n = 500, degrees 1–4, 2000 steps, 8 draws × 1 initialisation) is meant for a GPU
(``benchmarks/device_check.sh``). Runtimes and results: ``figures/REPORT.md`` (generated).

Cost. Full-batch gradient descent is the cost: ``O(steps · n · m²)`` per network, so the widest
width dominates (width 2048 costs 4× width 1024). Kernel tracking forms every layer's ``n × n``
Gram at the ``num_logs + 1`` logged steps only (``training.train_layers(track=True)``): ``O(n² m)``
per logged step against ``O(n m²)`` per descent step, so the descent dominates once ``m > n``.
Training runs in ``dtype`` (default float32): the movement, contributions and ratios compared here
are ≥ 10⁻² in relative size, far above float32 rounding (the analysis after training is float64).

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
  layer's Gram at the end of the all-layers run. Lee et al. (2019, Theorem 2.1) bound it by
  ``O(m^{-1/2})``; the change of the NTK during training itself scales as ``1/m`` (Dyer & Gur-Ari
  2019; Huang & Yau 2020; ``docs/theory.md`` §10), and this is the rate expected in the widest
  octaves. ``movement`` ``(W, draws, seeds, runs, L)`` holds it
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
  seeds) against ``log m`` (``estimators.loglog_slope``).
* Per-octave rates: ``octave_slopes`` ``(W−1, L)``, the local slope of the median movement between
  consecutive widths (``estimators.octave_slopes``), and ``octave_slopes_networks``
  ``(W−1, draws·seeds, L)``, the same for each network index (draw, seed) followed from one width to
  the next (the figure's band: its 10–90% range, over data draws and initialisations).
* ``tail_fit`` ``(L, 2)``: ``(slope, intercept)`` of the median movement over the widest
  ``tail_octaves`` octaves; ``crossing_measured`` ``(L,)``: the width at which the median movement
  falls below ``level`` for good (``estimators.level_crossing``, log-log interpolation; inf: not
  within the widths; NaN: below at every width), and ``crossing_fit`` ``(L,)`` the same from the tail
  fit (``estimators.power_law_crossing``).

The single-layer runs and the contrast are made only at widths ``<= all_runs_max_width`` (their
arrays are NaN at wider widths; their slopes are fitted over the widths where they exist).

Runs (``run_names``): ``layer_0 … layer_{L−1}`` alone, ``all``, ``all_large_lr`` (the contrast).

Verdict rule (``summarize``) for "does training keep early layers' bias toward high frequencies?",
for two claims of ``experiments.framework.verdicts`` about layer 0's ratio ``c̄_0/c̄_{L−1}`` (of the
contributions averaged over the draw's seeds, ``draw_ratios``): claim A, it increases strictly from
each degree to the next; claim D, it is larger at the highest degree than at the lowest (tolerates
dips in between). A claim holds at a width if it holds for the median over draws (of the per-draw
ratios) and in at least 80% of the draws; training keeps it if it holds at initialisation and still
holds at the end of training. Per width regime: *wide* are the widths of the widest ``tail_octaves``
octaves (where the movement rates are fitted), *narrow* the others; a regime's verdict is the common
per-width verdict, or "mixed" with the per-width list.

Real data (``PCConfig``, registered as ``training_width_mnist``; issue 23). The same widths, draws,
training, tracking and verdict rule on images: each draw samples ``n`` images of ``dataset`` (MNIST;
``data_dir`` and ``split`` as in the real-data figures), divides the pixels by 255 and scales each
image to unit norm (``data.preprocess(normalize="sphere")``), so the inputs lie on a sphere as in the
sphere protocol (for a bias-free ReLU network, scaling the inputs by ``α`` is the same as scaling the
target by ``1/α`` at the same ``η λ_max``, which changes how far training moves the kernel: the unit
norm keeps the sphere protocol's scale). The target components are ``cos(k t̃)`` (``pc_kind``) at the
frequencies ``degrees = (1, 2, 4, 8)``, ``t̃`` the projection on the sample's first principal
component mapped onto ``[−π, π]`` (Figure 5's target, ``data_targets.principal_component_sinusoid``),
each with its sample mean removed (Figure 5's right column: an uncentred target's mean pulls its
ratio down erratically), made orthogonal on the sample in frequency order and scaled to root mean
square ``target_rms`` (``framework.shared.orthogonal_components``, as on the sphere). ``cos`` rather
than Figure 5's first row ``sin``: in the committed Figure 5 (mean removed), layer 0's median ratio
at k = 1, 2, 4, 8 increases for ``cos`` (0.94, 1.72, 2.27, 2.48) and not for ``sin`` (1.20, 1.07,
1.88, 2.12), and whether training keeps a bias needs one at initialisation.

Figure: (a) median kernel movement of every layer against width (all layers trained; band:
10–90% range over draws × seeds), with the ``1/m`` theory line of each layer through its
median at the widest width (dotted, in the layer's colour), a grey ``m^{-1/2}`` guide, the level
``level`` and the fitted crossings; (b) the per-octave slopes (median and 10–90% range over draws × seeds;
references −1/2 and −1); (c) prediction error of each run against width; (d, e) ``c_ℓ/c_{L−1}`` per
degree at initialisation (solid) and after training (dashed; dotted: contrast) at the smallest and
largest width; (f) the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import warnings
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework import keys, verdicts
from experiments.framework.cli import RunContext, check_counts
from experiments.framework.plotting import (
    ALL_LAYERS_COLOR,
    BAND,
    layer_colors,
    new_figure,
    plain_log_y,
    suptitle,
)
from experiments.framework.shared import (
    IMAGE_SHAPES,
    SYNTHETIC,
    check_training_config,
    load_images,
    orthogonal_components,
    stability_row,
    target_components,
)
from spectral_layers import contributions as contrib
from spectral_layers import data, estimators
from spectral_layers import data_targets as dt
from spectral_layers import training as tr
from spectral_layers.empirical import layer_ntk
from spectral_layers.estimators import loglog_slope
from spectral_layers.infinite import infinite_layer_ntk
from spectral_layers.models import Network

CAPTION = (
    "Training across widths (Figure 4's protocol): (a) relative movement ‖G_ℓ(T) − G_ℓ(0)‖_F/‖G_ℓ(0)‖_F "
    "of each layer's kernel when all layers train, against width (median and 10–90% range over "
    "data draws × initialisations; dotted: the 1/m rate of the change of the NTK during training, "
    "through each layer's widest point; grey: m^{-1/2}; x: where the fit over the widest octaves "
    "crosses the level), (b) the local slope per octave (median, 10–90% range), (c) relative error of the "
    "kernel-at-initialisation prediction of the residual (dashed in a: a learning rate above the "
    "stability bound). (d, e) layer contributions relative to the last layer per degree, at "
    "initialisation (solid) and after training (dashed; dotted: large learning rate)."
)

ALL_LAYERS = "all"
CONTRAST = "all_large_lr"


@dataclasses.dataclass(frozen=True)
class Config:
    """Training-across-widths configuration (defaults: default scale)."""

    seed: int = 0  # master seed: draw d uses fold_in(key(seed), d) (module docstring)
    num_draws: int = 8  # independent data draws (points and centres)
    num_seeds: int = 1  # initialisations per draw (nested inside each draw)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048)  # hidden widths m (octaves)
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
    dtype: str = "float32"  # dtype of the training and tracking ("float32" or "float64")
    all_runs_max_width: int = 256  # single-layer runs and the contrast only at widths <= this
    tail_octaves: int = 2  # the widest octaves: the "wide" regime and the fit of the crossings
    level: float = 0.1  # movement level whose crossing width is reported (measured and fitted)

    def __post_init__(self):
        for w in self.widths:
            self.network.replace(width=w).spec(self.dim)
        if len(self.widths) < 2 or any(b <= a for a, b in itertools.pairwise(self.widths)):
            raise ValueError(
                f"widths must be at least two strictly increasing integers, got {self.widths}"
            )
        check_counts(
            self, "num_draws", "num_seeds", "num_points", "num_centers", "steps", "num_logs"
        )
        if self.num_logs > self.steps:
            raise ValueError(f"num_logs must be <= steps={self.steps}, got {self.num_logs}")
        check_training_config(self, at_least_two_degrees=True, sphere_targets=self.sphere_targets)
        if self.lr_reference not in ("empirical", "infinite"):
            raise ValueError(
                f"lr_reference must be 'empirical' or 'infinite', got {self.lr_reference!r}"
            )
        if not (isinstance(self.contrast_lr_factor, int | float) and self.contrast_lr_factor > 0):
            raise ValueError(
                f"contrast_lr_factor must be a positive number, got {self.contrast_lr_factor!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if not (
            isinstance(self.all_runs_max_width, int) and self.all_runs_max_width >= self.widths[0]
        ):
            raise ValueError(
                f"all_runs_max_width must be an integer >= the smallest width {self.widths[0]}, "
                f"got {self.all_runs_max_width!r}"
            )
        if not (isinstance(self.tail_octaves, int) and 1 <= self.tail_octaves < len(self.widths)):
            raise ValueError(
                f"tail_octaves must be an integer in [1, {len(self.widths) - 1}] (fewer than the "
                f"widths), got {self.tail_octaves!r}"
            )
        if not (isinstance(self.level, int | float) and self.level > 0):
            raise ValueError(f"level must be a positive number, got {self.level!r}")

    sphere_targets: ClassVar[bool] = True  # Gegenbauer components on the sphere (PCConfig: False)
    target_axis: ClassVar[str] = "degree"  # what indexes the target components (figure, REPORT)

    def draw_data(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One data draw: points ``x`` ``(n, d)`` on ``S^{d−1}`` and the components ``(K, n)``."""
        return target_components(self, key)

    def data_label(self) -> str:
        """The data and targets, for the figure's title."""
        return f"$S^{{{self.dim - 1}}}$ (d = {self.dim}), Gegenbauer degrees"


@dataclasses.dataclass(frozen=True)
class PCConfig(Config):
    """The same protocol on real images (issue 23): MNIST digits, targets along their first principal
    component (``training_width_mnist``; module docstring, "Real data").

    ``dim`` is not used (the inputs are the flattened images).
    """

    degrees: tuple[int, ...] = (1, 2, 4, 8)  # frequencies k of the components (increasing)
    dataset: str = "mnist"  # "mnist", "fashion_mnist" or "cifar10" (spectral_layers.data)
    split: str = "any"  # "train", "test" or "any" (train if present, else test)
    data_dir: str | None = None  # dataset folder (or parent); None: loader cache; "synthetic": fake
    pc_kind: str = "cos"  # components cos(k t̃) ("sin": sin(k t̃)), t̃: PC 1 projection on [−π, π]

    sphere_targets: ClassVar[bool] = False
    target_axis: ClassVar[str] = "frequency"

    def __post_init__(self):
        super().__post_init__()
        if self.dataset not in IMAGE_SHAPES:
            raise ValueError(f"dataset must be one of {tuple(IMAGE_SHAPES)}, got {self.dataset!r}")
        if self.split not in data.SPLITS:
            raise ValueError(f"split must be one of {data.SPLITS}, got {self.split!r}")
        if self.pc_kind not in dt.KINDS:
            raise ValueError(f"pc_kind must be one of {dt.KINDS}, got {self.pc_kind!r}")
        if min(self.degrees) < 1:
            raise ValueError(f"degrees (frequencies) must be >= 1, got {self.degrees}")

    def draw_data(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One data draw: ``n`` images (pixels / 255, each scaled to unit norm) and the components
        ``(K, n)``: ``pc_kind(k t̃)`` with its sample mean removed, Gram–Schmidt in frequency order, each
        of root mean square ``target_rms`` (module docstring, "Real data")."""
        images, _ = load_images(self.dataset, self.split, self.data_dir, self.num_points, self.seed)
        indices = np.asarray(data.sample_indices(key, len(images), self.num_points))
        x = data.preprocess(images[indices], scale=True, normalize="sphere")
        pc = dt.first_principal_component(x)
        ys = []
        for k in self.degrees:
            y = dt.principal_component_sinusoid(x, k, kind=self.pc_kind, pc=pc, scale="range")
            ys.append(y - jnp.mean(y))
        return x, orthogonal_components(ys, self.target_rms, x.dtype)

    def data_label(self) -> str:
        """The data and targets, for the figure's title."""
        name = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
        synthetic = ", SYNTHETIC IMAGES (not data)" if self.data_dir == SYNTHETIC else ""
        return (
            f"{name[self.dataset]} (unit-norm images{synthetic}), "
            rf"$\{self.pc_kind}(k\tilde t)$ along PC 1, mean removed"
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
    x, y_comps = cfg.draw_data(k_data)
    y_star = jnp.sum(y_comps, axis=0)
    n = cfg.num_points
    every = cfg.steps // cfg.num_logs
    steps = tr.logged_steps(cfg.steps, every)

    apply_fn, params = cfg.network.replace(width=width).init_seeds(
        k_init, cfg.num_seeds, x.shape[1]
    )
    dtype = jnp.dtype(cfg.dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    x, y_comps, y_star = x.astype(dtype), y_comps.astype(dtype), y_star.astype(dtype)
    grams = layer_ntk(apply_fn, params, x, stacked=True)  # G(0) per layer, (s, n, n)
    layers = list(grams)
    names = run_names(layers)
    made = names if width <= cfg.all_runs_max_width else [ALL_LAYERS]
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
        if name not in made:  # NaN placeholders of the runs not made at this width
            s, L, T = cfg.num_seeds, len(layers), len(steps)
            for k, shape in (
                ("movement", (s, L)),
                ("prediction_error", (s,)),
                ("stability", (s,)),
                ("losses", (s, T)),
                ("learning_rates", (s,)),
            ):
                out[k].append(np.full(shape, np.nan))
            if name == CONTRAST:
                k = len(y_comps)
                tracked[name] = types.SimpleNamespace(
                    movement=np.full((s, T, L), np.nan),
                    contributions=np.full((s, T, k, L), np.nan),
                    alignment=np.full((s, T, L), np.nan),
                    ntk_alignment=np.full((s, T), np.nan),
                )
            continue
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
        e = res.outputs - y_star[None, None, :]  # (s, T, n)
        e_pred = np.stack(
            [tr.predict_residuals(g0[i], e[i, 0], float(lr[i]), steps) for i in range(len(lr))]
        )
        out["movement"].append(np.asarray(movement))
        out["prediction_error"].append(prediction_error(e_pred, e))
        out["stability"].append(lr * lam_emp / n)
        out["losses"].append(np.asarray(res.losses))
        out["learning_rates"].append(lr)
    # (s, runs, ...), float64 for the analysis whatever the training dtype
    result = {k: np.stack([np.asarray(a, np.float64) for a in v], axis=1) for k, v in out.items()}
    both = [tracked[ALL_LAYERS], tracked[CONTRAST]]
    for field in ("contributions", "alignment", "ntk_alignment"):
        result[field] = np.stack([np.asarray(getattr(t, field), np.float64) for t in both], axis=1)
    result["movement_trajectory"] = np.asarray(tracked[ALL_LAYERS].movement, np.float64)
    result["steps"] = steps
    result["run_names"] = np.asarray(names)
    return result


SCALES = {
    "default": {},
    "smoke": {
        "num_draws": 2,
        "num_seeds": 2,
        "widths": (8, 16, 32),
        "all_runs_max_width": 16,  # the widest width runs only all layers (NaN elsewhere)
        "tail_octaves": 1,
        "network.depth": 2,  # fewer runs, fewer compilations (smoke time is nearly all compilation)
        "num_points": 80,
        "steps": 6,
        "num_logs": 3,
    },
    "paper": {
        "num_draws": 8,
        "num_seeds": 1,
        "widths": (64, 128, 256, 512, 1024, 2048, 4096, 8192),
        "all_runs_max_width": 1024,
        "num_points": 500,
        "degrees": (1, 2, 3, 4),
        "steps": 2000,
        "num_logs": 20,
    },
}
"""Overrides per scale (``framework.cli.register``)."""

PC_SCALES = {
    "default": {},
    "smoke": {**SCALES["smoke"], "data_dir": SYNTHETIC, "degrees": (1, 2)},
    "paper": {k: v for k, v in SCALES["paper"].items() if k != "degrees"},
}
"""Overrides per scale of ``training_width_mnist`` (``PCConfig``; smoke: synthetic images)."""


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
    results.update(movement_rates(widths, results["kernel_movement"], cfg.tail_octaves, cfg.level))
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


def movement_rates(
    widths: np.ndarray, movement: np.ndarray, tail_octaves: int, level: float
) -> dict[str, np.ndarray]:
    """Per-octave slopes, the tail fit and the level crossings of ``movement`` ``(W, D, S, L)``.

    Returns (module docstring): ``octave_slopes`` ``(W−1, L)`` of the median over draws and seeds;
    ``octave_slopes_networks`` ``(W−1, D·S, L)`` per network index; ``tail_fit`` ``(L, 2)``;
    ``crossing_measured`` and ``crossing_fit`` ``(L,)``.
    """
    widths = np.asarray(widths, dtype=float)
    mv = np.asarray(movement, dtype=float)
    med = np.median(mv, axis=(1, 2))  # (W, L)
    per_net = mv.reshape(mv.shape[0], -1, mv.shape[-1])  # (W, D·S, L)
    tail = slice(len(widths) - tail_octaves - 1, None)
    fits = np.array([loglog_slope(widths[tail], med[tail, i]) for i in range(med.shape[1])])
    return {
        "octave_slopes": estimators.octave_slopes(widths, med.T).T,
        "octave_slopes_networks": np.moveaxis(
            estimators.octave_slopes(widths, np.moveaxis(per_net, 0, -1)), -1, 0
        ),
        "tail_fit": fits,
        "crossing_measured": np.array(
            [estimators.level_crossing(widths, med[:, i], level) for i in range(med.shape[1])]
        ),
        "crossing_fit": np.array([estimators.power_law_crossing(a, b, level) for a, b in fits]),
    }


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
    per_draw: np.ndarray, layer: int = 0, claim: str = "A"
) -> tuple[list[tuple[str, float]], np.ndarray]:
    """A claim of ``experiments.framework.verdicts`` about layer ``layer`` per width: ``"A"`` (its ratio
    increases with the degree) or ``"D"`` (larger at the highest degree than at the lowest).

    Args:
      per_draw: the draws' ratios ``c̄_ℓ/c̄_{L−1}`` (``draw_ratios``), shape ``(W, D, K, L)``.
      layer: the layer the claim is about (put first, so the claims' "layer 0" is this layer).
      claim: ``"A"`` or ``"D"``.

    Returns:
      ``([(verdict, fraction of draws where it holds)] per width, median ratios (W, K) of the layer)``.
    """
    if claim not in ("A", "D"):
        raise ValueError(f"claim must be 'A' or 'D' (claims about one layer), got {claim!r}")
    per_draw = np.asarray(per_draw)[..., layer : layer + 1]  # (W, D, K, 1): the claim's layer first
    found = [verdicts.verdict(per_draw[j], claim) for j in range(len(per_draw))]
    return found, verdicts.nanmedian(per_draw[..., 0], axis=1)


def _kept(at_init: str, at_end: str) -> str:
    """Whether training keeps a claim: ``kept``, ``lost`` or ``absent at initialisation``."""
    if at_init != "holds":
        return "absent at initialisation"
    return "kept" if at_end == "holds" else "lost"


def summarize(results, cfg: Config) -> list[dict]:
    """Verdict rows for REPORT.md: slopes, the contrast, and the layer-wise bias before/after."""
    widths = np.asarray(results["widths"])
    names = [str(s) for s in results["run_names"]]
    rows = []
    ms = np.asarray(results["movement_slopes"])
    rows.append(
        {
            "check": "slope of log median ‖G_ℓ(T) − G_ℓ(0)‖_F/‖G_ℓ(0)‖_F vs log width over all "
            f"widths {widths[0]}–{widths[-1]} (all layers trained)",
            "measured": ", ".join(f"layer {i}: {v:.2f}" for i, v in enumerate(ms)),
            "expected": "between −1/2 (bound, Lee et al. 2019) and −1 (Dyer & Gur-Ari 2019): "
            "one slope mixes regimes, see the per-octave rows",
            "verdict": "informative only",
        }
    )
    oct_s = np.asarray(results["octave_slopes"])  # (W-1, L)
    for i in range(oct_s.shape[1]):
        rows.append(
            {
                "check": f"layer {i}: local slope of the median movement per octave",
                "measured": ", ".join(
                    f"{widths[j]}→{widths[j + 1]}: {v:.2f}" for j, v in enumerate(oct_s[:, i])
                ),
                "expected": "→ −1 at large width (change of the NTK during training, "
                "docs/theory.md §10)",
                "verdict": "steepening toward −1"
                if oct_s[-1, i] < oct_s[0, i] and abs(oct_s[-1, i] + 1) <= 0.25
                else "not (yet) at −1 in the widest octave (rule: |slope + 1| ≤ 0.25)",
            }
        )
    tail = np.asarray(results["tail_fit"])
    meas, fit = np.asarray(results["crossing_measured"]), np.asarray(results["crossing_fit"])
    lo = widths[len(widths) - cfg.tail_octaves - 1]
    rows.append(
        {
            "check": f"width at which the median movement falls below {cfg.level:g}: measured "
            f"(log-log interpolation) vs the fit over widths {lo}–{widths[-1]}",
            "measured": "; ".join(
                f"layer {i}: {_width(meas[i], widths)} vs {_width(fit[i], widths)} "
                f"(fit slope {tail[i, 0]:.2f})"
                for i in range(len(meas))
            ),
            "expected": "the fit's crossing at the measured one where both are within the widths",
            "verdict": _crossing_verdict(meas, fit),
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
            "check": "median prediction error, all layers trained, per width (single-layer runs "
            f"and the contrast at widths ≤ {cfg.all_runs_max_width} only)",
            "measured": ", ".join(f"m={m}: {v:.3g}" for m, v in zip(widths, err[:, a])),
            "expected": "→ 0 as m grows (kernel regime)",
            "verdict": "decreases with width"
            if np.all(np.diff(err[:, a]) < 0)
            else "not monotone in width",
        }
    )
    mv = np.median(results["movement"][..., names.index(CONTRAST), :], axis=(1, 2))  # (W, L)
    lazy_mv = np.median(results["kernel_movement"], axis=(1, 2))
    jc = int(np.flatnonzero(np.isfinite(mv[:, 0]))[-1]) if np.isfinite(mv[:, 0]).any() else -1
    rows.append(
        {
            "check": f"contrast (η = {cfg.contrast_lr_factor:g}·n/λ_max): median layer-0 movement "
            f"at the largest width where it is run ({widths[jc]}) vs the lazy run",
            "measured": f"{mv[jc, 0]:.3g} vs {lazy_mv[jc, 0]:.3g} (slope "
            f"{fitted_slopes(widths, results['movement'][..., names.index(CONTRAST), :])[0]:.2f})",
            "expected": "O(1), not decaying with width (catapult phase, Lewkowycz et al. 2020)",
            "verdict": "non-lazy"
            if mv[jc, 0] > 3 * lazy_mv[jc, 0]
            else "no clear contrast at these widths",
        }
    )
    question = "does training keep early layers' bias toward high frequencies?"
    axis = f"{cfg.target_axis}s " + ", ".join(str(int(k)) for k in results["degrees"])
    wide = len(widths) - cfg.tail_octaves - 1
    for claim in ("A", "D"):
        init, init_vals = bias_verdicts(draw_ratios(results, "ratios_init"), claim=claim)
        end, end_vals = bias_verdicts(draw_ratios(results, "ratios_end"), claim=claim)
        con, con_vals = bias_verdicts(draw_ratios(results, "contrast_ratios_end"), claim=claim)
        what = verdicts.CLAIMS[claim].replace(" k", f" the {cfg.target_axis}")
        kept_per_width = []
        for j, m in enumerate(widths):
            (v0, f0), (v1, f1), (vc, fc) = init[j], end[j], con[j]
            kept = _kept(v0, v1)
            kept_per_width.append(kept)
            rows.append(
                {
                    "check": f"width {m}: {question} (claim {claim}: {what}; c_0/c_(L−1) at {axis}, "
                    f"median over draws) — rule: {verdicts.rule_text()}",
                    "measured": (
                        f"init {_fmt(init_vals[j])} ({f0:.0%} of draws hold); "
                        f"end {_fmt(end_vals[j])} ({f1:.0%}); "
                        + (
                            f"large lr end {_fmt(con_vals[j])} ({fc:.0%})"
                            if m <= cfg.all_runs_max_width
                            else "large lr: not run at this width"
                        )
                    ),
                    "expected": "holds before and after training",
                    "verdict": f"{kept} (init: {v0}; end: {v1}"
                    + (f"; large lr end: {vc})" if m <= cfg.all_runs_max_width else ")"),
                }
            )
        for regime, sel in (("narrow", slice(0, wide)), ("wide", slice(wide, None))):
            ws, ks = widths[sel], kept_per_width[sel]
            if not len(ws):  # tail_octaves = all octaves: no narrow widths
                continue
            common = ks[0] if len(set(ks)) == 1 else "mixed"
            lm = lazy_mv[sel, 0]
            rows.append(
                {
                    "check": f"{regime} widths {ws[0]}–{ws[-1]}: {question} (claim {claim}: {what}; "
                    "per-width verdicts above, same rule)",
                    "measured": ", ".join(f"m={m}: {k}" for m, k in zip(ws, ks))
                    + f"; median layer-0 movement {lm.max():.3g} … {lm.min():.3g}",
                    "expected": "kept where the kernel barely moves (lazy regime)",
                    "verdict": common,
                }
            )
    with np.errstate(invalid="ignore"):
        stab_runs = results["stability"][..., [i for i, nm in enumerate(names) if nm != CONTRAST]]
    stab = np.nanmax(stab_runs)
    rows.append(
        stability_row(
            float(stab), "max η λ_max(G_emp(0))/n over the lazy runs", "unstable for some width"
        )
    )
    return rows


def _width(w: float, widths: np.ndarray) -> str:
    """A crossing width for the REPORT and the key: ``> max m`` (never below the level within the widths),
    ``< min m or n/a`` (NaN), a whole number, or two significant digits beyond ``10⁵`` (a fit's far
    extrapolation: its digits mean nothing)."""
    if np.isposinf(w):
        return f"> {int(widths[-1])}"
    if np.isnan(w):
        return f"< {int(widths[0])} or n/a"
    return f"{w:.0f}" if w < 1e5 else f"{w:.1e}"


def _crossing_verdict(measured: np.ndarray, fitted: np.ndarray) -> str:
    """Rule: within a factor 1.5 where both crossings are finite; else says which are out of range."""
    both = np.isfinite(measured) & np.isfinite(fitted)
    if not both.any():
        return "no layer crosses within the widths (fit extrapolates)"
    ok = np.abs(np.log(fitted[both] / measured[both])) <= np.log(1.5)
    tag = "fit agrees within ×1.5" if ok.all() else "fit off by more than ×1.5 for some layer"
    return tag + f" ({int(both.sum())} of {len(both)} layers cross within the widths)"


def _fmt(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _median_band(values: np.ndarray):
    """Median and ``plotting.BAND`` percentiles over draws of each draw's seed mean, per width.

    ``values`` ``(W, D, S)``; returns three ``(W,)`` arrays (NaN draws left out: runs not made there).
    """
    v = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a gap
        per_draw = np.nanmean(v, axis=2)  # (W, D)
        lo, hi = np.nanpercentile(per_draw, BAND, axis=1)
        return np.nanmedian(per_draw, 1), lo, hi


def plot(results, cfg: Config):
    """(a) movement vs width with the 1/m lines, (b) per-octave slopes, (c) prediction error;
    (d, e) ratios before/after at the smallest and largest width; (f) the key."""
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D

    widths = np.asarray(results["widths"], dtype=float)
    degrees = np.asarray(results["degrees"])
    names = [str(s) for s in results["run_names"]]
    num_layers = results["kernel_movement"].shape[-1]
    lcol = layer_colors(num_layers)
    fig = new_figure(2, 5.6)
    axes = fig.subplots(2, 3)
    (ax_mv, ax_oct, ax_err), (ax_lo, ax_hi, ax_key) = axes
    ax_key.axis("off")
    level = float(cfg.level)

    con = names.index(CONTRAST)
    fit = np.asarray(results["tail_fit"])
    cross = np.asarray(results["crossing_fit"])
    drawn_crossing = np.isfinite(cross) & (cross <= 2 * widths[-1])  # beyond: in the key only
    for i in range(num_layers):
        med, lo, hi = _median_band(results["kernel_movement"][..., i])
        ax_mv.plot(widths, med, marker="o", ms=3, color=lcol[i])
        ax_mv.fill_between(widths, lo, hi, color=lcol[i], alpha=0.2, lw=0)
        near = widths[widths >= widths[-1] / 8]  # the 1/m line over the widest three octaves
        ax_mv.plot(near, med[-1] * widths[-1] / near, ls=":", color=lcol[i], lw=1)
        med_c, _, _ = _median_band(results["movement"][..., con, i])
        ax_mv.plot(widths, med_c, ls="--", marker="x", ms=3, color=lcol[i], lw=0.8)
        if drawn_crossing[i]:
            ax_mv.plot([cross[i]], [level], "X", ms=6, color=lcol[i], mec="k", mew=0.5)
    top = np.nanmedian(results["kernel_movement"][0])
    ax_mv.plot(widths, top * np.sqrt(widths[0] / widths), color="0.5", lw=2, alpha=0.5)
    ax_mv.axhline(level, color="0.3", lw=0.6, ls="-.")
    ax_mv.set_title(r"(a) $\|G_\ell(T)-G_\ell(0)\|_F/\|G_\ell(0)\|_F$")
    ax_mv.set_ylabel("relative kernel movement")

    mid = np.sqrt(widths[1:] * widths[:-1])
    per_net = np.asarray(results["octave_slopes_networks"], dtype=float)  # (W-1, N, L)
    for i in range(num_layers):
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(per_net[..., i], BAND, axis=1)
        ax_oct.plot(mid, results["octave_slopes"][:, i], marker="o", ms=3, color=lcol[i])
        ax_oct.fill_between(mid, lo, hi, color=lcol[i], alpha=0.2, lw=0)
    for ref, ls in ((-0.5, "--"), (-1.0, ":")):
        ax_oct.axhline(ref, color="0.3", lw=0.8, ls=ls)
    ax_oct.set_title("(b) local slope per octave")
    ax_oct.set_ylabel(r"$\Delta\log$ movement $/ \Delta\log m$")

    rcol = [*lcol, ALL_LAYERS_COLOR, ALL_LAYERS_COLOR]
    err = np.asarray(results["prediction_error"], dtype=float)
    for r, name in enumerate(names):
        if r == num_layers - 1 or name == CONTRAST:
            continue  # last layer alone: exact up to rounding; contrast: diverges (docstring)
        med, lo, hi = _median_band(err[..., r])
        ax_err.plot(
            widths, med, marker="o", ms=3, color=rcol[r], ls="-" if r < num_layers else "-."
        )
        ax_err.fill_between(widths, lo, hi, color=rcol[r], alpha=0.15, lw=0)
    ax_err.set_title(r"(c) $\max_t\|\hat e(t)-e(t)\|/\|e(0)\|$, kernel at init")
    ax_err.set_ylabel("prediction error")
    ax_err.set_yscale("log")
    for ax in (ax_mv, ax_oct, ax_err):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width $m$")
    ax_mv.set_yscale("log")

    for ax, j, tag in ((ax_lo, 0, "(d)"), (ax_hi, len(widths) - 1, "(e)")):
        for key, ls, mk in (
            ("ratios_init", "-", "o"),
            ("ratios_end", "--", "s"),
            ("contrast_ratios_end", ":", "x"),
        ):
            per_draw = draw_ratios(results, key)[j]  # (D, K, L)
            if not np.isfinite(per_draw).any():
                continue  # run not made at this width
            for i in range(num_layers - 1):
                # draws whose ratio is not finite (diverged) are left out
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med = np.nanmedian(per_draw[..., i], axis=0)
                    lo, hi = np.nanpercentile(per_draw[..., i], BAND, axis=0)
                ax.plot(degrees, med, ls=ls, marker=mk, color=lcol[i], ms=3)
                if key == "ratios_init":
                    ax.fill_between(degrees, lo, hi, color=lcol[i], alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_xticks(degrees)
        ax.set_xlabel(f"{cfg.target_axis} $k$" if not cfg.sphere_targets else "degree $i$")
        ax.set_title(f"{tag} $c_\\ell/c_{{L-1}}$, width {int(widths[j])}")
    ax_lo.set_ylabel(r"$c_\ell / c_{L-1}$")
    for ax in (ax_err, ax_lo, ax_hi):
        plain_log_y([ax])

    slopes = np.asarray(results["octave_slopes"])
    handles = [Line2D([], [], color=lcol[i], marker="o", ms=3) for i in range(num_layers)]
    measured = np.asarray(results["crossing_measured"])
    labels = [
        f"layer {i}: {slopes[-1, i]:.2f} / {fit[i, 0]:.2f}; "
        f"{_width(measured[i], widths)} ({_width(cross[i], widths)})"
        for i in range(num_layers)
    ]

    def in_layer_colours(layers, **style):
        """A key entry for lines drawn in the colours of ``layers`` (a count or indices): one per colour."""
        layers = range(layers) if isinstance(layers, int) else layers
        return tuple(Line2D([], [], color=lcol[i], **style) for i in layers)

    entries = [
        (
            Line2D([], [], color="0.3", lw=0.8, ls=":"),
            "(a) 1/m theory line (dotted, layer colour); (b) −1",
        ),
        (Line2D([], [], color="0.5", lw=2, alpha=0.5), r"(a) $m^{-1/2}$ guide; (b) dashed: −1/2"),
        (
            in_layer_colours(num_layers, ls="--", marker="x", ms=3, lw=0.8),
            f"(a) large η = {cfg.contrast_lr_factor:g}·n/λ_max",
        ),
        (
            in_layer_colours(
                np.flatnonzero(drawn_crossing), marker="X", ls="none", ms=6, mec="k", mew=0.5
            ),
            f"(a) fit reaches {level:g} (drawn if ≤ 2·max m)",
        )
        if drawn_crossing.any()
        else None,
        (
            Line2D([], [], color=ALL_LAYERS_COLOR, ls="-.", marker="o", ms=3),
            "(c) all layers (colour: layer alone)",
        ),
        (
            in_layer_colours(num_layers - 1, ls="-", marker="o", ms=3),
            f"(d, e) at init (band: {BAND[0]}–{BAND[1]}%)",
        ),
        (in_layer_colours(num_layers - 1, ls="--", marker="s", ms=3), "(d, e) after training"),
        (
            in_layer_colours(num_layers - 1, ls=":", marker="x", ms=3),
            "(d, e) after training, large η (finite draws)",
        ),
    ]
    handles += [h for h, _ in filter(None, entries)]
    labels += [label for _, label in filter(None, entries)]
    ax_key.legend(
        handles,
        labels,
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)},
        loc="center",
        frameon=False,
        title=f"slope last octave / fit over widest {cfg.tail_octaves};\n"
        f"width where movement < {level:g}: measured (fit)",
    )
    d, s = results["kernel_movement"].shape[1:3]
    suptitle(
        fig,
        f"{cfg.data_label()}; {cfg.network.activation}, n={cfg.num_points}, L={cfg.network.depth}, "
        f"{cfg.steps} GD steps ({cfg.dtype}), η = {cfg.lr_factor:g}·n/λ_max; {d} draws × {s} "
        f"seed{'s' * (s > 1)} (line: median over draws of each draw's seed mean, band: {BAND[0]}–{BAND[1]}% "
        f"of the same draw values; (b): over networks); single-layer runs and large η at m ≤ "
        f"{cfg.all_runs_max_width}",
    )
    return fig
