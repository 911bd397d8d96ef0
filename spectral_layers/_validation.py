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
    if x is None:
        raise TypeError(f"{name} must be an array of shape {shape}, got None")
    try:
        arr = jax.numpy.asarray(x)
    except TypeError as e:
        raise TypeError(f"{name} must be an array of shape {shape}, got {type(x).__name__}") from e
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


def check_batch(x: Any, name: str, *, in_dim: int | None = None) -> jax.Array:
    """Checks that ``x`` is a finite, non-empty floating array ``(n, ...)`` whose first axis indexes examples.

    With ``in_dim`` (a network built by ``init_mlp``) the shape must be ``(n, in_dim)`` (``check_inputs``).

    Raises:
      TypeError: if ``x`` is not array-like.
      ValueError: on a 0-d or empty array or non-finite values.
    """
    if in_dim is not None:
        return check_inputs(x, name, in_dim=in_dim)
    arr = _as_float_array(x, name, "(n, ...)")
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n, ...), got shape {arr.shape}"
        )
    return _check_finite(arr, name)


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
