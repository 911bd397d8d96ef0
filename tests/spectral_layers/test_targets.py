"""Targets on the sphere are harmonics of exact degree k; the lower-degree projection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers import targets
from spectral_layers.gegenbauer import gegenbauer_eigenvalues, multiplicity
from tests._typecheck import unchecked


def _laplacian_of_extension(fn, x, k, h=1e-3):
    """Euclidean Laplacian of G(x) = |x|^k g(x/|x|) by central differences (O(h²) truncation).

    g is a spherical harmonic of degree k iff G is a harmonic polynomial (ΔG = 0): the classical
    characterisation (Atkinson & Han 2012, §2.1), independent of how g was built.
    """

    def G(z):
        r = np.linalg.norm(z, axis=-1, keepdims=True)
        return r[..., 0] ** k * np.asarray(fn(jnp.asarray(z / r)))

    d = x.shape[1]
    lap = -2 * d * G(x)
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        lap = lap + G(x + e) + G(x - e)
    return lap / h**2


@pytest.mark.parametrize("dim,k", [(3, 2), (5, 3), (10, 4)])
def test_gegenbauer_sum_is_harmonic_of_degree_k(dim, k):
    kc, kx = jax.random.split(jax.random.key(dim))
    centers = targets.random_centers(kc, dim, 4)
    x = np.asarray(targets.sample_sphere(kx, 6, dim)) * 1.3
    lap = _laplacian_of_extension(lambda z: targets.gegenbauer_sum_target(z, k, centers), x, k)
    assert np.abs(lap).max() < 1e-4
    # The test can fail: the same construction with the polynomial of another dimension is not harmonic.
    from spectral_layers.gegenbauer import gegenbauer_polynomial

    def wrong(z):
        return jnp.asarray(gegenbauer_polynomial(k, dim + 3, np.asarray(z @ centers.T)).sum(1))

    assert np.abs(_laplacian_of_extension(wrong, x, k)).max() > 1e-2


def test_cosine_target_is_harmonic_and_matches_gegenbauer_sum():
    x = np.asarray(targets.sample_sphere(jax.random.key(0), 7, 2)) * 0.7
    lap = _laplacian_of_extension(lambda z: targets.cosine_target(z, 3), x, 3)
    assert np.abs(lap).max() < 1e-5
    # On S¹, P_k(cos(θ - θ_l)) = cos k(θ - θ_l): one centre at θ_l = 0 gives cos kθ.
    xs = targets.sample_sphere(jax.random.key(1), 20, 2)
    np.testing.assert_allclose(
        targets.gegenbauer_sum_target(xs, 5, jnp.array([[1.0, 0.0]])),
        targets.cosine_target(xs, 5),
        atol=1e-12,
    )


@pytest.mark.parametrize("k", [1, 2, 5])
def test_cosine_is_eigenvector_of_circulant_gram(k):
    """On equispaced points, K y = n μ_k y (up to aliasing) with μ_k the Funk–Hecke eigenvalue of exp(u)."""
    n = 64
    x = targets.equispaced_circle(n)
    y = np.asarray(targets.cosine_target(x, k))
    K = np.exp(np.asarray(x @ x.T))
    mu = gegenbauer_eigenvalues(np.exp, 2, k)[k]
    np.testing.assert_allclose(K @ y, n * mu * y, atol=1e-10 * n)


def test_projection_removes_lower_degrees():
    x = targets.sample_sphere(jax.random.key(3), 200, 4)
    centers = targets.random_centers(jax.random.key(4), 4)
    y3 = targets.gegenbauer_sum_target(x, 3, centers)
    p = np.asarray(targets.project_out_lower_degrees(x, y3, 3))
    for j in range(3):
        yj = np.asarray(targets.gegenbauer_sum_target(x, j, centers))
        assert abs(p @ yj) < 1e-10 * np.linalg.norm(p) * np.linalg.norm(yj)
    # the raw sampled target is NOT orthogonal to lower degrees (the finite-sample bias)
    y1 = np.asarray(targets.gegenbauer_sum_target(x, 1, centers))
    assert abs(np.asarray(y3) @ y1) > 1e-3 * np.linalg.norm(y3) * np.linalg.norm(y1)
    # projecting a pure lower-degree function removes it entirely
    np.testing.assert_allclose(targets.project_out_lower_degrees(x, y1, 3), 0, atol=1e-10)
    np.testing.assert_array_equal(targets.project_out_lower_degrees(x, y3, 0), y3)


def test_sampling():
    x = targets.sample_sphere(jax.random.key(0), 50, 6)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(x, targets.sample_sphere(jax.random.key(0), 50, 6))
    c = targets.equispaced_circle(8)
    np.testing.assert_allclose(c[2], [0.0, 1.0], atol=1e-15)


def test_bad_inputs():
    x = targets.sample_sphere(jax.random.key(0), 10, 3)
    with pytest.raises(ValueError, match="k"):
        targets.gegenbauer_sum_target(x, -1, x[:2])
    with pytest.raises(ValueError, match="dim"):
        targets.sample_sphere(jax.random.key(0), 10, 1)
    with pytest.raises(ValueError, match="x"), unchecked():
        targets.cosine_target(x, 2)
    with pytest.raises(ValueError, match="points"):
        targets.project_out_lower_degrees(x, x[:, 0], 3)
    with pytest.raises(ValueError, match="centers"):
        targets.sphere_target(x, 2)


def test_target_sq_norm_matches_product_quadrature_on_s2():
    # Reference: Gauss–Legendre in cos ϑ × trapezoid in φ on S² (exact for polynomials of degree
    # ≤ 2k here).
    rng = np.random.default_rng(2)
    c = rng.normal(size=(3, 3))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    t, w = np.polynomial.legendre.leggauss(12)
    phi = 2 * np.pi * np.arange(24) / 24
    ct, ph = np.meshgrid(t, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    x = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    weights = (np.repeat(w, 24) / 2 / 24).ravel()
    for k in (1, 2, 4):
        g = np.asarray(targets.gegenbauer_sum_target(x, k, c))
        assert targets.gegenbauer_target_sq_norm(c, k) == pytest.approx(weights @ g**2, rel=1e-12)


def test_projection_matches_pivoted_qr():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(400, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    B = targets.polynomial_features(x, 2)  # degrees < k = 3 (21 monomials, rank 20 on S⁴)
    y = rng.normal(size=400)
    r = targets.project_out_lower_degrees(x, y, 3)
    # Characterisation of the orthogonal projection: the residual is orthogonal to the span, and
    # a function in the span (1 + x_0 - 2 x_1 x_2 + x_3², degree 2) is removed entirely.
    assert np.abs(B.T @ r).max() < 1e-12 * np.linalg.norm(y) * np.sqrt(400)
    p = 1 + x[:, 0] - 2 * x[:, 1] * x[:, 2] + x[:, 3] ** 2
    assert np.abs(targets.project_out_lower_degrees(x, p, 3)).max() < 1e-12
    # Reference: pivoted QR (LAPACK geqp3 via scipy), rank from R's diagonal.
    import scipy.linalg

    Q, R, _ = scipy.linalg.qr(B, mode="economic", pivoting=True)
    Q = Q[:, np.abs(np.diag(R)) > 1e-10 * abs(R[0, 0])]
    np.testing.assert_allclose(r, y - Q @ (Q.T @ y), atol=1e-12)
    with pytest.raises(ValueError, match="needs more than"):
        targets.project_out_lower_degrees(x[:20], y[:20], 3)


def test_lower_degree_basis_is_the_projection_basis():
    """``Q`` has orthonormal columns, rank ``Σ_{j<k} N(d, j)`` on the sphere (the harmonics of degree < k),
    and ``y − Q Qᵀ y`` is ``project_out_lower_degrees``; ``k = 0`` gives no column."""
    d, k = 4, 3
    x = targets.sample_sphere(jax.random.key(3), 60, d)
    Q = targets.lower_degree_basis(x, k)
    assert Q.shape == (60, sum(multiplicity(d, j) for j in range(k)))
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    y = np.asarray(jax.random.normal(jax.random.key(4), (2, 60)))
    np.testing.assert_allclose(
        y - (y @ Q) @ Q.T, targets.project_out_lower_degrees(x, y, k), rtol=1e-10, atol=1e-12
    )
    assert targets.lower_degree_basis(x, 0).shape == (60, 0)
