r"""Per-layer infinite-width NTK kernels ``κ^(ℓ)`` (paper Eq. 1) of the ``init_mlp`` networks.

Same network as ``models`` (layer names, parameterisations, ``input_scaling``):
``z^(ℓ) = s_ℓ h^(ℓ) W^(ℓ) + s_b b^(ℓ)``, ``h^(0) = x``, ``h^(ℓ+1) = φ(z^(ℓ))``, ``f = z^(L-1)``.

Derivation (Jacot et al., 2018, Thm. 1; Lee et al., 2018; Arora et al., 2019, "On exact computation
with an infinitely wide neural net", §3; neural-tangents' ``stax``, Novak et al., 2020):

* ``K^(0)(x, x') = ⟨x, x'⟩ / d`` (``input_scaling="fan_in"``) or ``⟨x, x'⟩`` (``"none"``); for ℓ ≥ 1
  ``K^(ℓ)(x, x') = lim (1/n_ℓ) ⟨h^(ℓ)(x), h^(ℓ)(x')⟩``, the NNGP kernel of the layer's inputs;
* ``Σ^(ℓ) = σ_w² K^(ℓ) + σ_b² 1[bias]``, the covariance of the pre-activations ``z^(ℓ)`` (the same
  in both parameterisations: they define the same function at initialisation);
* ``K^(ℓ+1)(x, x') = E[φ(u) φ(v)]`` and ``Σ̇^(ℓ)(x, x') = E[φ'(u) φ'(v)]`` with ``(u, v)`` centred
  Gaussian of covariance ``[[Σ^(ℓ)(x, x), Σ^(ℓ)(x, x')], [Σ^(ℓ)(x, x'), Σ^(ℓ)(x', x')]]`` (the
  diagonal variances are carried along, so inputs need not have unit norm).

The back-propagated gradients ``δ^(ℓ) = ∂f/∂z^(ℓ) = s_{ℓ+1} (δ^(ℓ+1) W^(ℓ+1)ᵀ) ∘ φ'(z^(ℓ))`` have
``⟨δ^(ℓ)(x), δ^(ℓ)(x')⟩ → D^(ℓ) = Π_{k=ℓ}^{L-2} σ_w² Σ̇^(k)`` (``D^(L-1) = 1``) in both
parameterisations (``s_{ℓ+1}² · n_{ℓ+1} · Var W = σ_w²``). The gradient Gram of layer ℓ is
``s_ℓ² ⟨h^(ℓ), h'^(ℓ)⟩ ⟨δ^(ℓ), δ'^(ℓ)⟩ + s_b² ⟨δ^(ℓ), δ'^(ℓ)⟩`` (``empirical`` docstring), hence

    NTK parameterisation:       κ^(ℓ) = Σ^(ℓ) · D^(ℓ)                  (s_ℓ² n_ℓ = σ_w², s_b = σ_b)
    standard parameterisation:  κ^(ℓ) = (n_ℓ K^(ℓ) + 1[bias]) · D^(ℓ),  n_0 K^(0) := ⟨x, x'⟩.

Summed over the layers, ``Θ^(0) = Σ^(0)``, ``Θ^(ℓ+1) = Σ^(ℓ+1) + σ_w² Σ̇^(ℓ) Θ^(ℓ)`` (NTK
parameterisation; the recursion of Arora et al., 2019, §3, whose ``c_σ`` is our ``σ_w²``); unrolled,
``Θ^(L-1) = Σ_ℓ Σ^(ℓ) Π_{k≥ℓ} σ_w² Σ̇^(k)`` exhibits the term of each layer.

Standard parameterisation — normalisation: as in neural-tangents'
``stax.Dense(parameterization="standard")`` (``ntk = input_width · nngp + W_std² · ntk``, ``+ 1``
with a bias; Sohl-Dickstein et al., 2020, "On the infinite width limit of neural networks with a
standard parameterization"), the kernel of a hidden layer grows linearly with its fan-in ``n_ℓ``:
``κ^(ℓ)`` has no width-free limit, only ``κ^(ℓ) / n_ℓ`` has. The result is the kernel for the given
nominal hidden ``width`` (NT's ``out_dim``), which is then required; ``layer_ntk`` of a width-``m``
standard network converges to it with relative error ``O(m^{-1/2})``. As ``m → ∞``, layer 0
(``⟨x, x'⟩ D^(0)``, width-free) and the bias terms become negligible next to the hidden layers.

Dual activations: ReLU by the arc-cosine kernels of degrees 1 and 0 (Cho & Saul, 2009), erf by
Williams (1997) and its derivative kernel ``(4/π) det(I + 2Σ)^{-1/2}``; any other activation by a
tensor-product quadrature of the 2×2 Gaussian after a Cholesky factorisation (``quadrature_dual``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float
from scipy.interpolate import CubicSpline

from spectral_layers import _validation as val
from spectral_layers import nt_compat
from spectral_layers._rows import map_rows
from spectral_layers.activations import QUADRATURE_RULES, dual_kernels, nt_activation
from spectral_layers.empirical import relative_frobenius
from spectral_layers.models import MLPSpec, Network, layer_name
from spectral_layers.sharding import sharded_rows

__all__ = [
    "DEFAULT_NT_QUADRATURE_DEGREE",
    "DEFAULT_QUADRATURE_DEGREE",
    "SPLINE_NODES",
    "infinite_layer_ntk",
    "nt_layer_ntk",
    "nt_ntk",
    "nt_relative_errors",
    "sphere_layer_kernels",
    "sphere_layer_ntk",
]

DEFAULT_QUADRATURE_DEGREE = 64
"""Nodes per variable of the quadrature for activations without a closed form.

Error of every layer kernel (max over layers of the relative Frobenius error against degree 300;
float64; depth 4 with bias, σ_w = σ_b = 1; 30 points on S^9, scaled to norm 2 in the last rows;
``python benchmarks/bench_infinite.py --accuracy``), default trapezoid rule:

    degree                         16     24     32     48     64     96
    tanh      fan_in, ‖x‖=1      4e-03  8e-05  2e-06  4e-09  2e-11  3e-15
    tanh      none,   ‖x‖=1      8e-03  4e-04  2e-05  1e-07  1e-09  2e-13
    tanh      none,   ‖x‖=2      1e-01  2e-02  5e-03  3e-04  2e-05  1e-07
    gelu      none,   ‖x‖=1      8e-05  2e-07  1e-08  7e-11  7e-13  3e-16
    gelu      none,   ‖x‖=2      1e-02  3e-04  5e-06  7e-10  1e-12  5e-16
    softplus  none,   ‖x‖=2      3e-05  5e-07  2e-08  1e-10  2e-12  6e-16
    sin       none,   ‖x‖=1      3e-05  1e-06  8e-08  5e-10  6e-12  1e-15

Gauss–Hermite (``quadrature_rule="gauss_hermite"``, NT's rule) is much worse for tanh (5e-06,
4e-05, 8e-03 at degree 64 in the three tanh rows) and gelu at ‖x‖ = 2 (1e-05), better for sin
(rounding level from degree 24). The error grows with the pre-activation variance
(``σ_w² ‖x‖²``, divided by ``d`` with ``fan_in``): raise the degree for large inputs.
"""

DEFAULT_NT_QUADRATURE_DEGREE = 100
"""``deg`` of neural-tangents' ``ElementwiseNumerical`` (Gauss–Hermite) in the cross-check.

NT's rule is Gauss–Hermite, which converges slowly for tanh (~1e-7 at 100 on unit-variance inputs),
and it materialises ``deg² · n1 · n2`` values: keep ``n`` small."""

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class _Quadrature:
    degree: int
    rule: str


def _dual_with_variances(dual, closed: bool, cov, var1, var2):
    """``(K, K_dot)`` on the matrix and ``K`` on each diagonal, as ``dual(q, q, q)``.

    For quadrature the three are evaluated as one flat array (one compiled loop instead of three:
    the compile time of the quadrature dominates for small inputs).
    """
    if closed:
        k, k_dot = dual(cov, var1, var2)
        return k, k_dot, dual(var1, var1, var1)[0], dual(var2, var2, var2)[0]
    shape = cov.shape
    v1, v2 = jnp.broadcast_to(var1, shape), jnp.broadcast_to(var2, shape)
    c_all = jnp.concatenate([cov.ravel(), var1.ravel(), var2.ravel()])
    q1_all = jnp.concatenate([v1.ravel(), var1.ravel(), var2.ravel()])
    q2_all = jnp.concatenate([v2.ravel(), var1.ravel(), var2.ravel()])
    k_all, k_dot_all = dual(c_all, q1_all, q2_all)
    n, n1 = cov.size, var1.size
    return (
        k_all[:n].reshape(shape),
        k_dot_all[:n].reshape(shape),
        k_all[n : n + n1].reshape(var1.shape),
        k_all[n + n1 :].reshape(var2.shape),
    )


# --------------------------------------------------------------------------------------------------
# the recursion


def _coefficients(spec: MLPSpec) -> dict[str, np.float64 | np.ndarray]:
    """The numbers of the recursion (module docstring), passed to the jitted code as values so that
    changing ``σ_w``, ``σ_b``, ``d`` or the widths does not recompile.

    ``Σ^(0) = a0 ⟨x, x'⟩ + sb2``, ``sw2 = σ_w²``, ``sb2 = σ_b² 1[bias]``; layer ℓ's own term is
    ``weight[ℓ] K^(ℓ) + bias`` (``K^(0)`` is the raw Gram ``⟨x, x'⟩``).
    """
    depth, sw2 = spec.depth, spec.sigma_w**2
    sb2 = spec.sigma_b**2 if spec.use_bias else 0.0
    a0 = sw2 / spec.in_dim if spec.input_scaling == "fan_in" else sw2
    if spec.parameterization == "ntk":
        weight, bias = [a0] + [sw2] * (depth - 1), sb2  # s_ℓ² n_ℓ = σ_w²; s_0² on ⟨x, x'⟩
    else:
        weight, bias = [1.0] + [float(n) for n in spec.fan_ins[1:]], (1.0 if spec.use_bias else 0.0)
    return {
        "a0": np.float64(a0),
        "sw2": np.float64(sw2),
        "sb2": np.float64(sb2),
        "weight": np.asarray(weight, np.float64),
        "bias": np.float64(bias),
    }


def _layer_kernels(g0, g0_1, g0_2, coef, activation, depth: int, quad: _Quadrature):
    """``[κ^(0), …, κ^(L-1)]`` from the Gram ``g0 = ⟨x, x'⟩`` and ``g0_1 = ‖x‖²``, ``g0_2 = ‖x'‖²``.

    The three broadcast to a common shape ``S`` (the output shape); ``coef`` is ``_coefficients``.
    A forward pass over the activations (a ``lax.scan`` for quadrature) gives ``K^(ℓ)`` and
    ``σ_w² Σ̇^(ℓ)``; a backward pass multiplies in ``D^(ℓ)`` (module docstring). The variances
    ``K^(ℓ)(x, x)`` are the dual at ``(q, q, q)``, the computation of the matrix's diagonal entries:
    identical points keep ``ρ = 1`` exactly (``arccos`` is ill-conditioned there) when their Gram
    entry equals their squared norm.
    """
    dual, closed = dual_kernels(activation, quad.degree, quad.rule)
    shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in (g0, g0_1, g0_2)))
    dtype = jnp.result_type(g0, g0_1, g0_2)
    coef = {k: jnp.asarray(v, dtype) for k, v in coef.items()}
    sw2, sb2 = coef["sw2"], coef["sb2"]
    g0 = jnp.broadcast_to(g0, shape).astype(dtype)

    def step(carry, scale):
        k, k1, k2 = carry  # K^(ℓ) (the raw Gram for ℓ = 0) and its two diagonals
        cov, var1, var2 = scale * k + sb2, scale * k1 + sb2, scale * k2 + sb2  # Σ^(ℓ)
        k, k_dot, k1, k2 = _dual_with_variances(dual, closed, cov, var1, var2)  # K^(ℓ+1), Σ̇^(ℓ)
        return (k, k1, k2), (k, sw2 * k_dot)

    ks, dots = [g0], []
    if depth > 1:
        scales = jnp.concatenate([coef["a0"][None], jnp.full((depth - 2,), sw2)])
        carry = (g0, g0_1.astype(dtype), g0_2.astype(dtype))
        if closed:  # cheap to compile: unrolled, so that XLA fuses across layers
            for i in range(depth - 1):
                carry, (k, dot) = step(carry, scales[i])
                ks.append(k)
                dots.append(dot)
        else:  # quadrature: one compiled body (its compile time dominates small problems)
            _, (k_stack, dot_stack) = jax.lax.scan(step, carry, scales)
            ks += list(k_stack)
            dots = list(dot_stack)

    out = [None] * depth
    d = None  # D^(ℓ); None stands for 1
    for i in reversed(range(depth)):
        term = coef["weight"][i] * ks[i] + coef["bias"]
        out[i] = term if d is None else term * d
        if i > 0:
            d = dots[i - 1] if d is None else d * dots[i - 1]
    return out


def _network(network: Any) -> Network:
    if not isinstance(network, Network):
        raise TypeError(f"network must be a spectral_layers.Network, got {type(network).__name__}")
    return network


def _quadrature(degree, rule) -> _Quadrature:
    degree = val.check_positive_int(degree, "quadrature_degree")
    return _Quadrature(degree, val.check_choice(rule, "quadrature_rule", QUADRATURE_RULES))


def infinite_layer_ntk(
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    *,
    network: Network,
    quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
    quadrature_rule: str = "trapezoid",
    block_size: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
    num_outputs: int | None = None,
    trace_axes: tuple[int, ...] = (-1,),
    diagonal_axes: tuple[int, ...] = (),
) -> dict[str, Float[Array, "n1 n2 *out"]]:
    r"""Infinite-width per-layer NTK ``κ^(ℓ)(x1_i, x2_j)`` of an ``init_mlp`` network (paper Eq. 1).

    With ``num_outputs = C`` the network has ``C`` output units (logits). At infinite width their
    per-layer kernels are independent and equal: ``Κ^(ℓ)_{cc'} = κ^(ℓ) δ_{cc'}`` (``κ ⊗ I_C``; Jacot et al.,
    2018, Thm. 1, and neural-tangents' ``stax`` with ``Dense(C)`` last), returned with ``layer_ntk``'s
    output axes: traced (the default) ``C κ^(ℓ)`` of shape ``(n1, n2)``; ``trace_axes=()`` the
    ``(n1, n2, C, C)`` array ``κ^(ℓ) ⊗ I_C``; ``diagonal_axes=(-1,)`` ``(n1, n2, C)``. A finite network's
    ``layer_ntk(..., trace_axes=…)`` Grams converge to these.

    NTK parameterisation: ``κ^(ℓ) = Σ^(ℓ) · Π_{k=ℓ}^{L-2} σ_w² Σ̇^(k)``; ``Σ_ℓ κ^(ℓ)`` is the NTK of
    Jacot et al. (2018) / Arora et al. (2019), NT's ``stax`` ``kernel_fn(x1, x2, "ntk")``. See the
    module docstring for the derivation and for the standard parameterisation (needs ``network.width``).

    Args:
      x1: inputs ``(n1, d)``, any norm, float32 or float64.
      x2: second inputs ``(n2, d)``; default ``x1``.
      network: the ``Network``. ``"relu"``, ``"erf"``: closed forms; any other activation (a callable
        included, differentiated by autodiff): quadrature, ``O(n1 n2 degree²)`` evaluations of ``φ`` and
        ``φ'`` (on the sphere, ``sphere_layer_ntk`` interpolates on a grid of cosines: far cheaper for large
        ``n``). ``width`` is used, and required, only with ``parameterization="standard"``.
      quadrature_degree: nodes per variable of the quadrature (``DEFAULT_QUADRATURE_DEGREE`` has the
        measured accuracy).
      quadrature_rule: ``"trapezoid"`` or ``"gauss_hermite"`` (``activations.quadrature_rule``).
      block_size: if given, rows of the result are computed ``block_size`` at a time (``lax.map``),
        bounding the memory of intermediates; the result is the same.
      mesh: any ``jax.sharding.Mesh`` (``sharding.make_mesh()``, ``jax.make_mesh(...)``; one or several
        processes): rows are computed on its devices in parallel and the result stays sharded by rows
        (``spectral_layers.sharding``; ``sharding.gather`` fetches it). Any ``n1``.
      mesh_axis: the mesh axis name (or names) the rows are sharded over; default the mesh's first axis.
      num_outputs: ``C`` output units (``None``: one output, kernels ``(n1, n2)``).
      trace_axes: with ``num_outputs``, ``(-1,)`` (sum over the outputs) or ``()``.
      diagonal_axes: with ``num_outputs`` and ``trace_axes=()``, ``(-1,)`` keeps only ``c = c'``.

    Returns:
      ``{"layer_0": κ^(0), …, "layer_{L-1}": κ^(L-1)}``, each ``(n1, n2)`` (or with the output axes above)
      in the inputs' dtype.

    Raises:
      ValueError / TypeError: naming the argument, on bad inputs or settings.

    Example:
      >>> x = jax.random.normal(jax.random.key(0), (5, 3))
      >>> k = infinite_layer_ntk(x, network=Network(depth=3))
      >>> list(k), k["layer_0"].shape
      (['layer_0', 'layer_1', 'layer_2'], (5, 5))
    """
    x1 = val.check_inputs(x1, "x1")
    same = x2 is None
    x2 = x1 if same else val.check_inputs(x2, "x2", in_dim=x1.shape[1])
    spec = _network(network).spec(x1.shape[1])
    quad = _quadrature(quadrature_degree, quadrature_rule)
    if block_size is not None:
        block_size = val.check_positive_int(block_size, "block_size")
    dtype = jnp.result_type(x1, x2)
    args = (_coefficients(spec), spec.activation, spec.depth, quad, block_size)
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    if mesh is not None:
        rows = _sharded_rows_fn(same, *args[1:])
        out = sharded_rows(
            rows, (x1, jnp.arange(x1.shape[0])), x2, args[0], mesh=mesh, axis=mesh_axis
        )
    else:
        out = _infinite_jit(x1, None if same else x2, *args)
    kernels = {layer_name(i): k for i, k in enumerate(out)}
    if num_outputs is None:
        return kernels
    return {
        name: _with_outputs(k, num_outputs, trace_axes, diagonal_axes)
        for name, k in kernels.items()
    }


def _with_outputs(k, num_outputs, trace_axes, diagonal_axes):
    """``κ ⊗ I_C`` with ``layer_ntk``'s output axes (``infinite_layer_ntk``)."""
    c = val.check_positive_int(num_outputs, "num_outputs")
    trace = {a % 2 for a in trace_axes}
    diagonal = {a % 2 for a in diagonal_axes}
    if not trace <= {1} or not diagonal <= {1} or (trace & diagonal):
        raise ValueError(
            "with num_outputs, trace_axes and diagonal_axes must each be () or (-1,), not both (-1,); "
            f"got trace_axes={trace_axes}, diagonal_axes={diagonal_axes}"
        )
    if trace:
        return c * k
    if diagonal:
        return jnp.broadcast_to(k[..., None], (*k.shape, c))
    return k[..., None, None] * jnp.eye(c, dtype=k.dtype)[(None,) * k.ndim]  # κ ⊗ I_C


@functools.lru_cache(maxsize=64)
def _sharded_rows_fn(same, activation, depth, quad, block_size):
    """The per-device block of ``infinite_layer_ntk`` (one function per setting: compilation reused)."""

    def rows(block, x2, coef):
        return _infinite_rows(
            block[0], block[1], x2, same, coef, activation, depth, quad, block_size
        )

    return rows


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _infinite_jit(x1, x2, coef, activation, depth, quad, block_size):
    same = x2 is None
    return _infinite_rows(
        x1,
        jnp.arange(x1.shape[0]),
        x1 if same else x2,
        same,
        coef,
        activation,
        depth,
        quad,
        block_size,
    )


def _infinite_rows(x1, idx1, x2, same, coef, activation, depth, quad, block_size):
    """Kernel rows for the inputs ``x1`` (global row indices ``idx1``) against all of ``x2``."""
    sq1 = jnp.sum(x1 * x1, axis=1)
    sq2 = jnp.sum(x2 * x2, axis=1)

    def rows(r):
        x_r, sq_r, idx_r = r
        g = jnp.matmul(x_r, x2.T, precision=_HIGHEST)
        if same:  # the Gram's diagonal is the squared norms exactly: ρ = 1 for identical points
            g = g.at[jnp.arange(x_r.shape[0]), idx_r].set(sq_r)
        return tuple(_layer_kernels(g, sq_r[:, None], sq2[None, :], coef, activation, depth, quad))

    return map_rows(rows, (x1, sq1, idx1), block_size)


# --------------------------------------------------------------------------------------------------
# the unit sphere: kernels as functions of the cosine


def sphere_layer_kernels(
    u: Float[ArrayLike, "..."],
    *,
    dim: int,
    network: Network,
    quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
    quadrature_rule: str = "trapezoid",
) -> dict[str, Float[Array, "..."]]:
    r"""Values ``k_ℓ(u)`` of the layer kernels on the unit sphere ``S^{dim-1}`` at cosines ``u``.

    For ``‖x‖ = ‖x'‖ = 1`` each ``κ^(ℓ)`` is a dot-product kernel ``κ^(ℓ)(x, x') = k_ℓ(⟨x, x'⟩)``
    (input to Mercer / Gegenbauer eigenvalues, ``spectra``); this returns ``k_ℓ(u)``, equal to
    ``infinite_layer_ntk`` on unit-norm inputs. ``dim`` matters with ``input_scaling="fan_in"``: the
    first layer then sees ``⟨x, x'⟩ / dim``.

    Args:
      u: cosines in ``[-1, 1]``, any shape (values outside it beyond rounding raise ``ValueError``).
      dim: input dimension ``d``.
      network, quadrature_degree, quadrature_rule: as in ``infinite_layer_ntk``.

    Returns:
      ``{layer_name: k_ℓ(u)}``, arrays of shape ``u.shape`` in the floating dtype of ``u``.
    """
    u = _check_cosines(u)
    dim = val.check_positive_int(dim, "dim")
    spec = _network(network).spec(dim)
    quad = _quadrature(quadrature_degree, quadrature_rule)
    out = _kernel_fn_jit(u, _coefficients(spec), spec.activation, spec.depth, quad)
    return {layer_name(i): k for i, k in enumerate(out)}


def _check_cosines(u: Any) -> jax.Array:
    u = val.as_float_array(u, "u", "an array of cosines")
    if val.is_concrete(u) and u.size:
        u_np = np.asarray(u)
        if not np.isfinite(u_np).all():
            raise ValueError("u contains NaN or inf values")
        if np.abs(u_np).max() > 1 + 16 * np.finfo(u_np.dtype).eps:
            raise ValueError(f"u must lie in [-1, 1] (cosines), got max |u| = {np.abs(u_np).max()}")
    return u


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _kernel_fn_jit(u, coef, activation, depth, quad):
    one = jnp.ones((), u.dtype)
    return tuple(_layer_kernels(jnp.clip(u, -1, 1), one, one, coef, activation, depth, quad))


SPLINE_NODES = 4097
"""Cosine grid of ``sphere_layer_ntk`` for quadrature-based layer kernels."""


def sphere_layer_ntk(
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    *,
    network: Network,
    spline_nodes: int = SPLINE_NODES,
    quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
    quadrature_rule: str = "trapezoid",
) -> dict[str, Float[np.ndarray, "n1 n2"]]:
    r"""Infinite-width layer kernels on points of the unit sphere, fast for any activation (float64 NumPy).

    ReLU and erf use the closed forms of ``infinite_layer_ntk`` directly. Other activations need a 2-D
    quadrature per pair of points (``n1 n2 × degree²`` evaluations); on the sphere every layer kernel is a
    function of ``u = ⟨x, x'⟩`` only, so it is evaluated on ``spline_nodes`` equispaced cosines
    (``sphere_layer_kernels``) and interpolated by a cubic spline (``scipy.interpolate.CubicSpline``;
    interpolation error ``O(h⁴)``, ``h = 2 / (spline_nodes − 1)``; equal to ``infinite_layer_ntk`` to rounding
    for tanh, GELU and ReLU on 40 points of S⁹, checked in ``tests/spectral_layers/test_infinite.py``).

    Args:
      x1: unit-norm inputs ``(n1, d)``.
      x2: unit-norm inputs ``(n2, d)``; default ``x1``.
      network, quadrature_degree, quadrature_rule: as in ``infinite_layer_ntk``.
      spline_nodes: size of the cosine grid (≥ 4).

    Returns:
      ``{layer_name: κ^(ℓ)}``, float64 NumPy arrays ``(n1, n2)``.
    """
    network = _network(network)
    x1 = val.check_inputs(x1, "x1")
    x2_ = x1 if x2 is None else val.check_inputs(x2, "x2", in_dim=x1.shape[1])
    spline_nodes = val.check_positive_int(spline_nodes, "spline_nodes", minimum=4)
    norms = np.linalg.norm(np.asarray(jnp.concatenate([x1, x2_]), dtype=np.float64), axis=1)
    if np.abs(norms - 1).max() > 1e-6:
        raise ValueError(f"x1 and x2 must have unit norm (points on the sphere), got norms {norms}")
    if isinstance(network.activation, str) and network.activation in ("relu", "erf"):
        kernels = infinite_layer_ntk(
            x1, x2, network=network, quadrature_degree=quadrature_degree,
            quadrature_rule=quadrature_rule,
        )  # fmt: skip
        return {k: np.asarray(v) for k, v in kernels.items()}
    grid = np.linspace(-1.0, 1.0, spline_nodes)
    values = sphere_layer_kernels(
        jnp.asarray(grid), dim=x1.shape[1], network=network, quadrature_degree=quadrature_degree,
        quadrature_rule=quadrature_rule,
    )  # fmt: skip
    u = np.clip(np.asarray(x1 @ x2_.T, dtype=np.float64), -1.0, 1.0)
    return {k: CubicSpline(grid, np.asarray(v, dtype=np.float64))(u) for k, v in values.items()}


# --------------------------------------------------------------------------------------------------
# neural-tangents cross-check


def _nt_layers(stax, spec: MLPSpec, degree: int, numerical: bool) -> list:
    """``[Dense_0, φ, Dense_1, φ, …, Dense_{L-1}]`` as ``stax`` layers, the ``init_mlp`` network."""
    layers = []
    for i in range(spec.depth):
        w_std = spec.sigma_w
        if i == 0 and spec.input_scaling == "none":
            w_std *= math.sqrt(spec.in_dim)  # stax always divides by sqrt(fan_in)
        layers.append(
            stax.Dense(
                spec.widths[i],
                W_std=w_std,
                b_std=spec.sigma_b if spec.use_bias else None,
                parameterization=spec.parameterization,
            )
        )
        if i < spec.depth - 1:
            layers.append(nt_activation(stax, spec.activation, degree, numerical))
    return layers


def _nt_setup(x1, x2, network, nt_quadrature_degree, numerical):
    """``(stax, x1, x2, spec, layers)``: checked inputs and the ``stax`` layers of the network."""
    stax = nt_compat.import_neural_tangents().stax
    x1 = val.check_inputs(x1, "x1")
    x2 = None if x2 is None else val.check_inputs(x2, "x2", in_dim=x1.shape[1])
    spec = _network(network).spec(x1.shape[1])
    degree = val.check_positive_int(nt_quadrature_degree, "nt_quadrature_degree")
    return stax, x1, x2, spec, _nt_layers(stax, spec, degree, bool(numerical))


def nt_layer_ntk(
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    *,
    network: Network,
    nt_quadrature_degree: int = DEFAULT_NT_QUADRATURE_DEGREE,
    numerical: bool = False,
) -> dict[str, Float[Array, "n1 n2"]]:
    r"""Per-layer infinite-width NTK from neural-tangents' ``stax`` (an independent reference).

    For each ℓ the network is split into a head (layers ``0 … ℓ-1``, each followed by ``φ``) and a
    tail (layers ``ℓ … L-1``). The head's kernel (``kernel_fn(x1, x2)``, an ``nt.Kernel``) with its
    ``ntk`` set to zero is fed to the tail's ``kernel_fn``, whose NTK then counts only the layers
    ``≥ ℓ``: ``T_ℓ = Σ_{k≥ℓ} κ^(k)``, and ``κ^(ℓ) = T_ℓ − T_{ℓ+1}``. With ``input_scaling="none"``
    layer 0 gets ``W_std = σ_w sqrt(d)`` (stax always divides by ``sqrt(fan_in)``).

    Args:
      x1, x2, network: as in ``infinite_layer_ntk``.
      nt_quadrature_degree: ``deg`` of ``stax.ElementwiseNumerical`` (Gauss–Hermite), used for the
        activations NT has no closed form for (tanh, softplus, callables).
      numerical: use ``ElementwiseNumerical`` for every activation, even those NT has in closed form
        (ReLU, erf, GELU, sin, identity).

    Returns:
      ``{layer_name: κ^(ℓ)}``, each ``(n1, n2)``.

    Raises:
      nt_compat.NeuralTangentsUnavailable: if neural-tangents cannot be imported.
    """
    stax, x1, x2, spec, layers = _nt_setup(x1, x2, network, nt_quadrature_degree, numerical)
    tails = []
    for i in range(spec.depth):
        _, _, tail_fn = stax.serial(*layers[2 * i :])
        if i == 0:
            tails.append(tail_fn(x1, x2, "ntk"))
            continue
        _, _, head_fn = stax.serial(*layers[: 2 * i])
        k = head_fn(x1, x2)
        tails.append(tail_fn(k.replace(ntk=jnp.zeros_like(k.nngp))).ntk)
    tails.append(jnp.zeros_like(tails[0]))
    return {layer_name(i): tails[i] - tails[i + 1] for i in range(spec.depth)}


def nt_ntk(
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    *,
    network: Network,
    nt_quadrature_degree: int = DEFAULT_NT_QUADRATURE_DEGREE,
    numerical: bool = False,
) -> Float[Array, "n1 n2"]:
    """The full infinite-width NTK ``Θ = Σ_ℓ κ^(ℓ)`` from neural-tangents' ``stax`` (one ``kernel_fn``).

    The same ``stax`` network as ``nt_layer_ntk``, evaluated once (jitted): an independent reference for
    the sum of this module's layer kernels.

    Raises:
      nt_compat.NeuralTangentsUnavailable: if neural-tangents cannot be imported.
    """
    stax, x1, x2, _, layers = _nt_setup(x1, x2, network, nt_quadrature_degree, numerical)
    _, _, kernel_fn = stax.serial(*layers)
    return jax.jit(kernel_fn, static_argnames=("get",))(x1, x2, get="ntk")


def nt_relative_errors(
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    *,
    network: Network,
    quadrature_degree: int = DEFAULT_QUADRATURE_DEGREE,
    quadrature_rule: str = "trapezoid",
    nt_quadrature_degree: int = DEFAULT_NT_QUADRATURE_DEGREE,
    numerical: bool = False,
) -> dict[str, float]:
    """Per-layer relative Frobenius error of ``infinite_layer_ntk`` against ``nt_layer_ntk``.

    Args:
      x1, x2, network: as in ``infinite_layer_ntk``.
      quadrature_degree, quadrature_rule: this module's quadrature (``infinite_layer_ntk``).
      nt_quadrature_degree, numerical: NT's side (``nt_layer_ntk``).

    Returns:
      ``{layer_name: ‖κ − κ_NT‖_F / ‖κ_NT‖_F}``: rounding level (1e-15…1e-9 in float64, the largest
      from ``arccos`` at correlations near 1) for closed forms; the larger of the two quadrature
      errors otherwise.

    Raises:
      nt_compat.NeuralTangentsUnavailable: if neural-tangents cannot be imported.
    """
    ours = infinite_layer_ntk(
        x1,
        x2,
        network=network,
        quadrature_degree=quadrature_degree,
        quadrature_rule=quadrature_rule,
    )
    ref = nt_layer_ntk(
        x1, x2, network=network, nt_quadrature_degree=nt_quadrature_degree, numerical=numerical
    )
    return {
        name: float(relative_frobenius(np.asarray(ours[name], np.float64), ref[name], axis=None))
        for name in ours
    }
