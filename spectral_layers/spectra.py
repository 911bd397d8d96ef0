r"""Per-layer Mercer spectra on the sphere: the eigenvalues ``μ_k^(ℓ)`` of every infinite-width layer kernel.

On the unit sphere ``S^{d-1}`` with the uniform probability measure each layer kernel ``κ^(ℓ)`` of an
``init_mlp`` network is a dot-product kernel ``k_ℓ(⟨x, x'⟩)`` (``infinite.sphere_layer_kernels``), so its
eigenfunctions are the spherical harmonics and its eigenvalue at degree ``k`` is the Funk–Hecke integral
``μ_k^(ℓ) = E_t[k_ℓ(t) P_k(t)]`` (``gegenbauer``; paper §5.6, Lemma 4). The paper's layer-wise claim is about
the ratios ``μ_k^(ℓ) / μ_k^(L-1)``: this module is the one place that computes them.

Also here: ``κ^(ℓ)(1)`` (the Mercer trace ``Σ_k N(d, k) μ_k^(ℓ)``, and the bound ``sup |κ^(ℓ)|`` of a
positive-definite dot-product kernel) and the Price-theorem identity ``κ^(0)(u) = u dκ^(L-1)/du`` of networks
without bias (``price_gap``; ``docs/theory.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from spectral_layers import gegenbauer
from spectral_layers.infinite import DEFAULT_QUADRATURE_DEGREE, sphere_layer_kernels
from spectral_layers.models import Network

__all__ = [
    "MERCER_RTOL",
    "MercerSpectrum",
    "layer_kernels_at_one",
    "layer_mercer_eigenvalues",
    "layer_mercer_ratios",
    "layer_mercer_spectrum",
    "price_gap",
]

MERCER_RTOL = 1e-12
"""Default relative tolerance of ``layer_mercer_ratios``: ``|μ_k^(ℓ)| ≤ MERCER_RTOL · κ^(ℓ)(1)`` counts as zero."""


def layer_mercer_eigenvalues(
    dim: int,
    max_degree: int,
    *,
    network: Network,
    quadrature_degree: int | None = None,
    method: str = "theta",
    kernel_quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
) -> dict[str, Float[np.ndarray, " k1"]]:
    """Mercer eigenvalues ``μ_0 … μ_K`` of every layer's infinite-width NTK contribution on ``S^{dim-1}``.

    Every layer kernel is evaluated once on the Funk–Hecke nodes (``gegenbauer.funk_hecke_nodes``), then
    each goes through ``gegenbauer.gegenbauer_eigenvalues`` (accuracy: its docstring).

    Args:
      dim: input dimension ``d ≥ 2``.
      max_degree: largest harmonic degree ``K``.
      network: the ``Network`` (``width`` only matters for the standard parameterisation).
      quadrature_degree, method: Funk–Hecke quadrature, as in ``gegenbauer.gegenbauer_eigenvalues``.
      kernel_quadrature_degree: the 2-D Gaussian quadrature of the layer kernels for activations without a
        closed form (``infinite.infinite_layer_ntk``'s ``quadrature_degree``).

    Returns:
      ``{"layer_0": μ (K+1,), …, "layer_{L-1}": μ}`` (float64 NumPy), in layer order.
    """
    d = int(dim)
    q = (
        gegenbauer.default_quadrature_degree(d, max_degree)
        if quadrature_degree is None and method == "theta"
        else quadrature_degree
    )
    if q is None:
        q = max(128, int(max_degree) + 64)
    t, _ = gegenbauer.funk_hecke_nodes(d, quadrature_degree=q, method=method)
    values = sphere_layer_kernels(
        t, dim=d, network=network, quadrature_degree=kernel_quadrature_degree
    )
    return {
        name: gegenbauer.gegenbauer_eigenvalues(
            lambda _t, v=v: v, d, max_degree, quadrature_degree=q, method=method
        )
        for name, v in values.items()
    }


class MercerSpectrum(NamedTuple):
    """Every layer's Mercer eigenvalues with their resolution floor (``layer_mercer_spectrum``).

    Attributes:
      layers: the layer names, in layer order.
      eigenvalues: ``μ_k^(ℓ)``, ``(L, K+1)`` float64.
      kernel_at_one: ``κ^(ℓ)(1)``, ``(L,)``: the Mercer trace and ``sup |κ^(ℓ)|``.
      multiplicity: ``N(d, k)``, ``(K+1,)`` float64.
      floor: the quadrature's rounding floor ``32 ε κ^(ℓ)(1) / √N(d, k)`` of every eigenvalue, ``(L, K+1)``
        (``docs/theory.md`` §5): an eigenvalue not above it is not resolved.
    """

    layers: tuple[str, ...]
    eigenvalues: np.ndarray
    kernel_at_one: np.ndarray
    multiplicity: np.ndarray
    floor: np.ndarray


def layer_mercer_spectrum(
    dim: int, max_degree: int, *, network: Network, **kwargs
) -> MercerSpectrum:
    """Every layer's Mercer eigenvalues ``μ_0 … μ_K`` on ``S^{dim-1}`` with ``κ^(ℓ)(1)`` and their rounding floor.

    The one spectrum function for callers that need to know which eigenvalues are resolved: compute it once
    and pass it on (the floor goes with the eigenvalues; ``contributions.layer_ratios``'s ``floor``).

    Args:
      dim, max_degree, network: as in ``layer_mercer_eigenvalues`` (``kwargs`` are passed on to it;
        ``kernel_quadrature_degree`` also to ``layer_kernels_at_one``).
    """
    mu = layer_mercer_eigenvalues(dim, max_degree, network=network, **kwargs)
    one = layer_kernels_at_one(dim, network=network, **{
        k: v for k, v in kwargs.items() if k == "kernel_quadrature_degree"
    })  # fmt: skip
    names = tuple(mu)
    eig = np.stack([np.asarray(mu[name], dtype=np.float64) for name in names])
    at_one = np.array([one[name] for name in names], dtype=np.float64)
    mult = np.array(
        [float(gegenbauer.multiplicity(int(dim), k)) for k in range(int(max_degree) + 1)]
    )
    eps = float(np.finfo(np.float64).eps)
    floor = 32 * eps * np.abs(at_one)[:, None] / np.sqrt(mult)[None, :]
    return MercerSpectrum(names, eig, at_one, mult, floor)


def layer_mercer_ratios(
    dim: int,
    max_degree: int,
    *,
    network: Network,
    rtol: float = MERCER_RTOL,
    **kwargs,
) -> Float[np.ndarray, "layers_minus_1 k1"]:
    r"""Well-posed Mercer ratios ``μ_k^(ℓ) / μ_k^(L-1)``, ``ℓ < L-1``, ``k = 0 … K``; NaN where undefined.

    A ratio is NaN where either eigenvalue vanishes: ``|μ_k^(ℓ)| ≤ rtol · κ^(ℓ)(1)`` or
    ``|μ_k^(L-1)| ≤ rtol · κ^(L-1)(1)``. The scale is the Mercer trace ``κ^(ℓ)(1) = Σ_k N(d,k) μ_k^(ℓ)``
    (``= sup |κ^(ℓ)|``), not ``μ_0``: ``μ_0`` itself vanishes for odd activations without bias. Zeros are
    exact by parity for odd ``σ`` (tanh, erf, sin) without bias at every even ``k``, ``k = 0``
    included (``docs/theory.md`` §9.1; the quadrature returns them at ``~1e-19``). The default
    ``rtol = 1e-12`` is ``≥ 100 ×`` the quadrature's rounding floor ``32 ε / √N(d, k)`` relative to
    ``κ(1)`` (``docs/theory.md`` §5) and far below the smallest non-zero eigenvalue in the figures
    (ReLU, d = 10, k = 4: ``μ_4^(3)/κ^(3)(1) = 2e-5``); raise it for degrees whose eigenvalues approach
    the floor.

    Args:
      dim, max_degree, network: as in ``layer_mercer_eigenvalues`` (``kwargs`` are passed on to it).
      rtol: the relative tolerance above.

    Returns:
      ``(L - 1, K + 1)`` float64, row ``ℓ`` the ratios of layer ``ℓ``.
    """
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")
    mu = layer_mercer_eigenvalues(dim, max_degree, network=network, **kwargs)
    one = layer_kernels_at_one(dim, network=network, **{
        k: v for k, v in kwargs.items() if k == "kernel_quadrature_degree"
    })  # fmt: skip
    names = list(mu)
    if len(names) < 2:
        raise ValueError("network.depth must be >= 2 for a ratio between layers")
    resolved = {name: np.abs(mu[name]) > rtol * abs(one[name]) for name in names}
    last = names[-1]
    out = np.full((len(names) - 1, int(max_degree) + 1), np.nan)
    for i, name in enumerate(names[:-1]):
        ok = resolved[name] & resolved[last]
        out[i, ok] = mu[name][ok] / mu[last][ok]
    return out


def layer_kernels_at_one(
    dim: int,
    *,
    network: Network,
    kernel_quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
    batch: int = 1,
) -> dict[str, float]:
    """``κ^(ℓ)(1)`` of every layer on ``S^{dim-1}``: the Mercer trace ``Σ_k N(d, k) μ_k^(ℓ)``.

    ``batch``: evaluate on an array of that many ones (pass the size of an earlier call's cosine array to
    reuse its compiled kernel instead of compiling a new shape; the value is the same).
    """
    ones = np.ones(int(batch))
    out = sphere_layer_kernels(
        ones, dim=dim, network=network, quadrature_degree=kernel_quadrature_degree
    )
    return {name: float(np.asarray(v, dtype=np.float64)[0]) for name, v in out.items()}


def price_gap(
    dim: int, *, network: Network, kernel_quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE
) -> float:
    """``max_u |κ^(0)(u) − u dκ^(L-1)/du| / κ^(0)(1)`` over ``u ∈ [-0.99, 0.99]`` (199 points).

    Zero to rounding for networks without bias in the NTK parameterisation with ``input_scaling="none"``:
    Price's theorem ``d/du E[σ(x)σ(y)] = E[σ'(x)σ'(y)]`` gives ``κ^(0)(u) = u dκ^(L-1)/du``
    (``docs/theory.md``). The derivative is exact (autodiff through ``sphere_layer_kernels``).
    """
    last = f"layer_{network.depth - 1}"

    def kernels(v):
        return sphere_layer_kernels(
            v, dim=dim, network=network, quadrature_degree=kernel_quadrature_degree
        )

    @jax.jit
    def first_and_slope(u):
        # κ(u) acts elementwise, so the gradient of the sum is the vector of derivatives.
        slope = jax.grad(lambda v: jnp.sum(kernels(v)[last]))(u)
        return kernels(u)["layer_0"], slope

    u = jnp.concatenate([jnp.linspace(-0.99, 0.99, 199), jnp.ones(1)])
    first, slope = first_and_slope(u)
    first, slope, u, scale = first[:-1], slope[:-1], u[:-1], first[-1]
    return float(jnp.max(jnp.abs(first - u * slope)) / jnp.abs(scale))
