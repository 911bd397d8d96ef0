"""The forward pass of a model as one flat list of primitive equations (a jaxpr with calls inlined).

``trace(fn, *args)`` runs ``jax.make_jaxpr`` and inlines every ``jit``/``closed_call`` sub-jaxpr and every
``jax.checkpoint``/``remat`` region (rematerialisation changes memory, never values), so that each parameter's
uses are visible at one level and the equations are in execution order (the order of first use of the
parameters defines the layer order, ``layers``; ``first_use_keys`` looks inside the bodies of ``scan``,
``cond``, ``while`` and custom-derivative calls). Those other higher-order primitives are kept whole:
``evaluate`` binds them as they are, so their custom derivative rules still apply.
``evaluate`` replays the program; a hook can replace chosen equations (the structured engine uses it to
record inputs and add zero perturbations whose gradients are the output cotangents). ``fingerprint`` says
when two traces are the same computation, so one compilation serves both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
from jax.extend import core as jex

__all__ = ["Eqn", "Lit", "Program", "bind", "evaluate", "fingerprint", "first_use_keys", "trace"]

_INLINED = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
}


def _open(sub: Any) -> tuple[Any, list[Any]] | None:
    """``(jaxpr, consts)`` of a closed or open jaxpr (JAX ≥ 0.12 merges the two types); ``None`` otherwise."""
    inner = getattr(sub, "jaxpr", None)
    if inner is not None and inner is not sub and hasattr(inner, "eqns"):
        return inner, list(sub.consts)
    if hasattr(sub, "eqns") and hasattr(sub, "invars"):
        return sub, list(getattr(sub, "consts", ()) or ())
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Lit:
    """A literal operand (a constant written into the jaxpr)."""

    value: Any


Ref = int | Lit


@dataclasses.dataclass(frozen=True, eq=False)
class Eqn:
    """One primitive equation ``outputs = primitive(*inputs, **params)``; refs are program variable ids."""

    primitive: jex.Primitive
    params: Mapping[str, Any]
    inputs: tuple[Ref, ...]
    outputs: tuple[int, ...]
    in_avals: tuple[Any, ...]
    out_avals: tuple[Any, ...]

    @property
    def name(self) -> str:
        """The primitive's name (``"dot_general"``, ``"conv_general_dilated"``, ...)."""
        return self.primitive.name


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """A flat program: variable ids ``0 … num_inputs-1`` are the flattened inputs, in order."""

    num_inputs: int
    consts: Mapping[int, Any]
    eqns: tuple[Eqn, ...]
    outputs: tuple[Ref, ...]
    source: Any = None  # the closed jaxpr it was flattened from (``fingerprint``)

    def readers(self) -> dict[int, list[tuple[int, int]]]:
        """``{var: [(equation index, operand position), …]}``; a program output is reader ``(-1, i)``."""
        out: dict[int, list[tuple[int, int]]] = {}
        for k, eqn in enumerate(self.eqns):
            for pos, ref in enumerate(eqn.inputs):
                if not isinstance(ref, Lit):
                    out.setdefault(ref, []).append((k, pos))
        for i, ref in enumerate(self.outputs):
            if not isinstance(ref, Lit):
                out.setdefault(ref, []).append((-1, i))
        return out


class _Builder:
    def __init__(self, num_inputs: int):
        self.next_id = num_inputs
        self.consts: dict[int, Any] = {}
        self.eqns: list[Eqn] = []

    def new(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def flatten(self, jaxpr: jex.Jaxpr, consts: Sequence[Any], in_refs: Sequence[Ref]) -> list[Ref]:
        env: dict[Any, Ref] = {}
        for v, c in zip(jaxpr.constvars, consts, strict=True):
            ref = self.new()
            self.consts[ref] = c
            env[v] = ref
        for v, ref in zip(jaxpr.invars, in_refs, strict=True):
            env[v] = ref

        def read(v):
            return Lit(v.val) if isinstance(v, jex.Literal) else env[v]

        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            key = _INLINED.get(eqn.primitive.name)
            sub = _open(eqn.params.get(key)) if key else None
            if sub is not None:
                outs = self.flatten(sub[0], sub[1], ins)
            else:
                outs = [self.new() for _ in eqn.outvars]
                self.eqns.append(
                    Eqn(
                        eqn.primitive,
                        eqn.params,
                        tuple(ins),
                        tuple(outs),
                        tuple(v.aval for v in eqn.invars),
                        tuple(v.aval for v in eqn.outvars),
                    )
                )
            for v, ref in zip(eqn.outvars, outs, strict=True):
                if not isinstance(v, jex.DropVar):
                    env[v] = ref
        return [read(v) for v in jaxpr.outvars]


def trace(fn: Callable[..., Any], *args: Any) -> Program:
    """The flat program of ``fn(*args)`` (args may be ``jax.ShapeDtypeStruct``s); inputs are ``args``' leaves."""
    closed = jax.make_jaxpr(fn)(*args)
    num_inputs = len(closed.jaxpr.invars)
    builder = _Builder(num_inputs)
    outs = builder.flatten(closed.jaxpr, closed.consts, list(range(num_inputs)))
    return Program(num_inputs, builder.consts, tuple(builder.eqns), tuple(outs), closed)


def bind(eqn: Eqn, values: Sequence[Any]) -> list[Any]:
    """Evaluates one equation on ``values`` (as ``jax.core.eval_jaxpr`` does); always returns a list."""
    params = eqn.primitive.get_bind_params(dict(eqn.params))
    out = eqn.primitive.bind(*values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def evaluate(
    program: Program,
    inputs: Sequence[Any],
    hooks: Mapping[int, Callable[[list[Any]], list[Any]]] | None = None,
    consts: Mapping[int, Any] | None = None,
) -> list[Any]:
    """Replays ``program`` on ``inputs``; equation ``k`` in ``hooks`` is computed by ``hooks[k](values)``.

    ``consts`` replaces ``program.consts`` (same keys): a compiled replay takes them as arguments, so one
    compilation serves every program with the same ``fingerprint``.
    """
    env: dict[int, Any] = dict(program.consts if consts is None else consts)
    env.update(enumerate(inputs))
    hooks = hooks or {}

    def read(ref):
        return ref.value if isinstance(ref, Lit) else env[ref]

    for k, eqn in enumerate(program.eqns):
        values = [read(r) for r in eqn.inputs]
        outs = hooks[k](values) if k in hooks else bind(eqn, values)
        env.update(zip(eqn.outputs, outs, strict=True))
    return [read(r) for r in program.outputs]


# ----------------------------------------------------------------------------------------------------------
# call order inside higher-order primitives


def _sub_jaxprs(
    eqn_params: Mapping[str, Any], name: str, num_in: int
) -> list[tuple[Any, list[int | None]]]:
    """``[(jaxpr, position map)]``: for each body of a higher-order equation, the body input of each operand."""
    if name == "cond":
        return [(_open(b)[0], [None, *range(num_in - 1)]) for b in eqn_params["branches"]]
    if name == "while":
        cn, bn = eqn_params["cond_nconsts"], eqn_params["body_nconsts"]
        body, cond = _open(eqn_params["body_jaxpr"])[0], _open(eqn_params["cond_jaxpr"])[0]
        carry = num_in - cn - bn
        return [
            (cond, [*range(cn), *([None] * (bn + carry))]),
            (body, [*([None] * cn), *range(bn + carry)]),
        ]
    out = []
    for value in eqn_params.values():
        sub = _open(value)
        if sub is not None and len(sub[0].invars) == num_in:
            out.append((sub[0], list(range(num_in))))
    return out


def _first_use_in(jaxpr: Any, var: Any) -> tuple[Any, ...] | None:
    for k, eqn in enumerate(jaxpr.eqns):
        for pos, v in enumerate(eqn.invars):
            if v is var:
                return (k, _inner_key(eqn.params, eqn.primitive.name, len(eqn.invars), pos), pos)
    return None


def _inner_key(eqn_params, name, num_in, pos) -> tuple[Any, ...]:
    keys = []
    for body, positions in _sub_jaxprs(eqn_params, name, num_in):
        p = positions[pos]
        if p is not None:
            found = _first_use_in(body, body.invars[p])
            if found is not None:
                keys.append(found)
    return min(keys) if keys else ()


_TRANSPARENT = frozenset(
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


def first_use_keys(program: Program, num: int) -> list[tuple[Any, ...]]:
    """For each of the first ``num`` inputs, the position of its first use, looking inside bodies.

    The key of an input read first by equation ``k`` as its operand ``pos`` is ``(k, inner, pos)``, where
    ``inner`` is the key of the first use inside the bodies of ``k`` (``scan``, ``cond``, ``while``,
    custom-derivative calls), so parameters read by one ``scan`` are ordered as its body reads them, and
    parameters read by one equation (a ``concatenate`` of gate kernels) in operand order. Reshapes, casts,
    broadcasts and transposes are followed to the equation that uses their result (a bias reshaped outside a ``scan``
    counts where the body adds it). ``(inf, (), 0)`` if never read; a program output counts as a read after
    every equation.
    """
    keys: list[tuple[Any, ...]] = [(float("inf"), (), 0)] * num
    origin: dict[int, int] = {i: i for i in range(num)}
    for k, eqn in enumerate(program.eqns):
        for pos, ref in enumerate(eqn.inputs):
            if isinstance(ref, Lit) or ref not in origin:
                continue
            leaf = origin[ref]
            if eqn.name in _TRANSPARENT and len(eqn.inputs) == 1 and len(eqn.outputs) == 1:
                origin[eqn.outputs[0]] = leaf
                continue
            if keys[leaf][0] <= k:
                continue
            keys[leaf] = (k, _inner_key(eqn.params, eqn.name, len(eqn.inputs), pos), pos)
    for ref in program.outputs:
        if not isinstance(ref, Lit) and ref in origin and keys[origin[ref]][0] == float("inf"):
            keys[origin[ref]] = (len(program.eqns), (), 0)
    return keys


# ----------------------------------------------------------------------------------------------------------
# fingerprint: when two programs are the same computation


def _opaque_callables(jaxpr: Any, out: list[str]) -> None:
    """Appends ``id`` of every callable parameter whose behaviour the jaxpr text does not show."""
    for eqn in jaxpr.eqns:
        for key, value in eqn.params.items():
            sub = _open(value)
            if sub is not None:
                _opaque_callables(sub[0], out)
            elif isinstance(value, tuple | list):
                for v in value:
                    sub = _open(v)
                    if sub is not None:
                        _opaque_callables(sub[0], out)
            elif callable(value) and not isinstance(value, jex.Primitive):
                if eqn.primitive.name == "custom_jvp_call":
                    continue  # its rule is traced into the JVP jaxpr of the fingerprint
                out.append(f"{eqn.primitive.name}.{key}@{id(value)}")


def fingerprint(program: Program, num_diff: int) -> str:
    """``_fingerprint`` computed once per program (a traced program is reused while its function is)."""
    cache = program.__dict__.setdefault("_fingerprints", {})
    if num_diff not in cache:
        cache[num_diff] = _fingerprint(program, num_diff)
    return cache[num_diff]


def _fingerprint(program: Program, num_diff: int) -> str:
    """A string equal for two programs exactly when they compute the same values and derivatives.

    It holds the printed jaxpr (primitives, shapes, literals), the shapes and dtypes of its constants (whose
    values are passed to a compiled replay as arguments), and, when the program calls functions with custom
    JVP rules, the printed JVP jaxpr w.r.t. the first ``num_diff`` inputs (which expands those rules into
    primitives). Any other callable parameter (a custom VJP's backward function, a host callback) is named
    by its identity, so such programs are never shared between two traces.
    """
    closed = program.source
    parts = [str(closed.jaxpr)]
    parts += [
        f"{getattr(c, 'shape', ())}:{getattr(c, 'dtype', type(c).__name__)}" for c in closed.consts
    ]
    opaque: list[str] = []
    _opaque_callables(closed.jaxpr, opaque)
    parts += opaque
    if "custom_jvp_call" in parts[0]:
        avals = [v.aval for v in closed.jaxpr.invars]

        def jvp(primals, tangents, rest):
            def f(*p):
                return evaluate(program, [*p, *rest])

            return jax.jvp(f, primals, tangents)

        diff = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals[:num_diff]]
        rest = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals[num_diff:]]
        parts.append(str(jax.make_jaxpr(jvp)(diff, diff, rest).jaxpr))
    return "\n".join(parts)
