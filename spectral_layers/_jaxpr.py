"""The forward pass of a model as one flat list of primitive equations (a jaxpr with calls inlined).

``trace(fn, *args)`` runs ``jax.make_jaxpr`` and inlines every ``jit``/``closed_call`` sub-jaxpr, so that each
parameter's uses are visible at one level and the equations are in execution order (the order of first use
of the parameters defines the layer order, ``layers``). Other higher-order primitives (``custom_jvp_call``,
``scan``, ``while``, ``cond``, ``remat``) are kept whole: ``evaluate`` binds them as they are, so their custom
derivative rules still apply. ``evaluate`` replays the program; a hook can replace chosen equations (the
structured engine uses it to record inputs and add zero perturbations whose gradients are the output
cotangents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
from jax.extend import core as jex

__all__ = ["Eqn", "Lit", "Program", "bind", "evaluate", "trace"]

_INLINED = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr"}


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
            sub = eqn.params.get(key) if key else None
            if isinstance(sub, jex.ClosedJaxpr):
                outs = self.flatten(sub.jaxpr, sub.consts, ins)
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
    return Program(num_inputs, builder.consts, tuple(builder.eqns), tuple(outs))


def bind(eqn: Eqn, values: Sequence[Any]) -> list[Any]:
    """Evaluates one equation on ``values`` (as ``jax.core.eval_jaxpr`` does); always returns a list."""
    params = eqn.primitive.get_bind_params(dict(eqn.params))
    out = eqn.primitive.bind(*values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def evaluate(
    program: Program,
    inputs: Sequence[Any],
    hooks: Mapping[int, Callable[[list[Any]], list[Any]]] | None = None,
) -> list[Any]:
    """Replays ``program`` on ``inputs``; equation ``k`` in ``hooks`` is computed by ``hooks[k](values)``."""
    env: dict[int, Any] = dict(program.consts)
    env.update(enumerate(inputs))
    hooks = hooks or {}

    def read(ref):
        return ref.value if isinstance(ref, Lit) else env[ref]

    for k, eqn in enumerate(program.eqns):
        values = [read(r) for r in eqn.inputs]
        outs = hooks[k](values) if k in hooks else bind(eqn, values)
        env.update(zip(eqn.outputs, outs, strict=True))
    return [read(r) for r in program.outputs]
