"""The paper's maths as pure functions (arXiv 2505.22998; spec §2.4-§2.6, §3).

- The utility metric (HAMBA; MERIT in the successor): consumer surplus, negotiation power, acquisition ratio, the
  weighted per-deal score ``S = 1.0139 CS + 0.8812 NP + 1.1049 AR`` and its aggregation over sessions, products
  and markets (spec §2.5).
- The OG-Narrator price schedule ``round(B (0.5 + 0.5 t/T), 2)`` (spec §2.6, Xia et al. 2024) and the closed-form
  outcome of an OG buyer against a seller with a fixed hidden floor (a known-strategy check).
- The preference-weight fit: a Bradley-Terry model with a linear utility ``u = w . (CS, NP, AR)``, i.e. a
  no-intercept logistic regression on feature differences, fitted by Newton's method (spec §2.5 "where the
  weights come from"; the exact procedure is not in the available sources).

No I/O, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: Hard-coded metric weights (spec §2.5 / §3): consumer surplus, negotiation power, acquisition ratio.
WEIGHTS: tuple[float, float, float] = (1.0139, 0.8812, 1.1049)
FEATURES: tuple[str, str, str] = ("cs", "np", "ar")
#: Tolerance when comparing prices (offers are in cents; this only absorbs float noise).
PRICE_EPS = 1e-9


# ---------------------------------------------------------------------------------------------------------
# The utility metric (spec §2.5)
# ---------------------------------------------------------------------------------------------------------

def consumer_surplus(price: float, budget: float, cost: float) -> float:
    """CS = 1 if p <= C; 0 if p >= B; else (B - p) / (B - C)   (spec §2.5, "agent utility")."""
    if price <= cost:
        return 1.0
    if price >= budget:
        return 0.0
    return (budget - price) / (budget - cost)


def negotiation_power(price: float, list_price: float, cost: float) -> float:
    """NP = 1 if p <= C; 0 if p >= I; else (I - p) / (I - C): share of the seller's margin captured (spec §2.5)."""
    if price <= cost:
        return 1.0
    if price >= list_price:
        return 0.0
    return (list_price - price) / (list_price - cost)


def deal_score(cs: float, np_: float, ar: float, weights: Sequence[float] = WEIGHTS) -> float:
    """Per-deal score S = w_CS CS + w_NP NP + w_AR AR (maximum 3 with the paper's weights)."""
    return float(weights[0] * cs + weights[1] * np_ + weights[2] * ar)


@dataclass(frozen=True)
class DealScore:
    deal: bool
    price: float | None
    cs: float
    np: float
    ar: float
    score: float

    def to_dict(self) -> dict:
        return {"deal": self.deal, "price": self.price, "cs": self.cs, "np": self.np, "ar": self.ar, "score": self.score}


def score_deal(price: float | None, budget: float, list_price: float, cost: float, ar: float = 1.0,
               weights: Sequence[float] = WEIGHTS) -> DealScore:
    """Score one session. ``price=None`` is a no deal: every term 0 (it still counts in the denominator).

    ``ar`` is 1 in single-product markets and the dealt item's similarity to the desired one in ``several``;
    ``list_price``/``cost`` are those of the dealt item, ``budget`` the category budget (spec §2.5).
    """
    if price is None or (isinstance(price, float) and math.isnan(price)):
        return DealScore(False, None, 0.0, 0.0, 0.0, 0.0)
    cs = consumer_surplus(price, budget, cost)
    np_ = negotiation_power(price, list_price, cost)
    return DealScore(True, float(price), cs, np_, float(ar), deal_score(cs, np_, ar, weights))


def file_metrics(scores: Sequence[DealScore]) -> dict:
    """One (product, seller) log of N sessions: AvgTotal = sum of deal scores / N (no deal adds 0),
    DealRate = 100 #deals / N, AvgDealPrice = mean over deals (None without deals)   (spec §2.5)."""
    n = len(scores)
    if n == 0:
        raise ValueError("file_metrics needs at least one session")
    deals = [s for s in scores if s.deal]
    return {
        "avg_total": sum(s.score for s in deals) / n,
        "deal_rate": 100.0 * len(deals) / n,
        "avg_deal_price": (sum(s.price for s in deals) / len(deals)) if deals else None,
        "avg_cs": sum(s.cs for s in deals) / n,
        "avg_np": sum(s.np for s in deals) / n,
        "avg_ar": sum(s.ar for s in deals) / n,
        "n_sessions": n,
        "n_deals": len(deals),
    }


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and population std (numpy default, as the authors' batch printer) of finite values; NaN -> 0."""
    v = np.array([0.0 if (x is None or (isinstance(x, float) and math.isnan(x))) else float(x) for x in values])
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std())


# ---------------------------------------------------------------------------------------------------------
# OG-Narrator baseline (spec §2.6; Xia et al. 2024)
# ---------------------------------------------------------------------------------------------------------

def og_price(budget: float, t: int, rounds: int) -> float:
    """The price the OG-Narrator buyer must offer at its 0-based turn ``t`` of ``rounds``: a linear ramp
    from 50% of the budget towards the budget, ``round(B (0.5 + 0.5 t / T), 2)``."""
    if rounds < 1 or t < 0:
        raise ValueError("og_price needs rounds >= 1 and t >= 0")
    return round(budget * (0.5 + 0.5 * t / rounds), 2)


def predict_og_vs_floor(budget: float, floor: float, rounds: int) -> tuple[int | None, float | None]:
    """Closed form: an OG buyer that offers ``og_price(B, t, T)`` at turn t against a seller that accepts any
    offer >= ``floor`` (and never concedes otherwise) closes at the first t with ``og_price >= floor``:
    ``t* = ceil(2 T (floor / B - 0.5))`` (clamped at 0), deal price ``og_price(B, t*, T)``; no deal if t* >= T.
    (The seller's acceptance test ``offer >= floor`` uses the same ``PRICE_EPS`` tolerance.)

    The ramp price is rounded to cents, so the boundary is checked on the rounded price (one step either way).
    Returns (t*, price) or (None, None)."""
    t = max(0, math.ceil(2 * rounds * (floor / budget - 0.5) - 1e-12))
    # rounding to cents can move the crossing by one step; settle it on the rounded prices
    while t > 0 and og_price(budget, t - 1, rounds) >= floor - PRICE_EPS:
        t -= 1
    while t < rounds and og_price(budget, t, rounds) < floor - PRICE_EPS:
        t += 1
    if t >= rounds:
        return None, None
    return t, og_price(budget, t, rounds)


# ---------------------------------------------------------------------------------------------------------
# Preference-weight fit (spec §2.5: "human-aligned" weights from pairwise judgements)
# ---------------------------------------------------------------------------------------------------------

def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class PreferenceFit:
    weights: np.ndarray  # (d,)
    stderr: np.ndarray  # (d,) from the inverse Hessian at the optimum
    intercept: float
    accuracy: float  # training pairwise accuracy
    log_likelihood: float
    n_pairs: int
    iterations: int

    @property
    def normalised(self) -> np.ndarray:
        """Weights scaled to sum to 3 (the paper's weights sum to 3.0000)."""
        s = float(self.weights.sum())
        return self.weights * (3.0 / s) if s != 0 else self.weights

    def to_dict(self) -> dict:
        return {"weights": self.weights.tolist(), "stderr": self.stderr.tolist(), "normalised": self.normalised.tolist(),
                "intercept": self.intercept, "accuracy": self.accuracy, "log_likelihood": self.log_likelihood,
                "n_pairs": self.n_pairs, "iterations": self.iterations}


def fit_preference_weights(x_first: np.ndarray, x_second: np.ndarray, first_preferred: np.ndarray,
                           l2: float = 0.0, intercept: bool = False, max_iter: int = 100, tol: float = 1e-10) -> PreferenceFit:
    """Bradley-Terry fit of linear utility weights on pairwise judgements.

    ``P(first preferred) = sigmoid(b + w . (x_first - x_second))`` with ``b = 0`` unless ``intercept`` (a position
    bias). Maximises the log-likelihood minus ``l2/2 |w|^2`` with Newton's method (the problem is convex).
    ``x_*``: (n, d) features (CS, NP, AR); ``first_preferred``: (n,) in {0, 1}.
    """
    x1 = np.asarray(x_first, dtype=float)
    x2 = np.asarray(x_second, dtype=float)
    y = np.asarray(first_preferred, dtype=float).reshape(-1)
    if x1.shape != x2.shape or x1.ndim != 2 or x1.shape[0] != y.shape[0]:
        raise ValueError(f"shapes do not match: {x1.shape}, {x2.shape}, {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    d = x1 - x2
    if intercept:
        d = np.hstack([d, np.ones((d.shape[0], 1))])
    k = d.shape[1]
    w = np.zeros(k)
    reg = np.full(k, float(l2))
    if intercept:
        reg[-1] = 0.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        p = _sigmoid(d @ w)
        grad = d.T @ (y - p) - reg * w
        hess = (d * (p * (1 - p))[:, None]).T @ d + np.diag(reg) + 1e-12 * np.eye(k)
        step = np.linalg.solve(hess, grad)
        w = w + step
        if float(np.max(np.abs(step))) < tol:
            break
    z = d @ w
    p = _sigmoid(z)
    hess = (d * (p * (1 - p))[:, None]).T @ d + np.diag(reg) + 1e-12 * np.eye(k)
    se = np.sqrt(np.clip(np.diag(np.linalg.inv(hess)), 0, None))
    eps = 1e-12
    ll = float(np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    acc = float(np.mean((z > 0) == (y == 1)))
    b = float(w[-1]) if intercept else 0.0
    wv = w[:-1] if intercept else w
    sev = se[:-1] if intercept else se
    return PreferenceFit(weights=wv, stderr=sev, intercept=b, accuracy=acc, log_likelihood=ll, n_pairs=int(y.size),
                         iterations=it)


def pairwise_accuracy(weights: Sequence[float], x_first: np.ndarray, x_second: np.ndarray, first_preferred: np.ndarray) -> float:
    """Share of pairs where the weighted score ranks the preferred dialogue higher (ties count as wrong)."""
    w = np.asarray(weights, dtype=float)
    z = (np.asarray(x_first, dtype=float) - np.asarray(x_second, dtype=float)) @ w
    y = np.asarray(first_preferred).reshape(-1)
    return float(np.mean((z > 0) == (y == 1)))
