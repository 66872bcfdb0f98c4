"""Sample-quality metrics for function-valued samples (spec §2.9), all resolution-free.

Samples are arrays ``(n, N)`` of function values on the cell-centred N-point grid. Norms and inner products
use the normalised measure ``dx / L`` (means over grid points), so every metric below approximates a
function-space quantity and is comparable across resolutions.

* ``mmd2``: unbiased MMD^2 with a Gaussian kernel ``exp(-d^2 / (2 h^2))`` on the L2 distance, bandwidth ``h``
  = median pairwise distance of the reference (true) sample (hdm-official ``evaluate/power.py``; we fix ``h``
  from the reference so every sampler is scored with the same kernel).
* ``mmd_power``: hdm-official's two-sample-test "power": split into disjoint ``k``-vs-``k`` groups, permutation
  test (``n_perm`` permutations, level ``alpha``) on each, rejection rate averaged over ``repeats`` reshuffles.
  Lower is better; about ``alpha`` means indistinguishable. Also ``mmd_pvalue`` for the full-sample test.
* ``mean_err``: ``||mean_gen - mean_true||_{L2}``; ``cov_err``: ``||C_gen - C_true||_HS / ||C_true||_HS``.
* ``spectrum_err``: mean over the first K cosine modes of ``|log10((S_gen,k + d) / (S_true,k + d))|``, with
  ``S_k = E[a_k^2]`` the energy in mode k (the FFM-style spectrum in the noise basis) and ``d`` 1e-6 of the
  data's total energy (modes without energy in the data would otherwise dominate).
* stability: ``max_abs`` and the count of non-finite samples (dropped before scoring and reported).
"""

from __future__ import annotations

import math

import numpy as np

from .data import cosine_modes

__all__ = ["l2_sqdist", "median_bandwidth", "mmd2_unbiased", "mmd_permutation_test", "mmd_power",
           "mean_error", "cov_error", "energy_spectrum", "spectrum_error", "frac_up", "evaluate_samples"]


def l2_sqdist(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Squared L2(dx/L) distances between the rows of X and Y."""
    N = X.shape[1]
    d = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
    return np.maximum(d, 0.0) / N


def median_bandwidth(X: np.ndarray) -> float:
    d = np.sqrt(l2_sqdist(X, X))
    iu = np.triu_indices(len(X), 1)
    h = float(np.median(d[iu]))
    return h if h > 0 else 1.0


def _mmd2_from_kernel(K: np.ndarray, n: int) -> float:
    m = K.shape[0] - n
    Kxx, Kyy, Kxy = K[:n, :n], K[n:, n:], K[:n, n:]
    sxx = (Kxx.sum() - np.trace(Kxx)) / (n * (n - 1))
    syy = (Kyy.sum() - np.trace(Kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * Kxy.mean())


def _kernel(Z: np.ndarray, h: float) -> np.ndarray:
    return np.exp(-l2_sqdist(Z, Z) / (2.0 * h * h))


def mmd2_unbiased(X: np.ndarray, Y: np.ndarray, h: float | None = None) -> float:
    """Unbiased MMD^2 between samples X and Y (Gretton et al. 2012, eq. 3)."""
    if len(X) < 2 or len(Y) < 2:
        raise ValueError("MMD needs at least two samples on each side")
    h = median_bandwidth(Y) if h is None else h
    return _mmd2_from_kernel(_kernel(np.concatenate([X, Y]), h), len(X))


def _perm_mmd2(K: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for each group assignment in ``S`` ((P, n+m) 0/1 indicators of the first sample)."""
    T = 1.0 - S
    n, m = S.sum(1), T.sum(1)
    KS = S @ K
    diag = np.diag(K)
    sxx = ((KS * S).sum(1) - S @ diag) / (n * (n - 1))
    syy = (((T @ K) * T).sum(1) - T @ diag) / (m * (m - 1))
    sxy = (KS * T).sum(1) / (n * m)
    return sxx + syy - 2.0 * sxy


def _random_splits(rng: np.random.Generator, P: int, n: int, total: int) -> np.ndarray:
    ranks = np.argsort(rng.random((P, total)), axis=1)
    return (ranks < n).astype(np.float64)


def mmd_permutation_test(X: np.ndarray, Y: np.ndarray, h: float, n_perm: int, rng: np.random.Generator
                         ) -> tuple[float, float]:
    """``(mmd2, p_value)`` of the permutation test, p = (1 + #{null >= observed}) / (1 + n_perm)."""
    K = _kernel(np.concatenate([X, Y]), h)
    n = len(X)
    obs = _mmd2_from_kernel(K, n)
    null = _perm_mmd2(K, _random_splits(rng, n_perm, n, K.shape[0]))
    return obs, float((1 + (null >= obs - 1e-12).sum()) / (1 + n_perm))


def mmd_power(X: np.ndarray, Y: np.ndarray, h: float, rng: np.random.Generator, group: int = 10,
              n_perm: int = 200, repeats: int = 10, alpha: float = 0.05) -> dict:
    """hdm-official's test power: rejection rate of ``group``-vs-``group`` permutation tests on disjoint splits."""
    n_tests = min(len(X), len(Y)) // group
    if n_tests < 1:
        raise ValueError(f"need at least {group} samples per side for the power test")
    rates = []
    for _ in range(repeats):
        ix, iy = rng.permutation(len(X)), rng.permutation(len(Y))
        rejections = 0
        for j in range(n_tests):
            xs, ys = X[ix[j * group:(j + 1) * group]], Y[iy[j * group:(j + 1) * group]]
            _, p = mmd_permutation_test(xs, ys, h, n_perm, rng)
            rejections += p <= alpha
        rates.append(rejections / n_tests)
    rates = np.asarray(rates)
    half = 1.96 * rates.std(ddof=1) / math.sqrt(len(rates)) if len(rates) > 1 else 0.0
    return {"power": float(rates.mean()), "power_ci95": float(half), "n_tests": n_tests}


def mean_error(X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.sqrt(((X.mean(0) - Y.mean(0)) ** 2).mean()))


def cov_error(X: np.ndarray, Y: np.ndarray) -> float:
    Cx, Cy = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
    return float(np.linalg.norm(Cx - Cy) / max(np.linalg.norm(Cy), 1e-30))


def energy_spectrum(X: np.ndarray, n_modes: int | None = None) -> np.ndarray:
    """``S_k = E[a_k^2]`` over the sample, ``a_k`` the cosine coefficients (``k < n_modes``)."""
    N = X.shape[1]
    K = N if n_modes is None else min(n_modes, N)
    E = cosine_modes((np.arange(N) + 0.5) / N, K)
    a = X @ E / N
    return (a**2).mean(0)


def spectrum_error(X: np.ndarray, Y: np.ndarray, n_modes: int = 32, rel_floor: float = 1e-6) -> float:
    """Mean over the first ``n_modes`` modes of ``|log10((S_gen,k + d) / (S_true,k + d))|``.

    ``d = rel_floor * sum_k S_true,k`` keeps modes that carry (almost) no energy in the data from dominating: the
    quadratic family, for instance, has exactly zero energy in every odd mode.
    """
    Sx, Sy = energy_spectrum(X, n_modes), energy_spectrum(Y, n_modes)
    d = rel_floor * float(Sy.sum()) + 1e-300
    return float(np.mean(np.abs(np.log10((Sx + d) / (Sy + d)))))


def frac_up(X: np.ndarray) -> float:
    """Quadratic data: fraction of upward parabolas (edges above the centre)."""
    N = X.shape[1]
    return float(np.mean(0.5 * (X[:, 0] + X[:, -1]) > X[:, N // 2]))


def evaluate_samples(gen: np.ndarray, ref: np.ndarray, h: float, rng: np.random.Generator, *,
                     spectrum_modes: int = 32, power_group: int = 10, n_perm: int = 200, power_repeats: int = 10,
                     family: str = "") -> dict:
    """All metrics of ``gen`` against the reference sample ``ref`` (kernel bandwidth ``h``)."""
    finite = np.isfinite(gen).all(1)
    out: dict = {"n": int(len(gen)), "n_nonfinite": int((~finite).sum())}
    g = gen[finite]
    if len(g) < max(2, power_group):
        out.update(mmd2=None, mmd_pvalue=None, power=None, mean_err=None, cov_err=None, spectrum_err=None,
                   max_abs=None)
        return out
    mmd, p = mmd_permutation_test(g, ref, h, n_perm, rng)
    out.update(mmd2=mmd, mmd_pvalue=p)
    out.update(mmd_power(g, ref, h, rng, power_group, n_perm, power_repeats))
    out.update(mean_err=mean_error(g, ref), cov_err=cov_error(g, ref),
               spectrum_err=spectrum_error(g, ref, spectrum_modes), max_abs=float(np.abs(g).max()))
    if family == "quadratic":
        out["frac_up"] = frac_up(g)
    return out
