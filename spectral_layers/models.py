"""Fully connected Flax (linen) networks with one parameter subtree per layer.

The network of depth ``L`` maps ``x`` (``d`` features) to a scalar through ``L`` Dense layers named
``layer_0 … layer_{L-1}``; an activation follows every layer but the last. With the NTK parameterisation
(Jacot et al., 2018; paper §5.4) every weight is ``N(0, 1)`` and the pre-activations are

    z^(ℓ) = σ_w / sqrt(n_ℓ) · h^(ℓ) W^(ℓ) + σ_b b^(ℓ),     h^(0) = x,   h^(ℓ+1) = φ(z^(ℓ)),

with ``n_ℓ`` the fan-in of layer ℓ; ``f(x) = z^(L-1)``. For ``L = 2``, ``σ_w = 1`` and no bias this is the paper's
``f(x) = (1/sqrt(m)) Σ_j v_j φ(w_jᵀ x)`` up to the input normalisation: the paper uses ``w_jᵀ x`` without the
``1/sqrt(d)`` of the first layer, which is ``input_scaling="none"`` here (unit-variance pre-activations for inputs
on the unit sphere). The default ``input_scaling="fan_in"`` is the convention of neural-tangents' ``stax.Dense``.

The standard parameterisation draws ``W ~ N(0, σ_w²/n_ℓ)``, ``b ~ N(0, σ_b²)`` and computes ``z = h W + b``: the same
function at initialisation, different gradients (and so different NTK) by a factor ``n_ℓ / σ_w²`` on the weights.

Linen is used rather than NNX because its parameters are a plain pytree: a dict of per-layer subtrees that
``jax.vmap`` (seed batches), ``jax.grad`` w.r.t. one subtree and neural-tangents all take as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from spectral_layers import _validation as val
from spectral_layers.activations import Activation, resolve_activation

__all__ = [
    "INPUT_SCALINGS",
    "MLP",
    "PARAMETERIZATIONS",
    "MLPApply",
    "MLPSpec",
    "Network",
    "check_declared_params",
    "declared_input_dim",
    "dense_apply",
    "init_mlp",
    "init_mlp_seeds",
    "layer_name",
    "make_spec",
]

Params = Mapping[str, Mapping[str, jax.Array]]

PARAMETERIZATIONS = ("ntk", "standard")
INPUT_SCALINGS = ("fan_in", "none")


def layer_name(index: int) -> str:
    """Name of the parameter subtree of layer ``index``: ``layer_{index}``."""
    return f"layer_{index}"


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """Static description of a fully connected network (everything but the parameter values).

    Attributes:
      in_dim: number of input features ``d``.
      widths: output width of every layer; the last entry is 1 (scalar output).
      activation: name in ``ACTIVATIONS`` or a callable, applied after every layer but the last.
      use_bias: whether every layer has a bias.
      parameterization: ``"ntk"`` or ``"standard"`` (module docstring).
      sigma_w: weight standard deviation ``σ_w``.
      sigma_b: bias standard deviation ``σ_b`` (ignored without bias).
      input_scaling: ``"fan_in"`` divides the first layer by ``sqrt(d)`` as every other layer (stax);
        ``"none"`` omits it, the paper's §5.4 convention for unit-norm inputs.
    """

    in_dim: int
    widths: tuple[int, ...]
    activation: Activation = "relu"
    use_bias: bool = False
    parameterization: Literal["ntk", "standard"] = "ntk"
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    input_scaling: Literal["fan_in", "none"] = "fan_in"

    @property
    def depth(self) -> int:
        """Number of Dense layers ``L``."""
        return len(self.widths)

    @property
    def fan_ins(self) -> tuple[int, ...]:
        """Fan-in ``n_ℓ`` of every layer."""
        return (self.in_dim, *self.widths[:-1])

    def _fan_in_scale(self, index: int) -> float:
        """``σ_w / sqrt(n_ℓ)`` (``σ_w`` for layer 0 with ``input_scaling="none"``)."""
        if index == 0 and self.input_scaling == "none":
            return self.sigma_w
        return self.sigma_w / math.sqrt(self.fan_ins[index])

    def weight_scale(self, index: int) -> float:
        """Multiplier ``s_ℓ`` of ``h W`` in the forward pass (``σ_w/sqrt(n_ℓ)`` in the NTK parameterisation)."""
        return 1.0 if self.parameterization == "standard" else self._fan_in_scale(index)

    def weight_init_std(self, index: int) -> float:
        """Standard deviation of the initial weights of layer ``index`` (``1`` in the NTK parameterisation)."""
        return 1.0 if self.parameterization == "ntk" else self._fan_in_scale(index)

    @property
    def bias_scale(self) -> float:
        """Multiplier of ``b`` in the forward pass (``σ_b`` in the NTK parameterisation)."""
        return self.sigma_b if self.parameterization == "ntk" else 1.0

    @property
    def bias_init_std(self) -> float:
        """Standard deviation of the initial biases."""
        return 1.0 if self.parameterization == "ntk" else self.sigma_b


@dataclasses.dataclass(frozen=True)
class Network:
    """The one description of a fully connected network that every part of the package takes.

    Everything of ``init_mlp`` but the input dimension (so that one ``Network`` serves inputs of any ``d``)
    and the parameter values: the finite networks (``init``, ``init_seeds``), the infinite-width kernels
    (``infinite_layer_ntk(x, network=...)``), the sphere kernels, the neural-tangents cross-check and the
    per-layer spectra (``spectra.layer_mercer_eigenvalues``) all take it, and every experiment config holds
    one as its ``network`` field. Validated on construction.

    Attributes:
      depth: number of Dense layers ``L >= 1`` (the paper's "4-layer network" is ``depth=4``).
      width: hidden width ``m`` (all hidden layers) or a tuple of ``depth - 1`` hidden widths; ``None`` means
        infinite width: allowed for the infinite-width kernels in the NTK parameterisation only.
      activation: name in ``activations.ACTIVATIONS`` or a callable.
      use_bias: whether layers have biases.
      parameterization: ``"ntk"`` (paper §5.4) or ``"standard"`` (module docstring).
      sigma_w: weight scale ``σ_w``.
      sigma_b: bias scale ``σ_b`` (ignored without bias).
      input_scaling: ``"fan_in"`` (stax convention) or ``"none"`` (paper §5.4, no ``1/sqrt(d)`` on layer 0).
    """

    depth: int = 4
    width: int | tuple[int, ...] | None = None
    activation: Activation = "relu"
    use_bias: bool = False
    parameterization: Literal["ntk", "standard"] = "ntk"
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    input_scaling: Literal["fan_in", "none"] = "fan_in"

    def __post_init__(self):
        if isinstance(self.width, list):
            object.__setattr__(self, "width", tuple(self.width))
        make_spec(1, **{**self.kwargs(), "width": 1 if self.width is None else self.width})

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``init_mlp`` (``width`` may be ``None``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def spec(self, in_dim: int) -> MLPSpec:
        """The ``MLPSpec`` for ``in_dim`` input features.

        Raises:
          ValueError: if ``width`` is ``None`` with ``parameterization="standard"``, whose layer kernels grow
            linearly with the hidden width (neural-tangents' convention, ``spectral_layers.infinite``).
        """
        kwargs = self.kwargs()
        if self.width is None:
            if self.parameterization == "standard":
                raise ValueError(
                    "network.width is required for parameterization='standard': its layer kernels "
                    "grow linearly with the hidden width (neural-tangents' convention, see the "
                    "spectral_layers.infinite docstring); pass the finite network's width"
                )
            kwargs["width"] = 1  # irrelevant in the NTK parameterisation
        return make_spec(in_dim, **kwargs)

    def replace(self, **changes: Any) -> Network:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def init(self, key: jax.Array, in_dim: int, *, dtype: Any = None):
        """``init_mlp(key, in_dim, **self.kwargs())``: ``(apply_fn, params)`` of one network."""
        return init_mlp(key, in_dim, dtype=dtype, **self._finite_kwargs())

    def init_seeds(
        self,
        key: jax.Array,
        num_seeds: int,
        in_dim: int,
        *,
        seed_indices: Any = None,
        dtype: Any = None,
    ):
        """``init_mlp_seeds`` for this network: parameters of many seeds stacked on a leading axis."""
        return init_mlp_seeds(
            key, num_seeds, in_dim, seed_indices=seed_indices, dtype=dtype, **self._finite_kwargs()
        )

    def _finite_kwargs(self) -> dict[str, Any]:
        if self.width is None:
            raise ValueError(
                "network.width is None (infinite width): a finite network needs a width"
            )
        return self.kwargs()


def dense_apply(spec: MLPSpec, index: int, layer_params: Mapping[str, jax.Array], h: jax.Array):
    """Pre-activations of layer ``index``: ``z = s_ℓ h W + s_b b`` (module docstring)."""
    kernel = layer_params["kernel"]
    z = spec.weight_scale(index) * (h @ kernel.astype(h.dtype))
    if spec.use_bias:
        bias = layer_params["bias"].astype(h.dtype)
        z = z + spec.bias_scale * jnp.broadcast_to(bias, z.shape)
    return z


class MLP(nn.Module):
    """Flax linen MLP with per-layer subtrees ``layer_0 … layer_{L-1}`` (see the module docstring)."""

    spec: MLPSpec
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Float[ArrayLike, "n d"]) -> Float[Array, "n out"]:
        phi = resolve_activation(self.spec.activation)
        h = x
        for i, (fan_in, width) in enumerate(zip(self.spec.fan_ins, self.spec.widths)):
            layer = _DenseParams(
                fan_in=fan_in,
                features=width,
                use_bias=self.spec.use_bias,
                weight_std=self.spec.weight_init_std(i),
                bias_std=self.spec.bias_init_std,
                param_dtype=self.param_dtype,
                name=layer_name(i),
            )()
            h = dense_apply(self.spec, i, layer, h)
            if i < self.spec.depth - 1:
                h = phi(h)
        return h


class _DenseParams(nn.Module):
    """Holds one layer's parameters; the arithmetic lives in ``dense_apply`` (shared with ``empirical``)."""

    fan_in: int
    features: int
    use_bias: bool
    weight_std: float
    bias_std: float
    param_dtype: Any

    @nn.compact
    def __call__(self) -> dict[str, jax.Array]:
        out = {
            "kernel": self.param(
                "kernel",
                nn.initializers.normal(self.weight_std),
                (self.fan_in, self.features),
                self.param_dtype,
            )
        }
        if self.use_bias:
            out["bias"] = self.param(
                "bias", nn.initializers.normal(self.bias_std), (self.features,), self.param_dtype
            )
        return out


@dataclasses.dataclass(frozen=True)
class MLPApply:
    """``apply_fn(params, x) -> f(x)`` of shape ``(n,)`` for an ``MLP``; carries its ``spec``.

    It declares ``input_dim`` and ``check_params`` (``declared_input_dim``, ``check_declared_params``): the
    engine checks inputs and parameters against them, as for any model that declares them.
    """

    spec: MLPSpec

    def __call__(self, params: Params, x: Float[ArrayLike, "n d"]) -> Float[Array, " n"]:
        return _jit_apply(self.spec, params, x)

    @property
    def input_dim(self) -> int:
        """The size ``d`` of one example (the apply-function protocol: ``declared_input_dim``)."""
        return self.spec.in_dim

    def check_params(self, params: Any) -> None:
        """An ``init_mlp`` network needs ``{"layer_0": {...}, …, "layer_{L-1}": {...}}`` (the apply-function
        protocol: ``check_declared_params``).

        Raises:
          TypeError: ``params`` is not a dict of per-layer subtrees.
          ValueError: its layers are not those of the network.
        """
        if not isinstance(params, Mapping) or not all(
            isinstance(v, Mapping) for v in params.values()
        ):
            raise TypeError(
                "params of an init_mlp network must be a dict of per-layer subtrees "
                f"{{'layer_0': {{...}}, ...}}, got {type(params).__name__}"
            )
        expected = {layer_name(i) for i in range(self.spec.depth)}
        if set(params) != expected:
            raise ValueError(
                f"params has layers {sorted(params)} but the network has depth {self.spec.depth} "
                f"(expected layer_0 … layer_{self.spec.depth - 1})"
            )


def declared_input_dim(apply_fn: Any) -> int | None:
    """The example size ``d`` an apply function declares through an ``input_dim`` attribute (``MLPApply``
    does), or ``None``: the engine checks inputs against it where present, for any model."""
    dim = getattr(apply_fn, "input_dim", None)
    return dim if isinstance(dim, int) else None


def check_declared_params(apply_fn: Any, params: Any) -> None:
    """Runs the apply function's own ``check_params(params)`` where it has one (``MLPApply`` does)."""
    check = getattr(apply_fn, "check_params", None)
    if callable(check):
        check(params)


@functools.partial(jax.jit, static_argnums=0)
def _jit_apply(spec: MLPSpec, params: Params, x: jax.Array) -> jax.Array:
    return MLP(spec).apply({"params": params}, x)[..., 0]


def init_mlp(
    key: jax.Array,
    in_dim: int,
    *,
    depth: int,
    width: int | tuple[int, ...],
    activation: Activation = "relu",
    use_bias: bool = False,
    parameterization: Literal["ntk", "standard"] = "ntk",
    sigma_w: float = 1.0,
    sigma_b: float = 1.0,
    input_scaling: Literal["fan_in", "none"] = "fan_in",
    dtype: Any = None,
) -> tuple[MLPApply, dict[str, dict[str, jax.Array]]]:
    """Builds an MLP and draws its parameters.

    Args:
      key: PRNG key for the initial parameters.
      in_dim: number of input features ``d``.
      depth: number of Dense layers ``L >= 1`` (the paper's "4-layer network" is ``depth=4``).
      width: hidden width ``m`` (all hidden layers) or a tuple of ``depth - 1`` hidden widths.
      activation: ``"relu"``, ``"tanh"``, ``"erf"``, ``"gelu"``, ``"softplus"``, ``"sin"``, ``"identity"``
        or any callable.
      use_bias: whether layers have biases.
      parameterization: ``"ntk"`` (paper §5.4) or ``"standard"``.
      sigma_w: weight scale ``σ_w``.
      sigma_b: bias scale ``σ_b``.
      input_scaling: ``"fan_in"`` (stax convention) or ``"none"`` (paper §5.4, no ``1/sqrt(d)`` on layer 0).
      dtype: parameter dtype; default: the default float dtype (float64 when x64 is on).

    Returns:
      ``(apply_fn, params)``: ``apply_fn(params, x)`` gives ``f(x)`` of shape ``(n,)``; ``params`` is
      ``{"layer_0": {"kernel": (d, m), ["bias": (m,)]}, …, "layer_{L-1}": {"kernel": (m, 1), …}}``.

    Example:
      >>> apply_fn, params = init_mlp(jax.random.key(0), 3, depth=4, width=64)
      >>> apply_fn(params, jnp.ones((5, 3))).shape
      (5,)
    """
    spec = make_spec(
        in_dim,
        depth=depth,
        width=width,
        activation=activation,
        use_bias=use_bias,
        parameterization=parameterization,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
        input_scaling=input_scaling,
    )
    if not isinstance(key, jax.Array):
        raise TypeError(f"key must be a JAX PRNG key, got {type(key).__name__}")
    param_dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    model = MLP(spec, param_dtype=param_dtype)
    params = _jit_init(model, key, jnp.zeros((1, spec.in_dim), param_dtype))["params"]
    return MLPApply(spec), {k: dict(v) for k, v in params.items()}


@functools.partial(jax.jit, static_argnums=0)
def _jit_init(model: MLP, key: jax.Array, x: jax.Array):
    """``model.init`` compiled once per architecture (eager init would compile every op separately)."""
    return model.init(key, x)


def make_spec(
    in_dim: int,
    *,
    depth: int,
    width: int | tuple[int, ...],
    activation: Activation = "relu",
    use_bias: bool = False,
    parameterization: str = "ntk",
    sigma_w: float = 1.0,
    sigma_b: float = 1.0,
    input_scaling: str = "fan_in",
) -> MLPSpec:
    """Validates the arguments of ``init_mlp`` and returns the ``MLPSpec``."""
    in_dim = val.check_positive_int(in_dim, "in_dim")
    depth = val.check_positive_int(depth, "depth")
    if isinstance(width, tuple | list):
        hidden = tuple(val.check_positive_int(w, "width") for w in width)
        if len(hidden) != depth - 1:
            raise ValueError(
                f"width must be an int or a tuple of depth - 1 = {depth - 1} hidden widths, "
                f"got {len(hidden)}"
            )
    else:
        hidden = (val.check_positive_int(width, "width"),) * (depth - 1)
    resolve_activation(activation)
    val.check_choice(parameterization, "parameterization", PARAMETERIZATIONS)
    val.check_choice(input_scaling, "input_scaling", INPUT_SCALINGS)
    val.check_positive_float(sigma_w, "sigma_w")
    val.check_positive_float(sigma_b, "sigma_b", allow_zero=True)
    return MLPSpec(
        in_dim=in_dim,
        widths=(*hidden, 1),
        activation=activation,
        use_bias=bool(use_bias),
        parameterization=parameterization,  # type: ignore[arg-type]
        sigma_w=float(sigma_w),
        sigma_b=float(sigma_b),
        input_scaling=input_scaling,  # type: ignore[arg-type]
    )


def init_mlp_seeds(
    key: jax.Array,
    num_seeds: int,
    in_dim: int,
    *,
    seed_indices: Any = None,
    dtype: Any = None,
    **kwargs: Any,
) -> tuple[MLPApply, dict[str, dict[str, jax.Array]]]:
    """Like ``init_mlp`` for ``num_seeds`` independent draws, parameters stacked on a leading axis.

    Draw ``s`` uses ``jax.random.fold_in(key, s)``, so it equals ``init_mlp(fold_in(key, s), …)`` whatever the
    batching. ``seed_indices`` (an int array) draws those seeds instead of ``0 … num_seeds-1`` (for chunked,
    resumable loops over seeds). One compiled, vmapped call.
    """
    if seed_indices is None:
        num_seeds = val.check_positive_int(num_seeds, "num_seeds")
        seed_indices = jnp.arange(num_seeds)
    apply_fn, _ = init_mlp(key, in_dim, dtype=dtype, **kwargs)
    param_dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    params = _init_seeds(
        MLP(apply_fn.spec, param_dtype=param_dtype), key, jnp.asarray(seed_indices)
    )
    return apply_fn, {k: dict(v) for k, v in params.items()}


@functools.partial(jax.jit, static_argnums=0)
def _init_seeds(model: MLP, key: jax.Array, seed_indices: jax.Array):
    x = jnp.zeros((1, model.spec.in_dim), model.param_dtype)
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(seed_indices)
    return jax.vmap(lambda k: model.init(k, x)["params"])(keys)
