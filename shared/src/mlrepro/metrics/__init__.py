"""Numpy metrics: accuracy, unbiased pass@k, bootstrap confidence intervals, win/tie/loss rates, two-order
(position-swapped) win rate, Pearson/Spearman, token counting."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["accuracy", "pass_at_k", "mean_pass_at_k", "bootstrap_ci", "win_rates", "two_order_win_rate",
           "pearson", "spearman", "count_tokens", "mean_std"]


def accuracy(correct: Sequence[bool] | np.ndarray) -> float:
    c = np.asarray(correct, dtype=float)
    if c.size == 0:
        raise ValueError("accuracy of an empty list")
    return float(c.mean())


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)`` for ``c`` correct of ``n``."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(ns: Sequence[int], cs: Sequence[int], k: int) -> float:
    return float(np.mean([pass_at_k(n, c, k) for n, c in zip(ns, cs)]))


def bootstrap_ci(values: Sequence[float] | np.ndarray, stat: Callable[[np.ndarray], float] = np.mean,
                 n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): percentile bootstrap CI at level ``1 - alpha``."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap of an empty sample")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = np.array([stat(x[i]) for i in idx])
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return float(stat(x)), float(lo), float(hi)


def win_rates(outcomes: Sequence[str]) -> dict[str, float]:
    """Rates of ``win``/``tie``/``loss`` labels, plus ``win_rate_ties_half`` (a tie counts one half)."""
    o = list(outcomes)
    if not o:
        raise ValueError("win_rates of an empty list")
    bad = set(o) - {"win", "tie", "loss"}
    if bad:
        raise ValueError(f"unknown outcome labels {sorted(bad)} (expected win/tie/loss)")
    n = len(o)
    w, t, lo = o.count("win") / n, o.count("tie") / n, o.count("loss") / n
    return {"win": w, "tie": t, "loss": lo, "win_rate_ties_half": w + 0.5 * t}


def two_order_win_rate(first_order: Sequence[str], swapped_order: Sequence[str]) -> dict[str, float]:
    """Position-debiased pairwise judging: each item is judged with the candidate first (``first_order``, labels
    from the candidate's view) and second (``swapped_order``, also from the candidate's view). An item scores 1 if it
    wins both, 0.5 if the verdicts disagree or tie, 0 if it loses both; the rate is the mean score."""
    if len(first_order) != len(swapped_order):
        raise ValueError("both orders must judge the same items")
    val = {"win": 1.0, "tie": 0.5, "loss": 0.0}
    scores = [(val[a] + val[b]) / 2 for a, b in zip(first_order, swapped_order)]
    consistent = [a == b for a, b in zip(first_order, swapped_order)]
    return {"win_rate": float(np.mean(scores)), "consistency": float(np.mean(consistent))}


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(pearsonr(x, y).statistic)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def count_tokens(texts: Sequence[str], tokenizer=None) -> list[int]:
    """Token counts with ``tokenizer`` (no special tokens), or whitespace words without one."""
    if tokenizer is None:
        return [len(t.split()) for t in texts]
    return [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]


def mean_std(values: Sequence[float]) -> dict[str, float]:
    x = np.asarray(values, float)
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size > 1 else 0.0, "n": int(x.size)}
