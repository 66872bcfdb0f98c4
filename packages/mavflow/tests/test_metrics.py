"""Metrics against hand values and brute force."""

import numpy as np
import pytest
from mlrepro_mavflow.evaluate import (
    MCD_CONST,
    accuracy,
    bootstrap_diff_ci,
    dtw_bruteforce,
    dtw_distance,
    length_match_error,
    mcd,
    mel_cepstrum,
    mel_mse,
)


def test_mse_and_errors():
    a = np.zeros((2, 3))
    assert mel_mse(a, a + 2) == 4.0
    with pytest.raises(ValueError):
        mel_mse(a, np.zeros((2, 4)))
    assert length_match_error(10, 13) == 3 and length_match_error(7, 7) == 0
    assert accuracy([1, 2, 3], [1, 0, 3]) == pytest.approx(2 / 3)


def test_mcd_hand_value_and_invariance_to_loudness():
    rng = np.random.default_rng(0)
    M, L = 20, 6
    a = rng.normal(size=(M, L))
    # adding 0.5 cos(pi (m + 1/2) / M) to every frame's log-mel moves c1 by 2 * 0.5 * (M / 2) / (2 M) = 1/4
    # and no other coefficient: MCD = const * sqrt(2 * (1/4)^2)
    b = a + 0.5 * np.cos(np.pi * (np.arange(M) + 0.5) / M)[:, None]
    assert mcd(a, b) == pytest.approx(MCD_CONST * np.sqrt(2 / 16), rel=1e-6)
    c = mel_cepstrum(b) - mel_cepstrum(a)
    assert np.allclose(c[1], 0.25) and np.allclose(c[2:], 0)
    assert mcd(a, a + 3.0) == pytest.approx(0.0, abs=1e-9)  # c0 excluded


def test_dtw_matches_bruteforce_dp():
    rng = np.random.default_rng(1)
    for n, m in ((7, 7), (6, 9), (10, 4)):
        a, b = rng.normal(size=(16, n)), rng.normal(size=(16, m))
        cost, warp = dtw_distance(a, b)
        fa, fb = mel_cepstrum(a)[1:], mel_cepstrum(b)[1:]
        total, steps = dtw_bruteforce(fa, fb)
        assert cost == pytest.approx(total / steps, rel=1e-6)
        assert warp == pytest.approx(steps / m - 1)
    x = rng.normal(size=(16, 8))
    assert dtw_distance(x, x) == (0.0, 0.0)


def test_bootstrap_ci_covers_the_paired_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 400)
    b = a - 0.3 + rng.normal(0, 0.1, 400)
    lo, hi = bootstrap_diff_ci(a, b)
    assert lo < 0.3 < hi and lo > 0
