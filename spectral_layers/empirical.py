"""Per-layer empirical NTK Gram matrices ``G^(ℓ)_ij = ⟨∇_{θ_ℓ} f(x_i), ∇_{θ_ℓ} f(x'_j)⟩`` (paper Eq. 1).

``layer_ntk`` works for any ``apply_fn(params, x) -> (n,)`` or ``(n, *out)`` (logits, with neural-tangents'
``trace_axes`` / ``diagonal_axes``) and any params pytree (linen params, boxed or not, NNX through
``layers.from_nnx``, plain dicts or lists); the first axis of ``x`` (an array or a pytree of arrays) indexes
examples. Layers are the modules that own parameters, in call order (``layers``). Four methods give the same
numbers:

* ``"structured"`` (default): every layer from one forward and one backward pass, no Jacobian
  (``_structured``): for a Dense layer ``z = h W + b`` the gradient w.r.t. ``W`` at ``x`` is ``h(x) δ(x)ᵀ`` with
  ``δ = ∂f/∂z``, so ``G = (H H'ᵀ) ∘ (Δ Δ'ᵀ)``; convolutions use the same identity on input patches, norm scales
  and biases explicit per-example gradients; a layer that no rule provably covers falls back to per-example
  gradients (``vmap(grad)``) with a ``FallbackWarning``. Networks from ``init_mlp`` go through the same
  engine; the dedicated MLP identity ``mlp_grams`` is kept as an independent reference. Compiled engines are
  keyed by the traced program (``_jaxpr.fingerprint``), not by the ``apply_fn`` object, so a fresh closure
  of the same model reuses the compilation; the program's constants are arguments, never baked in.
  ``check=True`` verifies each result through a second route (``_self_check``).
* ``"jacobian"`` / ``"jacobian_fwd"``: per-layer Jacobians ``J_ℓ`` (n × P_ℓ) from ``jax.jacrev`` / ``jax.jacfwd``
  contracted as ``J_ℓ J'_ℓᵀ``. The reference.
* ``"nt"``: neural-tangents' ``empirical_ntk_fn`` on each layer (needs neural-tangents, see ``nt_compat``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from spectral_layers import _jaxpr, _structured, nt_compat, sharding
from spectral_layers import _validation as val
from spectral_layers._rows import map_rows
from spectral_layers.activations import resolve_activation
from spectral_layers.layers import (
    Group,
    LayerMap,
    batch_size,
    cast_inputs,
    check_params,
    compute_dtype,
    example_program,
    layer_map,
    replace_leaves,
    unbox,
)
from spectral_layers.models import (
    MLPSpec,
    check_declared_params,
    declared_input_dim,
    dense_apply,
    layer_name,
)
from spectral_layers.sharding import sharded_rows

__all__ = [
    "METHODS",
    "NT_IMPLEMENTATIONS",
    "FallbackWarning",
    "KernelCheckError",
    "PrecisionWarning",
    "full_ntk",
    "layer_ntk",
    "mlp_layer_features",
    "relative_frobenius",
]

METHODS = ("structured", "jacobian", "jacobian_fwd", "nt")
NT_IMPLEMENTATIONS = (
    "NTK_VECTOR_PRODUCTS",
    "JACOBIAN_CONTRACTION",
    "STRUCTURED_DERIVATIVES",
    "AUTO",
)
_HIGHEST = jax.lax.Precision.HIGHEST


class FallbackWarning(UserWarning):
    """Some layers use per-example gradients because no structured rule provably covers them."""


class PrecisionWarning(UserWarning):
    """The model computes in a lower precision than its parameters and inputs (e.g. a module ``dtype``)."""


class KernelCheckError(ValueError):
    """A self-check of ``layer_ntk`` failed: the numbers would be wrong, so none are returned."""


def layer_ntk(
    apply_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    x1: Any,
    x2: Any | None = None,
    *,
    method: str | None = None,
    trace_axes: Sequence[int] = (-1,),
    diagonal_axes: Sequence[int] = (),
    check: bool = True,
    block_size: int | None = None,
    stacked: bool = False,
    nt_implementation: str = "NTK_VECTOR_PRODUCTS",
    mesh: jax.sharding.Mesh | None = None,
    group: Group | None = None,
    mesh_axis: str | tuple[str, ...] | None = None,
) -> dict[str, Float[Array, "n1 n2 *out"]]:
    """Per-layer empirical NTK Grams ``G^(ℓ)`` (paper Eq. 1), in the order the forward pass uses the layers.

    Outputs ``f(x)`` of shape ``(n,)`` give Grams ``(n1, n2)``. Outputs ``(n, *out)`` (logits ``(n, C)``,
    sequences) follow neural-tangents' conventions for the output axes: ``trace_axes`` are summed over,
    ``G_ij = Σ_c ⟨∇f_c(x_i), ∇f_c(x'_j)⟩`` (the default ``(-1,)``: ``(n1, n2)`` for logits; neural-tangents
    divides this sum by ``C``), ``diagonal_axes`` are kept once (``(n1, n2, C)``) and any other axis is kept
    for both inputs (``trace_axes=()``: ``(n1, n2, C, C)``). For a Dense layer the traced Gram is
    ``(H Hᵀ) ∘ (Σ_c Δ_c Δ_cᵀ)``, from one forward pass and ``C`` backward passes, never ``C`` separate runs.
    The cheap "sum of logits" kernel (pNTK, Mohamadi et al., ICML 2023) is this function applied to
    ``lambda p, x: apply_fn(p, x).sum(-1) / sqrt(C)``.

    Args:
      apply_fn: ``apply_fn(params, x) -> f(x)`` of shape ``(n,)`` or ``(n, *out)``: from ``init_mlp``,
        ``from_nnx``, or e.g. ``lambda p, x: model.apply({"params": p}, x)`` for a linen module. Examples
        must not interact (no batch statistics in training mode, no noise drawn for the whole batch);
        ``check`` verifies it.
      params: any pytree of float arrays (Flax's boxed ``nn.Partitioned`` leaves are unboxed); with
        ``stacked=True`` every leaf has a leading seed axis.
      x1: inputs ``(n1, ...)``, or a pytree of arrays sharing the leading axis ``n1`` (tokens and a mask,
        images and per-example noise); integer leaves stay integers.
      x2: second inputs of the same structure, ``(n2, ...)``; default ``x1`` (the Gram matrix).
      method: ``"structured"`` (default), ``"jacobian"``, ``"jacobian_fwd"`` or ``"nt"``.
      trace_axes: output axes (of ``f(x)``, axis 0 being the examples) summed over; ignored for ``(n,)``.
      diagonal_axes: output axes kept once (the diagonal of the pair of axes).
      check: verify, at a cost of a few per cent, that (1) each example replayed alone (the engine's
        trace) gives what ``apply_fn`` gives on a batch of up to 16 examples, and (2) a few entries of every
        layer's Gram equal ``⟨∇_{θ_ℓ} f(x_i), ∇_{θ_ℓ} f(x'_j)⟩`` from per-example gradients; a failure raises
        ``KernelCheckError`` naming the layer and the remedy, never returns the numbers. For
        ``"structured"`` and ``"nt"``; skipped when ``layer_ntk`` is itself traced (called inside
        ``jax.jit``), where values are not known.
      block_size: if given, rows of the result are computed ``block_size`` at a time (``lax.map``), bounding
        the memory of intermediates to ``O(block_size · n2)`` per layer. The result is identical.
      stacked: ``params`` holds a batch of seeds on a leading axis; the Grams then have shape
        ``(s, n1, n2, …)`` and are computed in one vmapped call.
      nt_implementation: with ``method="nt"``, the name of an ``nt.NtkImplementation``.
      mesh: any ``jax.sharding.Mesh`` (``sharding.make_mesh()``, ``jax.make_mesh(...)``; one or several
        processes): rows of the Grams are computed on its devices in parallel and the result stays sharded
        by rows (``spectral_layers.sharding``; ``sharding.gather`` fetches it). Any ``n1``.
      mesh_axis: the mesh axis name (or names) the rows are sharded over; default the mesh's first axis.
      group: ``group(path) -> layer name`` for every parameter path such as ``"Block_0/Dense_1/kernel"``,
        to merge or split layers (default: a layer per module owning parameters, ``layers``).

    Returns:
      ``{layer_name: G}`` with ``G`` of shape ``(n1, n2, *result)`` (``(s, …)`` when stacked), in the common
      float dtype of the inputs and parameters, layers in call order. ``Σ_ℓ G^(ℓ)`` is the full empirical
      NTK.

    Raises:
      ValueError / TypeError: on bad inputs, an unknown method, or an ``apply_fn`` that does not return one
        array with a leading example axis.
      KernelCheckError: a self-check failed (``check``).

    Warns:
      FallbackWarning: naming the layers computed from per-example gradients (``method="structured"``).
      PrecisionWarning: the model casts to a lower precision than its parameters and inputs.
    """
    method = "structured" if method is None else method
    val.check_choice(method, "method", METHODS)
    if method == "nt":
        val.check_choice(nt_implementation, "nt_implementation", NT_IMPLEMENTATIONS)
    if not isinstance(check, bool):
        raise TypeError(f"check must be True or False, got {check!r}")
    params = unbox(params)
    leaves, treedef = _check_model(apply_fn, params, stacked)
    x1, x2 = _check_pair(apply_fn, x1, x2)
    if block_size is not None:
        block_size = val.check_positive_int(block_size, "block_size")
    program = example_program(apply_fn, params, x1, stacked=stacked)
    axes = _structured.output_axes(output_shape(program), trace_axes, diagonal_axes)
    layers = layer_map(program, params, group)
    engine = _engine(
        _EngineKey(
            apply_fn, program, treedef, layers, axes, method, block_size, stacked, nt_implementation
        )
    )
    _warn_precision(engine.program or program, layers, leaves)
    if engine.plan is not None and engine.plan.fallback:
        warnings.warn(
            f"layer_ntk: no structured rule covers layers {list(engine.plan.fallback)} (a parameter "
            "used more than once or by an unsupported operation); they use per-example gradients "
            "(vmap(grad)), which are exact but slower and need n × P memory",
            FallbackWarning,
            stacklevel=2,
        )
    consts = dict(program.consts)
    if mesh is not None:
        grams = sharded_rows(
            engine.rows,
            x1,
            consts,
            leaves,
            x1 if x2 is None else x2,
            mesh=mesh,
            row_axis=1 if stacked else 0,
            axis=mesh_axis,
        )
    else:
        grams = engine.fn(consts, leaves, x1, x2)
    grams = {name: grams[name] for name in layers.names}
    traced = not all(val.is_concrete(a) for a in [*leaves, *jax.tree.leaves((x1, x2))])
    if check and method in ("structured", "nt") and not traced:
        _self_check(apply_fn, params, program, layers, axes, leaves, x1, x2, grams, stacked, mesh)
    return grams


def _engine_for(apply_fn, params, x, *, method="structured", strategy="auto", trace_axes=(-1,)):
    """``(engine, consts, leaves)`` as ``layer_ntk`` builds them (tests and benchmarks force a strategy)."""
    params = unbox(params)
    leaves, treedef = _check_model(apply_fn, params, False)
    program = example_program(apply_fn, params, x)
    axes = _structured.output_axes(output_shape(program), trace_axes, ())
    layers = layer_map(program, params)
    key = _EngineKey(
        apply_fn, program, treedef, layers, axes, method, None, False, "AUTO", strategy
    )
    return _engine(key), dict(program.consts), leaves


def output_shape(program) -> tuple[int, ...]:
    """The shape of ``f(x_i)`` from the traced program; raises ``ValueError`` unless one array ``(1, *out)``."""
    outs = program.source.out_avals
    if len(outs) != 1:
        raise ValueError(
            f"apply_fn(params, x) must return one array with a leading example axis, got {len(outs)} "
            "outputs (a tuple or dict); pick one, e.g. lambda p, x: apply_fn(p, x)[0] or ['logits']"
        )
    shape = tuple(outs[0].shape)
    if not shape or shape[0] != 1:
        raise ValueError(
            "apply_fn(params, x) must return one value per example, with the examples on axis 0 (shape "
            f"(n,) or (n, ...)); on one example it returned shape {shape}"
        )
    if not jnp.issubdtype(outs[0].dtype, jnp.inexact):
        raise ValueError(f"apply_fn(params, x) must return floats, got {outs[0].dtype}")
    return shape[1:]


def check_output(apply_fn, params, x, stacked=False) -> tuple[int, ...]:
    """The shape ``out`` of ``f(x_i)``; raises ``ValueError`` unless ``apply_fn`` returns one ``(n, *out)``."""
    return output_shape(example_program(apply_fn, unbox(params), x, stacked=stacked))


def _check_model(apply_fn, params, stacked):
    if not callable(apply_fn):
        raise TypeError(
            f"apply_fn must be callable apply_fn(params, x), got {type(apply_fn).__name__}"
        )
    leaves = check_params(params)
    check_declared_params(apply_fn, params)
    if stacked:
        sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "stacked=True needs every params leaf to have the same leading seed axis, got "
                f"leading sizes {sorted(str(s) for s in sizes)}"
            )
    return leaves, jax.tree.structure(params)


def _check_pair(apply_fn, x1, x2):
    in_dim = declared_input_dim(apply_fn)
    x1 = val.check_batch(x1, "x1", in_dim=in_dim)
    if x2 is not None:
        x2 = val.check_batch(x2, "x2", in_dim=in_dim)
        s1 = jax.tree.structure(x1)
        if jax.tree.structure(x2) != s1 or any(
            a.shape[1:] != b.shape[1:] or a.dtype != b.dtype
            for a, b in zip(jax.tree.leaves(x1), jax.tree.leaves(x2), strict=True)
        ):
            raise ValueError(
                "x1 and x2 must have the same structure and shape per example, got "
                f"{jax.tree.map(jnp.shape, x1)} and {jax.tree.map(jnp.shape, x2)}"
            )
    return x1, x2


# ----------------------------------------------------------------------------------------------------------
# engines: one compilation per computation


@dataclasses.dataclass(frozen=True)
class _EngineKey:
    """What an engine depends on. A structured engine is keyed by its program's ``fingerprint`` (not by the
    ``apply_fn`` object), so a fresh closure of the same model reuses the compilation; the reference
    methods call ``apply_fn`` and are keyed by it."""

    apply_fn: Any
    program: Any
    treedef: Any
    layers: LayerMap
    axes: _structured.OutputAxes
    method: str
    block_size: int | None
    stacked: bool
    nt_implementation: str
    strategy: str = "auto"

    def __post_init__(self):
        # the structured engine replays the program; the reference methods call apply_fn
        drop = "apply_fn" if self.method == "structured" else "program"
        object.__setattr__(self, drop, None)

    def cache_key(self):
        """The fields as a tuple, the program replaced by its fingerprint (``_program_id``)."""
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        if self.program is not None:
            values[1] = _program_id(self.program, self.treedef)
        return tuple(values)


def _program_id(program, treedef):
    num_leaves = treedef.num_leaves
    avals = tuple((tuple(v.aval.shape), str(v.aval.dtype)) for v in program.source.jaxpr.invars)
    return (_jaxpr.fingerprint(program, num_leaves), avals)


@dataclasses.dataclass(frozen=True, eq=False)
class _Engine:
    layers: LayerMap
    plan: _structured.Plan | None
    program: Any
    fn: Callable[..., dict[str, jax.Array]]  # (consts, leaves, x1, x2 | None) -> grams

    def rows(self, x_block, consts, leaves, x2):
        """The per-device block for ``sharding.sharded_rows`` (a stable function: compilation reused)."""
        return self.fn(consts, leaves, x_block, x2)


_ENGINES: dict[Any, _Engine] = {}
_MAX_ENGINES = 64


def _engine(key: _EngineKey) -> _Engine:
    try:
        cache_key = key.cache_key()
        hash(cache_key)
    except TypeError:
        return _build_engine(key)
    engine = _ENGINES.pop(cache_key, None)
    if engine is None:
        engine = _build_engine(key)
    _ENGINES[cache_key] = engine  # most recent last
    while len(_ENGINES) > _MAX_ENGINES:
        _ENGINES.pop(next(iter(_ENGINES)))
    return engine


def _build_engine(key: _EngineKey) -> _Engine:
    """Plans the structured rules and jits ``(consts, leaves, x1, x2) -> grams``."""
    apply_fn, program, treedef, layers = key.apply_fn, key.program, key.treedef, key.layers
    method, axes, block_size = key.method, key.axes, key.block_size
    plan = _structured.make_plan(program, layers) if method == "structured" else None

    def single(consts, leaves, x1, x2):
        if method == "structured":
            return _structured.grams(
                plan, leaves, x1, x2, consts, axes, block_size=block_size, strategy=key.strategy
            )
        if method in ("jacobian", "jacobian_fwd"):
            jac = jax.jacrev if method == "jacobian" else jax.jacfwd
            return _jacobian(apply_fn, treedef, layers, leaves, x1, x2, block_size, jac, axes)
        return _nt(
            apply_fn, treedef, layers, leaves, x1, x2, block_size, key.nt_implementation, axes
        )

    def fn(consts, leaves, x1, x2):
        dtype = compute_dtype(x1, leaves)
        leaves = [leaf.astype(dtype) for leaf in leaves]
        x1 = cast_inputs(x1, dtype)
        x2 = None if x2 is None else cast_inputs(x2, dtype)
        if key.stacked:
            return jax.vmap(single, in_axes=(None, 0, None, None))(consts, leaves, x1, x2)
        return single(consts, leaves, x1, x2)

    return _Engine(layers, plan, program, jax.jit(fn))


# ----------------------------------------------------------------------------------------------------------
# self-checks


_CHECK_ROWS = 16  # examples replayed alone and as one batch


def _warn_precision(program, layers: LayerMap, leaves) -> None:
    """``PrecisionWarning`` when the forward pass casts to a float type narrower than the computation's."""
    message = program.__dict__.get("_precision_message")
    if message is None:
        message = program.__dict__["_precision_message"] = _precision_message(program)
    if message:
        warnings.warn(message, PrecisionWarning, stacklevel=3)


def _precision_message(program) -> str:
    dtype = jnp.dtype(compute_dtype([v.aval for v in program.source.jaxpr.invars], []))
    narrower = []
    for eqn in program.eqns:
        if eqn.name != "convert_element_type":
            continue
        src, dst = jnp.dtype(eqn.in_avals[0].dtype), jnp.dtype(eqn.params["new_dtype"])
        if (
            jnp.issubdtype(src, jnp.floating)
            and jnp.issubdtype(dst, jnp.floating)
            and dst.itemsize < src.itemsize
            and src.itemsize >= dtype.itemsize
        ):
            narrower.append(dst.name)
    if not narrower:
        return ""
    return (
        f"layer_ntk: the model casts {dtype.name} values to {sorted(set(narrower))} inside its forward "
        f"pass ({len(narrower)} casts, e.g. a module with dtype=float32), so the {dtype.name} Grams are "
        "only as accurate as that type; set the modules' dtype (and param_dtype) to "
        f"{dtype.name} for {dtype.name}-accurate kernels"
    )


def _check_rows(n1: int, n2: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic entries to check from three per-example gradients.

    Returns ``(rows1, rows2, p1, p2)``: per-example gradients are taken at ``x1[rows1]`` and
    ``x2[rows2]``, and entry ``k`` is ``G[rows1[p1[k]], rows2[p2[k]]]``. For a Gram (``n2 is None``) the
    rows of ``x2`` are those of ``x1`` (no extra gradient): two diagonal entries and one off-diagonal.
    """
    rng = np.random.default_rng(1_000_003 * n1 + (n2 or 0))
    if n2 is None:
        rows = rng.choice(n1, size=min(2, n1), replace=False)
        pairs = [(0, 0), (1, 1), (1, 0)] if n1 > 1 else [(0, 0)]
        p1, p2 = (np.array(p) for p in zip(*pairs, strict=True))
        return rows, rows, p1, p2
    rows1 = rng.choice(n1, size=min(2, n1), replace=False)
    rows2 = rng.choice(n2, size=1)
    return rows1, rows2, np.arange(len(rows1)), np.zeros(len(rows1), int)


_CHECKS: dict[Any, Callable[..., Any]] = {}


def _check_fn(program, batch_program, layers: LayerMap, axes, stacked: bool, m: int):
    """The jitted check: replayed and batch outputs on the first ``m`` rows, per-example Gram entries
    ``refs`` with their scale ``norms``, and the engine's entries ``got`` (``None`` for sharded Grams)."""
    plan = _structured.Plan(program, layers, {}, layers.names)
    lo, hi, res = axes.letters()

    def one(consts, batch_consts, leaves, xs, x1_i, x2_j, p1, p2):
        replayed = _structured.replay(plan, leaves, xs, consts)
        batch = _jaxpr.evaluate(batch_program, [*leaves, *jax.tree.leaves(xs)], None, batch_consts)[
            0
        ]
        every = list(range(len(leaves)))
        j1 = _structured.example_jacobian(plan, leaves, every, x1_i, consts, split=True)
        j2 = (
            j1
            if x2_j is None
            else _structured.example_jacobian(plan, leaves, every, x2_j, consts, split=True)
        )
        refs, norms = {}, {}
        for name in layers.names:
            idx = layers.indices(name)
            a = jnp.concatenate([j1[k] for k in idx], axis=-1)[p1]
            b = jnp.concatenate([j2[k] for k in idx], axis=-1)[p2]
            refs[name] = jnp.einsum(f"k{lo}p,k{hi}p->k{res}", a, b, precision=_HIGHEST)
            norm1 = jnp.sqrt(jnp.sum(a.reshape(a.shape[0], -1) ** 2, axis=1))
            norm2 = jnp.sqrt(jnp.sum(b.reshape(b.shape[0], -1) ** 2, axis=1))
            norms[name] = norm1 * norm2
        return replayed, batch, refs, norms

    def fn(consts, batch_consts, leaves, x1, x2, rows1, rows2, p1, p2, grams):
        dtype = compute_dtype(x1, leaves)
        leaves = [leaf.astype(dtype) for leaf in leaves]
        x1 = cast_inputs(x1, dtype)
        xs = jax.tree.map(lambda a: a[:m], x1)
        x1_i = jax.tree.map(lambda a: a[rows1], x1)
        x2_j = None if x2 is None else jax.tree.map(lambda a: a[rows2], cast_inputs(x2, dtype))
        args = (consts, batch_consts, leaves, xs, x1_i, x2_j, p1, p2)
        if stacked:
            out = jax.vmap(one, in_axes=(None, None, 0, None, None, None, None, None))(*args)
        else:
            out = one(*args)
        got = None if grams is None else _take_entries(grams, rows1[p1], rows2[p2], stacked)
        return (*out, got)

    return jax.jit(fn)


def _take_entries(grams, i, j, stacked):
    """``G[..., i_k, j_k, ...]`` of every layer."""
    if stacked:
        return {name: g[:, i, j] for name, g in grams.items()}
    return {name: g[i, j] for name, g in grams.items()}


def _self_check(apply_fn, params, program, layers, axes, leaves, x1, x2, grams, stacked, mesh):
    """Raises ``KernelCheckError`` unless the replay matches the batch and sampled entries match."""
    n1 = batch_size(x1)
    m = min(n1, _CHECK_ROWS)
    batch_program = example_program(apply_fn, params, x1, stacked=stacked, batch=m)
    rows1, rows2, p1, p2 = _check_rows(n1, None if x2 is None else batch_size(x2))
    i, j = rows1[p1], rows2[p2]
    treedef = jax.tree.structure(params)
    key = (
        _program_id(program, treedef),
        _program_id(batch_program, treedef),
        layers,
        axes,
        stacked,
        m,
    )
    fn = _CHECKS.pop(key, None)
    if fn is None:
        fn = _check_fn(program, batch_program, layers, axes, stacked, m)
    _CHECKS[key] = fn  # most recent last
    while len(_CHECKS) > _MAX_ENGINES:
        _CHECKS.pop(next(iter(_CHECKS)))
    out = fn(
        dict(program.consts),
        dict(batch_program.consts),
        leaves,
        x1,
        x2,
        rows1,
        rows2,
        p1,
        p2,
        grams if mesh is None else None,
    )
    replayed, batch, refs, norms, got = jax.device_get(out)
    if mesh is not None:
        got = sharding.take(lambda gs: _take_entries(gs, i, j, stacked), grams, mesh)
    dtype = np.dtype(compute_dtype(x1, leaves))
    tol = float(np.sqrt(np.finfo(dtype).eps))
    diff = np.abs(replayed - batch)
    scale = max(float(np.max(np.abs(batch))), float(np.finfo(dtype).tiny))
    if not np.all(np.isfinite(replayed)) or float(np.max(diff)) > tol * scale:
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise KernelCheckError(
            "layer_ntk check: the model's outputs on a batch of "
            f"{m} examples differ from its outputs on each example alone (max |Δf| = "
            f"{float(np.max(diff)):.3g} at index {tuple(int(w) for w in worst)}, outputs up to "
            f"{scale:.3g}), so the examples interact and the per-example Grams would be wrong. Causes: "
            "batch statistics (BatchNorm in training mode: use_running_average=True), dropout or "
            "noise drawn for the whole batch from one key (pass the noise as a per-example input, "
            "x = (images, eps), or switch it off), a mean over the batch. check=False skips this "
            "check and returns those wrong numbers."
        )
    for name in layers.names:
        err = np.abs(got[name] - refs[name])
        bound = tol * np.maximum(norms[name], float(np.finfo(dtype).tiny))
        bound = bound.reshape(*bound.shape, *([1] * (err.ndim - bound.ndim)))
        if not np.all(np.isfinite(got[name])) or np.any(err > bound):
            k = int(np.argmax((err / bound).reshape(-1)))
            raise KernelCheckError(
                f"layer_ntk check: layer {name!r}: Gram entries at rows {list(map(int, i))} × "
                f"{list(map(int, j))} differ from ⟨∇f(x_i), ∇f(x'_j)⟩ recomputed from per-example "
                f"gradients (e.g. {got[name].reshape(-1)[k]:.6g} vs {refs[name].reshape(-1)[k]:.6g}; "
                f"tolerance {tol:.1e} relative to ‖∇f(x_i)‖‖∇f(x'_j)‖). This is a compiler or rule "
                "error, not your model's fault: use method='jacobian' for this model and please "
                "report it. No numbers are returned."
            )


# ----------------------------------------------------------------------------------------------------------
# structured path


def mlp_layer_features(
    spec: MLPSpec, params: Mapping[str, Any], x: Float[ArrayLike, "n d"]
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Inputs ``H_ℓ`` and output gradients ``Δ_ℓ`` of every layer, from one forward and one backward pass.

    Returns:
      ``(H, Δ)``: lists over layers of arrays ``H_ℓ`` of shape ``(n, n_ℓ)`` (layer inputs, ``H_0 = x``) and
      ``Δ_ℓ = ∂f/∂z^(ℓ)`` of shape ``(n, m_ℓ)`` (``Δ_{L-1}`` is all ones).
    """
    phi = resolve_activation(spec.activation)
    dtype = jnp.result_type(x, *jax.tree.leaves(params))
    x = x.astype(dtype)

    def forward(eps):
        hs = []
        h = x
        for i in range(spec.depth):
            hs.append(h)
            z = dense_apply(spec, i, params[layer_name(i)], h) + eps[i]
            h = phi(z) if i < spec.depth - 1 else z
        return jnp.sum(h), hs

    eps = [jnp.zeros((x.shape[0], w), dtype) for w in spec.widths]
    deltas, hs = jax.grad(forward, has_aux=True)(eps)
    return hs, deltas


def mlp_grams(
    spec: MLPSpec,
    params: Mapping[str, Any],
    x1: Float[ArrayLike, "n1 d"],
    x2: Float[ArrayLike, "n2 d"] | None = None,
    block_size: int | None = None,
) -> dict[str, Float[Array, "n1 n2"]]:
    """Per-layer Grams of an ``init_mlp`` network from ``mlp_layer_features`` (the dedicated MLP path).

    ``G^(ℓ) = s_w² (H_ℓ H'_ℓᵀ) ∘ (Δ_ℓ Δ'_ℓᵀ) + s_b² Δ_ℓ Δ'_ℓᵀ``. ``layer_ntk`` uses the general structured
    engine, which gives the same numbers; this is kept as an independent check and benchmark baseline.
    """
    h1, d1 = mlp_layer_features(spec, params, x1)
    h2, d2 = (h1, d1) if x2 is None else mlp_layer_features(spec, params, x2)
    out = {}
    for i in range(spec.depth):
        s_w2 = spec.weight_scale(i) ** 2
        s_b2 = spec.bias_scale**2 if spec.use_bias else None

        def gram(rows, i=i, s_w2=s_w2, s_b2=s_b2):
            h_r, d_r = rows
            dd = jnp.matmul(d_r, d2[i].T, precision=_HIGHEST)
            g = s_w2 * jnp.matmul(h_r, h2[i].T, precision=_HIGHEST) * dd
            return g if s_b2 is None else g + s_b2 * dd

        out[layer_name(i)] = map_rows(gram, (h1[i], d1[i]), block_size)
    return out


# ----------------------------------------------------------------------------------------------------------
# Jacobian path (the reference)


def _layer_jacobian(apply_fn, treedef, leaves, indices, x, jac):
    """``J_ℓ`` of shape ``(n, *out, P_ℓ)``: the Jacobian of ``apply_fn(params, x)`` w.r.t. the layer's leaves."""

    def f_sub(sub):
        return apply_fn(jax.tree.unflatten(treedef, replace_leaves(leaves, indices, sub)), x)

    j = jac(f_sub)([leaves[i] for i in indices])
    out_ndim = j[0].ndim - leaves[indices[0]].ndim
    return jnp.concatenate([leaf.reshape(*leaf.shape[:out_ndim], -1) for leaf in j], axis=-1)


def _pair_gram(j1, j2, axes):
    """``J J'ᵀ`` of batch Jacobians ``(n, *out, P)`` with the output axes as ``axes`` says."""
    return _structured._combine((j1,), (j2,), axes)


def _jacobian(apply_fn, treedef, layers, leaves, x1, x2, block_size, jac, axes):
    out = {}
    for name, indices in zip(layers.names, layers.leaves, strict=True):
        j2 = _layer_jacobian(apply_fn, treedef, leaves, indices, x1 if x2 is None else x2, jac)

        def gram(x_r, indices=indices, j2=j2):
            j_r = _layer_jacobian(apply_fn, treedef, leaves, indices, x_r, jac)
            return _pair_gram(j_r, j2, axes)

        if x2 is None and block_size is None:
            out[name] = _pair_gram(j2, j2, axes)
        else:
            out[name] = map_rows(gram, x1, block_size)
    return out


# ----------------------------------------------------------------------------------------------------------
# neural-tangents path


def _nt(apply_fn, treedef, layers, leaves, x1, x2, block_size, implementation, axes):
    nt = nt_compat.import_neural_tangents()
    trace = tuple(1 + a for a in axes.trace)
    diagonal = tuple(1 + a for a in axes.diagonal)
    scale = int(np.prod([axes.shape[a] for a in axes.trace], dtype=np.int64))
    out = {}
    for name, indices in zip(layers.names, layers.leaves, strict=True):

        def f_sub(sub, x, indices=indices):
            return apply_fn(jax.tree.unflatten(treedef, replace_leaves(leaves, indices, sub)), x)

        kernel_fn = nt.empirical_ntk_fn(
            f_sub,
            trace_axes=trace,
            diagonal_axes=diagonal,
            vmap_axes=0,
            implementation=getattr(nt.NtkImplementation, implementation),
        )
        x2_ = x1 if x2 is None else x2
        sub = [leaves[i] for i in indices]
        # neural-tangents divides a traced kernel by the size of the traced axes: here it is a sum
        out[name] = map_rows(
            lambda x_r, k=kernel_fn, sub=sub, x2_=x2_: scale * k(x_r, x2_, sub), x1, block_size
        )
    return out


def full_ntk(
    apply_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    x1: Any,
    x2: Any | None = None,
    *,
    trace_axes: Sequence[int] = (-1,),
    diagonal_axes: Sequence[int] = (),
) -> Float[Array, "n1 n2 *out"]:
    """Full empirical NTK from one Jacobian w.r.t. all parameters (brute force, for checks).

    Independent of ``layer_ntk``: ``Σ_ℓ G^(ℓ)`` must equal it (paper Eq. 1). Output axes as in ``layer_ntk``.
    """
    params = unbox(params)
    check_params(params)
    x1, x2 = _check_pair(apply_fn, x1, x2)
    x2 = x1 if x2 is None else x2
    axes = _structured.output_axes(check_output(apply_fn, params, x1), trace_axes, diagonal_axes)

    def flat(x):
        j = jax.jacrev(apply_fn)(params, x)
        n_out = 1 + len(axes.shape)
        return jnp.concatenate(
            [leaf.reshape(*leaf.shape[:n_out], -1) for leaf in jax.tree.leaves(j)], axis=-1
        )

    return _pair_gram(flat(x1), flat(x2), axes)


def relative_frobenius(
    a: Float[ArrayLike, "..."],
    b: Float[ArrayLike, "..."],
    *,
    axis: tuple[int, ...] | None = (-2, -1),
) -> np.ndarray:
    """``‖a − b‖_F / ‖b‖_F`` over ``axis`` (default the last two: a batch of matrices; ``None``: every entry).

    The one relative-Frobenius helper (kernel convergence, kernel movement, cross-checks). NumPy; the dtype
    follows the inputs (NumPy promotion). NaN where ``‖b‖_F = 0`` (the relative error is undefined there).

    Args:
      a, b: arrays of one shape (or broadcastable), e.g. Grams ``(…, n, n)``.
      axis: the axes the norm runs over.

    Returns:
      The relative errors, ``a − b`` without ``axis`` (a 0-d array for ``axis=None``).
    """
    a, b = np.asarray(a), np.asarray(b)
    if axis is None:
        diff, ref = np.linalg.norm((a - b).ravel()), np.linalg.norm(b.ravel())
    else:
        diff, ref = np.linalg.norm(a - b, axis=axis), np.linalg.norm(b, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ref > 0, diff / np.where(ref > 0, ref, 1), np.nan)
