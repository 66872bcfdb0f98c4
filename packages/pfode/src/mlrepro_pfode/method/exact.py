"""Analytic Gaussian test problem: the exact score lets us check the samplers without any training.

Data ``N(mu, C)`` and noise ``N(0, Q)`` are both diagonal in the cosine basis (spec §6.1(a), moved from the
sine to the cosine basis): ``c_k = 0.5 (1 + 0.02 (pi k)^2)^(-2.5)``, ``mu = sum_{k=1..3} e_k / k`` and a
Bessel-type ``q_k ∝ (1 + 0.01 (pi k)^2)^(-2)`` (trace normalised to 1). With the exact score
(``score.GaussianScore``) the PF-ODE samplers are *affine* maps of the prior draw, so their output law is
Gaussian and its mean and covariance can be computed exactly by pushing the prior's basis directions through
the sampler (:func:`ode_pushforward_moments`): no Monte-Carlo noise, only the discretisation error.
"""

from __future__ import annotations

import math

import torch

from .noise import CosineBasis, TraceClassNoise
from .samplers import sample
from .score import GaussianScore
from .sde import LinearSDE

__all__ = ["gaussian_problem", "ode_pushforward_moments", "relative_cov_error", "exact_sweep"]


def gaussian_problem(sde: LinearSDE, n_points: int = 64):
    """``(noise, basis, score, C, mean)`` for the analytic test problem on an ``n_points`` grid (float64)."""
    noise = TraceClassNoise("bessel", length=0.1, smoothness=2.0, gain=1.0, domain=(0.0, 1.0))
    basis = noise.basis(n_points, torch.float64)
    k = torch.arange(n_points, dtype=torch.float64)
    c = 0.5 * (1 + 0.02 * (math.pi * k) ** 2) ** -2.5
    mu = torch.zeros(n_points, dtype=torch.float64)
    mu[1:4] = 1.0 / k[1:4]
    score = GaussianScore(sde, basis, noise.eigenvalues(n_points), c, mu)
    return noise, basis, score, score.data_covariance(), score.data_mean()


def ode_pushforward_moments(method: str, sde: LinearSDE, score, basis: CosineBasis, q: torch.Tensor,
                            nfe: int, grid: str = "uniform", grid_rho: float = 2.0):
    """Exact ``(mean, cov)`` of a deterministic sampler's output when ``score`` is affine.

    The prior is ``N(0, p^2 Q)`` (``p = sde.prior_std()``); the sampler maps ``x -> A x + b``, so running it on
    ``0`` and on ``p sqrt(q_k) e_k`` gives ``b`` and the columns of ``A (p Q^{1/2})``; then ``cov = M M^T``.
    """
    if not method.startswith("ode"):
        raise ValueError("only the deterministic (ode_*) samplers are affine maps")
    n = basis.n_points
    p = sde.prior_std()
    X = torch.cat([torch.zeros(1, n, dtype=torch.float64),
                   basis.synthesis(torch.diag(p * q.double()[:n].sqrt()))])
    out, info = sample(method, sde, score, X, nfe, grid=grid, grid_rho=grid_rho)
    b = out[0]
    M = out[1:] - b
    return b, M.T @ M, info


def relative_cov_error(C_hat: torch.Tensor, C: torch.Tensor) -> float:
    return float(torch.linalg.norm(C_hat - C) / torch.linalg.norm(C))


def exact_sweep(sde: LinearSDE, methods, nfes, grids, n_points: int = 64) -> list[dict]:
    """Covariance and mean errors of the PF-ODE samplers with the exact score, for every method/NFE/grid."""
    noise, basis, score, C, m = gaussian_problem(sde, n_points)
    q = noise.eigenvalues(n_points)
    rows = []
    for grid in grids:
        for method in methods:
            for nfe in nfes:
                mean, cov, info = ode_pushforward_moments(method, sde, score, basis, q, nfe, grid)
                rows.append({"method": method, "grid": grid, "nfe": int(info["nfe"]),
                             "cov_rel_err": relative_cov_error(cov, C),
                             "mean_err": float((mean - m).pow(2).mean().sqrt())})
    return rows
