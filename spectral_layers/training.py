"""Layer-isolated training and its kernel prediction (paper §5.7, Eqs. 21–22; appendix §12).

Training only the parameters ``θ_ℓ`` of layer ℓ (the others frozen) moves the network's outputs
along the layer kernel ``κ^(ℓ)(x, x') = ⟨∇_{θ_ℓ} f(x), ∇_{θ_ℓ} f(x')⟩`` (paper §5.7). With the loss

    L(θ) = 1/(2n) Σ_{i=1}^n (f(x_i) − y_i)²            (the constant is 1/(2n))

gradient descent ``θ_ℓ ← θ_ℓ − η ∇_{θ_ℓ} L`` changes the training outputs, to first order in ``η``,
by ``−(η/n) G^(ℓ) e`` with ``e = f − y*`` the residual and ``G^(ℓ)`` the Gram matrix of ``κ^(ℓ)`` on
the training points. If ``G^(ℓ)`` stays at its initial value (the infinite-width, lazy regime) the
residual evolves as

    e(t) = (I − η G/n)^t e(0)            (discrete gradient descent, t steps)
    e(t) = exp(−η t G/n) e(0)            (gradient flow, time η t)

so the component of ``e`` along an eigenvector of ``G`` with eigenvalue λ decays at the rate
``η λ / n`` (Eq. 22). Training a set of layers uses ``Σ_{ℓ∈set} G^(ℓ)``; training all layers uses
the full NTK (paper Eq. 1).

The appendix (§12) measures this through the residual components of a target
``y* = Σ_{i=1}^k y_i*``:

    r_i(t) = ((y(t) − y*)ᵀ y_i*)² / ‖y_i*‖²,

with ``y(t)`` the network outputs on the training points (``residual_components``);
``predict_residuals`` gives the kernel prediction of ``e(t)`` and ``project_residual`` its
components; ``halving_time`` summarises each component's convergence speed.

Kernel tracking (``train_layers(..., track=True)``, ``kernel_track``): how far training leaves the
kernel regime. At every logged step it records, for every layer ℓ (all layers, trained or frozen),

* the relative movement ``‖G_ℓ(t) − G_ℓ(0)‖_F / ‖G_ℓ(0)‖_F`` of the layer Gram on the training
  points (0 for all t in the lazy, infinite-width limit; ``O(m^{-1/2})`` at width ``m`` for NTK
  parameterisation, Jacot et al. 2018; Lee et al. 2019, Theorem 2.1);
* the contributions ``c_ℓ,i(t) = y_iᵀ G_ℓ(t) y_i`` of each target component, Gram-free as
  ``‖∇_{θ_ℓ} ⟨y_i, f(X)⟩‖²`` (``contributions.layer_contributions``, paper appendix §13);
* the kernel–target alignment (Cristianini, Shawe-Taylor, Elisseeff & Kandola, "On kernel-target
  alignment", NIPS 2001/2002) of each layer Gram and of the full NTK ``Σ_ℓ G_ℓ`` with the target:

      A(G, y) = ⟨G, y yᵀ⟩_F / (‖G‖_F ‖y yᵀ‖_F) = yᵀ G y / (‖G‖_F ‖y‖²)  ∈ [0, 1] for PSD G.

Only ``G(0)`` is kept (``L`` matrices ``n × n``); ``G(t)`` is recomputed at each logged step and
reduced to the Frobenius norms at once, ``block_size`` rows at a time if given (memory
``O(block_size · n)`` per layer besides ``G(0)`` and the layer features; each block costs one more
forward and backward pass over the ``n`` points).

Frozen parameters are never touched: only the trained subtrees enter ``jax.grad`` and the optax
optimiser; the frozen subtrees are passed through unchanged, so they are bit-identical after
training (no ``set_to_zero`` update is added to them).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int

from spectral_layers import _validation as val
from spectral_layers._rows import map_rows
from spectral_layers.contributions import layer_contributions
from spectral_layers.empirical import layer_ntk
from spectral_layers.layers import Group, check_params, discover_layers, replace_leaves
from spectral_layers.models import declared_input_dim

OPTIMIZERS = ("gd", "sgd", "adam")
_HIGHEST = jax.lax.Precision.HIGHEST

Layers = None | str | int | np.integer | Iterable[str | int | np.integer]


@dataclasses.dataclass(frozen=True)
class KernelTrack:
    """Kernel statistics of every layer at the logged steps (module docstring; ``kernel_track``).

    Leading axes ``*s`` (seeds, with ``stacked=True``) and ``t`` (logged steps; absent for
    ``kernel_track`` at a single parameter set). The layer axis follows ``layers``.

    Attributes:
      movement: ``‖G_ℓ(t) − G_ℓ(0)‖_F / ‖G_ℓ(0)‖_F``, shape ``(*s, t, L)`` (``(*s, L)`` from
        ``kernel_track``, which tracks one time).
      contributions: ``c_ℓ,i(t) = y_iᵀ G_ℓ(t) y_i`` for each tracked component ``y_i``, shape
        ``(*s, t, k, L)`` (paper appendix §13).
      alignment: ``A(G_ℓ(t), y) = yᵀ G_ℓ y / (‖G_ℓ‖_F ‖y‖²)`` with the training target ``y``
        (Cristianini et al. 2002), shape ``(*s, t, L)``.
      ntk_alignment: ``A(Σ_ℓ G_ℓ(t), y)`` of the full NTK, shape ``(*s, t)``.
      layers: the layer names of the last axis, in layer order (the order of ``layer_ntk``).
    """

    movement: Float[Array, "*st L"]  # (*s, t, L); kernel_track at one time: (*s, L)
    contributions: Float[Array, "*st k L"]
    alignment: Float[Array, "*st L"]
    ntk_alignment: Float[Array, "*st"]
    layers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What ``train_layers`` records.

    Attributes:
      outputs: network outputs on the training inputs at the logged steps, shape
        ``(num_logs, n)`` (``(s, num_logs, n)`` with ``stacked=True``).
      steps: the logged step counts ``0, log_every, 2·log_every, …, steps``, shape
        ``(num_logs,)`` (numpy int).
      losses: full-batch loss ``L = 1/(2n) Σ_i (f(x_i) − y_i)²`` at the logged steps, shape
        ``(num_logs,)`` (``(s, num_logs)`` stacked).
      params: the final parameters (same structure as the input ``params``; frozen leaves are
        the input arrays themselves).
      layers: the names of the trained layers, in layer order.
      track: with ``track=True``, the ``KernelTrack`` of every layer at the logged steps;
        ``None`` otherwise.
    """

    outputs: Float[Array, "*s t n"]
    steps: np.ndarray
    losses: Float[Array, "*s t"]
    params: dict[str, Any]
    layers: tuple[str, ...]
    track: KernelTrack | None = None


def resolve_layers(names: Iterable[str], layers: Layers = None) -> tuple[str, ...]:
    """Names of the layers selected by ``layers``, in layer order.

    Args:
      names: all layer names in layer order (``layer_names``, or a ``layer_ntk`` result's keys).
      layers: ``None`` or ``"all"`` (every layer), a layer name (``"layer_1"``), an index into
        the layers in order (``0``, ``-1`` for the last), or an iterable of names/indices.

    Raises:
      ValueError: for an unknown name, an index out of range, or an empty selection.
      TypeError: for anything else.
    """
    names = list(names)
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return tuple(names)
    items = [layers] if isinstance(layers, str | int | np.integer) else layers
    try:
        items = list(items)
    except TypeError as e:
        raise TypeError(
            "layers must be None, 'all', a layer name, an index or an iterable of them, "
            f"got {layers!r}"
        ) from e
    chosen = set()
    for item in items:
        if isinstance(item, str):
            if item not in names:
                raise ValueError(f"layers: unknown layer {item!r}; the network has layers {names}")
            chosen.add(item)
        elif isinstance(item, int | np.integer) and not isinstance(item, bool):
            if not -len(names) <= item < len(names):
                raise ValueError(
                    f"layers: index {item} out of range for a network with {len(names)} layers"
                )
            chosen.add(names[item])
        else:
            raise TypeError(f"layers must contain layer names or indices, got {item!r}")
    if not chosen:
        raise ValueError("layers must select at least one layer, got an empty selection")
    return tuple(name for name in names if name in chosen)


def trained_gram(
    grams: Mapping[str, Float[ArrayLike, "*s n n"]], layers: Layers = None
) -> Float[Array, "*s n n"]:
    """Kernel that drives the training of ``layers``: ``Σ_{ℓ∈layers} G^(ℓ)``.

    With all layers this is the full NTK (paper Eq. 1).

    Args:
      grams: ``{layer_name: G^(ℓ)}`` as returned by ``layer_ntk`` (or any per-layer Grams, e.g.
        infinite-width ones), each ``(n, n)`` or ``(s, n, n)``.
      layers: selection as in ``resolve_layers``.
    """
    if not isinstance(grams, Mapping) or not grams:
        raise TypeError(
            f"grams must be a non-empty dict {{layer_name: G}}, got {type(grams).__name__}"
        )
    chosen = resolve_layers(grams, layers)  # the grams' own (call) order
    return functools.reduce(jnp.add, [jnp.asarray(grams[name]) for name in chosen])


# --------------------------------------------------------------------------------------------
# training


def train_layers(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Mapping[str, Any],
    x: Float[ArrayLike, "n ..."],
    y: Float[ArrayLike, " n"],
    *,
    layers: Layers = None,
    optimizer: str | optax.GradientTransformation = "gd",
    learning_rate: float | Float[ArrayLike, " s"] | None = None,  # one per seed with stacked=True
    steps: int,
    log_every: int = 1,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    stacked: bool = False,
    progress: bool = False,
    group: Group | None = None,
    track: bool = False,
    track_components: Float[ArrayLike, "k n"] | None = None,
    track_block_size: int | None = None,
) -> TrainResult:
    """Trains only the parameters of ``layers`` on the squared loss, the rest frozen (paper §5.7).

    The loss is ``L = 1/(2n) Σ_{i=1}^n (f(x_i) − y_i)²`` (on a minibatch ``B`` of size ``b``:
    ``1/(2b) Σ_{i∈B}``). With the default full-batch gradient descent ``θ_ℓ ← θ_ℓ − η ∇_{θ_ℓ} L``
    the linearised residual follows ``e(t) = (I − η G/n)^t e(0)`` (``predict_residuals``).

    The whole loop is compiled: a ``lax.scan`` over chunks of ``log_every`` steps, each a
    ``lax.scan`` over steps; a batch of seeds (``stacked=True``) is ``vmap``-ed. With
    ``progress=True`` the chunks are run from a Python loop under a tqdm bar instead (same numbers
    up to rounding).

    Args:
      apply_fn: ``apply_fn(params, x) -> f(x)`` of shape ``(n,)``, e.g. from ``init_mlp``. It is a
        static argument of the compiled loop: it must be hashable, and passing the same (or an
        equal) object again reuses the compilation.
      params: dict of per-layer subtrees ``{"layer_0": …, …}``; with ``stacked=True`` every leaf
        has a leading seed axis (``init_mlp_seeds``).
      x: training inputs, shape ``(n, d)``.
      y: training targets, shape ``(n,)``.
      layers: layers to train: ``None``/``"all"``, a name, an index, or an iterable of them
        (``resolve_layers``).
      optimizer: ``"gd"`` (full-batch gradient descent, ``optax.sgd``), ``"sgd"`` (``optax.sgd``
        on random minibatches of ``batch_size`` points drawn without replacement at every step),
        ``"adam"`` (``optax.adam`` with its defaults, full batch unless ``batch_size`` is given),
        or any ``optax.GradientTransformation`` (then ``learning_rate`` must be ``None``).
      learning_rate: step size ``η > 0`` (required for the named optimisers); with
        ``stacked=True`` also one step size per seed, shape ``(s,)``.
      steps: number of optimisation steps ``>= 1``.
      log_every: outputs are recorded at step 0, every ``log_every`` steps, and at the last step.
      batch_size: minibatch size ``b <= n`` (required for ``"sgd"``, not allowed for ``"gd"``).
      key: PRNG key for the minibatches; the batch of step ``t`` uses ``fold_in(key, t)``. With
        ``stacked=True`` either one key (seed ``s`` then uses ``fold_in(key, s)``, as
        ``init_mlp_seeds``) or one key per seed. Required with ``batch_size``, unused otherwise.
      stacked: ``params`` holds a batch of seeds on a leading axis.
      progress: show a tqdm progress bar over the logging chunks.
      group: ``group(path) -> layer name`` to merge or split layers (``layers.discover_layers``).
      track: record a ``KernelTrack`` of every layer at the logged steps (module docstring):
        ``G(0)`` is computed once at step 0 and kept; at each logged step ``G(t)`` is recomputed
        with ``layer_ntk`` and reduced to norms, and the contributions come from
        ``layer_contributions`` (Gram-free). Costs about one Gram of every layer per logged step.
      track_components: target components ``y_1, …, y_k`` whose contributions are tracked, shape
        ``(k, n)``; default ``y[None]`` (the training target).
      track_block_size: rows of ``G(t)`` computed at a time while tracking (bounded memory for
        large ``n``); ``None`` computes each ``G_ℓ(t)`` whole.

    Returns:
      A ``TrainResult`` (outputs, logged steps, losses, final params, trained layer names, and the
      ``KernelTrack`` with ``track=True``).

    Raises:
      ValueError / TypeError: naming the argument, on an unknown layer or optimiser, a
        non-positive learning rate, ``steps``/``log_every`` < 1, mismatched shapes,
        ``batch_size > n``, non-finite inputs or targets, or a missing key.
    """
    leaves, treedef = check_params(params), jax.tree.structure(params)
    in_dim = declared_input_dim(apply_fn)
    x = val.check_batch(x, "x", in_dim=in_dim)
    num_seeds = _check_stacked(params, stacked)
    layer_map = discover_layers(apply_fn, params, x, group=group, stacked=stacked)
    trained = resolve_layers(layer_map.names, layers)
    n = x.shape[0]
    y = _check_targets(y, n)
    steps = val.check_positive_int(steps, "steps")
    log_every = val.check_positive_int(log_every, "log_every")

    if isinstance(optimizer, optax.GradientTransformation):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate must be None when optimizer is an optax.GradientTransformation "
                "(its step size is part of it)"
            )
        lr = None
    else:
        val.check_choice(optimizer, "optimizer", OPTIMIZERS)
        if learning_rate is None:
            raise TypeError(f"learning_rate is required for optimizer={optimizer!r}")
        lr = _check_learning_rate(learning_rate, num_seeds)
        if optimizer == "sgd" and batch_size is None:
            raise ValueError("optimizer='sgd' needs a batch_size (use 'gd' for full batch)")
        if optimizer == "gd" and batch_size is not None:
            raise ValueError("optimizer='gd' is full-batch: batch_size must be None (use 'sgd')")
    if batch_size is not None:
        batch_size = val.check_positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size must be <= the number of points n={n}, got {batch_size}")
        keys = _check_key(key, num_seeds)
    else:
        keys = None

    if not isinstance(track, bool):
        raise TypeError(f"track must be a bool, got {track!r}")
    if not track and (track_components is not None or track_block_size is not None):
        raise ValueError("track_components and track_block_size need track=True")
    if track_block_size is not None:
        track_block_size = val.check_positive_int(track_block_size, "track_block_size")

    dtype = jnp.result_type(x, *leaves)
    x = x.astype(dtype)
    y = y.astype(dtype)
    comps = None
    if track:
        comps = (
            y[None] if track_components is None else _check_track_components(track_components, n)
        )
        comps = comps.astype(dtype)
    lr_arr = None if lr is None else jnp.asarray(lr, dtype)
    train_idx = tuple(sorted(i for name in trained for i in layer_map.indices(name)))
    frozen_idx = tuple(i for i in range(len(leaves)) if i not in train_idx)
    train = [leaves[i] for i in train_idx]
    frozen = [leaves[i] for i in frozen_idx]
    num_full, remainder = divmod(steps, log_every)

    static = _Static(
        apply_fn,
        optimizer,
        batch_size,
        stacked,
        treedef,
        train_idx,
        frozen_idx,
        track,
        track_block_size,
    )
    run = _run_with_progress if progress else _run_all
    outputs, train, stats = run(
        static, train, frozen, keys, lr_arr, x, y, comps, log_every, num_full, remainder
    )
    losses = 0.5 * jnp.mean((outputs - jnp.broadcast_to(y, outputs.shape)) ** 2, axis=-1)
    final = jax.tree.unflatten(treedef, replace_leaves(leaves, train_idx, train))
    return TrainResult(
        outputs=outputs,
        steps=logged_steps(steps, log_every),
        losses=losses,
        params=final,
        layers=trained,
        track=None if stats is None else _to_track(stats, layer_map.names),
    )


def _check_learning_rate(learning_rate: Any, num_seeds: int | None) -> float | np.ndarray:
    """One positive step size, or (stacked) one per seed."""
    if np.ndim(learning_rate) == 0 or isinstance(learning_rate, bool):
        return val.check_positive_float(learning_rate, "learning_rate")
    lr = np.asarray(learning_rate)
    if num_seeds is None or lr.shape != (num_seeds,):
        expected = "a number" if num_seeds is None else f"a number or shape ({num_seeds},)"
        raise ValueError(f"learning_rate must be {expected}, got shape {lr.shape}")
    if not np.issubdtype(lr.dtype, np.floating) and not np.issubdtype(lr.dtype, np.integer):
        raise TypeError(f"learning_rate must be real, got dtype {lr.dtype}")
    if not (np.isfinite(lr).all() and (lr > 0).all()):
        raise ValueError(f"learning_rate must be finite and > 0 for every seed, got {lr}")
    return lr.astype(float)


def _lr_axis(lr) -> int | None:
    """``vmap`` axis of the learning rate: 0 for one rate per seed, else broadcast."""
    return 0 if lr is not None and jnp.ndim(lr) == 1 else None


def _check_track_components(comps: Any, n: int) -> jax.Array:
    try:
        comps = jnp.asarray(comps)
    except TypeError as e:
        raise TypeError(
            f"track_components must be an array of shape (k, n), got {type(comps).__name__}"
        ) from e
    if comps.ndim != 2 or comps.shape[0] == 0 or comps.shape[1] != n:
        raise ValueError(
            f"track_components must have shape (k, n) with n = {n} (from x), got {comps.shape}"
        )
    if not jnp.issubdtype(comps.dtype, jnp.floating):
        comps = comps.astype(jnp.result_type(float))
    if val.is_concrete(comps) and not bool(np.isfinite(np.asarray(comps)).all()):
        raise ValueError("track_components contains NaN or inf values")
    return comps


def _to_track(stats: Mapping[str, jax.Array], names: Iterable[str]) -> KernelTrack:
    return KernelTrack(
        movement=stats["movement"],
        contributions=stats["contributions"],
        alignment=stats["alignment"],
        ntk_alignment=stats["ntk_alignment"],
        layers=tuple(names),
    )


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """The steps ``train_layers`` records: ``0, log_every, 2·log_every, …`` and ``steps``.

    Example:
      >>> logged_steps(7, 3)
      array([0, 3, 6, 7])
    """
    steps = val.check_positive_int(steps, "steps")
    log_every = val.check_positive_int(log_every, "log_every")
    logged = [*range(0, steps + 1, log_every)]
    if logged[-1] != steps:
        logged.append(steps)
    return np.asarray(logged)


@dataclasses.dataclass(frozen=True)
class _Static:
    """The hashable (``jit``-static) part of a training run."""

    apply_fn: Callable[[Any, jax.Array], jax.Array]
    optimizer: str | optax.GradientTransformation
    batch_size: int | None
    stacked: bool
    treedef: Any
    train_idx: tuple[int, ...]
    frozen_idx: tuple[int, ...]
    track: bool = False
    track_block_size: int | None = None


def _check_targets(y: Any, n: int) -> jax.Array:
    y = val.as_float_array(y, "y", "an array of shape (n,)")
    if y.shape != (n,):
        raise ValueError(f"y must have shape (n,) = ({n},) to match x, got shape {y.shape}")
    if not bool(np.isfinite(np.asarray(y)).all()):
        raise ValueError("y contains NaN or inf values")
    return y


def _check_stacked(params: Mapping[str, Any], stacked: bool) -> int | None:
    leaves = jax.tree.leaves(params)
    if not stacked:
        return None
    sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "stacked=True needs every params leaf to have the same leading seed axis, got "
            f"leading sizes {sorted(str(s) for s in sizes)}"
        )
    return sizes.pop()


def _check_key(key: Any, num_seeds: int | None) -> jax.Array:
    """One key (unstacked) or one key per seed (stacked); raises if ``key`` is bad or missing."""
    if key is None:
        raise TypeError("key is required with batch_size (it draws the minibatches)")
    if not isinstance(key, jax.Array):
        raise TypeError(f"key must be a JAX PRNG key, got {type(key).__name__}")
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    batch_shape = key.shape if typed else key.shape[:-1]
    if not typed and (key.ndim == 0 or key.shape[-1] != 2 or key.dtype != jnp.uint32):
        raise TypeError(f"key must be a JAX PRNG key, got an array of shape {key.shape}")
    if num_seeds is None:
        if batch_shape != ():
            raise ValueError(f"key must be a single PRNG key, got a batch of shape {batch_shape}")
        return key
    if batch_shape == ():
        return jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(num_seeds))
    if batch_shape != (num_seeds,):
        raise ValueError(
            f"with stacked=True, key must be one key or {num_seeds} keys (one per seed), "
            f"got a batch of shape {batch_shape}"
        )
    return key


def _make_tx(optimizer, lr) -> optax.GradientTransformation:
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    if optimizer == "adam":
        return optax.adam(lr)
    return optax.sgd(lr)


def _merge(static: _Static, train, frozen):
    leaves = [None] * (len(static.train_idx) + len(static.frozen_idx))
    for i, leaf in zip(static.train_idx, train, strict=True):
        leaves[i] = leaf
    for i, leaf in zip(static.frozen_idx, frozen, strict=True):
        leaves[i] = leaf
    return jax.tree.unflatten(static.treedef, leaves)


def _chunk(static: _Static, num_steps, carry, frozen, key, lr, x, y):
    """Runs ``num_steps`` steps from ``carry = (train, opt_state, step)``; returns the outputs."""
    tx = _make_tx(static.optimizer, lr)
    n = x.shape[0]

    def loss_fn(train, xb, yb):
        # L = 1/(2b) Σ_{i∈B} (f(x_i) − y_i)², b = n for full batch (module docstring).
        return 0.5 * jnp.mean((static.apply_fn(_merge(static, train, frozen), xb) - yb) ** 2)

    def body(carry, _):
        train, opt_state, step = carry
        if static.batch_size is None:
            xb, yb = x, y
        else:
            idx = jax.random.permutation(jax.random.fold_in(key, step), n)[: static.batch_size]
            xb, yb = x[idx], y[idx]
        grads = jax.grad(loss_fn)(train, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, train)
        return (optax.apply_updates(train, updates), opt_state, step + 1), None

    carry, _ = jax.lax.scan(body, carry, None, length=num_steps)
    return carry, static.apply_fn(_merge(static, carry[0], frozen), x)


def _init_single(static: _Static, train, frozen, lr, x):
    tx = _make_tx(static.optimizer, lr)
    carry = (train, tx.init(train), jnp.zeros((), jnp.int32))
    return carry, static.apply_fn(_merge(static, train, frozen), x)


def _track_init(static: _Static, train, frozen, x, y, comps):
    """``G(0)`` of every layer and the statistics at step 0 (``None, None`` without tracking)."""
    if not static.track:
        return None, None
    params = _merge(static, train, frozen)
    grams0 = layer_ntk(static.apply_fn, params, x)
    return grams0, _kernel_stats(
        static.apply_fn, params, x, y, comps, grams0, static.track_block_size
    )


def _track_step(static: _Static, train, frozen, grams0, x, y, comps):
    if not static.track:
        return None
    params = _merge(static, train, frozen)
    return _kernel_stats(static.apply_fn, params, x, y, comps, grams0, static.track_block_size)


def _all_single(static, log_every, num_full, remainder, train, frozen, key, lr, x, y, comps):
    carry, f0 = _init_single(static, train, frozen, lr, x)
    grams0, s0 = _track_init(static, train, frozen, x, y, comps)

    def chunk(carry, num_steps):
        carry, f = _chunk(static, num_steps, carry, frozen, key, lr, x, y)
        return carry, (f, _track_step(static, carry[0], frozen, grams0, x, y, comps))

    carry, (fs, ss) = jax.lax.scan(lambda c, _: chunk(c, log_every), carry, None, length=num_full)
    parts = [(f0[None], _expand(s0)), (fs, ss)]
    if remainder:
        carry, (f_last, s_last) = chunk(carry, remainder)
        parts.append((f_last[None], _expand(s_last)))
    outputs = jnp.concatenate([p[0] for p in parts], axis=0)
    stats = (
        None if s0 is None else jax.tree.map(lambda *a: jnp.concatenate(a), *[p[1] for p in parts])
    )
    return outputs, carry[0], stats


def _expand(stats):
    return None if stats is None else jax.tree.map(lambda a: a[None], stats)


@functools.partial(jax.jit, static_argnums=(0, 8, 9, 10))
def _run_all(static, train, frozen, keys, lr, x, y, comps, log_every, num_full, remainder):
    fn = functools.partial(_all_single, static, log_every, num_full, remainder)
    if static.stacked:
        return jax.vmap(fn, in_axes=(0, 0, 0, _lr_axis(lr), None, None, None))(
            train, frozen, keys, lr, x, y, comps
        )
    return fn(train, frozen, keys, lr, x, y, comps)


@functools.partial(jax.jit, static_argnums=0)
def _init_jit(static, train, frozen, lr, x, y, comps):
    def fn(train, frozen, lr):
        carry, f0 = _init_single(static, train, frozen, lr, x)
        grams0, s0 = _track_init(static, train, frozen, x, y, comps)
        return carry, f0, grams0, s0

    if static.stacked:
        return jax.vmap(fn, in_axes=(0, 0, _lr_axis(lr)))(train, frozen, lr)
    return fn(train, frozen, lr)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _chunk_jit(static, num_steps, carry, frozen, grams0, keys, lr, x, y, comps):
    def fn(carry, frozen, grams0, key, lr):
        carry, f = _chunk(static, num_steps, carry, frozen, key, lr, x, y)
        return carry, f, _track_step(static, carry[0], frozen, grams0, x, y, comps)

    if static.stacked:
        return jax.vmap(fn, in_axes=(0, 0, 0, 0, _lr_axis(lr)))(carry, frozen, grams0, keys, lr)
    return fn(carry, frozen, grams0, keys, lr)


def _run_with_progress(
    static, train, frozen, keys, lr, x, y, comps, log_every, num_full, remainder
):
    from tqdm.auto import tqdm

    carry, f0, grams0, s0 = _init_jit(static, train, frozen, lr, x, y, comps)
    outputs, stats = [f0], [s0]
    sizes = [log_every] * num_full + ([remainder] if remainder else [])
    with tqdm(total=sum(sizes), unit="step", desc="train_layers") as bar:
        for size in sizes:
            carry, f, s = _chunk_jit(static, size, carry, frozen, grams0, keys, lr, x, y, comps)
            outputs.append(jax.block_until_ready(f))
            stats.append(s)
            bar.update(size)
    axis = 1 if static.stacked else 0
    stacked_stats = None if s0 is None else jax.tree.map(lambda *a: jnp.stack(a, axis), *stats)
    return jnp.stack(outputs, axis=axis), carry[0], stacked_stats


# --------------------------------------------------------------------------------------------
# kernel tracking


def kernel_track(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x: Float[ArrayLike, "n ..."],
    y: Float[ArrayLike, " n"],
    reference: Mapping[str, Float[ArrayLike, "*s n n"]],
    *,
    components: Float[ArrayLike, "k n"] | None = None,
    block_size: int | None = None,
    stacked: bool = False,
) -> KernelTrack:
    """Kernel statistics of every layer at one parameter set, relative to reference Grams.

    The same quantities as ``train_layers(..., track=True)`` records at each logged step (module
    docstring), for parameters saved elsewhere (a checkpoint, the end of one of several training
    calls): movement ``‖G_ℓ − R_ℓ‖_F / ‖R_ℓ‖_F`` against ``reference`` ``R`` (typically
    ``layer_ntk`` at initialisation), the Gram-free contributions ``y_iᵀ G_ℓ y_i`` and the
    kernel–target alignments ``yᵀ G y / (‖G‖_F ‖y‖²)`` (Cristianini et al. 2002).

    Args:
      apply_fn: ``apply_fn(params, x) -> f(x)`` of shape ``(n,)``.
      params: any pytree of parameters (leading seed axis on every leaf if ``stacked``).
      x: inputs, shape ``(n, ...)``.
      y: target of the alignments, shape ``(n,)``.
      reference: ``{layer: R_ℓ}`` for every layer, ``(n, n)`` (``(s, n, n)`` if ``stacked``).
      components: components whose contributions are returned, shape ``(k, n)``; default
        ``y[None]``.
      block_size: rows of each ``G_ℓ`` computed at a time (``None``: whole Grams).
      stacked: ``params`` and ``reference`` carry a leading seed axis.

    Returns:
      A ``KernelTrack`` without the time axis: ``movement`` ``(*s, L)``, ``contributions``
      ``(*s, k, L)``, ``alignment`` ``(*s, L)``, ``ntk_alignment`` ``(*s,)``.
    """
    check_params(params)
    in_dim = declared_input_dim(apply_fn)
    x = val.check_batch(x, "x", in_dim=in_dim)
    n = x.shape[0]
    y = _check_targets(y, n)
    num_seeds = _check_stacked(params, stacked)
    names = list(discover_layers(apply_fn, params, x, stacked=stacked).names)
    if not isinstance(reference, Mapping) or set(reference) != set(names):
        got = list(reference) if isinstance(reference, Mapping) else type(reference).__name__
        raise ValueError(f"reference must be a dict with the layers {names}, got {got}")
    shape = (n, n) if num_seeds is None else (num_seeds, n, n)
    for name in names:
        if jnp.shape(reference[name]) != shape:
            raise ValueError(
                f"reference[{name!r}] must have shape {shape}, got {jnp.shape(reference[name])}"
            )
    if block_size is not None:
        block_size = val.check_positive_int(block_size, "block_size")
    dtype = jnp.result_type(x, *jax.tree.leaves(params))
    comps = y[None] if components is None else _check_track_components(components, n)
    ref = {name: jnp.asarray(reference[name], dtype) for name in names}
    stats = _kernel_track_jit(
        apply_fn,
        params,
        x.astype(dtype),
        y.astype(dtype),
        comps.astype(dtype),
        ref,
        block_size,
        stacked,
    )
    return _to_track(stats, names)


@functools.partial(jax.jit, static_argnums=(0, 6, 7))
def _kernel_track_jit(apply_fn, params, x, y, comps, reference, block_size, stacked):
    def fn(p, r):
        return _kernel_stats(apply_fn, p, x, y, comps, r, block_size)

    return jax.vmap(fn)(params, reference) if stacked else fn(params, reference)


def _kernel_stats(apply_fn, params, x, y, comps, grams0, block_size):
    """Movement, contributions and alignments of every layer at ``params`` (module docstring).

    The layer axis follows the order of the dict that ``layer_ntk`` returns (inside the trace,
    where dicts keep their order; a dict that crosses a ``jit`` boundary comes back key-sorted).
    """
    names, sq = _gram_sq_norms(apply_fn, params, x, grams0, block_size)
    # Gram-free c_ℓ = zᵀ G_ℓ z = ‖∇_{θ_ℓ} ⟨z, f(X)⟩‖² for the components and the target itself.
    c = layer_contributions(apply_fn, params, x, jnp.concatenate([comps, y[None]], axis=0))
    c = jnp.stack([c[name] for name in names], axis=-1)  # (k + 1, L)
    ref_norm = jnp.stack([jnp.sqrt(jnp.sum(grams0[name] ** 2)) for name in names])
    y2 = jnp.sum(y**2)
    return {
        "movement": jnp.sqrt(sq["diff"]) / ref_norm,
        "contributions": c[:-1],
        # A(G, y) = yᵀ G y / (‖G‖_F ‖y‖²)  (Cristianini et al. 2002)
        "alignment": c[-1] / (jnp.sqrt(sq["norm"]) * y2),
        "ntk_alignment": jnp.sum(c[-1]) / (jnp.sqrt(sq["ntk"]) * y2),
    }


def _gram_sq_norms(apply_fn, params, x, grams0, block_size):
    """``‖G_ℓ − G_ℓ(0)‖_F²``, ``‖G_ℓ‖_F²`` (shape ``(L,)``) and ``‖Σ_ℓ G_ℓ‖_F²``, by row blocks.

    Returns ``(names, norms)`` with ``names`` the layers in ``layer_ntk``'s order. With
    ``block_size``, each block of rows ``G_ℓ(t)[rows, :]`` is formed, reduced and dropped; every
    block recomputes the features of all ``n`` points (one more forward and backward pass).
    """
    if block_size is None:
        g = layer_ntk(apply_fn, params, x)
        names = list(g)
        return names, {
            "diff": jnp.stack([jnp.sum((g[k] - grams0[k]) ** 2) for k in names]),
            "norm": jnp.stack([jnp.sum(g[k] ** 2) for k in names]),
            "ntk": jnp.sum(functools.reduce(jnp.add, [g[k] for k in names]) ** 2),
        }
    names: list[str] = []

    def rows(block):
        xb, g0b, mask = block  # (b, d), {layer: (b, n)}, (b,): padded rows have mask 0
        g = layer_ntk(apply_fn, params, xb, x)
        names[:] = list(g)  # filled while lax.map traces this function
        diff = jnp.stack([jnp.sum((g[k] - g0b[k]) ** 2, axis=1) for k in names], axis=-1)
        norm = jnp.stack([jnp.sum(g[k] ** 2, axis=1) for k in names], axis=-1)
        ntk = jnp.sum(functools.reduce(jnp.add, [g[k] for k in names]) ** 2, axis=1)
        m = mask[:, None]
        return {"diff": diff * m, "norm": norm * m, "ntk": ntk * mask}

    mask = jnp.ones(x.shape[0], x.dtype)
    per_row = map_rows(rows, (x, dict(grams0), mask), block_size)
    return names, jax.tree.map(lambda a: jnp.sum(a, axis=0), per_row)


# --------------------------------------------------------------------------------------------
# residual components and the kernel prediction


def project_residual(
    e: Float[ArrayLike, "*b n"], y_components: Float[ArrayLike, "k n"]
) -> Float[Array, "*b k"]:
    """Squared projections ``r_i = (eᵀ y_i*)² / ‖y_i*‖²`` of residuals ``e`` (appendix §12).

    Args:
      e: residual vectors ``y − y*``, shape ``(..., n)`` (any leading axes, e.g.
        ``(seeds, num_logs, n)``).
      y_components: the components ``y_1*, …, y_k*`` on the training points, shape ``(k, n)``.

    Returns:
      ``r`` of shape ``(..., k)``.
    """
    comps = _check_components(y_components)
    return _project(_check_vectors(e, "e", comps), comps)


def _check_vectors(v: Any, name: str, comps: jax.Array) -> jax.Array:
    """``v`` as an array of shape ``(..., n)`` with the ``n`` of the components ``comps`` ``(k, n)``."""
    v = jnp.asarray(v)
    if v.ndim < 1 or v.shape[-1] != comps.shape[1]:
        raise ValueError(
            f"{name} must have shape (..., n) with n = {comps.shape[1]} (from y_components), "
            f"got {v.shape}"
        )
    return v


@jax.jit
def _project(e, comps):
    proj = jnp.einsum("...n,kn->...k", e, comps, precision=_HIGHEST)
    return proj**2 / jnp.broadcast_to(jnp.sum(comps**2, axis=1), proj.shape)


def residual_components(
    outputs: Float[ArrayLike, "*b n"], y_components: Float[ArrayLike, "k n"]
) -> Float[Array, "*b k"]:
    """Residual components ``r_i = ((y − y*)ᵀ y_i*)² / ‖y_i*‖²``, ``y* = Σ_i y_i*`` (appendix §12).

    Args:
      outputs: network outputs ``y`` on the training points, shape ``(..., n)`` (e.g.
        ``TrainResult.outputs``, ``(num_logs, n)`` or ``(seeds, num_logs, n)``).
      y_components: the degree components ``y_1*, …, y_k*`` on the training points, shape
        ``(k, n)``; their sum is the training target.

    Returns:
      ``r`` of shape ``(..., k)``: for ``TrainResult.outputs``, ``r[..., t, i]`` is component ``i``
      at logged step ``t``.
    """
    comps = _check_components(y_components)
    outputs = _check_vectors(outputs, "outputs", comps)
    return _project(outputs - jnp.broadcast_to(jnp.sum(comps, axis=0), outputs.shape), comps)


def _check_components(y_components: Any) -> jax.Array:
    if y_components is None:
        raise TypeError("y_components must be an array of shape (k, n), got None")
    comps = jnp.asarray(y_components)
    if comps.ndim != 2 or 0 in comps.shape:
        raise ValueError(f"y_components must have shape (k, n), got {comps.shape}")
    if val.is_concrete(comps):
        c = np.asarray(comps)
        if not np.isfinite(c).all():
            raise ValueError("y_components contains NaN or inf values")
        zero = np.flatnonzero(np.sum(c**2, axis=1) == 0)
        if zero.size:
            raise ValueError(f"y_components rows {zero.tolist()} are zero: r_i needs ‖y_i*‖ > 0")
    return comps


def predict_residuals(
    G: Float[ArrayLike, "*sg n n"],
    e0: Float[ArrayLike, "*se n"],
    learning_rate: float,
    steps: Int[ArrayLike, " t"] | Iterable[int] | int,
    *,
    n: int | None = None,
    discrete: bool = True,
) -> Float[Array, "*s t n"]:  # *s: *sg and *se broadcast (one kernel for a batch of residuals)
    """Kernel prediction of the residual ``e(t) = f_t − y*`` with the kernel frozen at ``G`` (§5.7).

    For the loss ``L = 1/(2n) Σ (f(x_i) − y_i)²`` and a constant kernel ``G`` (the Gram of the
    trained layers' kernel, Eq. 21), gradient descent with step ``η`` gives exactly
    ``e(t) = (I − ηG/n)^t e(0)`` for the linearised network, and gradient flow
    ``e(t) = exp(−η t G/n) e(0)`` (time ``η t``; Eq. 22 per eigenvector). Both are computed from
    the eigendecomposition ``G = V diag(λ) Vᵀ`` of the symmetrised ``G``.

    Args:
      G: Gram matrix on the training points, shape ``(n, n)`` or ``(..., n, n)`` (e.g. one per
        seed): ``layer_ntk(...)[name]`` at initialisation, ``trained_gram(grams, layers)``, or an
        infinite-width kernel.
      e0: initial residual ``f_0(x_i) − y*_i``, shape ``(..., n)``.
      learning_rate: step size ``η > 0``.
      steps: the step counts ``t`` (e.g. ``TrainResult.steps``), non-negative integers.
      n: the ``n`` of the loss normalisation; default the size of ``G``.
      discrete: ``True`` for gradient descent (``(I − ηG/n)^t``), ``False`` for gradient flow.

    Returns:
      Predicted residuals, shape ``(..., t, n)``.
    """
    G = jnp.asarray(G)
    if G.ndim < 2 or G.shape[-1] != G.shape[-2] or G.shape[-1] == 0:
        raise ValueError(f"G must be a square matrix of shape (..., n, n), got {G.shape}")
    size = G.shape[-1]
    e0 = jnp.asarray(e0)
    if e0.ndim < 1 or e0.shape[-1] != size:
        raise ValueError(f"e0 must have shape (..., n) with n = {size} (from G), got {e0.shape}")
    if val.is_concrete(G) and not bool(np.isfinite(np.asarray(G)).all()):
        raise ValueError("G contains NaN or inf values")
    if val.is_concrete(e0) and not bool(np.isfinite(np.asarray(e0)).all()):
        raise ValueError("e0 contains NaN or inf values")
    lr = val.check_positive_float(learning_rate, "learning_rate")
    n = size if n is None else val.check_positive_int(n, "n")
    t = np.atleast_1d(np.asarray(steps))
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer) or (t < 0).any():
        raise ValueError(f"steps must be non-negative integers (a 1-D array), got {steps!r}")

    dtype = jnp.result_type(G, e0, float)
    return _predict(G.astype(dtype), e0.astype(dtype), lr / n, jnp.asarray(t), discrete)


@functools.partial(jax.jit, static_argnums=4)
def _predict(G, e0, rate, t, discrete):
    """``V f(λ) Vᵀ e0``, ``f(λ) = (1 − rate·λ)^t`` (discrete) or ``exp(−rate·t·λ)``, rate = η/n."""
    dtype = G.dtype
    G = 0.5 * (G + jnp.swapaxes(G, -1, -2))
    lam, V = jnp.linalg.eigh(G)  # (..., n), (..., n, n)
    c0 = jnp.einsum("...ji,...j->...i", V, e0, precision=_HIGHEST)  # Vᵀ e0
    lam = lam[..., None, :]  # (..., 1, n)
    steps_shape = (1,) * (lam.ndim - 2) + (-1, 1)  # (1, …, 1, t, 1): the rank of lam
    t_ = t.astype(dtype).reshape(steps_shape)
    if discrete:
        base = 1.0 - rate * lam
        # (1 − ηλ/n)^t with a possibly negative base and integer t: |base|^t · sign^t.
        odd = (t % 2 == 1).reshape(steps_shape)
        factor = jnp.abs(base) ** t_ * jnp.where(odd, jnp.sign(base), 1.0)
    else:
        factor = jnp.exp(-rate * t_ * lam)
    coef = c0[..., None, :]  # (..., 1, n)
    rank = max(
        factor.ndim, coef.ndim
    )  # G shared by a batch of e0 (or the reverse): explicit broadcast
    factor = factor.reshape((1,) * (rank - factor.ndim) + factor.shape)
    coef = coef.reshape((1,) * (rank - coef.ndim) + coef.shape)
    return jnp.einsum("...ij,...tj->...ti", V, factor * coef, precision=_HIGHEST)


def halving_time(
    r: Float[ArrayLike, "*b t k"],
    steps: Int[ArrayLike, " t"] | Iterable[int],
    *,
    fraction: float = 0.5,
) -> Float[Array, "*b k"]:
    """First step at which each residual component falls to ``fraction`` of its initial value.

    Between the logged steps ``s_{j-1}`` (above the threshold) and ``s_j`` (at or below it)
    ``log r`` is interpolated linearly, which is exact for a single exponentially decaying mode
    (Eq. 22).

    Args:
      r: residual components over the logged steps, shape ``(..., t, k)``
        (``residual_components`` of ``TrainResult.outputs``); ``r[..., 0, :]`` is the initial value.
      steps: the logged steps, shape ``(t,)``, increasing.
      fraction: threshold ``0 < fraction < 1`` relative to ``r(0)``.

    Returns:
      Times of shape ``(..., k)``: ``inf`` where the component never falls below the threshold,
      ``NaN`` where ``r(0)`` is zero or ``r`` is not finite.
    """
    r = jnp.asarray(r)
    s = np.asarray(steps, dtype=float)
    if s.ndim != 1 or r.ndim < 2 or r.shape[-2] != s.shape[0]:
        raise ValueError(
            f"r must have shape (..., t, k) with t = len(steps), got r {r.shape} and steps "
            f"{s.shape}"
        )
    if s.size > 1 and not (np.diff(s) > 0).all():
        raise ValueError("steps must be strictly increasing")
    fraction = val.check_positive_float(fraction, "fraction")
    if fraction >= 1:
        raise ValueError(f"fraction must be < 1, got {fraction}")
    return _halving(r, jnp.asarray(s, jnp.result_type(r, float)), fraction)


@jax.jit
def _halving(r, s, fraction):
    r0 = r[..., :1, :]
    threshold = fraction * r0
    below = r <= threshold  # (..., t, k); row 0 is below only when r(0) == 0
    found = jnp.any(below, axis=-2)
    j = jnp.argmax(below, axis=-2)  # first index at or below the threshold
    jm = jnp.maximum(j - 1, 0)
    r_j = jnp.take_along_axis(r, j[..., None, :], axis=-2)[..., 0, :]
    r_jm = jnp.take_along_axis(r, jm[..., None, :], axis=-2)[..., 0, :]
    log_thr = jnp.log(threshold[..., 0, :])
    # log r linear in s between s_{j-1} and s_j; r_j = 0 gives log r_j = −inf: crossing at s_{j-1}.
    frac = (log_thr - jnp.log(r_jm)) / (jnp.log(r_j) - jnp.log(r_jm))
    t_half = s[jm] + frac * (s[j] - s[jm])
    t_half = jnp.where(found, t_half, jnp.inf)
    bad = ~(r0[..., 0, :] > 0) | ~jnp.all(jnp.isfinite(r), axis=-2)
    return jnp.where(bad, jnp.nan, t_half)


__all__ = [
    "OPTIMIZERS",
    "KernelTrack",
    "TrainResult",
    "halving_time",
    "kernel_track",
    "logged_steps",
    "predict_residuals",
    "project_residual",
    "residual_components",
    "resolve_layers",
    "train_layers",
    "trained_gram",
]
