"""Pieces shared by protocols that take a ``Config``: config checks, the training protocols' targets, and
REPORT rows (``experiments.protocols.layer_training`` and ``experiments.protocols.training_width``).

Functions that take arrays rather than a Config live in ``spectral_layers``; these take a Config.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework.keys import split_keys
from spectral_layers import data, targets

SMOKE_DRAWS = {
    "num_draws": 2,
    "num_seeds": 2,
    "seed_chunk": 1,
    "num_points": 64,
    "network.width": 16,
    "degrees": (1, 2, 3),
}
"""Smoke-scale sizes shared by the sphere and real-data protocols (seconds per figure)."""

SYNTHETIC = "synthetic"
"""``data_dir`` value that generates random images in-process (smoke tests; not data)."""

IMAGE_SHAPES = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}
"""Image shape of each dataset the real-data protocols read (``spectral_layers.data``)."""


def synthetic_images(key: jax.Array, dataset: str, num: int) -> np.ndarray:
    """``num`` random smooth ``uint8`` images shaped like ``dataset``'s (smoke tests; not data).

    Each image is a 4× nearest-neighbour upsampling of uniform noise, so nearby pixels correlate
    and the principal components are not degenerate.
    """
    shape = IMAGE_SHAPES[dataset]
    coarse = jax.random.uniform(key, (num, shape[0] // 4, shape[1] // 4, *shape[2:]))
    fine = np.repeat(np.repeat(np.asarray(coarse), 4, axis=1), 4, axis=2)
    return np.round(255 * fine).astype(np.uint8)


def load_images(
    dataset: str, split: str, data_dir: str | None, num_points: int, seed: int
) -> tuple[np.ndarray, str]:
    """All images of ``dataset``'s ``split`` (``uint8``) and the split's name, read once per process.

    ``data_dir == SYNTHETIC`` gives ``max(2 · num_points, 128)`` ``synthetic_images`` from
    ``key(seed)`` instead (split ``"synthetic"``); otherwise ``data.load_dataset`` reads the files
    (``split="any"``: the training split if present, else the test split, with a ``DatasetWarning``).
    """
    if data_dir == SYNTHETIC:
        num = max(2 * num_points, 128)
        return synthetic_images(jax.random.key(seed), dataset, num), SYNTHETIC
    return _load_dataset(dataset, split, data_dir, num_points)


@functools.lru_cache(maxsize=4)
def _load_dataset(dataset: str, split: str, data_dir: str | None, min_points: int):
    """``data.load_dataset``'s images and split, cached (``protocol_sensitivity`` and ``training_width``
    draw many subsets; the images are only indexed, never modified)."""
    images, _, split = data.load_dataset(
        dataset, split=split, data_dir=data_dir, min_points=min_points, with_split=True
    )
    images.setflags(write=False)
    return images, split


def check_depth(cfg, reason: str) -> None:
    """``cfg.network.depth >= 2``, else a ValueError that says why (``reason``) the protocol needs it."""
    if cfg.network.depth < 2:
        raise ValueError(f"network.depth must be >= 2 ({reason}), got {cfg.network.depth}")


def check_training_config(
    cfg, *, at_least_two_degrees: bool = False, sphere_targets: bool = True
) -> None:
    """Checks shared by the training protocols: Gegenbauer-sum targets need ``dim >= 3``; training one
    layer alone needs ``depth >= 2``; ``degrees`` strictly increasing integers ``>= 0`` (at least two where
    ``at_least_two_degrees``); enough points to project out the lower degrees of the highest target
    component (the sphere's targets only: ``sphere_targets``), a positive target scale, a stable
    learning-rate factor."""
    if sphere_targets and cfg.dim < 3:
        raise ValueError(f"dim must be >= 3 (Gegenbauer-sum targets), got {cfg.dim}")
    check_depth(cfg, "one layer alone is the full network")
    degrees = cfg.degrees
    if (
        len(degrees) < (2 if at_least_two_degrees else 1)
        or min(degrees) < 0
        or any(b <= a for a, b in itertools.pairwise(degrees))
    ):
        count = "at least two " if at_least_two_degrees else ""
        raise ValueError(f"degrees must be {count}strictly increasing integers >= 0, got {degrees}")
    k = max(cfg.degrees)
    if sphere_targets:
        needed = math.comb(cfg.dim + k - 1, k - 1) if k > 0 else 0
        why = f"the polynomials of degree < {k} in d = {cfg.dim} projected out of the degree-{k} component"
    else:
        needed = len(cfg.degrees)
        why = "one more than the orthogonal target components"
    if cfg.num_points <= needed:
        raise ValueError(f"num_points must exceed {needed} ({why}), got {cfg.num_points}")
    if not (isinstance(cfg.target_rms, int | float) and cfg.target_rms > 0):
        raise ValueError(f"target_rms must be a positive number, got {cfg.target_rms!r}")
    if not 0 < cfg.lr_factor < 2:
        raise ValueError(
            f"lr_factor must be in (0, 2) for stable gradient descent, got {cfg.lr_factor}"
        )


def target_components(cfg, key: jax.Array):
    """Points ``x`` (n, d) and orthogonal components ``Y`` (K, n), ``‖y_i*‖² = n · target_rms²``.

    Each component is the degree-``i`` Gegenbauer sum over ``num_centers`` random centres (shared
    across degrees, as in ``experiments.protocols.sphere``), with all polynomials of degree ``< i`` projected
    out on the sample, then Gram–Schmidt against the lower-degree components (module docstring).
    """
    k_points, k_centers = split_keys(key, "points", "centres")
    x = targets.sample_sphere(k_points, cfg.num_points, cfg.dim)
    centers = targets.random_centers(k_centers, cfg.dim, cfg.num_centers)
    ys = [
        targets.project_out_lower_degrees(x, targets.gegenbauer_sum_target(x, k, centers), k)
        for k in cfg.degrees
    ]
    return x, orthogonal_components(ys, cfg.target_rms, x.dtype)


def orthogonal_components(ys, target_rms: float, dtype) -> jax.Array:
    """Gram–Schmidt of the targets ``ys`` (each ``(n,)``) on the sample, in the given order, each scaled
    to root mean square ``target_rms``: ``(K, n)`` in ``dtype`` (the training protocols' components)."""
    comps: list[np.ndarray] = []
    for y in ys:
        y = np.asarray(y, dtype=np.float64)
        for prev in comps:  # Gram–Schmidt on the sample, in degree order
            y = y - (y @ prev) / (prev @ prev) * prev
        comps.append(y * target_rms * math.sqrt(len(y)) / np.linalg.norm(y))
    return jnp.asarray(np.stack(comps), dtype=dtype)


def stability_row(stab: float, check: str, unstable: str) -> dict:
    """The REPORT row of the largest ``η λ_max / n`` of a training protocol (< 2: stable GD)."""
    return {
        "check": check,
        "measured": f"{stab:.3g}",
        "expected": "< 2 (stable gradient descent)",
        "verdict": "stable at init" if stab < 2 else unstable,
    }
