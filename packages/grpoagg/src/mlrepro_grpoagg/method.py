"""The preference aggregation of GRPO (Vojnovic & Yun, arXiv 2502.18548) as pure numpy functions.

Everything is per context q (the paper's analysis is per question), over a finite output space of ``K`` outputs.
Equation numbers refer to the paper; "digest" refers to the team's spec ``shared/papers/grpoagg.md``.

Public API (documented in the package README):

* :func:`preference_model` -- the GRPO reward preference model ``P_G(o | pi)`` (§2.3, eq. 6): exact (grouped
  multinomial enumeration, with closed-form shortcuts for ``G = 2``, ``G -> inf`` and shift-only normalisation)
  or Monte Carlo; normalisation variants ``"pop"`` (the paper's eq. 2), ``"sample"`` (TRL's ``torch.std``) and
  ``"none"`` (shift only, §3).
* :func:`stationary_policy` -- the stationary-policy fixed point (eq. 11, or its direct-KL counterpart of §3)
  for any finite output space, solved by an Anderson-accelerated damped best-response iteration with a Newton
  fallback; returns convergence diagnostics and raises :class:`ConvergenceError` when it does not converge.
* :func:`binary_stationary` -- every closed form for a binary question: eq. 14 (``G = 2``), eq. 15
  (``G -> inf``), the direct-KL logistic form (App. B.2), the large-G direct-KL stable root, and shift-only.
* :func:`log_pooling` -- the RLHF optimum ``pi ∝ pi_ref exp(r / beta)`` (eq. 4), logarithmic opinion pooling.
* :func:`simulate_grpo` -- GRPO on a softmax policy: the expected-gradient dynamics (digest §6.2) or sampled
  Monte Carlo updates with the TRL per-token GRPO loss (digest §6.3).

Conventions. A *reward model* (:class:`RewardModel`) gives, for each output, a distribution over a finite set of
reward *levels*; deterministic rewards are one-hot rows. ``G`` is an int ``>= 2`` or ``math.inf``. The
penalty is ``"reverse"`` (GRPO's k3 estimator, not importance weighted; its expected gradient is that of the
reverse KL, KL(pi_ref || pi), §2.4) or ``"direct"`` (importance-weighted k3 = KL(pi || pi_ref), §3; TRL's
``use_bias_correction_kl=True``).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = [
    "NORMALIZATIONS",
    "PENALTIES",
    "RewardModel",
    "ConvergenceError",
    "StationaryResult",
    "SimulationResult",
    "group_advantages",
    "level_preference",
    "preference_model",
    "expected_preference",
    "n_compositions",
    "k3",
    "kl0",
    "kl0_grad",
    "kl_divergence",
    "reverse_kl",
    "direct_kl",
    "penalty_grad",
    "best_response",
    "stationary_policy",
    "stationary_residual",
    "binary_g2",
    "binary_ginf",
    "binary_direct_g2",
    "binary_shift_only",
    "binary_lower_bound",
    "binary_stationary",
    "beta_effective_sample_std",
    "direct_large_g_h",
    "direct_large_g_xstar",
    "direct_large_g_roots",
    "direct_large_g_critical_beta",
    "log_pooling",
    "log_opinion_pool",
    "expected_grpo_gradient",
    "grpo_sample_gradient",
    "grpo_loss_torch",
    "simulate_grpo",
]

NORMALIZATIONS = ("pop", "sample", "none")
"""Advantage normalisations: ``pop`` = (r - mean) / population std (paper eq. 2); ``sample`` = (r - mean) /
sample std (TRL ``scale_rewards="group"``, ``torch.std``); ``none`` = r - mean (shift only, §3; TRL
``scale_rewards="none"``). In every variant 0/0 := 0 (a group with equal rewards has zero advantages)."""

PENALTIES = ("reverse", "direct")
"""``reverse``: GRPO's k3 estimator as written (eq. 1), whose expected gradient at stationarity is that of
KL(pi_ref || pi) (eq. 10); ``direct``: the importance-weighted k3, whose expectation is KL(pi || pi_ref) (§3)."""

MAX_ENUMERATION = 4_000_000  # compositions x levels cells allowed in the exact enumeration


# ---------------------------------------------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------------------------------------------


def _check_G(G: Any) -> float | int:
    if isinstance(G, str):
        if G.strip().lower() in ("inf", "infinity", "∞"):
            return math.inf
        G = int(G)
    if isinstance(G, float) and math.isinf(G):
        if G < 0:
            raise ValueError("group size G must be >= 2 or inf")
        return math.inf
    if isinstance(G, (float, np.floating)) and float(G).is_integer():
        G = int(G)
    if not isinstance(G, (int, np.integer)) or isinstance(G, bool):
        raise ValueError(f"group size G must be an integer >= 2 or inf, got {G!r}")
    if G < 2:
        raise ValueError(f"group size G must be >= 2, got {G}")
    return int(G)


def _check_norm(normalization: str) -> str:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    return normalization


def _check_penalty(penalty: str) -> str:
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    return penalty


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive finite number, got {beta}")
    return beta


def _check_dist(p: Any, name: str, K: int | None = None) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"{name} must be a 1-D probability vector")
    if K is not None and p.size != K:
        raise ValueError(f"{name} has {p.size} entries but the reward model has {K} outputs")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    s = p.sum()
    if not abs(s - 1.0) <= 1e-9:
        raise ValueError(f"{name} must sum to 1 (sums to {s:.12g})")
    return p / s


# ---------------------------------------------------------------------------------------------------------------
# reward models
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardModel:
    """Rewards of ``K`` outputs as distributions over ``M`` distinct reward levels.

    ``probs[o, m] = P[r = levels[m] | o]``. Deterministic rewards have one-hot rows (``level_of[o]`` is then the
    level of output ``o``). The paper's ``r(o|q)`` is the mean :attr:`mean`.
    """

    levels: np.ndarray
    probs: np.ndarray
    level_of: np.ndarray | None = None

    def __post_init__(self):
        lv = np.asarray(self.levels, dtype=float)
        pr = np.asarray(self.probs, dtype=float)
        if lv.ndim != 1 or pr.ndim != 2 or pr.shape[1] != lv.size:
            raise ValueError("RewardModel needs levels (M,) and probs (K, M)")
        if not np.all(np.isfinite(lv)) or np.unique(lv).size != lv.size:
            raise ValueError("reward levels must be finite and distinct")
        if np.any(pr < 0) or not np.allclose(pr.sum(1), 1.0, atol=1e-9):
            raise ValueError("each row of probs must be a probability distribution over the levels")
        object.__setattr__(self, "levels", lv)
        object.__setattr__(self, "probs", pr / pr.sum(1, keepdims=True))

    @classmethod
    def deterministic(cls, rewards: Any) -> RewardModel:
        """Deterministic rewards ``r(o)`` (one reward per output)."""
        r = np.asarray(rewards, dtype=float)
        if r.ndim != 1 or r.size < 1 or not np.all(np.isfinite(r)):
            raise ValueError("deterministic rewards must be a finite 1-D array")
        levels, idx = np.unique(r, return_inverse=True)
        probs = np.zeros((r.size, levels.size))
        probs[np.arange(r.size), idx] = 1.0
        return cls(levels, probs, idx.astype(np.int64))

    @classmethod
    def bernoulli(cls, means: Any) -> RewardModel:
        """Bernoulli rewards in {0, 1} with success probability ``means[o]``."""
        mu = np.asarray(means, dtype=float)
        if mu.ndim != 1 or np.any(mu < 0) or np.any(mu > 1):
            raise ValueError("Bernoulli means must be a 1-D array in [0, 1]")
        return cls(np.array([0.0, 1.0]), np.stack([1 - mu, mu], axis=1))

    @classmethod
    def coerce(cls, rewards: Any) -> RewardModel:
        return rewards if isinstance(rewards, RewardModel) else cls.deterministic(rewards)

    @property
    def K(self) -> int:
        return self.probs.shape[0]

    @property
    def M(self) -> int:
        return self.levels.size

    @property
    def deterministic_rewards(self) -> bool:
        return self.level_of is not None

    @property
    def mean(self) -> np.ndarray:
        """Expected reward ``r(o|q)`` of each output."""
        return self.probs @ self.levels

    @property
    def var(self) -> np.ndarray:
        return self.probs @ self.levels**2 - self.mean**2

    def level_mass(self, pi: np.ndarray) -> np.ndarray:
        """Distribution of the reward level of one output drawn from ``pi``: ``q = probs^T pi``."""
        if self.level_of is not None:
            return np.bincount(self.level_of, weights=pi, minlength=self.M)
        return self.probs.T @ pi

    def lift(self, F: np.ndarray) -> np.ndarray:
        """``P(o) = sum_m probs[o, m] F[m]`` (average over the output's own reward noise)."""
        if self.level_of is not None:
            return F[self.level_of]
        return self.probs @ F

    def sample_levels(self, outputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Reward level index of each output in ``outputs`` (any shape)."""
        if self.level_of is not None:
            return self.level_of[outputs]
        cum = np.cumsum(self.probs, axis=1)
        u = rng.random(outputs.shape)
        return np.minimum((cum[outputs] < u[..., None]).sum(-1), self.M - 1)

    def pairwise_margin(self, a: int = 0, b: int = 1) -> float:
        """Confidence margin gamma_{a,b} = P(r_a > r_b) - P(r_a < r_b) for independent draws (§2.3.1)."""
        pa, pb = self.probs[a], self.probs[b]
        cb = np.cumsum(pb)
        below = np.concatenate([[0.0], cb[:-1]])  # P(r_b < level m)
        above = 1.0 - cb  # P(r_b > level m)
        return float(pa @ below - pa @ above)


# ---------------------------------------------------------------------------------------------------------------
# advantages and the preference model (§2.2-2.3, eq. 2 and eq. 6)
# ---------------------------------------------------------------------------------------------------------------


def group_advantages(rewards: Any, normalization: str = "pop", std_eps: float = 0.0) -> np.ndarray:
    """Group-relative advantages ``A_i`` along the last axis (eq. 2).

    ``pop``: (r - mean) / population std; ``sample``: (r - mean) / sample std (TRL); ``none``: r - mean.
    ``std_eps`` is added to the std as TRL does (``1e-4`` there; 0 here by default). Groups whose rewards are all
    equal get zero advantages (0/0 := 0), decided by exact equality rather than a floating-point std.
    """
    _check_norm(normalization)
    r = np.asarray(rewards, dtype=float)
    G = r.shape[-1]
    if G < 2:
        raise ValueError("a group needs at least two rewards")
    mean = r.mean(-1, keepdims=True)
    A = r - mean
    equal = np.all(r == r[..., :1], axis=-1, keepdims=True)
    A = np.where(equal, 0.0, A)
    if normalization == "none":
        return A
    std = r.std(-1, keepdims=True, ddof=0 if normalization == "pop" else 1)
    denom = np.where(equal, 1.0, std + std_eps)
    return A / denom


@lru_cache(maxsize=64)
def _compositions(n: int, M: int) -> np.ndarray:
    """All count vectors of length ``M`` with non-negative integer entries summing to ``n`` (stars and bars)."""
    if M == 1:
        return np.array([[n]], dtype=np.int64)
    out = np.empty((math.comb(n + M - 1, M - 1), M), dtype=np.int64)
    for row, bars in enumerate(itertools.combinations(range(n + M - 1), M - 1)):
        prev = -1
        for j, b in enumerate(bars):
            out[row, j] = b - prev - 1
            prev = b
        out[row, M - 1] = n + M - 2 - prev
    out.flags.writeable = False
    return out


def n_compositions(G: int, M: int) -> int:
    """Number of multisets of ``G - 1`` reward levels out of ``M``: the size of the exact enumeration."""
    return math.comb(G - 1 + M - 1, M - 1)


def _scale_factor(normalization: str, G: float) -> float:
    """Multiplier turning population-std advantages into the variant's (``sample``: sqrt((G-1)/G))."""
    if normalization == "sample" and math.isfinite(G):
        return math.sqrt((G - 1) / G)
    return 1.0


def level_preference(levels: Any, q: Any, G: Any, normalization: str = "pop", std_eps: float = 0.0) -> np.ndarray:
    """``F[m] = E[A_1 | r_1 = levels[m]]`` when the other ``G - 1`` rewards are i.i.d. with law ``q`` (exact).

    This is the preference of a reward *level* against a group drawn from the policy; the preference of an
    output is ``P_G(o|pi) = sum_m P[r(o) = levels[m]] F[m]`` with ``q`` the reward-level law under ``pi``.
    Shortcuts: shift only, ``F = (1 - 1/G)(v - E_q v)`` (§3, any G); ``G = 2`` (population std),
    ``F = P_q(r' < v) - P_q(r' > v)`` (§2.3 "groups of size two"); ``G -> inf``, ``F = (v - E_q v) / sd_q`` (§2.3,
    0 when sd_q = 0). Otherwise the multisets of the others' levels are enumerated with multinomial weights and
    the group std is computed from pairwise squared differences (exactly zero for tied groups).
    """
    v = np.asarray(levels, dtype=float)
    q = np.asarray(q, dtype=float)
    G = _check_G(G)
    _check_norm(normalization)
    M = v.size
    if normalization == "none":
        c = 1.0 if math.isinf(G) else 1.0 - 1.0 / G
        return c * (v - q @ v)
    if math.isinf(G):
        mu = q @ v
        sd = math.sqrt(max(q @ (v - mu) ** 2, 0.0))
        return (v - mu) / (sd + std_eps) if sd > 0 else np.zeros(M)
    if G == 2 and std_eps == 0.0:
        order = np.argsort(v)
        qs = q[order]
        below = np.cumsum(qs) - qs
        above = qs.sum() - np.cumsum(qs)
        F = np.empty(M)
        F[order] = below - above
        return F * _scale_factor(normalization, G)
    n_comp = n_compositions(G, M)
    if n_comp * M > MAX_ENUMERATION:
        raise ValueError(
            f"exact preference model needs {n_comp} x {M} cells (G={G}, {M} reward levels); "
            "use method='mc' or fewer reward levels"
        )
    C = _compositions(G - 1, M)
    pos = q > 0
    logq = np.where(pos, np.log(np.where(pos, q, 1.0)), 0.0)
    logw = gammaln(G) - gammaln(C + 1).sum(1) + C @ logq
    impossible = (C[:, ~pos] > 0).any(1)  # uses a level of mass 0 (0 * log 0 := 0 otherwise)
    w = np.where(impossible, 0.0, np.exp(logw))
    D = (v[:, None] - v[None, :]) ** 2
    CD = C @ D  # (N, M): sum_b C_b D_{b m}
    quad = np.einsum("nm,nm->n", CD, C)
    var = (quad[:, None] + 2.0 * CD) / (2.0 * G * G)  # population variance of the group with own level m
    num = ((G - 1) * v[None, :] - (C @ v)[:, None]) / G  # own reward minus group mean
    std = np.sqrt(np.maximum(var, 0.0))
    if normalization == "sample":
        std = std * math.sqrt(G / (G - 1))
    A = np.where(var > 0, num / np.where(var > 0, std + std_eps, 1.0), 0.0)
    return w @ A


def _mc_level_preference(v, q, G, normalization, std_eps, n_samples, rng, batch=200_000):
    """Monte Carlo estimate of ``F`` (and per-sample values) from ``n_samples`` groups of the others' levels."""
    M = v.size
    n_done = 0
    sums = np.zeros(M)
    sq = np.zeros(M)
    per_batch = max(1, batch // max(G, 1))
    while n_done < n_samples:
        n = min(per_batch, n_samples - n_done)
        others = v[rng.choice(M, size=(n, G - 1), p=q)]
        grp = np.concatenate([np.broadcast_to(v[None, :, None], (n, M, 1)),
                              np.broadcast_to(others[:, None, :], (n, M, G - 1))], axis=2)
        A1 = group_advantages(grp, normalization, std_eps)[..., 0]  # (n, M)
        sums += A1.sum(0)
        sq += (A1**2).sum(0)
        n_done += n
    mean = sums / n_samples
    return mean, sq / n_samples


def preference_model(
    pi: Any,
    rewards: Any,
    G: Any = 2,
    normalization: str = "pop",
    method: str = "exact",
    n_samples: int = 20_000,
    seed: int | None = None,
    std_eps: float = 0.0,
    return_stderr: bool = False,
):
    """The GRPO reward preference model ``P_G(o | pi)`` for every output ``o`` (§2.3, eq. 6).

    ``P_G(o|pi) = E[A_1 | o_1 = o, o_2..o_G i.i.d. ~ pi]``: the expected normalised advantage of ``o`` in a group
    whose other ``G - 1`` members are drawn from ``pi`` (rewards drawn independently per member).

    Args:
        pi: policy over the ``K`` outputs (the sampling policy pi_old of the paper).
        rewards: a :class:`RewardModel` or a 1-D array of deterministic rewards.
        G: group size, an int >= 2 or ``math.inf`` (law-of-large-numbers limit, ``P_inf = (r - E_pi r)/sigma(pi)``).
        normalization: ``pop`` (paper), ``sample`` (TRL) or ``none`` (shift only).
        method: ``exact`` (enumeration / closed forms) or ``mc`` (Monte Carlo over ``n_samples`` groups).
        std_eps: constant added to the std (TRL uses 1e-4).
        return_stderr: with ``method="mc"`` also return the Monte Carlo standard error per output.

    Returns:
        array ``(K,)`` (and the standard errors when requested).
    """
    rm = RewardModel.coerce(rewards)
    pi = _check_dist(pi, "pi", rm.K)
    G = _check_G(G)
    q = rm.level_mass(pi)
    if method == "exact":
        P = rm.lift(level_preference(rm.levels, q, G, normalization, std_eps))
        return (P, np.zeros_like(P)) if return_stderr else P
    if method != "mc":
        raise ValueError(f"method must be 'exact' or 'mc', got {method!r}")
    if math.isinf(G):
        raise ValueError("Monte Carlo needs a finite group size")
    if n_samples < 2:
        raise ValueError("n_samples must be >= 2")
    rng = np.random.default_rng(seed)
    F, F2 = _mc_level_preference(rm.levels, q, G, normalization, std_eps, int(n_samples), rng)
    P = rm.lift(F)
    # per-sample value for output o is sum_m probs[o, m] A1[m]; its second moment is bounded via the rows
    second = rm.lift(F2)
    se = np.sqrt(np.maximum(second - P**2, 0.0) / n_samples)
    return (P, se) if return_stderr else P


def expected_preference(pi: Any, rewards: Any, G: Any = 2, normalization: str = "pop", std_eps: float = 0.0) -> float:
    """``E_{o ~ pi}[P_G(o | pi)]``; zero for every pi, reward model and G (advantages sum to zero in a group)."""
    pi = np.asarray(pi, dtype=float)
    return float(pi @ preference_model(pi, rewards, G, normalization, std_eps=std_eps))


# ---------------------------------------------------------------------------------------------------------------
# penalties (§2.4, eqs. 7-10; §3)
# ---------------------------------------------------------------------------------------------------------------


def k3(pi_theta: Any, pi_ref: Any) -> np.ndarray:
    """GRPO's per-sample penalty ``D_i = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1`` (eq. 1, "k3")."""
    x = np.asarray(pi_ref, dtype=float) / np.asarray(pi_theta, dtype=float)
    return x - np.log(x) - 1.0


def kl0(pi: Any, pi_ref: Any, pi_old: Any) -> float:
    """Expected GRPO penalty ``KL0(pi || pi_ref; pi_old) = E_{pi_old}[pi_ref/pi - log(pi_ref/pi)] - 1`` (eq. 7).

    Equals KL(pi || pi_ref) only when ``pi_old = pi``."""
    pi, pi_ref, pi_old = (np.asarray(a, dtype=float) for a in (pi, pi_ref, pi_old))
    s = pi_old > 0
    return float(np.sum(pi_old[s] * k3(pi[s], pi_ref[s])))


def kl0_grad(pi: Any, pi_ref: Any, pi_old: Any) -> np.ndarray:
    """``d KL0 / d pi(o) = -pi_old pi_ref / pi^2 + pi_old / pi`` (eq. 8); at pi_old = pi: ``1 - pi_ref/pi`` (eq. 10)."""
    pi, pi_ref, pi_old = (np.asarray(a, dtype=float) for a in (pi, pi_ref, pi_old))
    return -pi_old * pi_ref / pi**2 + pi_old / pi


def kl_divergence(p: Any, q: Any) -> float:
    """KL(p || q) with 0 log 0 = 0 (inf when p puts mass where q has none)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    s = p > 0
    if np.any(q[s] <= 0):
        return math.inf
    return float(np.sum(p[s] * np.log(p[s] / q[s])))


def direct_kl(pi: Any, pi_ref: Any) -> float:
    """Direct KL in the paper's terminology: KL(pi || pi_ref) (the RLHF penalty, eq. 3)."""
    return kl_divergence(pi, pi_ref)


def reverse_kl(pi: Any, pi_ref: Any) -> float:
    """Reverse KL in the paper's terminology: KL(pi_ref || pi) -- what GRPO's penalty acts as at stationarity."""
    return kl_divergence(pi_ref, pi)


def penalty_grad(pi: Any, pi_ref: Any, penalty: str = "reverse") -> np.ndarray:
    """Gradient of the expected penalty w.r.t. ``pi(o)`` at ``pi_old = pi``.

    ``reverse`` (GRPO's k3, eq. 10): ``1 - pi_ref/pi`` = gradient of KL(pi_ref || pi) plus the constant 1.
    ``direct`` (eq. 9): ``log(pi/pi_ref) + 1``, the gradient of KL(pi || pi_ref)."""
    _check_penalty(penalty)
    pi, pi_ref = np.asarray(pi, dtype=float), np.asarray(pi_ref, dtype=float)
    if penalty == "reverse":
        return 1.0 - pi_ref / pi
    return np.log(pi / pi_ref) + 1.0


# ---------------------------------------------------------------------------------------------------------------
# stationary policies (eq. 11 and §3)
# ---------------------------------------------------------------------------------------------------------------


class ConvergenceError(RuntimeError):
    """The fixed-point solver did not converge; ``.result`` holds the diagnostics (a :class:`StationaryResult`)."""

    def __init__(self, message: str, result: StationaryResult):
        super().__init__(message)
        self.result = result


@dataclass
class StationaryResult:
    """Output of :func:`stationary_policy`.

    ``pi``: the stationary policy; ``residual``: max-norm fixed-point residual ``|Phi(q) - q|`` of the reward-level
    map at the end; ``eq_residual``: max over outputs of the paper's stationarity condition (eq. 11 for the reverse
    penalty, ``log(pi/pi_ref) - P/beta`` minus its mean for the direct one); ``history``: residual per iteration.
    """

    pi: np.ndarray
    converged: bool
    iterations: int
    residual: float
    eq_residual: float
    method: str
    lam: float
    history: list[float] = field(default_factory=list)
    message: str = ""
    time_s: float = 0.0
    boundary: list[int] = field(default_factory=list)

    def summary(self) -> dict:
        return {"converged": self.converged, "iterations": self.iterations, "residual": self.residual,
                "eq_residual": self.eq_residual, "method": self.method, "time_s": self.time_s,
                "boundary": list(self.boundary), "message": self.message}


def best_response(P: Any, pi_ref: Any, beta: float, penalty: str = "reverse") -> tuple[np.ndarray, float]:
    """The best-response map whose fixed points are the stationary policies, with the preference ``P`` frozen.

    ``reverse``: the objective ``pi.P + beta sum_o pi_ref(o) log pi(o)``, whose penalty gradient ``-beta pi_ref/pi``
    is GRPO's (eq. 10, up to a constant that does not move stationary points on the simplex), is maximised by ``pi(o) = beta pi_ref(o) / (lam - P(o))`` with the unique ``lam > max P`` making it
    sum to one (found by safeguarded Newton on ``t = lam - max P``). At a fixed point ``lam = beta + E_pi P`` and
    this is exactly eq. 11. ``direct``: ``pi ∝ pi_ref exp(P / beta)`` (log pooling, §3).
    Returns ``(pi, lam)``; outputs outside the support of ``pi_ref`` get 0.
    """
    P = np.asarray(P, dtype=float)
    pi_ref = np.asarray(pi_ref, dtype=float)
    s = pi_ref > 0
    out = np.zeros_like(pi_ref)
    if penalty == "direct":
        z = np.log(pi_ref[s]) + P[s] / beta
        lse = logsumexp(z)
        out[s] = np.exp(z - lse)
        return out, float(beta * lse)
    Ps, rs = P[s], pi_ref[s]
    Pmax = Ps.max()
    d = Pmax - Ps  # >= 0
    br = beta * rs

    def g(t):
        return np.sum(br / (t + d)) - 1.0

    lo, hi = 0.0, beta  # g(0+) = +inf (or > 0), g(beta) <= 0
    imax = d == 0
    t = min(0.5 * br[imax].sum(), beta)  # g(t) >= br_max/t - 1 > 0: start left of the root
    for _ in range(200):
        val = g(t)
        if val > 0:
            lo = t
        else:
            hi = t
        if abs(val) < 1e-15 or hi - lo <= 1e-17 * max(hi, 1e-300):
            break
        der = -np.sum(br / (t + d) ** 2)
        tn = t - val / der
        if not (lo < tn < hi):
            tn = 0.5 * (lo + hi)
        if tn == t:
            break
        t = tn
    pis = br / (t + d)
    out[s] = pis / pis.sum()
    return out, float(Pmax + t)


def stationary_residual(pi: Any, pi_ref: Any, rewards: Any, beta: float, G: Any = 2, penalty: str = "reverse",
                        normalization: str = "pop", std_eps: float = 0.0) -> float:
    """Max over the support of the stationarity condition's violation.

    reverse (eq. 11): ``|(1 - (P_G(o|pi) - E_pi P_G) / beta) pi(o) - pi_ref(o)|``.
    direct (§3): ``|pi(o) - pi_ref(o) exp(P_G(o|pi)/beta) / Z|``."""
    pi = np.asarray(pi, dtype=float)
    pi_ref = np.asarray(pi_ref, dtype=float)
    P = preference_model(pi, rewards, G, normalization, std_eps=std_eps)
    if penalty == "reverse":
        s = pi_ref > 0
        EP = pi @ P
        return float(np.max(np.abs((1 - (P[s] - EP) / beta) * pi[s] - pi_ref[s])))
    target, _ = best_response(P, pi_ref, beta, "direct")
    return float(np.max(np.abs(pi - target)))


def _support_levels(rm: RewardModel, pi_ref: np.ndarray) -> np.ndarray:
    return rm.level_mass((pi_ref > 0).astype(float) / max((pi_ref > 0).sum(), 1)) > 0


def stationary_policy(
    pi_ref: Any,
    rewards: Any,
    beta: float,
    G: Any = 2,
    *,
    penalty: str = "reverse",
    normalization: str = "pop",
    std_eps: float = 0.0,
    pi0: Any = None,
    tol: float = 1e-13,
    max_iter: int = 5000,
    damping: float = 1.0,
    anderson: int = 6,
    newton_fallback: bool = True,
    raise_on_failure: bool = True,
) -> StationaryResult:
    """Stationary GRPO policy: the fixed point of eq. 11 (``penalty="reverse"``) or of ``pi ∝ pi_ref exp(P_G/beta)``
    (``penalty="direct"``, §3), for any finite output space.

    Method. By the KKT conditions (App. A) the support of the stationary policy is that of ``pi_ref`` and on it
    ``pi = BR(P_G(.|pi))`` where :func:`best_response` is the exact maximiser of the GRPO objective with the
    sampling policy frozen. ``P_G(.|pi)`` depends on ``pi`` only through the law ``q`` of the reward level of one
    output drawn from ``pi``, so the iteration runs on ``q`` (``M`` reward levels; ``M <= K``): ``q <- Phi(q) =
    probs^T BR(P_G(.|q))``. It is solved in log coordinates by damped iteration with Anderson acceleration
    (memory ``anderson``); the damping halves whenever the residual grows, and if ``max_iter`` passes without
    convergence a Newton/hybrid root finder (``scipy.optimize.root``) is tried from the best iterate.

    Args:
        pi_ref: reference policy (K,). rewards: :class:`RewardModel` or deterministic rewards (K,).
        beta: penalty weight (> 0). G: group size (int >= 2 or ``math.inf``).
        penalty: ``reverse`` (GRPO) or ``direct`` (importance-weighted k3). normalization: ``pop|sample|none``.
        pi0: initial policy (default ``pi_ref``). tol: tolerance on ``max |Phi(q) - q|``.
        raise_on_failure: raise :class:`ConvergenceError` (with diagnostics) when not converged.

    Returns:
        :class:`StationaryResult` with the policy and convergence diagnostics.
    """
    t_start = time.perf_counter()
    rm = RewardModel.coerce(rewards)
    pi_ref = _check_dist(pi_ref, "pi_ref", rm.K)
    beta = _check_beta(beta)
    G = _check_G(G)
    _check_norm(normalization)
    _check_penalty(penalty)
    if not 0 < damping <= 1:
        raise ValueError("damping must be in (0, 1]")
    lev = _support_levels(rm, pi_ref)
    idx = np.flatnonzero(lev)

    def Phi(q_sub: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        q = np.zeros(rm.M)
        q[idx] = q_sub
        F = level_preference(rm.levels, q, G, normalization, std_eps)
        pi, lam = best_response(rm.lift(F), pi_ref, beta, penalty)
        return rm.level_mass(pi)[idx], pi, lam

    q0 = rm.level_mass(pi_ref if pi0 is None else _check_dist(pi0, "pi0", rm.K))[idx]
    q0 = np.maximum(q0, 1e-300)
    x = np.log(q0 / q0.sum())
    hist: list[float] = []
    Xs: list[np.ndarray] = []
    Fs: list[np.ndarray] = []
    alpha = damping
    best = (math.inf, x, None, None)
    converged = False
    method = "anderson" if anderson else "damped"
    it = 0
    msg = ""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
            q = np.exp(x - logsumexp(x))
            qn, pi, lam = Phi(q)
            res = float(np.max(np.abs(qn - q)))
            hist.append(res)
            if not np.isfinite(res):
                msg = "non-finite residual"
                break
            if res < best[0]:
                best = (res, x, pi, lam)
            if res <= tol:
                converged = True
                break
            gx = np.log(np.maximum(qn, 1e-300))
            f = gx - x
            f = f - f.mean()  # log coordinates are defined up to a constant
            if len(hist) >= 2 and res > 2.0 * hist[-2]:
                alpha = max(alpha * 0.5, 1e-3)
                Xs.clear()
                Fs.clear()
            Xs.append(x.copy())
            Fs.append(f.copy())
            if len(Xs) > anderson + 1:
                Xs.pop(0)
                Fs.pop(0)
            if anderson and len(Xs) >= 2:
                dX = np.stack([Xs[i + 1] - Xs[i] for i in range(len(Xs) - 1)], axis=1)
                dF = np.stack([Fs[i + 1] - Fs[i] for i in range(len(Fs) - 1)], axis=1)
                gam, *_ = np.linalg.lstsq(dF, f, rcond=None)
                xn = x + alpha * f - (dX + alpha * dF) @ gam
                if not np.all(np.isfinite(xn)):
                    xn = x + alpha * f
                    Xs.clear()
                    Fs.clear()
            else:
                xn = x + alpha * f
            x = xn - xn.max()
    res_final, x_best, pi, lam = best
    if not converged and newton_fallback and np.isfinite(res_final) and idx.size <= 400:
        from scipy.optimize import root

        def fun(z):
            qz = np.exp(z - logsumexp(z))
            with np.errstate(all="ignore"):
                qn, _, _ = Phi(qz)
            return np.log(np.maximum(qn, 1e-300)) - np.log(qz) - np.mean(np.log(np.maximum(qn, 1e-300)) - np.log(qz))

        try:
            sol = root(fun, x_best, method="hybr", tol=1e-14)
            qz = np.exp(sol.x - logsumexp(sol.x))
            qn, pi_n, lam_n = Phi(qz)
            r_n = float(np.max(np.abs(qn - qz)))
            hist.append(r_n)
            if r_n < res_final:
                res_final, pi, lam = r_n, pi_n, lam_n
                method += "+newton"
                converged = r_n <= max(tol, 1e-12)
        except Exception as e:  # pragma: no cover - fallback only
            msg = f"newton fallback failed: {e}"
    if pi is None:
        pi = pi_ref.copy()
        lam = math.nan
    eq_res = stationary_residual(pi, pi_ref, rm, beta, G, penalty, normalization, std_eps) if np.all(np.isfinite(pi)) else math.inf
    boundary = [int(o) for o in np.flatnonzero((pi_ref > 0) & (pi <= 0))]
    if converged and boundary:
        if penalty == "reverse":
            # impossible for GRPO's penalty (-pi_ref/pi blows up): an underflow, not a stationary point
            converged = False
            msg = (f"iterates reached the boundary of the simplex (outputs {boundary[:10]} underflowed to 0), which "
                   "cannot be stationary under the reverse-KL penalty; beta is too small for double precision")
        else:
            msg = (f"stationary point on the boundary of the simplex: outputs {boundary[:10]} get probability 0 "
                   "(allowed by the direct KL penalty; e.g. the vertex p = 1 of App. B.2 when beta is small)")
    if not converged and not msg:
        near_edge = float(np.max(pi)) > 1 - 1e-6 if np.all(np.isfinite(pi)) else False
        msg = (f"no convergence after {it} iterations: residual {res_final:.3g} > tol {tol:.1e}"
               + ("; iterates approach the boundary of the simplex (there may be no interior stationary point)"
                  if near_edge else ""))
    out = StationaryResult(pi=pi, converged=converged, iterations=it, residual=float(res_final),
                           eq_residual=float(eq_res), method=method, lam=float(lam), history=hist, message=msg,
                           time_s=time.perf_counter() - t_start, boundary=boundary)
    if not converged and raise_on_failure:
        raise ConvergenceError(f"stationary_policy: {msg}", out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# closed forms for binary questions (§2.3.1, App. B) and logarithmic pooling (eq. 4)
# ---------------------------------------------------------------------------------------------------------------


def _stable_quadratic_root(b: np.ndarray, p_ref: np.ndarray) -> np.ndarray:
    """Non-negative root of ``p^2 - (1 - b) p - b p_ref = 0`` computed without cancellation."""
    a = 1.0 - b
    disc = np.sqrt(a * a + 4.0 * b * p_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        alt = 2.0 * b * p_ref / (disc - a)  # product of the roots is -b p_ref
    return np.where(a >= 0, 0.5 * (a + disc), np.where(disc - a > 0, alt, 0.0))


def binary_g2(p_ref: Any, ratio: Any) -> np.ndarray:
    """Eq. 14: stationary ``pi(a)`` for ``G = 2`` with ``ratio = beta / gamma_{a,b}`` (gamma > 0).

    ``p = ((1 - b) + sqrt((1 - b)^2 + 4 b p_ref)) / 2``; ``p = 0`` at ``p_ref = 0`` (support assumption, which
    makes the curve discontinuous at 0 when b < 1)."""
    p_ref = np.asarray(p_ref, dtype=float)
    b = np.asarray(ratio, dtype=float)
    p = _stable_quadratic_root(b, p_ref)
    return np.where(p_ref <= 0, 0.0, np.where(p_ref >= 1, 1.0, p))


def binary_ginf(p_ref: Any, beta: Any) -> np.ndarray:
    """Eq. 15: stationary ``pi(a)`` as ``G -> inf`` with deterministic rewards r(a) > r(b).

    ``p = (2 beta^2 p_ref + 1 + sqrt(1 + 4 beta^2 p_ref (1 - p_ref))) / (2 (1 + beta^2))``, the root with
    ``p >= p_ref`` of ``beta (p - p_ref) = sqrt(p (1 - p))`` (eq. 19); 0 at p_ref = 0."""
    p_ref = np.asarray(p_ref, dtype=float)
    b2 = np.asarray(beta, dtype=float) ** 2
    p = (2 * b2 * p_ref + 1 + np.sqrt(1 + 4 * b2 * p_ref * (1 - p_ref))) / (2 * (1 + b2))
    return np.where(p_ref <= 0, 0.0, np.where(p_ref >= 1, 1.0, p))


def binary_direct_g2(p_ref: Any, ratio: Any) -> np.ndarray:
    """Direct-KL variant, ``G = 2`` (App. B.2): ``logit p = logit p_ref + gamma/beta`` (``ratio = beta/gamma``).

    Continuous at ``p_ref = 0``; with gamma = 1 it is RLHF (eq. 4) with reward gap 1."""
    p_ref = np.asarray(p_ref, dtype=float)
    s = 1.0 / np.asarray(ratio, dtype=float)
    with np.errstate(divide="ignore"):
        num = np.exp(0.5 * s) * p_ref
        den = num + np.exp(-0.5 * s) * (1 - p_ref)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def binary_shift_only(p_ref: Any, beta: Any, gap: Any, G: Any = 2, penalty: str = "reverse") -> np.ndarray:
    """Shift-only normalisation (§3): ``P_G(a) - P_G(b) = (1 - 1/G) * gap`` with ``gap = E r(a) - E r(b) > 0``.

    reverse penalty: eq. 14 with margin ``(1 - 1/G) gap``; direct penalty: RLHF with ``beta_eff = beta G/(G-1)``."""
    G = _check_G(G)
    c = 1.0 if math.isinf(G) else 1.0 - 1.0 / G
    margin = c * np.asarray(gap, dtype=float)
    ratio = np.asarray(beta, dtype=float) / margin
    return binary_g2(p_ref, ratio) if penalty == "reverse" else binary_direct_g2(p_ref, ratio)


def binary_lower_bound(beta: Any, gamma: Any = 1.0, G: Any = 2) -> np.ndarray:
    """Floors of the closed forms: ``1 - beta/gamma`` for G = 2 (eq. 14), ``1/(1 + beta^2)`` as G -> inf (eq. 15).

    (The stationary policy is also ``>= p_ref``.)"""
    G = _check_G(G)
    beta = np.asarray(beta, dtype=float)
    if G == 2:
        return np.maximum(1.0 - beta / np.asarray(gamma, dtype=float), 0.0)
    if math.isinf(G):
        return 1.0 / (1.0 + beta**2)
    raise ValueError("closed-form floors exist for G = 2 and G -> inf only")


def beta_effective_sample_std(beta: float, G: Any) -> float:
    """Sample-std advantages equal population-std ones times sqrt((G-1)/G): the same stationary policies as the
    paper's model with ``beta_eff = beta sqrt(G/(G-1))`` (digest §2.2)."""
    G = _check_G(G)
    return float(beta) if math.isinf(G) else float(beta) * math.sqrt(G / (G - 1))


def direct_large_g_h(x: Any, p_ref: float, beta: float) -> np.ndarray:
    """``h(x) = (1/beta)/sqrt(x(1-x)) - log(x/(1-x)) + log(p_ref/(1-p_ref))`` (App. B.2): dJ/dp = beta h(p) for the
    direct-KL variant as G -> inf."""
    x = np.asarray(x, dtype=float)
    return (1.0 / beta) / np.sqrt(x * (1 - x)) - np.log(x / (1 - x)) + math.log(p_ref / (1 - p_ref))


def direct_large_g_xstar(beta: float) -> float:
    """Minimiser of h: ``x* = (1 + sqrt(1 - 1/(1 + beta^2))) / 2``."""
    return 0.5 * (1 + math.sqrt(1 - 1 / (1 + beta * beta)))


def direct_large_g_roots(p_ref: float, beta: float) -> tuple[float, float] | None:
    """The two roots ``x1 < x* < x2`` of h (stable interior stationary point x1, unstable x2), or None when h > 0
    everywhere (then the only stationary point is the vertex p = 1)."""
    from scipy.optimize import brentq

    xs = direct_large_g_xstar(beta)
    hmin = float(direct_large_g_h(xs, p_ref, beta))
    if hmin >= 0:
        return None
    f = lambda x: float(direct_large_g_h(x, p_ref, beta))  # noqa: E731
    eps = 1e-300
    lo = 1e-16
    while f(lo) <= 0 and lo > eps:
        lo *= 1e-4
    hi = 1 - 1e-16
    x1 = brentq(f, lo, xs, xtol=1e-15, rtol=1e-15)
    x2 = brentq(f, xs, hi, xtol=1e-15, rtol=1e-15)
    return x1, x2


def direct_large_g_critical_beta(p_ref: float) -> float:
    """Smallest beta for which h has two roots (``h(x*(beta); beta) = 0``): above it the direct-KL large-G
    aggregate is not unique."""
    from scipy.optimize import brentq

    f = lambda b: float(direct_large_g_h(direct_large_g_xstar(b), p_ref, b))  # noqa: E731
    return float(brentq(f, 1e-3, 1e4, xtol=1e-14, rtol=1e-14))


def binary_stationary(p_ref: Any, beta: Any, gamma: Any = 1.0, G: Any = 2, penalty: str = "reverse",
                      normalization: str = "pop") -> np.ndarray:
    """Closed-form stationary probability ``pi(a|q)`` of the preferred answer of a binary question.

    * ``pop``/``sample`` normalisation, reverse penalty: ``G = 2`` -> eq. 14 with ``beta/gamma`` (``gamma`` the
      confidence margin ``P(a>b) - P(b>a)``; ``sample`` uses ``beta sqrt(2)``); ``G = inf`` -> eq. 15
      (deterministic rewards, ``gamma`` only gives the sign).
    * direct penalty: ``G = 2`` -> logistic shift of the log-odds by ``gamma/beta``; ``G = inf`` -> the
      stationary point that GRPO dynamics started at ``pi_ref`` reach: the stable root ``x1`` of h when h has
      roots and ``p_ref < x1``, else the vertex 1 (h(p_ref) > 0 always, so p_ref lies below x1 or above x2).
      The full set of stationary points is given by :func:`direct_large_g_roots` (non-unique, App. B.2).
    * ``none`` (shift only), any G: ``gamma`` is the mean reward gap; see :func:`binary_shift_only`.

    ``gamma = 0`` (a tie) gives ``p_ref``; ``gamma < 0`` is handled by symmetry. Finite ``G > 2`` with scale
    normalisation has no closed form: use :func:`stationary_policy`. Vectorised over ``p_ref`` and ``beta``.
    """
    G = _check_G(G)
    _check_norm(normalization)
    _check_penalty(penalty)
    p_ref = np.asarray(p_ref, dtype=float)
    beta = np.asarray(beta, dtype=float)
    gamma = float(gamma)
    if np.any(beta <= 0):
        raise ValueError("beta must be > 0")
    if gamma == 0:
        return np.broadcast_to(p_ref, np.broadcast(p_ref, beta).shape).astype(float).copy()
    if gamma < 0:
        return 1.0 - binary_stationary(1.0 - p_ref, beta, -gamma, G, penalty, normalization)
    if normalization == "none":
        return binary_shift_only(p_ref, beta, gamma, G, penalty)
    if G == 2:
        b = beta * (math.sqrt(2.0) if normalization == "sample" else 1.0) / gamma
        return binary_g2(p_ref, b) if penalty == "reverse" else binary_direct_g2(p_ref, b)
    if math.isinf(G):
        if penalty == "reverse":
            return binary_ginf(p_ref, beta)
        out = np.empty(np.broadcast(p_ref, beta).shape)
        for i, (pr, bb) in enumerate(np.broadcast(p_ref, beta)):
            if pr <= 0 or pr >= 1:
                out.flat[i] = pr
                continue
            roots = direct_large_g_roots(float(pr), float(bb))
            out.flat[i] = roots[0] if roots is not None and pr < roots[0] else 1.0
        return out
    raise ValueError(f"no closed form for G={G} with {normalization!r} normalisation; use stationary_policy")


def log_opinion_pool(dists: Any, weights: Any) -> np.ndarray:
    """Logarithmic opinion pool ``pi ∝ prod_i p_i^{w_i}`` (weighted geometric mean)."""
    dists = np.asarray(dists, dtype=float)
    w = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.log(dists)
    z = np.einsum("i,ik->k", w, np.where(np.isneginf(logs) & (w[:, None] == 0), 0.0, logs))
    if np.all(np.isneginf(z)):
        raise ValueError("the pool is empty (disjoint supports)")
    return np.exp(z - logsumexp(z))


def log_pooling(pi_ref: Any, rewards: Any, beta: float) -> np.ndarray:
    """RLHF optimum (eq. 4): ``pi(o) = pi_ref(o) exp(r(o)/beta) / Z`` -- logarithmic pooling of pi_ref (weight 1)
    and the softmax of the rewards (weight 1/beta). ``rewards``: expected rewards or a :class:`RewardModel`."""
    r = RewardModel.coerce(rewards).mean if isinstance(rewards, RewardModel) else np.asarray(rewards, dtype=float)
    pi_ref = np.asarray(pi_ref, dtype=float)
    beta = _check_beta(beta)
    s = pi_ref > 0
    out = np.zeros_like(pi_ref)
    z = np.log(pi_ref[s]) + r[s] / beta
    out[s] = np.exp(z - logsumexp(z))
    return out


# ---------------------------------------------------------------------------------------------------------------
# simulated GRPO on a softmax policy (digest §6.2-6.3)
# ---------------------------------------------------------------------------------------------------------------


def _softmax(theta: np.ndarray) -> np.ndarray:
    z = theta - theta.max()
    e = np.exp(z)
    return e / e.sum()


def expected_grpo_gradient(theta: Any, pi_ref: Any, rewards: Any, beta: float, G: Any = 2, penalty: str = "reverse",
                           normalization: str = "pop", std_eps: float = 0.0) -> np.ndarray:
    """Exact expected gradient of the GRPO objective w.r.t. softmax logits at ``theta = theta_old`` (digest §6.2).

    reverse: ``pi * (P_G - E_pi P_G) + beta (pi_ref - pi)``; direct:
    ``pi * (P_G - E_pi P_G) - beta pi * (log(pi/pi_ref) - KL(pi || pi_ref))``. Its zeros are the stationary points
    of eq. 11 (resp. §3)."""
    pi = _softmax(np.asarray(theta, dtype=float))
    pi_ref = np.asarray(pi_ref, dtype=float)
    P = preference_model(pi, rewards, G, normalization, std_eps=std_eps)
    g = pi * (P - pi @ P)
    if penalty == "reverse":
        return g + beta * (pi_ref - pi)
    with np.errstate(divide="ignore"):
        lr = np.where(pi > 0, np.log(pi / pi_ref), 0.0)
    return g - beta * pi * (lr - pi @ lr)


def _sampled_coefficients(pi_theta_o, pi_old_o, pi_ref_o, adv, beta, penalty, clip_eps):
    """Per-sample coefficient ``c_i`` with ``grad = (1/N) sum_i c_i grad log pi(o_i)`` of the TRL GRPO objective
    ``min(rho A, clip(rho) A) - beta D`` (maximised), D = k3 (reverse) or rho * k3 (direct)."""
    rho = pi_theta_o / pi_old_o
    clipped = ((rho > 1 + clip_eps) & (adv > 0)) | ((rho < 1 - clip_eps) & (adv < 0))
    c = np.where(clipped, 0.0, rho * adv)
    if penalty == "reverse":
        c = c + beta * (pi_ref_o / pi_theta_o - 1.0)
    else:
        c = c - beta * rho * np.log(pi_theta_o / pi_ref_o)
    return c


def grpo_sample_gradient(theta: Any, outputs: Any, advantages: Any, pi_old: Any, pi_ref: Any, beta: float,
                         penalty: str = "reverse", clip_eps: float = 0.2) -> np.ndarray:
    """Gradient of the sampled GRPO objective (the negative TRL loss, averaged over all ``N = B G`` samples) with
    respect to the softmax logits: ``(1/N) sum_i c_i (e_{o_i} - pi)`` (single-token outputs)."""
    theta = np.asarray(theta, dtype=float)
    pi = _softmax(theta)
    o = np.asarray(outputs).ravel()
    adv = np.asarray(advantages, dtype=float).ravel()
    pi_old = np.asarray(pi_old, dtype=float)
    pi_ref = np.asarray(pi_ref, dtype=float)
    c = _sampled_coefficients(pi[o], pi_old[o], pi_ref[o], adv, beta, penalty, clip_eps)
    N = o.size
    return (np.bincount(o, weights=c, minlength=pi.size) - c.sum() * pi) / N


def grpo_loss_torch(logits, outputs, old_logp, ref_logp, advantages, beta: float, penalty: str = "reverse",
                    clip_eps: float = 0.2):
    """The GRPO loss as TRL defines it (``GRPOTrainer._compute_loss`` with ``loss_type`` in grpo/bnpo/dapo, one
    token per completion): ``-min(rho A, clip(rho, 1-eps, 1+eps) A) + beta * k3``, k3 = exp(ref - logp) -
    (ref - logp) - 1, multiplied by rho when ``penalty="direct"`` (TRL ``use_bias_correction_kl``); mean over the
    samples (for one-token completions all of TRL's loss aggregations agree up to a constant)."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)[outputs]
    coef_1 = torch.exp(logp - old_logp)
    coef_2 = torch.clamp(coef_1, 1 - clip_eps, 1 + clip_eps)
    per = -torch.min(coef_1 * advantages, coef_2 * advantages)
    kl = torch.exp(ref_logp - logp) - (ref_logp - logp) - 1
    if penalty == "direct":
        kl = kl * coef_1
    return (per + beta * kl).mean()


@dataclass
class SimulationResult:
    """Output of :func:`simulate_grpo`: final policy, policy averaged over the last part of training (the
    Monte Carlo estimate), recorded trajectory (``steps`` x K) and bookkeeping."""

    pi_final: np.ndarray
    pi_avg: np.ndarray
    trajectory: np.ndarray
    steps_recorded: np.ndarray
    steps: int
    mode: str
    converged_step: int | None = None
    n_zero_std_groups: int = 0
    n_groups: int = 0
    time_s: float = 0.0


def simulate_grpo(
    pi_ref: Any,
    rewards: Any,
    beta: float,
    G: Any = 2,
    *,
    mode: str = "expected",
    steps: int = 2000,
    lr: float = 0.5,
    batch_groups: int = 512,
    penalty: str = "reverse",
    normalization: str = "pop",
    std_eps: float = 0.0,
    clip_eps: float = 0.2,
    inner_steps: int = 1,
    seed: int | None = 0,
    theta0: Any = None,
    average_from: float = 0.5,
    record_every: int = 10,
    target: Any = None,
    stop_tol: float | None = None,
    backend: str = "numpy",
    progress: bool = False,
) -> SimulationResult:
    """Simulated GRPO on a softmax policy ``pi = softmax(theta)`` over the outputs (a bandit stands in for the LLM).

    ``mode="expected"``: deterministic ascent on the exact expected gradient, ``theta += lr *
    expected_grpo_gradient`` (digest §6.2); may stop early once ``max |pi - target| < stop_tol``.
    ``mode="sampled"``: each step draws ``batch_groups`` groups of ``G`` outputs from ``pi_old``, draws rewards,
    computes advantages with ``normalization`` (``std_eps`` added to the std as in TRL) and takes ``inner_steps``
    gradient steps on the TRL GRPO loss (ratio against ``pi_old``, clipping ``clip_eps``, k3 penalty; see
    :func:`grpo_loss_torch`). ``backend="torch"`` uses autograd on that loss; ``numpy`` the same gradient in
    closed form (equal, tested). The Monte Carlo estimate is the policy averaged from ``average_from`` of the run.
    ``theta0`` defaults to ``log pi_ref`` (training starts at the reference policy).
    """
    rm = RewardModel.coerce(rewards)
    pi_ref = _check_dist(pi_ref, "pi_ref", rm.K)
    beta = _check_beta(beta)
    G = _check_G(G)
    _check_norm(normalization)
    _check_penalty(penalty)
    if mode not in ("expected", "sampled"):
        raise ValueError("mode must be 'expected' or 'sampled'")
    if mode == "sampled" and math.isinf(G):
        raise ValueError("sampled GRPO needs a finite group size")
    if backend not in ("numpy", "torch"):
        raise ValueError("backend must be 'numpy' or 'torch'")
    if np.any(pi_ref == 0):
        raise ValueError("simulate_grpo needs pi_ref > 0 everywhere (softmax policies have full support)")
    t0 = time.perf_counter()
    theta = np.log(pi_ref) if theta0 is None else np.asarray(theta0, dtype=float).copy()
    rng = np.random.default_rng(seed)
    K = rm.K
    start_avg = int(steps * average_from)
    acc = np.zeros(K)
    n_acc = 0
    traj, rec_steps = [], []
    conv_step = None
    zero_std = 0
    n_groups = 0
    torch_mod = None
    if backend == "torch" and mode == "sampled":
        import torch as torch_mod  # noqa: N813
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"GRPO {mode}", leave=False)
    for step in it:
        pi = _softmax(theta)
        if step % record_every == 0:
            traj.append(pi.copy())
            rec_steps.append(step)
        if mode == "expected":
            if target is not None and stop_tol is not None and np.max(np.abs(pi - target)) < stop_tol:
                conv_step = step
                break
            theta = theta + lr * expected_grpo_gradient(theta, pi_ref, rm, beta, G, penalty, normalization, std_eps)
        else:
            outs = rng.choice(K, size=(batch_groups, G), p=pi)
            r = rm.levels[rm.sample_levels(outs, rng)]
            adv = group_advantages(r, normalization, std_eps)
            eq = np.all(r == r[:, :1], axis=1)
            zero_std += int(eq.sum())
            n_groups += batch_groups
            pi_old = pi
            for _ in range(inner_steps):
                if torch_mod is None:
                    grad = grpo_sample_gradient(theta, outs, adv, pi_old, pi_ref, beta, penalty, clip_eps)
                else:
                    th = torch_mod.tensor(theta, dtype=torch_mod.float64, requires_grad=True)
                    o_t = torch_mod.as_tensor(outs.ravel())
                    loss = grpo_loss_torch(th, o_t, torch_mod.as_tensor(np.log(pi_old[outs.ravel()])),
                                           torch_mod.as_tensor(np.log(pi_ref[outs.ravel()])),
                                           torch_mod.as_tensor(adv.ravel()), beta, penalty, clip_eps)
                    loss.backward()
                    grad = -th.grad.numpy()
                theta = theta + lr * grad
        if step >= start_avg:
            acc += _softmax(theta)
            n_acc += 1
        theta = theta - theta.max()
    pi_final = _softmax(theta)
    traj.append(pi_final.copy())
    rec_steps.append(steps if conv_step is None else conv_step)
    pi_avg = acc / n_acc if n_acc else pi_final
    return SimulationResult(pi_final=pi_final, pi_avg=pi_avg, trajectory=np.array(traj),
                            steps_recorded=np.array(rec_steps), steps=steps if conv_step is None else conv_step,
                            mode=mode, converged_step=conv_step, n_zero_std_groups=zero_std, n_groups=n_groups,
                            time_s=time.perf_counter() - t0)
