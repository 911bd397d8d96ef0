# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Per-layer NTK of your own model
#
# `sl.layer_ntk(apply_fn, params, x)` takes any `apply_fn(params, x) -> (n,)` and any parameter pytree, and
# returns one Gram $G^{(\ell)}_{ij} = \langle \nabla_{\theta_\ell} f(x_i), \nabla_{\theta_\ell} f(x_j)\rangle$
# per layer. A layer is a module that owns parameters, named by its path and ordered by first use in the forward
# pass. This page (executed when the site is built, on a CPU) does it for a linen CNN classifier and an NNX
# model, checks the numbers against a brute-force Jacobian, and shows what falls back to per-example gradients.

# %%
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import spectral_layers as sl

jax.config.update("jax_enable_x64", True)  # float64, so the check below is at rounding level


# %% [markdown]
# ## A linen CNN classifier
#
# Three strided convolutions and a dense head with `C = 10` logits: `apply_fn` returns the logits `(n, C)`.
# Output axes follow neural-tangents' conventions: the default `trace_axes=(-1,)` sums over the classes,
# $G^{(\ell)}_{ij} = \sum_c \langle \nabla_{\theta_\ell} f_c(x_i), \nabla_{\theta_\ell} f_c(x_j)\rangle$ of
# shape `(n, n)`, from one forward pass and `C` backward passes; `trace_axes=()` keeps both class axes,
# `(n, n, C, C)`.


# %%
class CNN(nn.Module):
    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        for _ in range(3):
            x = nn.relu(nn.Conv(16, (3, 3), strides=2)(x))
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


model = CNN()
x = jax.random.normal(jax.random.key(1), (16, 16, 16, 3))
params = model.init(jax.random.key(0), x)["params"]
params = jax.tree.map(lambda a: a.astype(jnp.float64), params)  # flax initialises in float32


def apply_fn(p, x):
    return model.apply({"params": p}, x)  # logits: shape (n, C)


grams = sl.layer_ntk(apply_fn, params, x)  # traced over the classes: (n, n) per layer
for name, g in grams.items():
    print(f"{name:8s} {g.shape}  tr G/n = {float(jnp.trace(g)) / len(x):.4f}")
full = sl.layer_ntk(apply_fn, params, x, trace_axes=())  # every pair of classes
print({name: g.shape for name, g in full.items()})

# %% [markdown]
# The layers come in call order (`Conv_0`, `Conv_1`, `Conv_2`, `Dense_0`), and their sum is the full empirical
# NTK. A second, independent route: the Jacobian of the logits in each layer's parameters, `J` of shape
# `(n, C, P_ℓ)`, and $G^{(\ell)} = \sum_c J_c J_c^\top$.


# %%
def jacobian_gram(p, layer):
    jac = jax.jacrev(lambda q: apply_fn({**p, layer: q}, x))(p[layer])
    j_ncp = jnp.concatenate([v.reshape(*v.shape[:2], -1) for v in jax.tree.leaves(jac)], axis=2)
    return jnp.einsum("icp,jcp->ij", j_ncp, j_ncp), jnp.einsum("icp,jdp->ijcd", j_ncp, j_ncp)


for name in grams:
    ref, ref_full = jacobian_gram(params, name)
    err = float(jnp.linalg.norm(grams[name] - ref) / jnp.linalg.norm(ref))
    err_full = float(jnp.linalg.norm(full[name] - ref_full) / jnp.linalg.norm(ref_full))
    print(
        f"{name:8s} relative Frobenius error vs Jacobian: traced {err:.1e}, all classes {err_full:.1e}"
    )

# %% [markdown]
# Contributions $c_\ell = \sum_{c,c'} y_c^\top G^{(\ell)}_{cc'} y_{c'}$ to a target $y$ of the logits' shape
# `(n, C)` (here one-hot labels) need no Gram at all (`C` backward passes):

# %%
labels = jnp.argmax(x.mean(axis=(1, 2)), axis=-1) % 10
y = jax.nn.one_hot(labels, 10)
c = sl.layer_contributions(apply_fn, params, x, y)
print({k: round(float(v), 4) for k, v in sl.layer_ratios(c).items()})


# %% [markdown]
# ## An NNX model
#
# `sl.from_nnx(model)` splits an NNX module into `(apply_fn, params)`. A list of layers `self.layers` (`nnx.List`) gives
# the names `layers/0`, `layers/1`, …; a trailing output axis of size 1 is dropped.


# %%
class MLP(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(8, 32, rngs=rngs), nnx.Linear(32, 32, rngs=rngs)])
        self.norm = nnx.LayerNorm(32, rngs=rngs)
        self.head = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return self.head(self.norm(x))


nnx_apply, nnx_params = sl.from_nnx(MLP(nnx.Rngs(0)))
x_vec = jax.random.normal(jax.random.key(2), (64, 8))
nnx_grams = sl.layer_ntk(nnx_apply, nnx_params, x_vec)
print(list(nnx_grams))

# %% [markdown]
# `group=` merges layers, e.g. the two hidden layers into one kernel; any callable from a parameter path
# (`"layers/0/kernel"`) to a name works:

# %%
merged = sl.layer_ntk(nnx_apply, nnx_params, x_vec, group=lambda path: path.split("/")[0])
print(list(merged))
np.testing.assert_allclose(
    merged["layers"], nnx_grams["layers/0"] + nnx_grams["layers/1"], rtol=1e-10
)


# %% [markdown]
# ## What falls back
#
# The one-pass engine needs each parameter to enter the network through one dense contraction, convolution,
# elementwise product or addition. A parameter used any other way (here `tanh(W)`, and a weight used twice)
# makes its layer, and only that layer, fall back to per-example gradients (`vmap(grad)`), named in a
# `sl.FallbackWarning`. The numbers are exact either way.


# %%
class Odd(nn.Module):
    @nn.compact
    def __call__(self, x):
        w = self.param("odd", nn.initializers.normal(), (x.shape[-1], 16))
        h = jnp.tanh(x @ jnp.tanh(w))  # tanh(W): not a plain contraction
        tied = nn.Dense(16, name="tied")
        h = tied(jnp.tanh(tied(h)))  # one weight used twice
        return nn.Dense(1, name="head")(h)[:, 0]


odd = Odd()
odd_params = odd.init(jax.random.key(3), x_vec)["params"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    odd_grams = sl.layer_ntk(lambda p, x: odd.apply({"params": p}, x), odd_params, x_vec)
for w in caught:
    if issubclass(w.category, sl.FallbackWarning):
        print("FallbackWarning:", w.message)
print(list(odd_grams))
