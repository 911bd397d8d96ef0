"""Gegenbauer polynomials, multiplicities and Funk–Hecke (Mercer) eigenvalues on S^{d-1}.

References are independent of ``spectral_layers.gegenbauer``: scipy's orthogonal polynomials and
Gauss rules, exact rational arithmetic (``fractions``), scipy.integrate.quad, the FFT on the circle
and closed forms.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate, special

from spectral_layers import gegenbauer

EPS = np.finfo(np.float64).eps


def relu_kernels(u):
    """Arc-cosine kernels (Cho & Saul 2009): κ^(0) = u (π - arccos u)/(2π),
    κ^(1) = (√(1-u²) + u(π - arccos u))/(2π)."""
    return (u * (np.pi - np.arccos(u)) / (2 * np.pi),
            (np.sqrt(1 - u * u) + u * (np.pi - np.arccos(u))) / (2 * np.pi))  # fmt: skip


def exact_monomial_eigenvalues(max_n, d):
    """B[k][n] = μ_k(t^n) = E[t^n P_k(t)] in exact rationals, k, n ≤ max_n.

    P_k's monomial coefficients come from the three-term recurrence (Atkinson & Han Eq. 2.76), the
    moments of t = ⟨x, e⟩ (x uniform on S^{d-1}) from E[t^{2j}] = Π_{i<j} (1/2 + i)/(d/2 + i).
    """
    P = [[Fraction(1)], [Fraction(0), Fraction(1)]]
    for m in range(1, max_n):
        a, b = Fraction(2 * m + d - 2, m + d - 2), Fraction(m, m + d - 2)
        nxt = [Fraction(0)] * (m + 2)
        for i, c in enumerate(P[m]):
            nxt[i + 1] += a * c
        for i, c in enumerate(P[m - 1]):
            nxt[i] -= b * c
        P.append(nxt)
    moments = [Fraction(1)]
    for p in range(1, 2 * max_n + 1):
        moments.append(
            Fraction(0) if p % 2 else moments[p - 2] * Fraction(p - 1, 1) / Fraction(d + p - 2, 1)
        )
    return [[sum(c * moments[n + i] for i, c in enumerate(P[k])) for n in range(max_n + 1)]
            for k in range(max_n + 1)]  # fmt: skip


def test_multiplicity_known_cases():
    assert gegenbauer.multiplicity(2, 0) == 1
    assert all(gegenbauer.multiplicity(2, k) == 2 for k in range(1, 30))
    assert all(gegenbauer.multiplicity(3, k) == 2 * k + 1 for k in range(30))
    assert all(gegenbauer.multiplicity(4, k) == (k + 1) ** 2 for k in range(30))
    for d in (5, 10, 100, 784):
        for k in range(1, 40):
            n = gegenbauer.multiplicity(d, k)
            assert isinstance(n, int)
            assert n * k == (2 * k + d - 2) * math.comb(
                k + d - 3, d - 2
            )  # the (2k+d-2)/k form, exactly
        # Σ_{k ≤ K} N(d, k) = dim of polynomials of degree ≤ K on the sphere = C(K+d-1, d-1) +
        # C(K+d-2, d-1)
        K = 25
        total = sum(gegenbauer.multiplicity(d, k) for k in range(K + 1))
        assert total == math.comb(K + d - 1, d - 1) + math.comb(K + d - 2, d - 1)


@pytest.mark.parametrize("d", [2, 3, 5, 10, 50])
def test_polynomials_vs_scipy(d):
    t = np.linspace(-1, 1, 41)
    P = gegenbauer.gegenbauer_polynomials(30, d, t)
    for k in range(31):
        if d == 2:
            ref = np.cos(k * np.arccos(t))
        elif d == 3:
            ref = special.eval_legendre(k, t)
        else:
            lam = (d - 2) / 2
            ref = special.eval_gegenbauer(k, lam, t) / special.eval_gegenbauer(k, lam, 1.0)
        np.testing.assert_allclose(P[k], ref, atol=1e-12)
        np.testing.assert_allclose(gegenbauer.gegenbauer_polynomial(k, d, t), P[k], atol=0)
    np.testing.assert_array_equal(P[:, -1], 1.0)


@pytest.mark.parametrize("d", [2, 3, 4, 7, 30, 200])
def test_orthogonality_and_addition_theorem_norm(d):
    """E[P_j P_k] = δ_jk / N(d, k) under the Funk–Hecke probability weight ∝ (1-t²)^{(d-3)/2}.

    The norm 1/N(d, k) is the addition theorem Σ_j Y_kj(x)Y_kj(x') = N P_k(⟨x,x'⟩) at x = x'.
    Gauss–Jacobi from scipy (exact for degree < 2·80).
    """
    alpha = (d - 3) / 2
    t, w = special.roots_jacobi(60, alpha, alpha)
    w = w / w.sum()
    P = gegenbauer.gegenbauer_polynomials(40, d, t)
    gram = (P * w) @ P.T
    expected = np.diag([1 / gegenbauer.multiplicity(d, k) for k in range(41)])
    np.testing.assert_allclose(gram, expected, atol=1e-13)


def test_funk_hecke_monomial_exact_rationals():
    for d in (2, 3, 4, 7, 20):
        exact = exact_monomial_eigenvalues(25, d)
        for n in range(0, 26):
            for k in range(0, 26):
                got = gegenbauer.funk_hecke_monomial(n, k, d)
                ref = exact[k][n]
                if ref == 0:
                    assert got == 0.0, (n, k, d)
                else:
                    assert ref > 0
                    assert got == pytest.approx(float(ref), rel=1e-14), (n, k, d)


def test_funk_hecke_monomial_large_arguments():
    """Large d and n: against Rodrigues' closed form in log-gamma form (a different evaluation)."""
    for d, n, k in [(500, 60, 40), (784, 101, 51), (3, 400, 50), (2, 300, 0)]:
        j, h = (n - k) // 2, (d - 1) / 2
        log_ref = (special.gammaln(n + 1) - special.gammaln(n - k + 1) - k * math.log(2)
                   - special.gammaln(h + k) + special.gammaln(h)
                   + special.betaln(j + 0.5, k + h) - special.betaln(0.5, h))  # fmt: skip
        assert gegenbauer.funk_hecke_monomial(n, k, d) == pytest.approx(
            math.exp(log_ref), rel=1e-11
        )


@pytest.mark.parametrize("method", ["theta", "jacobi"])
@pytest.mark.parametrize("d", [2, 3, 10, 100, 500])
def test_eigenvalues_of_monomials(d, method):
    K = 12
    for n in (0, 1, 5, 8, 12):
        mu = gegenbauer.gegenbauer_eigenvalues(lambda t, n=n: t**n, d, K, method=method)
        ref = np.array([gegenbauer.funk_hecke_monomial(n, k, d) for k in range(K + 1)])
        floor = 32 * EPS / np.sqrt([float(gegenbauer.multiplicity(d, k)) for k in range(K + 1)])
        assert (np.abs(mu - ref) <= floor).all(), (n, np.abs(mu - ref) / floor)


@pytest.mark.parametrize("d", [2, 3, 10, 100, 500])
def test_accuracy_floor_exp_kernel(d):
    """κ = exp: μ_k = Σ_n μ_k(t^n)/n! (terms ≥ 0); error ≤ 32 ε κ(1)/sqrt(N(d,k)), k ≤ 50."""
    K = 50
    ref = gegenbauer.gegenbauer_eigenvalues_from_power_series(
        [1 / math.factorial(n) for n in range(171)], d, K
    )
    mu = gegenbauer.gegenbauer_eigenvalues(np.exp, d, K)
    floor = (
        32 * EPS * math.e / np.sqrt([float(gegenbauer.multiplicity(d, k)) for k in range(K + 1)])
    )
    assert (np.abs(mu - ref) <= floor).all()
    # where μ_k is well above the floor this is relative accuracy
    big = ref > 1e8 * floor
    assert big.sum() >= 3
    np.testing.assert_allclose(mu[big], ref[big], rtol=1e-8)


def test_relu_circle_closed_form():
    """d = 2: μ_k = (1/π)∫_0^π κ(cos θ) cos kθ dθ in closed form for the arc-cosine kernels.

    κ^(0)(cos θ) = (π - θ) cos θ/(2π), κ^(1)(cos θ) = (sin θ + (π - θ) cos θ)/(2π) on [0, π];
    ∫_0^π (π - θ) cos mθ dθ = (1 - (-1)^m)/m² (m ≠ 0), π²/2 (m = 0);
    ∫_0^π sin θ cos kθ dθ = (1 + (-1)^k)/(1 - k²) (k ≠ 1), 0 (k = 1).
    """
    K = 60

    def lin(m):
        m = abs(m)
        return np.pi**2 / 2 if m == 0 else (1 - (-1) ** m) / m**2

    def sin_part(k):
        return 0.0 if k == 1 else (1 + (-1) ** k) / (1 - k * k)

    ref0 = np.array([(lin(k - 1) + lin(k + 1)) / 2 for k in range(K + 1)]) / (2 * np.pi**2)
    ref1 = ref0 + np.array([sin_part(k) for k in range(K + 1)]) / (2 * np.pi**2)
    floor = 32 * EPS * 0.5 / math.sqrt(2)
    mu0 = gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[0], 2, K)
    mu1 = gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[1], 2, K)
    np.testing.assert_allclose(mu0, ref0, rtol=0, atol=floor)
    np.testing.assert_allclose(mu1, ref1, rtol=0, atol=floor)
    for method in (
        "jacobi",
    ):  # Gauss–Chebyshev in t: slow algebraic convergence at the kinks of κ(cos θ)
        err = np.abs(
            gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[0], 2, K, method=method)
            - ref0
        )
        assert err.max() > 1e3 * floor  # documents why "theta" is the default


# QUADPACK flags "roundoff error" on integrals that are (near) zero, e.g. odd k ≥ 3 of κ^(1); its
# error estimate is still returned and used as the tolerance.
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_relu_sphere_d3_vs_quad():
    """d = 3: μ_k = (1/2)∫_0^π κ(cos θ) P_k(cos θ) sin θ dθ; scipy Legendre P_k, adaptive quad."""
    K = 20
    floor = 32 * EPS * 0.5 / np.sqrt(2 * np.arange(K + 1) + 1)
    mu0 = gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[0], 3, K)
    mu1 = gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[1], 3, K)
    for k in range(K + 1):
        for mu, i in ((mu0, 0), (mu1, 1)):

            def f(th, i=i, k=k):
                return (
                    relu_kernels(np.cos(th))[i] * special.eval_legendre(k, np.cos(th)) * np.sin(th)
                )

            ref, err = integrate.quad(f, 0, np.pi, epsabs=1e-15, epsrel=1e-13, limit=400)
            assert err < 1e-14
            assert abs(mu[k] - ref / 2) <= err / 2 + floor[k], k
    # odd k ≥ 3 of κ^(1) vanish exactly (its power series has no odd terms beyond u¹)
    assert (np.abs(mu1[3::2]) <= floor[3::2]).all()


def test_smooth_kernel_circle_vs_fft():
    """d = 2, κ = (2/π) arcsin(2u/3) (erf layer): μ_k = half the Fourier cosine coefficients."""
    kappa = lambda u: 2 / np.pi * np.arcsin(2 * u / 3)  # noqa: E731
    M = 512  # trapezoid rule on the circle: exponentially accurate for analytic periodic functions
    theta = 2 * np.pi * np.arange(M) / M
    fourier = (
        np.fft.rfft(kappa(np.cos(theta))).real / M
    )  # = μ_k for k ≥ 0 (κ(cos θ) = μ_0 + 2Σ μ_k cos kθ)
    mu = gegenbauer.gegenbauer_eigenvalues(kappa, 2, 40)
    floor = (
        32 * EPS * kappa(1.0) / math.sqrt(2)
    )  # the documented rounding floor of both computations
    np.testing.assert_allclose(mu, fourier[:41], rtol=0, atol=floor)


@pytest.mark.parametrize(("d", "K"), [(2, 60), (3, 60), (10, 30), (100, 6)])
def test_mercer_trace(d, K):
    """Σ_k N(d,k) μ_k = κ(1).

    Each μ_k carries the floor error 32 ε κ(1)/sqrt(N), so the sum can be off by
    Σ_k 32 ε κ(1) sqrt(N(d,k)); the truncation error is below that for these (d, K)."""
    sqrt_n = np.sqrt([float(gegenbauer.multiplicity(d, k)) for k in range(K + 1)])
    poly = lambda t: 0.3 + t**3 + 0.5 * t**6  # noqa: E731
    kernels = [(poly, 1.8)] + (
        [(np.exp, math.e)] if d <= 10 else []
    )  # exp: tail Σ_{n>K} 1/n! < 1e-14
    for kernel, at_one in kernels:
        mu = gegenbauer.gegenbauer_eigenvalues(kernel, d, K)
        tol = 32 * EPS * at_one * sqrt_n.sum() + (1e-14 if kernel is np.exp else 0.0)
        assert abs(gegenbauer.mercer_trace(mu, d) - at_one) <= tol
    mu = gegenbauer.gegenbauer_eigenvalues(poly, d, 6)
    np.testing.assert_allclose(
        gegenbauer.gegenbauer_eigenvalues_from_power_series([0.3, 0, 0, 1, 0, 0, 0.5], d, 6),
        mu,
        atol=1e-15,
    )
    # power-series eigenvalues carry no such floor: full trace at d = 100 to K = 40
    mu = gegenbauer.gegenbauer_eigenvalues_from_power_series(
        [1 / math.factorial(n) for n in range(60)], 100, 40
    )
    assert gegenbauer.mercer_trace(mu, 100) == pytest.approx(math.e, rel=1e-14)


def test_reconstruction_kernel_from_eigenvalues():
    """κ(t) = Σ_k μ_k N(d, k) P_k(t) (addition theorem), ReLU κ^(1), d = 5, t in (-1, 1)."""
    d, K = 5, 120
    mu = gegenbauer.gegenbauer_eigenvalues(lambda u: relu_kernels(u)[1], d, K)
    t = np.linspace(-0.9, 0.9, 7)
    N = np.array([gegenbauer.multiplicity(d, k) for k in range(K + 1)], dtype=float)
    recon = (mu * N) @ gegenbauer.gegenbauer_polynomials(K, d, t)
    np.testing.assert_allclose(recon, relu_kernels(t)[1], atol=1e-7)


def test_power_series_tail_bound_holds():
    d, M, K = 10, 6, 6
    exact = gegenbauer.gegenbauer_eigenvalues_from_power_series(
        [1 / math.factorial(n) for n in range(60)], d, K
    )
    trunc = gegenbauer.gegenbauer_eigenvalues_from_power_series(
        [1 / math.factorial(n) for n in range(M + 1)], d, K
    )
    tail_mass = math.e - sum(1 / math.factorial(n) for n in range(M + 1))
    bound = gegenbauer.power_series_tail_bound(tail_mass, d, M + 1)
    assert (exact - trunc >= 0).all() and (exact - trunc <= bound).all()
    assert gegenbauer.sphere_moment(2, d) == pytest.approx(1 / d, rel=1e-14)  # E[t²] = 1/d


def test_bad_input():
    with pytest.raises(ValueError, match="dim"):
        gegenbauer.gegenbauer_eigenvalues(np.exp, 1, 3)
    with pytest.raises(TypeError, match="dim"):
        gegenbauer.gegenbauer_eigenvalues(np.exp, 2.5, 3)
    with pytest.raises(ValueError, match="max_degree"):
        gegenbauer.gegenbauer_eigenvalues(np.exp, 3, -1)
    with pytest.raises(TypeError, match="kernel"):
        gegenbauer.gegenbauer_eigenvalues("exp", 3, 3)
    with pytest.raises(ValueError, match="NaN"):
        gegenbauer.gegenbauer_eigenvalues(lambda u: np.where(u > 0.5, np.nan, u), 3, 3)
    with pytest.raises(ValueError, match="vectorised"):
        gegenbauer.gegenbauer_eigenvalues(lambda u: np.ones(3), 3, 3)
    with pytest.raises(ValueError, match="method"):
        gegenbauer.gegenbauer_eigenvalues(np.exp, 3, 3, method="simpson")
    with pytest.raises(ValueError, match="k"):
        gegenbauer.multiplicity(3, -2)
    with pytest.raises(ValueError, match="dim"):
        gegenbauer.multiplicity(1, 2)
    with pytest.raises(ValueError, match="coeffs"):
        gegenbauer.gegenbauer_eigenvalues_from_power_series([1.0, np.nan], 3, 2)


@pytest.mark.parametrize("dim", [2, 3, 7])
def test_funk_hecke_monomials_equal_quadrature_of_monomials(dim):
    """``B[k, n] = μ_k(t^n)`` (closed-form products) against ``gegenbauer_eigenvalues`` of the kernel
    ``t^n`` (Funk–Hecke by quadrature): two routes; ``μ_k(t^n) = 0`` for ``k > n`` or ``n − k`` odd."""
    B = gegenbauer.funk_hecke_monomials(6, 5, dim)
    assert B.shape == (6, 7)
    for n in range(7):
        mu = gegenbauer.gegenbauer_eigenvalues(lambda t, n=n: t**n, dim, 5)
        np.testing.assert_allclose(B[:, n], mu, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["theta", "jacobi"])
@pytest.mark.parametrize("dim", [2, 3, 10])
def test_funk_hecke_nodes_give_sphere_moments(dim, method):
    """``t = ⟨x, e⟩`` for ``x`` uniform on ``S^{d-1}``: ``E 1 = 1``, ``E t = 0``, ``E t² = 1/d``,
    ``E t⁴ = 3 / (d (d + 2))`` (moments of a coordinate of a uniform point on the sphere)."""
    t, w = gegenbauer.funk_hecke_nodes(dim, quadrature_degree=64, method=method)
    assert t.shape == w.shape
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.sum(w * t), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.sum(w * t**2), 1 / dim, rtol=1e-13)
    np.testing.assert_allclose(np.sum(w * t**4), 3 / (dim * (dim + 2)), rtol=1e-13)


def test_default_quadrature_degree_is_gegenbauer_eigenvalues_default():
    """The default of ``gegenbauer_eigenvalues`` is this node count: the same numbers when it is passed."""
    kernel = np.arccos  # a kernel with the arc-cosine singularities at ±1
    for dim, K in ((3, 10), (50, 120)):
        q = gegenbauer.default_quadrature_degree(dim, K)
        assert q % 32 == 0 and q >= 32 * 32
        np.testing.assert_array_equal(
            gegenbauer.gegenbauer_eigenvalues(kernel, dim, K),
            gegenbauer.gegenbauer_eigenvalues(kernel, dim, K, quadrature_degree=q),
        )
    assert gegenbauer.default_quadrature_degree(3, 200) > gegenbauer.default_quadrature_degree(
        3, 10
    )
