"""Imports neural-tangents 0.6.5 on jax 0.10: every compatibility workaround, in one place.

neural-tangents (NT; Novak et al., 2020, https://github.com/google/neural-tangents) 0.6.5 was
written for jax 0.4 and no longer imports on jax 0.10. Here it is installed without its
dependencies (``pip install --no-deps neural-tangents==0.6.5``: no tensorflow, tf2jax or
frozendict) and used as an independent cross-check: ``layer_ntk(method="nt")`` and the
infinite-width kernels of ``nt.stax``. ``import_neural_tangents()`` applies the shims below once,
when first called (never at ``import spectral_layers``), then imports NT. No file in site-packages
is edited and no existing jax attribute is overwritten: only missing names are added.

What broke (jax 0.10.2), and the shim:

* ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive}`` moved to ``jax.extend.core``:
  re-exported on ``jax.core`` (NT does ``from jax.core import …``).
* the module ``jax.util`` is gone: a module with ``safe_map``/``safe_zip`` (from
  ``jax._src.util``) is put in ``sys.modules["jax.util"]``.
* ``jax.interpreters.ad.zeros_like_p`` is no longer re-exported: filled from
  ``jax._src.ad_util`` (NT's ``rules.py`` registers rules for it at import time).
* ``Primitive.map_primitive`` is gone with the map primitives (``xla_pmap``): filled as ``False``.
* ``neural_tangents/__init__`` imports ``experimental``, which needs tensorflow, tf2jax and
  ``jax.experimental.jax2tf``: when tensorflow or tf2jax is missing,
  ``neural_tangents.experimental`` is a stub whose attributes raise ``AttributeError`` saying so
  (nothing here uses it).
* NT's ``stax`` imports ``frozendict``: if that package is missing, a minimal hashable read-only
  ``dict`` stands in while NT is imported (it is taken out of ``sys.modules`` afterwards).
* ``NtkImplementation.STRUCTURED_DERIVATIVES`` (NT ``_src/empirical.py``) calls the private
  ``ad.linearize(wrapped_fun, *primals)``, whose signature and return value changed, and reads
  ``ad.{source_info_util, reducing_transposes, config}``, ``core.get_aval`` and
  ``core.DShapedArray``, all removed. The globals ``ad``, ``core`` and ``lu`` of that NT module
  (not jax's modules) are rebound to proxies that forward to jax and add: ``linearize`` with the
  old signature, built on the new one; ``source_info_util`` (``jax.extend.source_info_util``);
  ``reducing_transposes = {}`` (unused by jax since 0.4.38); ``get_aval = jax.typeof``; a
  ``DShapedArray`` placeholder that no aval is an instance of (dynamic shapes were removed);
  ``config.jax_enable_checks = False``, because NT's optional aval assertion needs
  ``core.lattice_join`` and ``ShapedArray.strip_named_shape``, which no longer exist (so that
  NT-internal assertion is skipped; jax's own checks are unaffected); and ``lu.wrap_init`` with a
  ``DebugInfo`` (a missing one is deprecated).
* JAX moved the transposes of ``slice``, ``dynamic_slice`` and a few other linear primitives to
  ``ad.fancy_transposes``, so STRUCTURED_DERIVATIVES failed on any model whose output path slices
  (``f(p, x)[:, 0]``, ViT's ``x[:, 0]``): the proxy's ``get_primitive_transpose`` builds the old-style
  rule from ``jax.linear_transpose`` of the primitive.
* ``NtkImplementation.AUTO``: NT's ``_get_flops`` indexes ``cost_analysis()[0]``, now a dict:
  replaced. (AUTO also ``print``s the flops of each implementation: NT's behaviour, left as is.)
* NT's ``_std_basis`` calls ``jnp.size`` on ``ShapeDtypeStruct`` and ``_get_fx_axis_and_dtype``
  calls ``jnp.dtype`` on arrays (both deprecated, soon errors): replaced by the same functions
  using ``.shape`` and ``.dtype``.

With these, ``stax`` kernels and ``empirical_ntk_fn`` with every ``NtkImplementation``
(``JACOBIAN_CONTRACTION``, ``NTK_VECTOR_PRODUCTS``, ``STRUCTURED_DERIVATIVES``, ``AUTO``) work;
``tests/spectral_layers/test_nt_compat.py`` checks them against closed forms and brute-force Jacobians.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import math
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "NT_VERSION",
    "NeuralTangentsUnavailable",
    "filled_names",
    "import_neural_tangents",
    "nt_available",
    "stax",
]

NT_VERSION = "0.6.5"
INSTALL_HINT = f"pip install --no-deps neural-tangents=={NT_VERSION}"

_LOCK = threading.RLock()
_FILLED: list[str] = []
_STATE: dict[str, Any] = {"jax_patched": False, "module": None}


class NeuralTangentsUnavailable(ImportError):
    """neural-tangents cannot be imported (not installed, or it fails to import with this jax)."""


def import_neural_tangents() -> types.ModuleType:
    """Returns the ``neural_tangents`` module, applying this module's jax-0.10 shims first.

    Idempotent and thread-safe: the shims are applied once and the module is cached.

    Raises:
      NeuralTangentsUnavailable: if neural-tangents is not installed or fails to import; the
        message says what failed and how to install it.
    """
    with _LOCK:
        if _STATE["module"] is not None:
            return _STATE["module"]
        try:
            _patch_jax()
            _stub_experimental()
            with _frozendict_if_missing():
                nt = importlib.import_module("neural_tangents")
            _patch_nt_empirical(importlib.import_module("neural_tangents._src.empirical"))
        except ModuleNotFoundError as e:
            if e.name != "neural_tangents":
                raise _unavailable(e) from e
            raise NeuralTangentsUnavailable(
                f"neural-tangents is not installed ({e}); install it with `{INSTALL_HINT}` "
                "(its dependencies tensorflow, tf2jax and frozendict are not needed)"
            ) from e
        except Exception as e:
            raise _unavailable(e) from e
        version = getattr(nt, "__version__", "unknown")
        if version != NT_VERSION:
            warnings.warn(
                f"neural-tangents {version} found; spectral_layers.nt_compat was written for "
                f"{NT_VERSION}",
                stacklevel=2,
            )
        _STATE["module"] = nt
        return nt


def nt_available() -> bool:
    """Whether ``import_neural_tangents()`` succeeds (a success is cached)."""
    try:
        import_neural_tangents()
    except NeuralTangentsUnavailable:
        return False
    return True


def stax() -> types.ModuleType:
    """``neural_tangents.stax``, imported through ``import_neural_tangents()``."""
    return import_neural_tangents().stax


def filled_names() -> tuple[str, ...]:
    """Dotted names of the jax attributes and modules added so far (none before the import)."""
    return tuple(_FILLED)


def _unavailable(e: BaseException) -> NeuralTangentsUnavailable:
    return NeuralTangentsUnavailable(
        "neural-tangents is installed but failed to import with this jax "
        f"({type(e).__name__}: {e}); "
        f"spectral_layers supports neural-tangents {NT_VERSION}, installed with `{INSTALL_HINT}`"
    )


# -------------------------------------------------------------------------------------------------
# shims on jax (missing names only)


def _fill(obj: Any, name: str, value: Any, qualname: str) -> None:
    """Sets ``obj.name = value`` only if ``obj`` has no attribute ``name`` (never overwrites)."""
    if not hasattr(obj, name):
        setattr(obj, name, value)
        _FILLED.append(qualname)


def _patch_jax() -> None:
    """Adds the names NT imports from jax that jax 0.10 no longer has (module docstring)."""
    if _STATE["jax_patched"]:
        return
    import jax
    import jax.core
    import jax.extend.core
    import jax.interpreters.ad
    from jax._src import ad_util
    from jax._src import util as jax_src_util

    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive"):
        _fill(jax.core, name, getattr(jax.extend.core, name), f"jax.core.{name}")
    try:
        util = importlib.import_module("jax.util")
    except ModuleNotFoundError:
        util = types.ModuleType(
            "jax.util", "Stand-in for the removed jax.util (spectral_layers.nt_compat)."
        )
        sys.modules["jax.util"] = util
        _FILLED.append("jax.util")
    _fill(jax, "util", util, "jax.util (attribute of jax)")
    for name in ("safe_map", "safe_zip"):
        _fill(util, name, getattr(jax_src_util, name), f"jax.util.{name}")
    _fill(
        jax.interpreters.ad,
        "zeros_like_p",
        ad_util.zeros_like_p,
        "jax.interpreters.ad.zeros_like_p",
    )
    _fill(
        jax.extend.core.Primitive, "map_primitive", False, "jax.extend.core.Primitive.map_primitive"
    )
    _STATE["jax_patched"] = True


# -------------------------------------------------------------------------------------------------
# NT's own imports


def _stub_experimental() -> None:
    """Stubs ``neural_tangents.experimental`` if tensorflow or tf2jax is missing."""
    if "neural_tangents.experimental" in sys.modules:
        return
    missing = [m for m in ("tensorflow", "tf2jax") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    stub = types.ModuleType(
        "neural_tangents.experimental",
        "Stub (spectral_layers.nt_compat): the real module needs tensorflow, tf2jax and jax2tf.",
    )

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"neural_tangents.experimental.{name} is unavailable: it needs {' and '.join(missing)} "
            "(the module was stubbed by spectral_layers.nt_compat)"
        )

    stub.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["neural_tangents.experimental"] = stub


class _FrozenDict(dict):
    """Minimal ``frozendict.frozendict``: a hashable ``dict`` without mutating methods."""

    __slots__ = ()

    def _immutable(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("frozendict is immutable")

    __setitem__ = __delitem__ = __ior__ = _immutable  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _immutable  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"frozendict({dict.__repr__(self)})"

    def copy(self) -> _FrozenDict:  # type: ignore[override]
        return self


@contextlib.contextmanager
def _frozendict_if_missing() -> Iterator[None]:
    """Provides a ``frozendict`` module while NT is imported if the package is not installed.

    The stand-in leaves ``sys.modules`` afterwards (NT's modules keep their reference), so it never
    shadows a ``frozendict`` installed later.
    """
    if "frozendict" in sys.modules or importlib.util.find_spec("frozendict") is not None:
        yield
        return
    shim = types.ModuleType(
        "frozendict", "Stand-in for the frozendict package (spectral_layers.nt_compat)."
    )
    shim.frozendict = _FrozenDict  # type: ignore[attr-defined]
    sys.modules["frozendict"] = shim
    try:
        yield
    finally:
        if sys.modules.get("frozendict") is shim:
            del sys.modules["frozendict"]


# -------------------------------------------------------------------------------------------------
# NT's _src/empirical.py (STRUCTURED_DERIVATIVES, AUTO)


class _PartialVal:
    """Stand-in for the old ``pe.PartialVal`` of an output tangent: known iff symbolically zero."""

    __slots__ = ("_known",)

    def __init__(self, known: bool):
        self._known = known

    def is_known(self) -> bool:
        return self._known


def _old_style_linearize(traceable: Any, *primals: Any, has_aux: bool = False) -> tuple:
    """``ad.linearize`` with its jax-0.4 signature, built on the jax-0.10 one.

    Old: ``linearize(wrapped_fun, *primals) -> (out_primals, out_tangent_pvals, jaxpr, consts)``;
    new: ``linearize(fun, primals_ft) -> (out_primals_ft, out_zeros, jaxpr, consts)``. In both, the
    jaxpr maps all input tangents to the output tangents that are not symbolically zero.
    """
    from jax._src.interpreters import ad as ad_src

    try:
        from jax._src.tree_util import FlatTree

        flatten = FlatTree.flatten
    except ImportError:  # jax >= 0.12: FlatTree's module is jax._src.flattree
        from jax._src import flattree

        flatten = flattree.flatten
    fun = getattr(traceable, "call_wrapped", traceable)
    out = ad_src.linearize(fun, flatten(primals), has_aux=has_aux)
    # jax 0.10: (..., consts, *aux); jax >= 0.12 adds the structured residuals before the aux
    out_primals_ft, out_zeros, jaxpr, consts = out[:4]
    aux = out[-1:] if has_aux else ()
    if len(jaxpr.constvars) != len(consts):
        # jax >= 0.12 (one Jaxpr type): the consts are the jaxpr's leading invars; the legacy
        # ClosedJaxpr(jaxpr, consts) construction attaches them, making them its constvars again
        jaxpr = type(jaxpr)(jaxpr, consts)
    pvals = [_PartialVal(bool(zero)) for zero in out_zeros]
    return (list(out_primals_ft), pvals, jaxpr, consts, *aux)


class _RemovedDShapedArray:
    """Placeholder for ``jax.core.DShapedArray`` (dynamic shapes are gone): never instantiated."""


def _get_primitive_transpose(p: Any) -> Any:
    """``ad.get_primitive_transpose`` that also serves primitives whose transpose JAX moved to
    ``ad.fancy_transposes`` (``slice``, ``dynamic_slice``, … since jax 0.9): their old-style rule
    ``rule(ct, *invals, **params)`` is built from ``jax.linear_transpose`` of the primitive in its
    undefined operands (the primitive is linear in them, which is why NT transposes it)."""
    import jax
    from jax._src.interpreters import ad

    rule = ad.primitive_transposes.get(p)
    if rule is not None:
        return rule
    if p not in ad.fancy_transposes:
        return ad.get_primitive_transpose(p)  # raises NotImplementedError as before

    def transpose(ct: Any, *invals: Any, **params: Any) -> list[Any]:
        undefined = [ad.is_undefined_primal(v) for v in invals]
        avals = [v.aval for v, u in zip(invals, undefined, strict=True) if u]

        def f(*args):
            it = iter(args)
            return p.bind(
                *[next(it) if u else v for u, v in zip(undefined, invals, strict=True)], **params
            )

        if type(ct).__name__ == "Zero":
            return [None] * len(invals)
        cts = iter(
            jax.linear_transpose(f, *[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals])(ct)
        )
        return [next(cts) if u else None for u in undefined]

    return transpose


def _proxy(module: types.ModuleType, name: str, extra: dict[str, Any]) -> types.ModuleType:
    """A module holding ``extra`` that forwards every other attribute lookup to ``module``."""
    proxy = types.ModuleType(name, f"Proxy of {module.__name__} (spectral_layers.nt_compat).")
    proxy.__dict__.update(extra)
    proxy.__getattr__ = lambda attr: getattr(module, attr)  # type: ignore[method-assign]
    return proxy


def _patch_nt_empirical(nt_empirical: types.ModuleType) -> None:
    """Rebinds globals of NT's ``_src/empirical.py`` (module docstring); a no-op the second time."""
    if getattr(nt_empirical, "_spectral_layers_patched", False):
        return
    import jax
    import jax.core
    import jax.extend.linear_util
    import jax.extend.source_info_util
    import jax.interpreters.ad
    from jax._src import api_util

    ad, core, lu = jax.interpreters.ad, jax.core, jax.extend.linear_util
    ad_extra: dict[str, Any] = {"config": types.SimpleNamespace(jax_enable_checks=False)}
    if "primals_ft" in inspect.signature(ad.linearize).parameters:
        ad_extra["linearize"] = _old_style_linearize
    for name, value in (
        ("source_info_util", jax.extend.source_info_util),
        ("reducing_transposes", {}),
    ):
        if not hasattr(ad, name):
            ad_extra[name] = value
    from jax._src.interpreters import ad as ad_src

    if hasattr(ad_src, "fancy_transposes"):
        ad_extra["get_primitive_transpose"] = _get_primitive_transpose
    core_extra: dict[str, Any] = {}
    for name, value in (("get_aval", jax.typeof), ("DShapedArray", _RemovedDShapedArray)):
        if not hasattr(core, name):
            core_extra[name] = value

    def wrap_init(f: Any, params: Any = None, *, debug_info: Any = None) -> Any:
        if debug_info is None:
            debug_info = api_util.debug_info("neural_tangents", f, (), {})
        return lu.wrap_init(f, params, debug_info=debug_info)

    unravel = nt_empirical._unravel_array_into_pytree

    def _std_basis(pytree: Any) -> Any:
        leaves = jax.tree.leaves(pytree)
        size = sum(math.prod(getattr(leaf, "shape", ())) for leaf in leaves)
        dtype = jax.dtypes.result_type(*leaves)
        return unravel(pytree, 1, jax.numpy.eye(size, dtype=dtype))

    nt_empirical.ad = _proxy(ad, "neural_tangents_ad_proxy", ad_extra)
    nt_empirical.core = _proxy(core, "neural_tangents_core_proxy", core_extra)
    nt_empirical.lu = _proxy(lu, "neural_tangents_lu_proxy", {"wrap_init": wrap_init})

    def _get_fx_axis_and_dtype(fx: Any, fx_axis: Any, params: Any) -> tuple[Any, Any]:
        if fx_axis is None:
            fx_axis = jax.tree.map(lambda _: None, fx)
        dtypes = [getattr(p, "dtype", None) or jax.numpy.dtype(p) for p in jax.tree.leaves(params)]
        return fx_axis, (functools.reduce(jax.numpy.promote_types, dtypes) if dtypes else None)

    nt_empirical._get_flops = _get_flops
    nt_empirical._get_fx_axis_and_dtype = _get_fx_axis_and_dtype
    nt_empirical._std_basis = _std_basis
    nt_empirical._spectral_layers_patched = True


def _get_flops(f: Any, optimize: bool, *args: Any, **kwargs: Any) -> float:
    """NT's ``_get_flops`` (for ``NtkImplementation.AUTO``); ``cost_analysis()`` is now a dict."""
    import jax

    lowered = jax.jit(f).lower(*args, **kwargs)
    analysis = lowered.compile().cost_analysis() if optimize else lowered.cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0]
    return analysis["flops"]
