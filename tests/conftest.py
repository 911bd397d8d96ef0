"""Test configuration: float64 everywhere (set once here, never in library code)."""

import jax

jax.config.update("jax_enable_x64", True)
