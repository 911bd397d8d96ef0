"""Tests for spectral_layers.data_targets: radial and principal-component sinusoids, kernel
eigenvectors.

References are closed forms on constructed data (known radii, a known principal direction, a matrix
built from a known orthonormal basis) computed here with NumPy, independently of the code under
test.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers.data_targets import (
    first_principal_component,
    kernel_eigenvectors,
    principal_component_projection,
    principal_component_sinusoid,
    radial_sinusoid,
)
from tests._typecheck import unchecked

RNG = np.random.default_rng(7)


def sign_changes(y_sorted: np.ndarray, tol: float = 1e-9) -> int:
    """Sign changes of a sequence, skipping (near-)zeros such as sin(0) at the ends."""
    s = np.sign(y_sorted[np.abs(y_sorted) > tol])
    return int(np.count_nonzero(s[1:] != s[:-1]))


def random_directions(n: int, d: int) -> np.ndarray:
    z = RNG.standard_normal((n, d))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def shell_points(radii: np.ndarray, d: int = 5) -> np.ndarray:
    """Points ``r_i u_i`` with ``u_i`` random unit vectors: ``‖x_i‖ = r_i`` exactly (up to
    rounding)."""
    return radii[:, None] * random_directions(len(radii), d)


# -------------------------------------------------------------------------------------------------
# Radial sinusoid.


@pytest.mark.parametrize("k", [1, 2, 5])
def test_radial_matches_closed_form(k):
    radii = RNG.permutation(np.linspace(1.0, 3.0, 401))
    x = shell_points(radii)
    y = np.asarray(radial_sinusoid(x, k, center=False))
    # scale="range": r̃ = 2π (r − 1) / (3 − 1)  (module docstring).
    np.testing.assert_allclose(y, np.sin(k * 2 * np.pi * (radii - 1.0) / 2.0), rtol=0, atol=1e-12)
    y_raw = np.asarray(radial_sinusoid(x, k, center=False, scale="raw"))
    np.testing.assert_allclose(y_raw, np.sin(k * radii), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_radial_has_k_periods_over_the_data(k):
    radii = np.linspace(0.5, 2.0, 601)
    y = np.asarray(radial_sinusoid(shell_points(radii, d=10), k, center=False))
    # k periods of sin over [0, 2π]: zeros at r̃ = jπ/k, j = 1..2k−1 strictly inside.
    assert sign_changes(y[np.argsort(radii)]) == 2 * k - 1


def test_radial_centered_uses_distance_to_the_mean():
    x = RNG.standard_normal((300, 8)) + 3.0
    r = np.linalg.norm(x - x.mean(axis=0), axis=1)
    want = np.sin(3 * 2 * np.pi * (r - r.min()) / (r.max() - r.min()))
    np.testing.assert_allclose(radial_sinusoid(x, 3), want, rtol=0, atol=1e-12)
    # Translation invariance of the centred radius.
    np.testing.assert_allclose(radial_sinusoid(x + 10.0, 3), want, rtol=0, atol=1e-11)
    # The same function on a subset, with the full sample's radius range.
    sub = radial_sinusoid(x[:50], 3, radius_range=(r.min(), r.max()), center=False)
    xr = np.linalg.norm(x[:50], axis=1)
    np.testing.assert_allclose(sub, np.sin(3 * 2 * np.pi * (xr - r.min()) / (r.max() - r.min())))


def test_radial_validation():
    x = RNG.standard_normal((10, 3))
    with pytest.raises(ValueError, match="k must be >= 1"):
        radial_sinusoid(x, 0)
    with pytest.raises(ValueError, match="scale"):
        radial_sinusoid(x, 1, scale="log")
    with pytest.raises(ValueError, match="negligible interval"):  # all points on the unit sphere
        radial_sinusoid(random_directions(10, 3), 1, center=False)
    with pytest.raises(ValueError, match=r"\(n, d\)"), unchecked():
        radial_sinusoid(np.ones(5), 1)
    with pytest.raises(ValueError, match="NaN"):
        radial_sinusoid(np.full((3, 2), np.nan), 1)


# -------------------------------------------------------------------------------------------------
# Principal-component sinusoid.


def anisotropic_data(n: int = 500, d: int = 6):
    """Gaussian data with a dominant known direction ``v0`` (variance 9 vs 1 and 0.25)."""
    q, _ = np.linalg.qr(RNG.standard_normal((d, d)))
    scales = np.array([3.0, 1.0] + [0.5] * (d - 2))
    x = (RNG.standard_normal((n, d)) * scales) @ q.T + 1.5
    return x, q[:, 0]


def fix_sign(v: np.ndarray) -> np.ndarray:
    """The documented convention, per column: the first entry within 1e-6 of the max magnitude >
    0."""
    v = v.reshape(len(v), -1)
    out = v.copy()
    for c in range(v.shape[1]):
        mag = np.abs(v[:, c])
        first = np.flatnonzero(mag >= (1 - 1e-6) * mag.max())[0]
        out[:, c] *= np.sign(v[first, c])
    return out


def numpy_pc(x: np.ndarray) -> np.ndarray:
    """Top eigenvector of the sample covariance (numpy.linalg.eigh), sign by the convention."""
    xc = x - x.mean(axis=0)
    _, vecs = np.linalg.eigh(xc.T @ xc)
    return fix_sign(vecs[:, -1])[:, 0]


def test_first_principal_component_vs_covariance_eigh():
    x, v0 = anisotropic_data()
    v = np.asarray(first_principal_component(x))
    np.testing.assert_allclose(v, numpy_pc(x), rtol=0, atol=1e-10)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-14)
    assert v[np.argmax(np.abs(v))] > 0  # sign convention (no ties in magnitude here)
    assert abs(v @ v0) > 0.95  # and it is (close to) the planted direction


@pytest.mark.parametrize("kind", ["sin", "cos"])
@pytest.mark.parametrize("k", [1, 3])
def test_pc_sinusoid_matches_closed_form(kind, k):
    x, _ = anisotropic_data()
    t = (x - x.mean(axis=0)) @ numpy_pc(x)
    t_tilde = -np.pi + 2 * np.pi * (t - t.min()) / (t.max() - t.min())
    want = np.sin(k * t_tilde) if kind == "sin" else np.cos(k * t_tilde)
    got = principal_component_sinusoid(x, k, kind=kind)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    raw = principal_component_sinusoid(x, k, kind=kind, scale="raw")
    np.testing.assert_allclose(raw, np.sin(k * t) if kind == "sin" else np.cos(k * t), atol=1e-9)


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_pc_sinusoid_zero_crossings(k):
    # Points on a line through c along v0: the PC is ±v0 exactly and t is equispaced.
    d = 7
    v0 = random_directions(1, d)[0]
    t = RNG.permutation(np.linspace(-1.0, 2.0, 801))
    x = t[:, None] * v0 + RNG.standard_normal(d)
    order = np.argsort(t)
    y_sin = np.asarray(principal_component_sinusoid(x, k, kind="sin"))
    y_cos = np.asarray(principal_component_sinusoid(x, k, kind="cos"))
    # On [−π, π]: sin(kt̃) vanishes at jπ/k, |j| < k (2k−1 zeros); cos(kt̃) at (j+½)π/k (2k zeros).
    assert sign_changes(y_sin[order]) == 2 * k - 1
    assert sign_changes(y_cos[order]) == 2 * k


def test_pc_sinusoid_sign_and_given_pc():
    x, _ = anisotropic_data(200, 4)
    v = np.asarray(first_principal_component(x))
    # Flipping v maps t̃ to −t̃ (range scaling is affine and symmetric): sin flips, cos is unchanged.
    np.testing.assert_allclose(
        principal_component_sinusoid(x, 3, pc=-v), -principal_component_sinusoid(x, 3), atol=1e-12
    )
    np.testing.assert_allclose(
        principal_component_sinusoid(x, 3, pc=-v, kind="cos"),
        principal_component_sinusoid(x, 3, kind="cos"),
        atol=1e-12,
    )
    # A non-unit pc is normalised.
    t = np.asarray(principal_component_projection(x))
    np.testing.assert_allclose(principal_component_projection(x, pc=5 * v), t, atol=1e-12)
    # proj_range = the full sample's range reproduces the full-sample function on a subset.
    t_raw = x @ v  # center=False projects x itself
    full = principal_component_sinusoid(x, 2, pc=v, center=False)
    sub = principal_component_sinusoid(
        x[:20], 2, pc=v, center=False, proj_range=(t_raw.min(), t_raw.max())
    )
    np.testing.assert_allclose(sub, full[:20], atol=1e-12)
    t_tilde = -np.pi + 2 * np.pi * (t_raw - t_raw.min()) / (t_raw.max() - t_raw.min())
    np.testing.assert_allclose(full, np.sin(2 * t_tilde), atol=1e-12)


def test_pc_sinusoid_degree_zero_and_validation():
    x, _ = anisotropic_data(50, 3)
    np.testing.assert_array_equal(principal_component_sinusoid(x, 0, kind="cos"), np.ones(50))
    with pytest.raises(ValueError, match="k must be >= 1"):
        principal_component_sinusoid(x, 0, kind="sin")
    with pytest.raises(ValueError, match="kind"):
        principal_component_sinusoid(x, 1, kind="tan")
    with pytest.raises(ValueError, match="pc must have shape"), unchecked():
        principal_component_sinusoid(x, 1, pc=np.ones(4))
    with pytest.raises(ValueError, match="non-zero"):
        principal_component_sinusoid(x, 1, pc=np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 points"):
        first_principal_component(x[:1])
    with pytest.raises(ValueError, match="zero variance"):
        first_principal_component(np.ones((5, 3)))


# -------------------------------------------------------------------------------------------------
# Kernel eigenvectors.


def dct_basis(n: int) -> np.ndarray:
    """Orthonormal DCT-II basis: Q[j, i] = c_i cos(π (j + ½) i / n), c_0 = √(1/n), c_i = √(2/n)."""
    j, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = np.where(i == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    return c * np.cos(np.pi * (j + 0.5) * i / n)


LAMBDAS = np.array([3.0, 0.5, 7.0, 1.0, 5.0, 2.0, -6.0, 4.0])  # distinct, unsorted, one negative


def known_matrix():
    q = dct_basis(len(LAMBDAS))
    return q @ np.diag(LAMBDAS) @ q.T, q


def test_kernel_eigenvectors_known_eigenpairs():
    K, q = known_matrix()
    np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-14)  # the reference basis is orthonormal
    V, lam = kernel_eigenvectors(K, 8, return_eigenvalues=True)
    V, lam = np.asarray(V), np.asarray(lam)
    order = np.argsort(-LAMBDAS)  # decreasing algebraic eigenvalue: 7, 5, 4, 3, 2, 1, 0.5, −6
    np.testing.assert_allclose(lam, LAMBDAS[order], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.abs(V.T @ q[:, order]), np.eye(8), atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(8), atol=1e-13)
    np.testing.assert_allclose(K @ V, V * lam, atol=1e-12)
    # DCT columns of odd index are antisymmetric (Q[n-1-j] = -Q[j]): ties in magnitude, resolved by
    # the convention's "first near-maximal entry".
    np.testing.assert_allclose(V, fix_sign(V), atol=0)
    np.testing.assert_allclose(V, fix_sign(q[:, order]), atol=1e-12)
    # Second reference: numpy.linalg.eigh, reversed to decreasing order, same sign convention.
    w, U = np.linalg.eigh(K)
    U = fix_sign(U[:, ::-1])
    np.testing.assert_allclose(w[::-1], lam, atol=1e-12)
    np.testing.assert_allclose(V, U, atol=1e-12)


def test_kernel_eigenvectors_rank_selection_and_dtype():
    K, _ = known_matrix()
    V_all = np.asarray(kernel_eigenvectors(K, 8))
    V_sel = np.asarray(kernel_eigenvectors(K, [2, 0, 5]))
    np.testing.assert_allclose(V_sel, V_all[:, [2, 0, 5]], atol=1e-13)
    np.testing.assert_allclose(kernel_eigenvectors(K, 3), V_all[:, :3], atol=1e-13)
    V32 = kernel_eigenvectors(jnp.asarray(K, jnp.float32), 2)
    assert V32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(V32), V_all[:, :2], atol=1e-5)


def test_kernel_eigenvectors_validation():
    with unchecked():  # the package's own messages (tests/conftest.py)
        K, _ = known_matrix()
        with pytest.raises(ValueError, match="square"):
            kernel_eigenvectors(K[:, :5], 2)
        asym = K.copy()
        asym[0, 1] += 1.0
        with pytest.raises(ValueError, match="not symmetric"):
            kernel_eigenvectors(asym, 2)
        bad = K.copy()
        bad[2, 2] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            kernel_eigenvectors(bad, 2)
        with pytest.raises(ValueError, match=r"ranks must lie in \[0, 8\)"):
            kernel_eigenvectors(K, [0, 8])
        with pytest.raises(ValueError, match="distinct"):
            kernel_eigenvectors(K, [1, 1])
        with pytest.raises(ValueError, match="exceeds"):
            kernel_eigenvectors(K, 9)
        with pytest.raises(ValueError, match="ranks must be >= 1"):
            kernel_eigenvectors(K, 0)
        with pytest.raises(ValueError, match="empty"):
            kernel_eigenvectors(K, [])
        with pytest.raises(TypeError, match="integers"):
            kernel_eigenvectors(K, [0.5])
