"""One key discipline: every random choice of a protocol is a named key of its draw.

Draw ``r`` of a protocol with master seed ``seed`` has the key ``fold_in(key(seed), r)`` (``draw_key``); the
draw's named keys, ``draw_keys(seed, r, "points", "centres", "init")``, are that key split into one key per
name, in the order named (``jax.random.split(draw_key, len(names))``), so a protocol's keys are read off its
call. Within a draw, initialisation ``s`` (probe ``i``, width ``w``) is ``fold_in`` of the named key with ``s``
(``Network.init_seeds``): its numbers do not depend on how seeds are chunked.

``derive="fold_in"`` gives the ``i``-th named key as ``fold_in(draw_key, i)`` instead of a split: the scheme of
``training_width`` (its data key ``fold_in(k_d, 0)`` and initialisation key ``fold_in(k_d, 1)``), kept so that
its saved arrays are reproduced.
"""

from __future__ import annotations

import jax

DERIVATIONS = ("split", "fold_in")


def draw_key(seed: int, r: int) -> jax.Array:
    """The key of draw ``r``: ``fold_in(key(seed), r)``."""
    return jax.random.fold_in(jax.random.key(seed), r)


def _check_names(names: tuple[str, ...]) -> None:
    if not names:
        raise ValueError("names must name at least one key")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, got {names}")


def split_keys(key: jax.Array, *names: str) -> tuple[jax.Array, ...]:
    """``key`` split into one key per name, in the order named (``jax.random.split(key, len(names))``)."""
    _check_names(names)
    return tuple(jax.random.split(key, len(names)))


def draw_keys(seed: int, r: int, *names: str, derive: str = "split") -> tuple[jax.Array, ...]:
    """The named keys of draw ``r`` (module docstring), one per name, in the order named.

    Args:
      seed: the protocol's master seed.
      r: the draw index.
      *names: what each key draws (``"points"``, ``"centres"``, ``"init"``, …); distinct, at least one.
      derive: ``"split"`` (every protocol) or ``"fold_in"`` (``training_width``'s scheme).
    """
    if derive not in DERIVATIONS:
        raise ValueError(f"derive must be one of {DERIVATIONS}, got {derive!r}")
    k = draw_key(seed, r)
    if derive == "fold_in":
        _check_names(names)
        return tuple(jax.random.fold_in(k, i) for i in range(len(names)))
    return split_keys(k, *names)
