"""Sample-quality metrics (evaluate.py) against brute force and known behaviour."""

import numpy as np
import pytest
from mlrepro_pfode.evaluate import (
    cov_error,
    energy_spectrum,
    evaluate_samples,
    frac_up,
    l2_sqdist,
    mean_error,
    median_bandwidth,
    mmd2_unbiased,
    mmd_permutation_test,
    mmd_power,
    spectrum_error,
)


def _brute_mmd2(X, Y, h):
    k = lambda a, b: np.exp(-np.mean((a - b) ** 2) / (2 * h * h))  # noqa: E731
    n, m = len(X), len(Y)
    sxx = sum(k(X[i], X[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    syy = sum(k(Y[i], Y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(X[i], Y[j]) for i in range(n) for j in range(m)) / (n * m)
    return sxx + syy - 2 * sxy


def test_mmd_matches_brute_force_and_is_resolution_free():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(7, 5)), rng.normal(1.0, 1.0, size=(9, 5))
    assert mmd2_unbiased(X, Y, 1.3) == pytest.approx(_brute_mmd2(X, Y, 1.3), rel=1e-10)
    # piecewise-constant refinement of the grid leaves L2 distances unchanged
    assert np.allclose(l2_sqdist(np.repeat(X, 3, axis=1), np.repeat(Y, 3, axis=1)), l2_sqdist(X, Y))
    assert median_bandwidth(np.repeat(Y, 2, axis=1)) == pytest.approx(median_bandwidth(Y))


def test_permutation_test_and_power():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    h = median_bandwidth(Y)
    _, p = mmd_permutation_test(X, Y, h, 200, rng)
    assert p > 0.01
    null = mmd_power(X, Y, h, rng, group=10, n_perm=100, repeats=5)
    assert null["power"] < 0.15  # about alpha under the null
    Z = rng.normal(1.5, 1.0, size=(200, 8))
    alt = mmd_power(Z, Y, h, rng, group=10, n_perm=100, repeats=3)
    assert alt["power"] > 0.8
    _, p_alt = mmd_permutation_test(Z, Y, h, 200, rng)
    assert p_alt < 0.01


def test_moment_and_spectrum_errors():
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(500, 16))
    assert mean_error(Y, Y) == 0.0 and cov_error(Y, Y) == 0.0 and spectrum_error(Y, Y) == 0.0
    assert cov_error(2.0 * Y, Y) == pytest.approx(3.0, rel=1e-10)
    # a pure cosine mode has all its energy in that mode
    x = (np.arange(32) + 0.5) / 32
    S = energy_spectrum(np.sqrt(2) * np.cos(np.pi * 3 * x)[None], 8)
    assert S[3] == pytest.approx(1.0) and np.allclose(np.delete(S, 3), 0.0, atol=1e-20)
    up = np.array([(x - 0.5) ** 2, -((x - 0.5) ** 2)])
    assert frac_up(up) == 0.5


def test_evaluate_counts_nonfinite():
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(40, 8))
    G = rng.normal(size=(40, 8))
    G[:3] = np.nan
    m = evaluate_samples(G, Y, median_bandwidth(Y), rng, n_perm=20, power_repeats=2, spectrum_modes=4)
    assert m["n_nonfinite"] == 3 and np.isfinite(m["mmd2"])
    bad = evaluate_samples(np.full((40, 8), np.inf), Y, 1.0, rng)
    assert bad["n_nonfinite"] == 40 and bad["mmd2"] is None
