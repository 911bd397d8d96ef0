"""Calibration of ``estimators.debiased_ratio_se`` against the spread over networks and draws.

For ``--draws`` independent draws of ``n`` uniform points on ``S^{d-1}`` and a degree-``k`` Gegenbauer-sum
target (4 random centres, unit norm), and ``--seeds`` networks per draw (bias-free ReLU, NTK
parameterisation, no input scaling, as Figure 2), it computes every network's debiased ratios
``F_ℓ/F_{L−1}`` and their estimated standard errors (Gram route, ``gram_forms`` + ``debiased_ratio_se``), the
infinite-width debiased ratio on the same points, and prints per layer:

* ``sd_all``: the standard deviation of the ratios over all networks and draws; ``sd_seed``: the pooled
  within-draw (seed-to-seed) standard deviation;
* ``robust``: ``IQR/1.349`` of the ratios minus their draw's infinite-width ratio (the ratio is
  heavy-tailed where the last layer's form can approach 0);
* ``se_rms``, ``se_med``: the root-mean-square and the median of the per-network estimates;
* ``lin``: on the linear scale that the SE describes, ``rms(F_ℓ − R_∞ F_{L−1}) / rms(se · |F_{L−1}|)``
  (1 when the estimate is calibrated);
* ``se_method='seeds'``: ``seed_ratio_se`` of each draw's ``S`` networks against the error of the ratio of
  their mean forms (z-scores over draws, 1 when calibrated);
* ``n_seeds(10%, 90%)``: networks needed for the mean of the forms to give the ratio within 10% with 90%
  confidence, ``(1.645 · se_rel_med / 0.1)²`` with ``se_rel_med`` the median over networks of the
  relative SE ``se / R_∞`` (``README``); checked on the last line against the measured error of each
  draw's ratio of its ``S`` seeds' mean forms.

``--saved figures/fig2_sphere_d10.npz``: the statistics of the committed Figure 2 data instead
(``saved_spread``). Figure 2's size (default), from the repository root::

    PYTHONPATH=. python benchmarks/bench_debiased_se.py

(d = 10, n = 1024, width 512, depth 4, k = 4, 8 draws × 4 seeds; about 4 minutes on 2 shared CPU cores,
float64).
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import numpy as np

from spectral_layers import contributions as contrib
from spectral_layers import estimators, targets
from spectral_layers.empirical import layer_ntk
from spectral_layers.infinite import sphere_layer_ntk
from spectral_layers.models import Network


def measure(dim, n, width, depth, k, draws, seeds, seed=0):
    """``{"ratio", "se", "infinite", "forms"}``: ``(D, S, L-1)``, ``(D, S, L-1)``, ``(D, L-1)``, ``(D, S, L)``."""
    net = Network(depth=depth, width=width, input_scaling="none")
    out = {"ratio": [], "se": [], "infinite": [], "forms": []}
    for r in range(draws):
        k_pts, k_c, k_init = jax.random.split(jax.random.fold_in(jax.random.key(seed), r), 3)
        x = targets.sample_sphere(k_pts, n, dim)
        y = np.asarray(targets.sphere_target(x, k, targets.random_centers(k_c, dim, 4)))
        y = y / np.linalg.norm(y)
        apply_fn, _ = net.init(k_init, dim)
        _, params = net.init_seeds(k_init, 0, dim, seed_indices=np.arange(seeds))
        grams = layer_ntk(apply_fn, params, x, stacked=True)
        forms = estimators.gram_estimator_forms(grams, x, y, estimators=("debiased",), degree=k)[
            "debiased"
        ]
        diag = {name: np.diagonal(np.asarray(g), axis1=-2, axis2=-1) for name, g in grams.items()}
        se = estimators.debiased_ratio_se(forms, diag, x, y, degree=k)
        ratio = estimators.ratios_from_forms(forms)
        inf_forms = estimators.gram_estimator_forms(
            sphere_layer_ntk(x, network=net), x, y, estimators=("debiased",), degree=k
        )["debiased"]
        inf = estimators.ratios_from_forms(inf_forms)
        out["ratio"].append(np.stack(list(ratio.values()), -1))
        out["se"].append(np.stack(list(se.values()), -1))
        out["infinite"].append(np.stack(list(inf.values()), -1))
        out["forms"].append(contrib.stack_layers(forms))
    return {key: np.asarray(v) for key, v in out.items()}


def calibration(m):
    """Per layer: the statistics of the module docstring, ``{name: (L-1,)}``."""
    ratio, se, inf, forms = m["ratio"], m["se"], m["infinite"], m["forms"]
    dev = ratio - inf[:, None]
    q75, q25 = np.nanpercentile(dev.reshape(-1, dev.shape[-1]), [75, 25], axis=0)
    lin_err = forms[..., :-1] - inf[:, None] * forms[..., -1:]
    lin_se = se * np.abs(forms[..., -1:])
    rel = np.nanmedian((se / np.abs(inf[:, None])).reshape(-1, se.shape[-1]), axis=0)
    flat = ratio.reshape(-1, ratio.shape[-1])
    return {
        "sd_all": np.nanstd(flat, axis=0, ddof=1),
        "sd_seed": np.sqrt(np.nanmean(np.nanvar(ratio, axis=1, ddof=1), axis=0)),
        "robust": (q75 - q25) / 1.349,
        "se_rms": np.sqrt(np.nanmean(se.reshape(-1, se.shape[-1]) ** 2, axis=0)),
        "se_med": np.nanmedian(se.reshape(-1, se.shape[-1]), axis=0),
        "lin": np.sqrt(
            np.nanmean(lin_err.reshape(-1, se.shape[-1]) ** 2, axis=0)
            / np.nanmean(lin_se.reshape(-1, se.shape[-1]) ** 2, axis=0)
        ),
        "se_rel_med": rel,
    }


def seeds_needed(se_rel: float, accuracy: float = 0.1, confidence: float = 0.9) -> int:
    """Networks whose mean forms give the ratio within ``accuracy`` (relative) with ``confidence``.

    The width noise of independent networks averages: the SE of the ratio of ``N`` networks' mean forms
    is ``se_rel / √N`` (relative), and a normal two-sided interval needs ``z · se_rel / √N ≤ accuracy``.
    """
    z = math.sqrt(2) * _erfinv(confidence)
    return math.ceil((z * se_rel / accuracy) ** 2)


def _erfinv(p: float) -> float:
    """``erf⁻¹(p)`` by bisection (no SciPy dependency)."""
    lo, hi = 0.0, 6.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def saved_spread(path) -> None:
    """Prints the per-network statistics of a saved sphere run (``figures/fig2_sphere_d10.npz``) quoted in
    ``docs/theory.md`` §9.3, per degree: the last layer's debiased and projected forms' seed spread (median
    over draws of std/mean over seeds), the median over draws of ``|seed-mean form / ∞-width form − 1|``, the
    rms relative deviation of each network's debiased ratios from its draw's ∞-width ratio, and the standard
    deviation over draws of the ∞-width debiased ratio relative to the Mercer ratio (points only)."""
    r = np.load(path)
    c, cp, inf = r["contributions_debiased"], r["contributions_projected"], r["infinite_debiased"]
    for k_i, k in enumerate(r["degrees"]):
        last, last_p = c[:, :, k_i, -1], cp[:, :, k_i, -1]
        seed_sd = np.median(last.std(1, ddof=1) / last.mean(1))
        seed_sd_p = np.median(last_p.std(1, ddof=1) / last_p.mean(1))
        mean_off = np.median(np.abs(last.mean(1) / inf[:, k_i, -1] - 1))
        ratio = c[:, :, k_i, :-1] / c[:, :, k_i, -1:]
        ratio_inf = inf[:, k_i, :-1] / inf[:, k_i, -1:]
        rms = np.sqrt(np.mean((ratio / ratio_inf[:, None] - 1) ** 2, axis=(0, 1)))
        points = np.std(ratio_inf / r["mercer_ratio"][:, k_i] - 1, axis=0)
        mean = c[:, :, k_i].mean(axis=1)
        seed_mean = 1.4826 * np.median(np.abs(mean[:, :-1] / mean[:, -1:] / ratio_inf - 1), axis=0)
        print(
            f"k={int(k)}: last-layer form seed spread debiased {seed_sd:.3g}, projected {seed_sd_p:.3g}; "
            f"seed-mean off infinite width {mean_off:.3g}; per-network ratio rms rel. deviation "
            + ", ".join(f"{v:.3g}" for v in rms)
            + "; infinite-width ratio sd over draws "
            + ", ".join(f"{v:.2g}" for v in points)
            + "; seed-mean ratio 1.4826 median|R_bar/R_inf - 1| "
            + ", ".join(f"{v:.3g}" for v in seed_mean)
        )


def main(argv=None):
    """CLI: prints the calibration table per layer."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--degree", type=int, default=4)
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--saved", help="print the statistics of a saved sphere .npz instead (saved_spread)"
    )
    a = p.parse_args(argv)
    if a.saved:
        saved_spread(a.saved)
        return
    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    m = measure(a.dim, a.n, a.width, a.depth, a.degree, a.draws, a.seeds, a.seed)
    c = calibration(m)
    print(
        f"d={a.dim} n={a.n} width={a.width} depth={a.depth} k={a.degree} "
        f"{a.draws} draws x {a.seeds} seeds ({time.perf_counter() - t0:.0f} s)"
    )
    print("layer  sd_all  sd_seed  robust  se_rms  se_med  lin  se_rel_med  n_seeds(10%,90%)")
    for layer in range(len(c["sd_all"])):
        row = [c[key][layer] for key in ("sd_all", "sd_seed", "robust", "se_rms", "se_med", "lin")]
        rel = c["se_rel_med"][layer]
        print(
            f"{layer:5d} "
            + " ".join(f"{v:7.3g}" for v in row)
            + f" {rel:7.3g} {seeds_needed(rel):8d}"
        )
    z_rms, z_med, frac, rel_seeds = seeds_se_check(m)
    print(
        "se_method='seeds' (seed_ratio_se of each draw's S networks): (R_bar - R_inf)/(se/sqrt(S)) over draws, "
        "rms "
        + ", ".join(f"{v:.3g}" for v in z_rms)
        + "; 1.4826 median|.| "
        + ", ".join(f"{v:.3g}" for v in z_med)
        + "; share within ±1.645 "
        + ", ".join(f"{v:.2f}" for v in frac)
        + "; median relative se of one network "
        + ", ".join(f"{v:.3g}" for v in rel_seeds)
        + " -> n_seeds(10%, 90%) "
        + ", ".join(str(seeds_needed(v)) for v in rel_seeds)
    )
    pred, meas = seed_mean_check(m)
    print(
        f"ratio of the {a.seeds} seeds' mean forms, relative error: predicted se_rel_med/sqrt(S) = "
        + ", ".join(f"{v:.3g}" for v in pred)
        + "; measured 1.4826 median|R_bar/R_inf - 1| over draws = "
        + ", ".join(f"{v:.3g}" for v in meas)
    )


def seeds_se_check(m):
    """Per layer, the calibration of ``estimators.seed_ratio_se``: for each draw the error of the ratio of
    its ``S`` networks' mean forms against the infinite-width ratio on the same points, in units of the
    predicted ``se/√S``; returns the rms and the robust scale (``1.4826 · median |z|``) of these z-scores over
    draws (for Student-t with ``S − 1`` degrees of freedom: rms ``sqrt((S−1)/(S−3))``, robust scale 1.13 at
    ``S = 4``), the share within ``±1.645`` and the median relative SE ``se/|R_∞|`` of one network."""
    forms, inf = m["forms"], m["infinite"]
    seeds = forms.shape[1]
    z, rel = [], []
    for r in range(forms.shape[0]):
        f = {str(i): forms[r, :, i] for i in range(forms.shape[-1])}
        se = np.stack(list(estimators.seed_ratio_se(f).values()))
        mean = forms[r].mean(axis=0)
        z.append((mean[:-1] / mean[-1] - inf[r]) / (se / math.sqrt(seeds)))
        rel.append(se / np.abs(inf[r]))
    z = np.asarray(z)
    return (
        np.sqrt(np.nanmean(z**2, axis=0)),
        1.4826 * np.nanmedian(np.abs(z), axis=0),
        np.nanmean(np.abs(z) < 1.645, axis=0),
        np.nanmedian(np.asarray(rel), axis=0),
    )


def seed_mean_check(m):
    """Per layer: predicted relative SE of a draw's seed-mean ratio (``se_rel_med/√S``) and the measured
    robust spread ``1.4826 · median_draws |R̄/R_∞ − 1|`` (R̄: ratio of the seeds' mean forms)."""
    forms, inf = m["forms"], m["infinite"]
    mean = forms.mean(axis=1)  # (D, L)
    r_bar = mean[:, :-1] / mean[:, -1:]
    seeds = forms.shape[1]
    rel = np.nanmedian((m["se"] / np.abs(inf[:, None])).reshape(-1, inf.shape[-1]), axis=0)
    return rel / math.sqrt(seeds), 1.4826 * np.nanmedian(np.abs(r_bar / inf - 1), axis=0)


if __name__ == "__main__":
    main()
