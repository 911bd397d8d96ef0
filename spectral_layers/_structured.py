"""Structured per-layer NTK Grams of any model: one forward and one backward pass, no Jacobian.

For a layer whose parameter ``W`` enters the network through ONE equation ``z = op(A, T(W))`` (``T`` a chain of
casts/reshapes/broadcasts, ``A`` the other operand), the chain rule gives the per-example gradient

    ∇_W f(x_i) = T*( ∂op/∂(T W) (A_i)ᵀ Δ_i ),      Δ_i = ∂f(x_i)/∂z,

so the layer Gram ``G_ij = ⟨∇_W f(x_i), ∇_W f(x'_j)⟩`` (paper Eq. 1) needs only ``A_i`` and ``Δ_i`` for every
example, and all of them come from one forward and one backward pass: ``Δ`` is the gradient of ``Σ_i f(x_i)``
w.r.t. a zero perturbation added to ``z`` (examples do not interact). For outputs ``f(x_i)`` of shape ``out``
(logits) there is one ``Δ_{i,c}`` per output component (one backward pass each, vmapped), and the output axes
are traced, kept on the diagonal or kept in pairs in the final contraction (``OutputAxes``): the traced Dense
Gram is ``(A A'ᵀ) ∘ (Σ_c Δ_c Δ'_cᵀ)``. Rules, by the primitive ``op``:

* ``dot_general`` with ``W`` as one operand and no batch dimension on ``W`` (Dense, DenseGeneral,
  ``nnx.Linear``, einsum): with ``A_i`` reshaped to ``(s, c)`` (free × contracted axes) and ``Δ_i`` to
  ``(s, o)``, ``∇_W f(x_i) = Σ_s A_i[s] ⊗ Δ_i[s]`` and

      G_ij = Σ_{s,t} ⟨A_i[s], A'_j[t]⟩ ⟨Δ_i[s], Δ'_j[t]⟩        (s = 1: G = (A A'ᵀ) ∘ (Δ Δ'ᵀ));

* ``conv_general_dilated`` with ``W`` as the kernel (any stride, padding, dilation, ``feature_group_count``):
  the same identity with ``A_i[s]`` the input patch seen by output position ``s`` (``conv_general_dilated_patches``),
  summed over feature groups ``g`` (group ``g``'s outputs see only group ``g``'s input channels);
* ``mul`` (LayerNorm/RMSNorm/BatchNorm scale) and ``add``/``sub`` (biases): explicit per-example gradients
  ``∇_W f(x_i)`` (the VJP of ``op`` at ``(A_i, Δ_i)``, vmapped), then ``G = J J'ᵀ``; these have few parameters.

For ``dot_general`` and convolutions the engine chooses, per layer, the cheaper of the identity above
(``2 n n' s² (c + o)`` flops) and explicit per-example gradients (``2 (n + n') s c o / g + 2 n n' P``), by the
shapes. The identity is used only when ``T`` is an isometry (casts, reshapes, transposes); a broadcast in ``T``
forces explicit gradients, which are exact for any ``T``.

A parameter read by more than one equation, or by any other primitive (``tanh(W)``, ``W @ W``, a gather, a
``scan``, a custom-derivative function, ...), makes its whole layer fall back to per-example gradients of
the replayed program (``vmap(jacrev)``, ``example_jacobian``); ``empirical.layer_ntk`` names those layers
in one warning. A transform such as ``2 * W`` before a Dense product is itself a rule equation (a ``mul``):
its Gram is exact, from explicit per-example gradients. A rule applies only when the program's structure
proves it, so every number equals the Jacobian Gram.

**Why a jaxpr interpreter rather than Flax method interception.** Interception (``nn.intercept_methods``) sees
module calls, not what a module does with its parameters: it cannot tell whether a Dense kernel was cast,
reshaped, scaled, or used twice, so it could not prove a rule applies; and it exists for linen only (not for
NNX or plain JAX functions). The jaxpr (``_jaxpr``) shows every primitive that reads every parameter, for any
model written in JAX, so the applicability of each rule is checked on the actual computation. The program is
traced on ONE example (a batch of size 1) and replayed under ``jax.vmap``: every recorded ``A_i``, ``Δ_i`` is
then per-example by construction, whatever axes the model moves the batch to.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from spectral_layers import _jaxpr
from spectral_layers._rows import map_rows
from spectral_layers.layers import LayerMap, replace_leaves

__all__ = [
    "STRATEGIES",
    "OutputAxes",
    "Plan",
    "Use",
    "example_jacobian",
    "grams",
    "make_plan",
    "output_axes",
    "replay",
]

STRATEGIES = ("auto", "identity", "explicit")
_HIGHEST = jax.lax.Precision.HIGHEST
_CHAIN = frozenset(
    {
        "convert_element_type",
        "reshape",
        "broadcast_in_dim",
        "squeeze",
        "expand_dims",
        "transpose",
        "copy",
    }
)
_BIAS = frozenset({"add", "add_any", "sub"})
_UNUSED = "unused"


@dataclasses.dataclass(frozen=True)
class Use:
    """The one equation through which a parameter leaf enters the network.

    Attributes:
      leaf: index of the leaf in ``jax.tree.leaves(params)``.
      eqn: index of the rule's equation ``z = op(A, T(W))`` in the program.
      chain: indices of the equations of ``T`` (leaf → operand), in order.
      pos: operand position of ``T(W)`` in the rule's equation.
      kind: ``"dense"``, ``"conv"``, ``"scale"`` or ``"bias"``.
      isometric: ``T`` preserves inner products (no broadcast), so the identity may be used.
    """

    leaf: int
    eqn: int
    chain: tuple[int, ...]
    pos: int
    kind: str
    isometric: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """How each layer's Gram is computed: ``uses[name]`` (structured) or listed in ``fallback``."""

    program: _jaxpr.Program
    layers: LayerMap
    uses: dict[str, tuple[Use, ...]]
    fallback: tuple[str, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The shape of one example's output ``f(x_i)`` (``()`` for one value per example)."""
        return tuple(self.program.source.out_avals[0].shape[1:])


def _size(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64))


def _rule(eqn: _jaxpr.Eqn, pos: int) -> str | None:
    if len(eqn.inputs) != 2 or len(eqn.outputs) != 1:
        return None
    if not jnp.issubdtype(eqn.out_avals[0].dtype, jnp.floating):
        return None
    if eqn.name == "dot_general":
        _, (lhs_batch, rhs_batch) = eqn.params["dimension_numbers"]
        return None if (lhs_batch, rhs_batch)[pos] else "dense"
    if eqn.name == "conv_general_dilated":
        ok = pos == 1 and eqn.params["batch_group_count"] == 1
        return "conv" if ok else None
    if eqn.name == "mul":
        return "scale"
    if eqn.name in _BIAS:
        return "bias"
    return None


def _leaf_use(program: _jaxpr.Program, readers, leaf: int) -> Use | str | None:
    """The leaf's ``Use``, ``"unused"``, or ``None`` when no rule provably applies."""
    ref, chain, isometric = leaf, [], True
    while True:
        found = readers.get(ref, [])
        if not found:
            return _UNUSED
        if len(found) != 1 or found[0][0] < 0:
            return None
        k, pos = found[0]
        eqn = program.eqns[k]
        if eqn.name in _CHAIN and len(eqn.inputs) == 1 and len(eqn.outputs) == 1:
            if not jnp.issubdtype(eqn.out_avals[0].dtype, jnp.floating):
                return None
            if _size(eqn.in_avals[0]) != _size(eqn.out_avals[0]):
                isometric = False
            chain.append(k)
            ref = eqn.outputs[0]
            continue
        kind = _rule(eqn, pos)
        return None if kind is None else Use(leaf, k, tuple(chain), pos, kind, isometric)


def make_plan(program: _jaxpr.Program, layers: LayerMap) -> Plan:
    """Finds the rule of every leaf; a layer with any uncovered leaf falls back (module docstring)."""
    readers = program.readers()
    uses, fallback = {}, []
    for name, leaves in zip(layers.names, layers.leaves, strict=True):
        found = [_leaf_use(program, readers, i) for i in leaves]
        if any(u is None for u in found):
            fallback.append(name)
        else:
            uses[name] = tuple(u for u in found if isinstance(u, Use))
    return Plan(program, layers, uses, tuple(fallback))


# ----------------------------------------------------------------------------------------------------------
# output axes: which are traced, kept on the diagonal, or kept in pairs (neural-tangents' conventions)


@dataclasses.dataclass(frozen=True)
class OutputAxes:
    """How the output axes of ``f(x_i)`` (shape ``out``) enter a Gram.

    A traced axis is summed over (``Σ_c J_c J'_cᵀ``), a diagonal axis is kept once (``J_c J'_cᵀ``), any other
    axis is kept twice, for ``x`` and ``x'`` side by side: ``(n1, n2, C, C)`` for one output axis.
    """

    shape: tuple[int, ...]
    trace: tuple[int, ...]
    diagonal: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def all_traced(self) -> bool:
        return len(self.trace) == len(self.shape)

    def letters(self) -> tuple[str, str, str]:
        """Einsum letters of the left and right output axes and of the result's output axes."""
        left, right, res = "", "", ""
        for a in range(len(self.shape)):
            lo, hi = "ABCDEFGH"[a], "KLMNOPQR"[a]
            left += lo
            if a in self.trace:
                right += lo
            elif a in self.diagonal:
                right += lo
                res += lo
            else:
                right += hi
                res += lo + hi
        return left, right, res

    def result_shape(self) -> tuple[int, ...]:
        """The trailing shape of a Gram: ``()`` when every axis is traced."""
        out = []
        for a, size in enumerate(self.shape):
            if a in self.trace:
                continue
            out += [size] if a in self.diagonal else [size, size]
        return tuple(out)


def output_axes(
    out_shape: tuple[int, ...], trace_axes: Sequence[int], diagonal_axes: Sequence[int]
) -> OutputAxes:
    """Canonical ``OutputAxes`` for outputs ``(n, *out_shape)``; axes count from the example axis 0.

    Raises:
      ValueError: an axis out of range, the example axis 0, or an axis both traced and diagonal.
    """
    ndim = len(out_shape) + 1

    def canon(axes, name):
        try:
            axes = tuple(int(a) for a in axes)
        except TypeError as e:
            raise TypeError(f"{name} must be a tuple of ints, got {axes!r}") from e
        out = []
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"{name} has axis {a}, out of range for outputs of shape (n, *{out_shape})"
                )
            a = a % ndim
            if a == 0:
                raise ValueError(
                    f"{name} cannot hold the example axis 0 (outputs have shape (n, *{out_shape}))"
                )
            out.append(a - 1)
        return tuple(sorted(set(out)))

    trace = canon(trace_axes, "trace_axes") if out_shape else ()
    diagonal = canon(diagonal_axes, "diagonal_axes") if out_shape else ()
    if set(trace) & set(diagonal):
        raise ValueError(
            f"an output axis cannot be both traced and diagonal: trace_axes={tuple(trace_axes)}, "
            f"diagonal_axes={tuple(diagonal_axes)}"
        )
    return OutputAxes(tuple(out_shape), trace, diagonal)


# ----------------------------------------------------------------------------------------------------------
# features: A_i and Δ_i from one forward and one backward pass


def _example_inputs(x):
    """Per example ``x_i`` (inside ``vmap``) as the program's inputs: each leaf with a batch axis of size 1."""
    return [a[None] for a in jax.tree.leaves(x)]


def _features(plan: Plan, leaves: Sequence[jax.Array], x: Any, consts: Any):
    """``(A, Δ)``: ``A[(eqn, pos)]`` the other operand of each rule, ``Δ[eqn]`` its output cotangent, per example.

    ``Δ[eqn]`` has shape ``(n, *out, *z)``: one cotangent per output component (``out = ()`` for one value per
    example: then it is the gradient of ``f(x_i)``).
    """
    program = plan.program
    out_shape = plan.out_shape
    rule_eqns = sorted({u.eqn for us in plan.uses.values() for u in us})
    records = sorted(
        {(u.eqn, 1 - u.pos) for us in plan.uses.values() for u in us if u.kind != "bias"}
    )
    zeros = {
        k: jnp.zeros(program.eqns[k].out_avals[0].shape, program.eqns[k].out_avals[0].dtype)
        for k in rule_eqns
    }

    def single(x_i):
        def f(eps):
            recorded = {}

            def hook(values, k):
                for kk, p in records:
                    if kk == k:
                        recorded[(k, p)] = jnp.asarray(values[p])
                return [_jaxpr.bind(program.eqns[k], values)[0] + eps[k]]

            hooks = {k: (lambda values, k=k: hook(values, k)) for k in rule_eqns}
            out = _jaxpr.evaluate(program, [*leaves, *_example_inputs(x_i)], hooks, consts)[0]
            return out[0], recorded

        if not out_shape:
            return jax.grad(f, has_aux=True)(zeros)
        _, vjp, recorded = jax.vjp(f, zeros, has_aux=True)
        size = int(np.prod(out_shape))
        basis = jnp.eye(size, dtype=program.source.out_avals[0].dtype).reshape(size, *out_shape)
        deltas = jax.vmap(vjp)(basis)[0]
        return {k: d.reshape(*out_shape, *d.shape[1:]) for k, d in deltas.items()}, recorded

    deltas, inputs = jax.vmap(single)(x)
    return inputs, deltas


# ----------------------------------------------------------------------------------------------------------
# per-use Gram factors


def _dense_dims(plan: Plan, u: Use):
    eqn = plan.program.eqns[u.eqn]
    a_aval, w_aval = eqn.in_avals[1 - u.pos], eqn.in_avals[u.pos]
    contract, _ = eqn.params["dimension_numbers"]
    a_contract = tuple(contract[1 - u.pos])
    w_contract = tuple(contract[u.pos])
    a_free = tuple(d for d in range(len(a_aval.shape)) if d not in a_contract)
    s = int(np.prod([a_aval.shape[d] for d in a_free], dtype=np.int64))
    c = int(np.prod([a_aval.shape[d] for d in a_contract], dtype=np.int64))
    o = int(np.prod([w_aval.shape[d] for d in range(len(w_aval.shape)) if d not in w_contract]))
    return a_free, a_contract, s, c, o, 1


def _conv_dims(plan: Plan, u: Use):
    eqn = plan.program.eqns[u.eqn]
    lhs, rhs = eqn.in_avals
    out = eqn.out_avals[0]
    dn = eqn.params["dimension_numbers"]
    groups = eqn.params["feature_group_count"]
    k = int(np.prod([rhs.shape[d] for d in dn.rhs_spec[2:]], dtype=np.int64))
    s = _size(out) // out.shape[dn.out_spec[1]]
    return s, lhs.shape[dn.lhs_spec[1]] * k, out.shape[dn.out_spec[1]], groups


def _strategy(plan: Plan, u: Use, n1: int, n2: int, same: bool, strategy: str, outputs: int) -> str:
    if u.kind in ("scale", "bias") or not u.isometric:
        return "explicit"
    if strategy != "auto":
        return strategy
    if u.kind == "dense":
        *_, s, c, o, g = _dense_dims(plan, u)
    else:
        s, c, o, g = _conv_dims(plan, u)
    p = c * o // g
    identity = 2 * n1 * n2 * s * s * (c + outputs * o)
    explicit = 2 * (n1 + (0 if same else n2)) * s * p * outputs + 2 * n1 * n2 * p * outputs
    return "identity" if identity <= explicit else "explicit"


def _apply_use(plan: Plan, u: Use, w: jax.Array, a: Any) -> jax.Array:
    for k in u.chain:
        w = _jaxpr.bind(plan.program.eqns[k], [w])[0]
    values = [None, None]
    values[u.pos], values[1 - u.pos] = w, a
    return _jaxpr.bind(plan.program.eqns[u.eqn], values)[0]


def _other_operand(plan: Plan, u: Use):
    eqn = plan.program.eqns[u.eqn]
    ref = eqn.inputs[1 - u.pos]
    if isinstance(ref, _jaxpr.Lit):
        return ref.value
    aval = eqn.in_avals[1 - u.pos]
    return jnp.zeros(aval.shape, aval.dtype)


def _factor(plan: Plan, u: Use, how: str, leaves, inputs, deltas) -> tuple[jax.Array, ...]:
    """Per-example factors of the use's Gram.

    ``(J,)`` with ``J`` of shape ``(n, *out, P)`` (explicit per-example gradients), or ``(A, Δ)`` of shapes
    ``(n, s, g, c)`` and ``(n, *out, s, g, o)`` (the identity).
    """
    eqn = plan.program.eqns[u.eqn]
    out_shape = plan.out_shape
    delta = deltas[u.eqn]
    n = delta.shape[0]
    k = len(out_shape)
    if how == "explicit":
        w = leaves[u.leaf]
        size = int(np.prod(out_shape, dtype=np.int64))

        def one(a, d):
            _, vjp = jax.vjp(lambda w_: _apply_use(plan, u, w_, a), w)
            d = d.reshape(size, *d.shape[k:])
            j = jax.vmap(lambda d_c: vjp(d_c)[0].reshape(-1))(d)
            return j.reshape(*out_shape, -1)

        if u.kind == "bias":
            return (jax.vmap(one, in_axes=(None, 0))(_other_operand(plan, u), delta),)
        return (jax.vmap(one)(inputs[(u.eqn, 1 - u.pos)], delta),)
    a = inputs[(u.eqn, 1 - u.pos)]
    if u.kind == "dense":
        a_free, a_contract, s, c, o, _ = _dense_dims(plan, u)
        a = jnp.transpose(a, (0, *(1 + d for d in a_free), *(1 + d for d in a_contract)))
        a = a.reshape(n, s, 1, c)
        if u.pos == 1:  # z = (A free…, W free…)
            d = delta.reshape(n, *out_shape, s, 1, o)
        else:  # z = (W free…, A free…)
            d = jnp.swapaxes(delta.reshape(n, *out_shape, o, s), -1, -2)
            d = d.reshape(n, *out_shape, s, 1, o)
        return a, d
    # convolution: patches of the input seen by every output position
    p = eqn.params
    dn = p["dimension_numbers"]
    rhs = eqn.in_avals[1]
    s, ck, o, g = _conv_dims(plan, u)

    def patches(a_1):
        return jax.lax.conv_general_dilated_patches(
            a_1,
            filter_shape=tuple(rhs.shape[d] for d in dn.rhs_spec[2:]),
            window_strides=p["window_strides"],
            padding=p["padding"],
            lhs_dilation=p["lhs_dilation"],
            rhs_dilation=p["rhs_dilation"],
            dimension_numbers=dn,
            precision=_HIGHEST,
        )

    pa = jnp.moveaxis(jax.vmap(patches)(a), 1 + dn.out_spec[1], -1).reshape(n, s, g, ck // g)
    d = jnp.moveaxis(delta, 1 + k + dn.out_spec[1], -1).reshape(n, *out_shape, s, g, o // g)
    return pa, d


def _fold_outputs(d: jax.Array, k: int) -> jax.Array:
    """``(n, *out, s, g, o) -> (n, s, g, out·o)``: every output axis traced into the last axis."""
    if k == 0:
        return d
    n, *rest = d.shape
    out, (s, g, o) = rest[:k], rest[k:]
    d = jnp.moveaxis(d, tuple(range(1, 1 + k)), tuple(range(3, 3 + k)))
    return d.reshape(n, s, g, int(np.prod(out, dtype=np.int64)) * o)


def _combine(
    left: tuple[jax.Array, ...], right: tuple[jax.Array, ...], axes: OutputAxes
) -> jax.Array:
    """``Σ_p J_i J'_j`` over the use's parameters, output axes as ``axes`` says: ``(n1, n2, *result)``."""
    k = len(axes.shape)
    lo, hi, res = axes.letters()
    if len(left) == 1:
        j1, j2 = left[0], right[0]
        if axes.all_traced:
            return jnp.matmul(
                j1.reshape(j1.shape[0], -1), j2.reshape(j2.shape[0], -1).T, precision=_HIGHEST
            )
        return jnp.einsum(f"i{lo}p,j{hi}p->ij{res}", j1, j2, precision=_HIGHEST)
    (a1, d1), (a2, d2) = left, right
    if axes.all_traced:
        d1, d2 = _fold_outputs(d1, k), _fold_outputs(d2, k)
        if a1.shape[1] == 1 and a1.shape[2] == 1:
            ka = jnp.matmul(a1[:, 0, 0], a2[:, 0, 0].T, precision=_HIGHEST)
            kd = jnp.matmul(d1[:, 0, 0], d2[:, 0, 0].T, precision=_HIGHEST)
            return ka * kd
        ka = jnp.einsum("isgc,jtgc->ijstg", a1, a2, precision=_HIGHEST)
        kd = jnp.einsum("isgo,jtgo->ijstg", d1, d2, precision=_HIGHEST)
        return jnp.sum(ka * kd, axis=(2, 3, 4))
    if a1.shape[1] == 1 and a1.shape[2] == 1:
        ka = jnp.matmul(a1[:, 0, 0], a2[:, 0, 0].T, precision=_HIGHEST)
        kd = jnp.einsum(
            f"i{lo}o,j{hi}o->ij{res}", d1[..., 0, 0, :], d2[..., 0, 0, :], precision=_HIGHEST
        )
        return ka.reshape(*ka.shape, *([1] * len(res))) * kd
    ka = jnp.einsum("isgc,jtgc->ijstg", a1, a2, precision=_HIGHEST)
    kd = jnp.einsum(f"i{lo}sgo,j{hi}tgo->ijstg{res}", d1, d2, precision=_HIGHEST)
    return jnp.einsum(f"ijstg,ijstg{res}->ij{res}", ka, kd, precision=_HIGHEST)


# ----------------------------------------------------------------------------------------------------------
# fallback: per-example gradients of the replayed program


def example_jacobian(
    plan: Plan,
    leaves: Sequence[jax.Array],
    indices: Sequence[int],
    x: Any,
    consts: Any,
    split: bool = False,
    unrolled: bool = False,
) -> jax.Array | list[jax.Array]:
    """Per-example Jacobians ``∂f(x_i)/∂θ`` w.r.t. the leaves ``indices``, shape ``(n, *out, P)``.

    ``split=True`` returns one ``(n, *out, P_leaf)`` array per leaf instead of their concatenation;
    ``unrolled=True`` differentiates the rows one by one (for a few rows) instead of under ``vmap``.

    Each example is replayed alone (batch of size 1), as the structured rules assume; ``check`` compares
    that replay with the model on a batch.
    """
    out_shape = plan.out_shape

    def f(sub, x_i):
        out = _jaxpr.evaluate(
            plan.program,
            [*replace_leaves(leaves, indices, sub), *_example_inputs(x_i)],
            None,
            consts,
        )[0]
        return out[0]

    sub = [leaves[i] for i in indices]
    n = jax.tree.leaves(x)[0].shape[0]
    if unrolled:  # a few rows: XLA's CPU outer products are faster unbatched than vmapped
        rows = [jax.jacrev(f)(sub, jax.tree.map(lambda a, k=k: a[k], x)) for k in range(n)]
        jac = [jnp.stack(parts) for parts in zip(*rows, strict=True)]
    else:
        jac = jax.vmap(jax.jacrev(f), in_axes=(None, 0))(sub, x)
    parts = [a.reshape(n, *out_shape, -1) for a in jac]
    return parts if split else jnp.concatenate(parts, axis=-1)


def replay(plan: Plan, leaves: Sequence[jax.Array], x: Any, consts: Any) -> jax.Array:
    """``f(x_i)`` for every example, each replayed alone: shape ``(n, *out)``."""

    def f(x_i):
        return _jaxpr.evaluate(plan.program, [*leaves, *_example_inputs(x_i)], None, consts)[0][0]

    return jax.vmap(f)(x)


def grams(
    plan: Plan,
    leaves: Sequence[jax.Array],
    x1: Any,
    x2: Any | None,
    consts: Any,
    axes: OutputAxes,
    *,
    block_size: int | None = None,
    strategy: str = "auto",
) -> dict[str, jax.Array]:
    """Per-layer Grams ``{name: (n1, n2, *result)}`` in call order; ``x2=None`` means ``x2 = x1``.

    ``leaves`` and the floating inputs must already share one float dtype (one seed; ``vmap`` for several);
    ``consts`` are the program's constants (``_jaxpr.evaluate``).

    The per-example factors pass through ``lax.optimization_barrier`` before their products: XLA's CPU
    fusion (jaxlib 0.10.2, ``benchmarks/xla_ynn_broadcast_dot.py``) otherwise folds factors it can prove
    constant (the all-ones cotangents of a summed head) into a product it then computes wrongly (1, not C).
    """
    same = x2 is None
    x2_ = x1 if same else x2
    n1, n2 = jax.tree.leaves(x1)[0].shape[0], jax.tree.leaves(x2_)[0].shape[0]
    how = {
        u: _strategy(plan, u, n1, n2, same, strategy, axes.size)
        for us in plan.uses.values()
        for u in us
    }

    def factors(x):
        inputs, deltas = _features(plan, leaves, x, consts)
        out = {u: _factor(plan, u, h, leaves, inputs, deltas) for u, h in how.items()}
        for name in plan.fallback:
            indices = plan.layers.indices(name)
            out[name] = (example_jacobian(plan, leaves, indices, x, consts),)
        keys = list(out)  # Use and layer-name keys: a list, not a dict, for the barrier
        return dict(zip(keys, jax.lax.optimization_barrier([out[k] for k in keys]), strict=True))

    right = factors(x2_)

    def rows(x_r):
        left = right if (same and block_size is None) else factors(x_r)
        n_r = jax.tree.leaves(x_r)[0].shape[0]
        out = {}
        for name in plan.layers.names:
            if name in plan.fallback:
                out[name] = _combine(left[name], right[name], axes)
                continue
            terms = [_combine(left[u], right[u], axes) for u in plan.uses[name]]
            dtype = jax.tree.leaves(leaves)[0].dtype
            zero = jnp.zeros((n_r, n2, *axes.result_shape()), dtype)
            out[name] = functools.reduce(jnp.add, terms) if terms else zero
        return out

    return map_rows(rows, x1, block_size)
