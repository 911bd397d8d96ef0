"""Argument checks shared by the public functions.

Every check raises ``ValueError`` or ``TypeError`` naming the offending argument, so that bad input never turns
into a silent NaN deep inside a jitted computation. Checks on values (finiteness) only run on concrete arrays:
under ``jit`` tracing they are skipped, since the values are not known yet.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import jax
import numpy as np


def is_concrete(x: Any) -> bool:
    """Whether ``x`` holds concrete values (not a tracer inside ``jit``/``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


def _as_float_array(x: Any, name: str, shape: str) -> jax.Array:
    """``x`` as a JAX array (integers promoted to the default float dtype); ``TypeError`` if not array-like."""
    return as_float_array(x, name, f"an array of shape {shape}")


def as_float_array(x: Any, name: str, what: str) -> jax.Array:
    """``x`` as a JAX array (integers promoted to the default float dtype); ``TypeError`` saying that
    ``name`` must be ``what`` (e.g. ``"an array of cosines"``) if ``x`` is None or not array-like."""
    if x is None:
        raise TypeError(f"{name} must be {what}, got None")
    try:
        arr = jax.numpy.asarray(x)
    except TypeError as e:
        raise TypeError(f"{name} must be {what}, got {type(x).__name__}") from e
    if not jax.numpy.issubdtype(arr.dtype, jax.numpy.floating):
        arr = arr.astype(jax.numpy.result_type(float))
    return arr


def _check_finite(arr: jax.Array, name: str) -> jax.Array:
    if is_concrete(arr) and not bool(np.isfinite(np.asarray(arr)).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def check_inputs(x: Any, name: str, *, in_dim: int | None = None) -> jax.Array:
    """Checks that ``x`` is a finite, non-empty ``(n, d)`` floating array.

    Args:
      x: the array to check.
      name: the argument's name, used in error messages.
      in_dim: if given, the expected number of features ``d``.

    Returns:
      ``x`` as a JAX array (integer inputs are promoted to the default float dtype).

    Raises:
      TypeError: if ``x`` is not array-like.
      ValueError: on wrong rank, empty array, feature-dimension mismatch or non-finite values.
    """
    arr = _as_float_array(x, name, "(n, d)")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) (2 dimensions), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if in_dim is not None and arr.shape[1] != in_dim:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the network expects in_dim={in_dim}"
        )
    return _check_finite(arr, name)


def check_batch(x: Any, name: str, *, in_dim: int | None = None) -> Any:
    """Checks that ``x`` is a batch of examples: an array ``(n, ...)`` or a pytree of arrays sharing ``n``.

    A pytree (tuple, list or dict of arrays: tokens and a mask, images and per-example noise) keeps its
    structure; integer leaves (token ids, labels) stay integers, floating leaves must be finite. With
    ``in_dim`` (a network built by ``init_mlp``) ``x`` must be one ``(n, in_dim)`` array (``check_inputs``).

    Raises:
      TypeError: if ``x`` or a leaf is not array-like, or a leaf is neither integer nor floating.
      ValueError: on a 0-d or empty leaf, leaves with different ``n``, or non-finite values.
    """
    if in_dim is not None:
        return check_inputs(x, name, in_dim=in_dim)
    leaves = jax.tree.leaves(x)
    if isinstance(x, tuple | list | dict) and leaves and all(hasattr(a, "shape") for a in leaves):
        arrays = jax.tree.map(jax.numpy.asarray, x)
        shapes = [a.shape for a in jax.tree.leaves(arrays)]
        if any(len(s) == 0 or 0 in s for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"{name} must be arrays sharing a non-empty leading example axis, got shapes "
                f"{jax.tree.map(lambda a: a.shape, arrays)}"
            )
        for path, leaf in jax.tree_util.tree_flatten_with_path(arrays)[0]:
            where = f"{name}{jax.tree_util.keystr(path)}"
            if jax.numpy.issubdtype(leaf.dtype, jax.numpy.inexact):
                _check_finite(leaf, where)
            elif not (jax.numpy.issubdtype(leaf.dtype, jax.numpy.integer) or leaf.dtype == bool):
                raise TypeError(f"{where} must hold numbers, got dtype {leaf.dtype}")
        return arrays
    if x is None:
        raise TypeError(f"{name} must be an array of shape (n, ...), got None")
    try:
        arr = jax.numpy.asarray(x)
    except TypeError as e:
        raise TypeError(
            f"{name} must be an array of shape (n, ...) or a pytree of them, got {type(x).__name__}"
        ) from e
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n, ...), got shape {arr.shape}"
        )
    if jax.numpy.issubdtype(arr.dtype, jax.numpy.inexact):
        return _check_finite(arr, name)
    if not (jax.numpy.issubdtype(arr.dtype, jax.numpy.integer) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Checks that ``value`` is an integer ``>= minimum`` and returns it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Checks that ``value`` is a finite real number ``> 0`` (or ``>= 0``) and returns it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Checks that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def warn_if_low_precision(values: Any, what: str, consequence: str, *, stacklevel: int = 3) -> None:
    """Warns when ``values`` (e.g. what a user callable returned) is a floating array below float64.

    The spectral computations run in float64 NumPy whatever ``jax_enable_x64`` says; a JAX callable without
    x64 returns float32, and ``consequence`` says what that costs.
    """
    dtype = getattr(values, "dtype", None)
    if (
        dtype is not None
        and np.issubdtype(np.dtype(dtype), np.floating)
        and np.dtype(dtype).itemsize < 8
    ):
        warnings.warn(
            f"{what} returned {np.dtype(dtype)} values; {consequence} (enable jax_enable_x64 or "
            "pass a float64 NumPy function)",
            stacklevel=stacklevel + 1,
        )
