"""Hermite coefficients, the two-layer kernels' power series, the check of Theorem 2 / Corollary 1.

Every reference below is computed independently of ``spectral_layers.hermite``: closed forms (ReLU:
Daniely et al. 2016 / Cho & Saul 2009; erf: Williams 1997; sin), scipy quadrature, or the Taylor
coefficients of ``u ↦ E[f(x) f(y)]`` read off by a contour integral of the bivariate Gaussian
density (``_taylor_by_contour``).
"""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, special

from spectral_layers import gegenbauer, hermite

ACTIVATIONS = ("relu", "tanh", "erf", "gelu", "softplus", "sin")
NUMPY_SIGMA = {  # independent float64 definitions (same functions as activations.ACTIVATIONS)
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "erf": special.erf,
    "gelu": lambda x: x * 0.5 * (1 + special.erf(x / math.sqrt(2))),
    "softplus": lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0),
    "sin": np.sin,
}


def gaussian_expectation(f):
    """E[f(w)], w ~ N(0, 1), by adaptive scipy quadrature split at 0."""
    g = lambda x: f(x) * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    return sum(integrate.quad(g, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
               for a, b in ((-40, 0), (0, 40)))  # fmt: skip


# closed forms
def relu_coefficients(K):
    """Orthonormal Hermite coefficients of ReLU (Daniely et al. 2016, §A; Goel et al. 2019).

    E[relu(w) He_n(w)] = φ(0)(He_n(0) + n He_{n-2}(0)) = φ(0) He_{n-2}(0) for n ≥ 2
    (from w He_n = He_{n+1} + n He_{n-1} and ∫_0^∞ He_m φ = He_{m-1}(0) φ(0)),
    He_{2k}(0) = (-1)^k (2k-1)!!. So a_0 = 1/sqrt(2π), a_1 = 1/2, a_n = 0 for odd n ≥ 3,
    a_{2k+2} = (-1)^k (2k-1)!! / sqrt(2π (2k+2)!).
    """
    a = np.zeros(K + 1)
    a[0], a[1] = 1 / math.sqrt(2 * math.pi), 0.5
    for n in range(2, K + 1, 2):
        k = (n - 2) // 2
        # log (2k-1)!! = log((2k)! / (2^k k!))
        log_dfact = special.gammaln(2 * k + 1) - k * math.log(2) - special.gammaln(k + 1)
        a[n] = (-1) ** k * math.exp(log_dfact - 0.5 * special.gammaln(n + 1))
        a[n] /= math.sqrt(2 * math.pi)
    return a


def erf_coefficients(K):
    """Orthonormal Hermite coefficients of erf.

    E[erf He_n] = E[erf' He_{n-1}] (Stein), erf' = (2/sqrt π) e^{-w²}, and the generating function
    E[e^{tw - t²/2} e^{-w²}] = e^{-t²/3}/sqrt(3) give
    E[e^{-w²} He_{2j}] = (2j)! (-1/3)^j / (j! sqrt(3)).
    """
    a = np.zeros(K + 1)
    for n in range(1, K + 1, 2):
        j = (n - 1) // 2
        log_abs = math.log(2 / math.sqrt(3 * math.pi)) + special.gammaln(2 * j + 1)
        log_abs -= j * math.log(3) + special.gammaln(j + 1) + 0.5 * special.gammaln(n + 1)
        a[n] = (-1) ** j * math.exp(log_abs)
    return a


def central_binomial_over_4j(j):
    return math.exp(special.gammaln(2 * j + 1) - 2 * special.gammaln(j + 1) - j * math.log(4))


def relu_power_series(K):
    """Power series of the arc-cosine kernels (Cho & Saul 2009), unit-norm inputs:

    E[step step] = (π - arccos u)/(2π) = 1/4 + arcsin(u)/(2π), κ^(0) = u E[step step];
    κ^(1) = (sqrt(1-u²) + u(π - arccos u))/(2π) = (sqrt(1-u²) + πu/2 + u arcsin u)/(2π), with
    arcsin u = Σ_j b_j u^{2j+1}/(2j+1), sqrt(1-u²) = 1 - Σ_{j≥1} b_j u^{2j}/(2j-1),
    b_j = C(2j, j)/4^j.
    """
    k0, k1 = np.zeros(K + 1), np.zeros(K + 1)
    k0[1] = k1[1] = 0.25
    k1[0] = 1 / (2 * math.pi)
    for j in range(0, K):
        if 2 * j + 2 <= K:  # u · u^{2j+1} terms
            k0[2 * j + 2] += central_binomial_over_4j(j) / (2 * j + 1) / (2 * math.pi)
            k1[2 * j + 2] += central_binomial_over_4j(j) / (2 * j + 1) / (2 * math.pi)
        if 1 <= j and 2 * j <= K:
            k1[2 * j] -= central_binomial_over_4j(j) / (2 * j - 1) / (2 * math.pi)
    return k0, k1


def erf_power_series(K):
    """κ^(1) = (2/π) arcsin(2u/3) (Williams 1997); κ^(0) = u (4/π)/sqrt(9 - 4u²) (u κ^(1)')."""
    k0, k1 = np.zeros(K + 1), np.zeros(K + 1)
    for j in range((K - 1) // 2 + 1):
        n = 2 * j + 1
        k1[n] = (2 / math.pi) * central_binomial_over_4j(j) / (2 * j + 1) * (2 / 3) ** n
        k0[n] = (4 / (3 * math.pi)) * central_binomial_over_4j(j) * (4 / 9) ** j
    return k0, k1


def sin_power_series(K):
    """E[sin x sin y] = e^{-1} sinh u, E[cos x cos y] = e^{-1} cosh u (var(x ∓ y) = 2 ∓ 2u)."""
    k0, k1 = np.zeros(K + 1), np.zeros(K + 1)
    for n in range(1, K + 1, 2):
        k1[n] = math.exp(-1 - special.gammaln(n + 1))
        k0[n] = math.exp(-1 - special.gammaln(n))
    return k0, k1


def _taylor_by_contour(f, num_coeffs, rho=0.5, num_points=32):
    """Taylor coefficients of g(u) = E[f(x) f(y)] (corr(x, y) = u) without Hermite polynomials.

    g(u) = ∫∫ f(x) f(y) p_u(x, y) dx dy with the bivariate normal density p_u, which is analytic in
    u for |u| < 1; evaluate it at u = ρ e^{2πij/N} by a real 2-D composite Gauss–Legendre rule on
    [-12, 12]² (split at 0) and read off c_i = FFT(g)_i / ρ^i (Cauchy's formula; aliasing
    ~ c_{i+N} ρ^N).
    """
    t, v = np.polynomial.legendre.leggauss(16)
    edges = np.concatenate([np.linspace(-12, 0, 9)[:-1], np.linspace(0, 12, 9)])
    x = np.concatenate([(b - a) / 2 * t + (a + b) / 2 for a, b in itertools.pairwise(edges)])
    w = np.concatenate([(b - a) / 2 * v for a, b in itertools.pairwise(edges)])
    X, Y = np.meshgrid(x, x, indexing="ij")
    FW = f(X) * f(Y) * np.outer(w, w)
    z = rho * np.exp(2j * np.pi * np.arange(num_points) / num_points)
    g = np.array([np.sum(FW * np.exp(-(X * X - 2 * u * X * Y + Y * Y) / (2 * (1 - u * u))))
                  / (2 * np.pi * np.sqrt(1 - u * u)) for u in z])  # fmt: skip
    c = np.fft.fft(g) / num_points / rho ** np.arange(num_points)
    assert np.abs(c[:num_coeffs].imag).max() < 1e-12
    return c[:num_coeffs].real


NUMPY_SIGMA_PRIME = {
    "relu": lambda x: (x > 0).astype(float),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "erf": lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x),
    "gelu": lambda x: (
        0.5 * (1 + special.erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    ),
    "softplus": lambda x: 1 / (1 + np.exp(-x)),
    "sin": np.cos,
}


# tests
def test_hermite_polynomials_orthonormal_and_unnormalised():
    x, w = special.roots_hermitenorm(150)  # Gauss–Hermite: exact for polynomials of degree < 300
    w = w / math.sqrt(2 * math.pi)
    H = hermite.hermite_polynomials(120, x)
    np.testing.assert_allclose((H * w) @ H.T, np.eye(121), atol=1e-12)
    He = hermite.hermite_polynomials(12, x[:5], normalized=False)
    for n in range(13):
        np.testing.assert_allclose(He[n], special.eval_hermitenorm(n, x[:5]), rtol=1e-12)


def test_relu_coefficients_closed_form():
    a = hermite.hermite_coefficients("relu", 150)
    np.testing.assert_allclose(a, relu_coefficients(150), rtol=0, atol=2e-15)
    c = hermite.hermite_coefficients("relu", 10, normalized=False)  # σ = Σ c_n He_n
    x = np.linspace(-3, 3, 7)
    partial = sum(c[n] * special.eval_hermitenorm(n, x) for n in range(11))
    partial_ref = sum(relu_coefficients(10)[n] / math.sqrt(math.factorial(n))
                      * special.eval_hermitenorm(n, x) for n in range(11))  # fmt: skip
    np.testing.assert_allclose(partial, partial_ref, atol=1e-13)


def test_erf_coefficients_closed_form():
    np.testing.assert_allclose(
        hermite.hermite_coefficients("erf", 101), erf_coefficients(101), atol=2e-15
    )


def test_gauss_hermite_rule_agrees_for_smooth_activation():
    a = hermite.hermite_coefficients("erf", 40, rule="hermite", quadrature_degree=200)
    np.testing.assert_allclose(a, erf_coefficients(40), atol=1e-14)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "softplus", "sin"])
def test_parseval(name):
    """Σ a_i² = E[σ(w)²]; reference by adaptive scipy quadrature (erf, sin also in closed form)."""
    a = hermite.hermite_coefficients(name, 300)
    ref = gaussian_expectation(lambda x: NUMPY_SIGMA[name](x) ** 2)
    closed = {"erf": 2 / math.pi * math.asin(2 / 3), "sin": (1 - math.exp(-2)) / 2}
    if name in closed:
        assert ref == pytest.approx(closed[name], rel=1e-13)
    assert np.sum(a**2) == pytest.approx(ref, rel=1e-12)


def test_parseval_relu_with_closed_form_tail():
    """ReLU: |a_n| ~ n^{-5/4}; add the closed-form tail n ∈ (200, 2·10⁶]; the rest is < 1e-9."""
    a = hermite.hermite_coefficients("relu", 200)
    n = np.arange(202, 2_000_001, 2)
    k = (n - 2) // 2
    log_tail = (2 * (special.gammaln(2 * k + 1) - k * math.log(2) - special.gammaln(k + 1))
                - special.gammaln(n + 1) - math.log(2 * math.pi))  # fmt: skip
    assert np.sum(a**2) + np.sum(np.exp(log_tail)) == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_coefficients_conventions(name):
    """σ' expanded directly: a'_n = sqrt(n+1) a_{n+1} (orthonormal), c'_n = (n+1) c_{n+1} (He)."""
    K = 40
    a = hermite.hermite_coefficients(name, K + 1)
    b = hermite.hermite_coefficients(name, K, derivative=True)
    np.testing.assert_allclose(b, np.sqrt(np.arange(1, K + 2)) * a[1:], atol=1e-14)
    c = hermite.hermite_coefficients(name, 12, normalized=False)
    cd = hermite.hermite_coefficients(name, 11, normalized=False, derivative=True)
    np.testing.assert_allclose(cd, np.arange(1, 13) * c[1:], atol=1e-14)
    # The derivative through jax.grad of the callable gives the same coefficients.
    from spectral_layers.activations import ACTIVATIONS as JAX_ACTIVATIONS

    bj = hermite.hermite_coefficients(JAX_ACTIVATIONS[name], 10, derivative=True)
    np.testing.assert_allclose(bj, b[:11], atol=1e-14)


def test_paper_eq16_mixes_conventions():
    """Paper Eq. 16, a'_n = (n+1) a_{n+1}, is false for orthonormal coefficients (ReLU, n = 1)."""
    a = hermite.hermite_coefficients("relu", 3)
    b = hermite.hermite_coefficients("relu", 2, derivative=True)
    assert b[1] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-13)  # E[1(w>0) w] = φ(0)
    assert b[1] == pytest.approx(math.sqrt(2) * a[2], rel=1e-13)
    assert abs(b[1] - 2 * a[2]) > 0.1


@pytest.mark.parametrize(
    ("name", "series"),
    [("relu", relu_power_series), ("erf", erf_power_series), ("sin", sin_power_series)],
)
def test_power_series_closed_forms(name, series):
    K = 60
    k0, k1 = hermite.two_layer_power_series(name, K)
    r0, r1 = series(K)
    np.testing.assert_allclose(k1, r1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(k0, r0, rtol=0, atol=1e-15)
    # relative accuracy on the non-zero coefficients of at least 1e-6 in size
    big = np.abs(r1) > 1e-6
    np.testing.assert_allclose(k1[big], r1[big], rtol=2e-10)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_power_series_vs_contour_integral(name):
    """Coefficients of u^0 … u^10 of κ^(1), κ^(0) from the continued Gaussian integral."""
    K = 10
    k0, k1 = hermite.two_layer_power_series(name, K)
    c1 = _taylor_by_contour(NUMPY_SIGMA[name], K + 1)
    cd = _taylor_by_contour(NUMPY_SIGMA_PRIME[name], K)  # E[σ'σ'], so [κ^(0)]_i = cd_{i-1}
    np.testing.assert_allclose(k1, c1, atol=1e-13)
    np.testing.assert_allclose(k0[1:], cd, atol=1e-12)
    assert k0[0] == 0.0
    # Theorem 2 from the independent coefficients: [κ^(0)]_i = i [κ^(1)]_i where resolved.
    i = np.arange(1, K + 1)
    resolved = c1[1:] > 1e-7
    np.testing.assert_allclose(cd[resolved], i[resolved] * c1[1:][resolved], rtol=1e-6)


FIRST_DEFINED_I_GE_2 = [
    ("relu", 2),
    ("gelu", 2),
    ("softplus", 2),
    ("tanh", 3),
    ("erf", 3),
    ("sin", 3),
]


@pytest.mark.parametrize(("name", "first_defined_i_ge_2"), FIRST_DEFINED_I_GE_2)
def test_ratio_is_i_not_i_squared(name, first_defined_i_ge_2):
    K = 30
    r = hermite.hermite_ratio(name, K)
    i = np.arange(K + 1)
    defined = ~np.isnan(r)
    a = hermite.hermite_coefficients(name, K)
    well = defined & (np.abs(a) > 1e-6)
    assert well.sum() >= 6
    np.testing.assert_allclose(r[well], i[well], rtol=1e-8, atol=1e-12)
    # The paper's Theorem 2 (r(i) = i²) is false: at the first defined degree i ≥ 2, r = i < i².
    j = first_defined_i_ge_2
    assert defined[j] and r[j] == pytest.approx(j, rel=1e-9) and abs(r[j] - j**2) > 1
    # Zero coefficients are masked: odd i ≥ 3 for relu, gelu, softplus (σ - w/2 is even), even i
    # for odd σ.
    if name in ("relu", "gelu", "softplus"):
        assert np.isnan(r[3::2]).all() and defined[0] and r[0] == 0.0
    else:
        assert np.isnan(r[0::2]).all()


@pytest.mark.parametrize("name", ["relu", "erf", "sin"])
def test_two_layer_kernels_quadrature_vs_closed_form(name):
    u = np.cos(np.pi * (np.arange(41) + 0.5) / 41)  # Chebyshev points, plus the end points
    u = np.concatenate([u, [-1.0, 1.0]])
    q0, q1 = hermite.two_layer_kernels(name, u, method="quadrature")
    c0, c1 = hermite.two_layer_kernels(name, u, method="closed_form")
    np.testing.assert_allclose(q1, c1, atol=3e-15)
    np.testing.assert_allclose(q0, c0, atol=3e-15)
    # and the closed forms themselves, from the tests' own power series at |u| ≤ 0.5
    series = {"relu": relu_power_series, "erf": erf_power_series, "sin": sin_power_series}[name]
    r0, r1 = series(80)
    small = np.abs(u) <= 0.5
    np.testing.assert_allclose(c1[small], np.polyval(r1[::-1], u[small]), atol=1e-15)
    np.testing.assert_allclose(c0[small], np.polyval(r0[::-1], u[small]), atol=1e-15)


@pytest.mark.parametrize("name", ["tanh", "gelu", "softplus"])
def test_two_layer_kernels_quadrature_vs_hermite_series(name):
    """Polar 2-D quadrature of E[σσ] vs the Mehler series Σ a_i² u^i (1-D quadrature), |u| ≤ 0.8."""
    u = np.linspace(-0.8, 0.8, 9)
    k0, k1 = hermite.two_layer_kernels(name, u)
    s0, s1 = hermite.two_layer_power_series(name, 200)
    np.testing.assert_allclose(k1, np.polyval(s1[::-1], u), atol=1e-14)
    np.testing.assert_allclose(k0, np.polyval(s0[::-1], u), atol=1e-14)
    # at u = 1: E[σ²] and E[σ'²] by scipy quadrature
    e0, e1 = hermite.two_layer_kernels(name, 1.0)
    assert float(e1) == pytest.approx(
        gaussian_expectation(lambda x: NUMPY_SIGMA[name](x) ** 2), rel=1e-13
    )
    ref0 = gaussian_expectation(lambda x: NUMPY_SIGMA_PRIME[name](x) ** 2)
    assert float(e0) == pytest.approx(ref0, rel=1e-13)


@pytest.mark.parametrize("d", [2, 3, 10, 100])
def test_corollary1_relu_exact_ratio(d):
    """ReLU: μ_k^(0)/μ_k^(1) = (k(k+d-2) + 1)/d exactly (docs/theory.md: d κ^(0) - κ^(1) = -Δκ^(1)).

    Independent of the Hermite/Lemma-3 route; it is ≥ k (equality at k = 1) and < k² for all k ≥ 2.
    """
    m = hermite.corollary1_margins("relu", d, 30)
    assert isinstance(m, hermite.Corollary1Margins)
    k = m.degrees
    exact = (k * (k + d - 2) + 1) / d
    defined = ~np.isnan(m.ratio)
    # μ^(1)_k = μ^(0)_k = 0 at odd k ≥ 3
    assert defined[::2].all() and defined[1] and np.isnan(m.ratio[3::2]).all()
    np.testing.assert_allclose(m.ratio[defined], exact[defined], rtol=1e-6)
    assert (m.ratio[defined][1:] >= k[defined][1:] - 1e-9).all()  # corrected Corollary 1
    assert (m.ratio[2] < 4 - 1) and (m.ratio[4] < 16 - 1)  # the paper's k² fails at k = 2, 4
    np.testing.assert_array_equal(m.bound, k)
    np.testing.assert_array_equal(m.paper_bound, k**2)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "softplus", "sin"])
@pytest.mark.parametrize("d", [2, 10])
def test_corollary1_smooth_activations(name, d):
    """μ_k^(0) ≥ k μ_k^(1) at every resolved k; the paper's k² fails at the first resolved k ≥ 2."""
    m = hermite.corollary1_margins(name, d, 8, quadrature_degree=256)
    k = m.degrees
    defined = ~np.isnan(m.ratio)
    assert defined[1:].sum() >= 4
    assert (m.ratio[defined & (k >= 1)] >= k[defined & (k >= 1)] * (1 - 1e-6)).all()
    j = int(np.flatnonzero(defined & (k >= 2))[0])
    assert m.ratio[j] < j**2 - 1
    if name in ("erf", "sin"):  # eigenvalues vs the exact power series through Funk–Hecke
        series = {"erf": erf_power_series, "sin": sin_power_series}[name]
        r0, r1 = series(160)
        for mu, ref, err in ((m.mu0, r0, m.error0), (m.mu1, r1, m.error1)):
            exact = gegenbauer.gegenbauer_eigenvalues_from_power_series(ref, d, 8)
            assert (np.abs(mu - exact) <= err).all()


def test_corollary1_methods_agree():
    q = hermite.corollary1_margins("relu", 50, 12, method="quadrature")
    s = hermite.corollary1_margins("relu", 50, 12, method="power_series")
    both = ~np.isnan(q.ratio) & ~np.isnan(s.ratio)
    assert both.sum() >= 6
    np.testing.assert_allclose(q.ratio[both], s.ratio[both], rtol=1e-6)
    assert (np.abs(q.mu1 - s.mu1) <= q.error1 + s.error1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        hermite.hermite_coefficients("swish", 3)
    with pytest.raises(TypeError, match="activation"):
        hermite.hermite_coefficients(3.0, 3)
    with pytest.raises(ValueError, match="max_degree"):
        hermite.hermite_coefficients("relu", -1)
    with pytest.raises(ValueError, match="NaN"), np.errstate(invalid="ignore"):
        hermite.hermite_coefficients(lambda x: np.log(x), 3)
    with pytest.raises(ValueError, match="rule"):
        hermite.hermite_coefficients("relu", 3, rule="simpson")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        hermite.two_layer_kernels("relu", np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match="closed form"):
        hermite.two_layer_kernels("tanh", 0.3, method="closed_form")
    with pytest.raises(ValueError, match="dim"):
        hermite.corollary1_margins("relu", 1, 3)
