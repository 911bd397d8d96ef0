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
# # Finite vs infinite width, layer by layer
#
# At infinite width (NTK parameterisation) each layer's Gram converges to a deterministic kernel
# $\kappa^{(\ell)}$ (paper Eq. 1). `sl.infinite_layer_ntk` computes them in closed form (ReLU, erf) or by
# quadrature; `sl.infinite.nt_layer_ntk` computes the same kernels from neural-tangents' `stax`, an independent
# implementation, and `sl.infinite.nt_relative_errors` compares the two. This page (executed at build time on a CPU)
# checks the infinite-width kernels against neural-tangents, then watches the finite-width Grams converge.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import spectral_layers as sl

jax.config.update("jax_enable_x64", True)

net = sl.Network(depth=4, activation="relu", input_scaling="none")  # width=None: infinite
x = sl.targets.sample_sphere(jax.random.key(0), 64, 10)  # 64 points on S⁹
kappa = sl.infinite_layer_ntk(x, network=net)
print({name: k.shape for name, k in kappa.items()})

# %% [markdown]
# ## Against neural-tangents
#
# neural-tangents is optional (installed with `--no-deps`, made to work on recent JAX by
# `spectral_layers.nt_compat`); without it these calls raise `NeuralTangentsUnavailable`.

# %%
try:
    sl.nt_compat.import_neural_tangents()
except sl.nt_compat.NeuralTangentsUnavailable as e:
    print(e)  # the reason, and how to install it
else:
    errors = sl.infinite.nt_relative_errors(x, network=net)
    for name, err in errors.items():
        print(f"{name}: relative Frobenius error vs neural-tangents {err:.1e}")
    tanh = net.replace(activation="tanh")  # no closed form here: quadrature on both sides
    print({k: f"{v:.1e}" for k, v in sl.infinite.nt_relative_errors(x, network=tanh).items()})

# %% [markdown]
# ## Finite widths converge to $\kappa^{(\ell)}$
#
# For widths 64 … 2048 and 4 initialisations each, the relative Frobenius error
# $\lVert G^{(\ell)} - \kappa^{(\ell)} \rVert_F / \lVert \kappa^{(\ell)} \rVert_F$ of every layer. The
# expected rate is $\text{width}^{-1/2}$ (the `width_convergence` experiment measures it over 8 draws).

# %%
widths = [64, 256, 1024, 2048]
errors = {name: [] for name in kappa}
for width in widths:
    finite = net.replace(width=width)
    per_seed = {name: [] for name in kappa}
    for seed in range(4):
        apply_fn, params = finite.init(jax.random.key(100 + seed), 10)
        grams = sl.layer_ntk(apply_fn, params, x)
        for name in kappa:
            diff = jnp.linalg.norm(grams[name] - kappa[name]) / jnp.linalg.norm(kappa[name])
            per_seed[name].append(float(diff))
    for name in kappa:
        errors[name].append(np.mean(per_seed[name]))

print("width  " + "  ".join(f"{n:>8s}" for n in kappa))
for i, width in enumerate(widths):
    print(f"{width:5d}  " + "  ".join(f"{errors[n][i]:8.4f}" for n in kappa))
for name in kappa:
    slope = np.polyfit(np.log(widths), np.log(errors[name]), 1)[0]
    print(f"{name}: error ~ width^{slope:.2f}")

# %% [markdown]
# The fitted slopes above come from 4 initialisations on one set of 64 points, so they scatter around the
# expected $-1/2$; the `width_convergence` experiment (8 draws of the points × 4 initialisations per width)
# measures $-0.46 \ldots -0.48$ for every layer (see the [gallery](../../gallery/)).

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
for name in kappa:
    ax.loglog(widths, errors[name], "o-", label=name)
ax.loglog(
    widths, errors["layer_0"][0] * (np.array(widths) / widths[0]) ** -0.5, "k:", label="width^-1/2"
)
ax.set_xlabel("width")
ax.set_ylabel("relative Frobenius error")
ax.legend()
plt.show()
