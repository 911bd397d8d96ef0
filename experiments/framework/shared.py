"""Pieces shared by protocols that take a ``Config``: config checks, the training protocols' targets, and
REPORT rows (``experiments.protocols.layer_training`` and ``experiments.protocols.training_width``).

Functions that take arrays rather than a Config live in ``spectral_layers``; these take a Config.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.framework.keys import split_keys
from spectral_layers import targets

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


def check_depth(cfg, reason: str) -> None:
    """``cfg.network.depth >= 2``, else a ValueError that says why (``reason``) the protocol needs it."""
    if cfg.network.depth < 2:
        raise ValueError(f"network.depth must be >= 2 ({reason}), got {cfg.network.depth}")


def check_training_config(cfg, *, at_least_two_degrees: bool = False) -> None:
    """Checks shared by the training protocols: Gegenbauer-sum targets need ``dim >= 3``; training one
    layer alone needs ``depth >= 2``; ``degrees`` strictly increasing integers ``>= 0`` (at least two where
    ``at_least_two_degrees``); enough points to project out the lower degrees of the highest target
    component, a positive target scale, a stable learning-rate factor."""
    if cfg.dim < 3:
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
    needed = math.comb(cfg.dim + k - 1, k - 1) if k > 0 else 0
    if cfg.num_points <= needed:
        raise ValueError(
            f"num_points must exceed {needed} (the polynomials of degree < {k} in "
            f"d = {cfg.dim} projected out of the degree-{k} component), got {cfg.num_points}"
        )
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
    comps: list[np.ndarray] = []
    for k in cfg.degrees:
        y = targets.gegenbauer_sum_target(x, k, centers)
        y = np.asarray(targets.project_out_lower_degrees(x, y, k), dtype=np.float64)
        for prev in comps:  # Gram–Schmidt on the sample, in degree order
            y = y - (y @ prev) / (prev @ prev) * prev
        comps.append(y * cfg.target_rms * math.sqrt(cfg.num_points) / np.linalg.norm(y))
    return x, jnp.asarray(np.stack(comps), dtype=x.dtype)


def stability_row(stab: float, check: str, unstable: str) -> dict:
    """The REPORT row of the largest ``η λ_max / n`` of a training protocol (< 2: stable GD)."""
    return {
        "check": check,
        "measured": f"{stab:.3g}",
        "expected": "< 2 (stable gradient descent)",
        "verdict": "stable at init" if stab < 2 else unstable,
    }
