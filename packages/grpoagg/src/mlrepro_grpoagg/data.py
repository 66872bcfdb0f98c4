"""Problem instances (the package's "data"): per-question reference policies and reward models, made in code.

The paper's analysis is per context q, so a problem is a pair ``(pi_ref, RewardModel)`` over a finite output set.
Everything here is deterministic given its arguments (random instances take an explicit seed).
"""

from __future__ import annotations

import numpy as np

from .config import SimSetup
from .method import RewardModel


def binary_problem(p_ref: float, rewards=(1.0, 0.0), reward_type: str = "deterministic") -> tuple[np.ndarray, RewardModel]:
    """A binary question with answers (a, b): ``pi_ref = (p_ref, 1 - p_ref)``."""
    pi_ref = np.array([p_ref, 1.0 - p_ref])
    rm = RewardModel.bernoulli(rewards) if reward_type == "bernoulli" else RewardModel.deterministic(rewards)
    return pi_ref, rm


def margin_problem(p_ref: float, gamma: float) -> tuple[np.ndarray, RewardModel]:
    """Binary question with Bernoulli rewards whose confidence margin is ``gamma`` (§2.3.1):
    means ``((1 + gamma)/2, (1 - gamma)/2)`` give ``P(a>b) - P(b>a) = mu_a - mu_b = gamma``."""
    return binary_problem(p_ref, ((1 + gamma) / 2, (1 - gamma) / 2), "bernoulli")


def setup_problem(setup: SimSetup) -> tuple[np.ndarray, RewardModel]:
    """The problem of a simulation setup from the recipe."""
    pi_ref = np.asarray(setup.pi_ref, dtype=float)
    pi_ref = pi_ref / pi_ref.sum()
    rm = RewardModel.bernoulli(setup.rewards) if setup.reward_type == "bernoulli" else RewardModel.deterministic(setup.rewards)
    return pi_ref, rm


def random_problem(K: int, n_levels: int | None = None, seed: int = 0, concentration: float = 1.0):
    """A random problem with ``K`` outputs: ``pi_ref ~ Dirichlet(concentration)``; rewards uniform on [0, 1]
    (distinct), or on ``n_levels`` equally spaced levels (graded correctness)."""
    rng = np.random.default_rng(seed)
    pi_ref = rng.dirichlet(np.full(K, concentration))
    pi_ref = np.maximum(pi_ref, 1e-12)
    pi_ref /= pi_ref.sum()
    if n_levels is None:
        r = rng.random(K)
    else:
        r = rng.integers(0, n_levels, K) / max(n_levels - 1, 1)
    return pi_ref, RewardModel.deterministic(r)
