"""The score in function space and denoising score matching (spec §2.3, §2.5).

The score of a measure on a Hilbert space is its logarithmic gradient along the Cameron-Martin space
``H_Q = Q^{1/2} H``; on any Galerkin truncation with density p it equals the *Q-preconditioned* score
``rho = Q grad log p``. For the Gaussian kernel ``N(m_t x0, s_t^2 Q)`` the conditional score is

    rho(x_t | x0) = -(x_t - m_t x0) / s_t^2 = -xi / s_t,        x_t = m_t x0 + s_t xi,  xi ~ N(0, Q),

in which Q cancels, so the regression target is an H-valued random function of finite norm (E||xi||^2 = Tr Q).
The marginal score is its conditional expectation, ``rho_t(x) = E[rho(x_t | X0) | X_t = x]``, and the minimiser
of the DSM loss below. We train the hdm-official *noise-prediction* parameterisation: a network ``eps_theta``
regresses the correlated noise ``xi`` and ``rho_theta = -eps_theta / s_t``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .noise import CosineBasis
from .sde import LinearSDE

__all__ = ["dsm_loss", "conditional_score", "GaussianScore", "NFECounter", "score_from_noise_model",
           "sample_times"]

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def conditional_score(sde: LinearSDE, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``rho(x_t | x0) = -xi / s_t`` (spec §2.3); ``t`` has shape (B,), ``noise`` (B, N)."""
    return -noise / sde.std(t).to(noise.dtype)[:, None]


def sample_times(sde: LinearSDE, n: int, generator: torch.Generator | None = None,
                 dtype=torch.float32) -> torch.Tensor:
    """``t ~ U(eps, T)`` as in hdm-official's ``hilbert_loss_fn``."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return (sde.eps + (sde.T - sde.eps) * u).to(dtype)


def dsm_loss(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], sde: LinearSDE,
             x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Denoising score matching in function space, noise-prediction form (spec §2.5).

    ``L = E_t E_{x0, xi} || eps_theta(m_t x0 + s_t xi, t) - xi ||^2_{L2}``, the L2 norm taken with the
    normalised measure (mean over grid points), so the loss does not grow with the resolution. Its minimiser is
    ``eps* = E[xi | x_t]``, i.e. ``-s_t rho_t``: the Q-preconditioned marginal score.
    """
    xt = sde.perturb(x0, t, noise)
    pred = eps_model(xt, t)
    return (pred - noise).pow(2).mean(-1).mean()


def score_from_noise_model(eps_model, sde: LinearSDE) -> ScoreFn:
    """``rho_theta(x, t) = -eps_theta(x, t) / s_t``; ``t`` is a float or a (B,) tensor."""

    def rho(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.expand(x.shape[0]) if t.ndim == 0 else t
        return -eps_model(x, tt.to(x.dtype)) / sde.std(tt).to(x.dtype)[:, None]

    return rho


class NFECounter:
    """Wraps a score function and counts network function evaluations (one per batched call)."""

    def __init__(self, fn: ScoreFn):
        self.fn = fn
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.fn(x, t)


class GaussianScore:
    """Exact Q-preconditioned score of Gaussian data whose covariance is diagonal in the noise basis.

    Data ``X0 ~ N(mu, C)`` with ``C e_k = c_k e_k`` and noise ``Q e_k = q_k e_k``. Then
    ``X_t ~ N(m_t mu, m_t^2 C + s_t^2 Q)`` and, mode by mode,

        rho_t(x)_k = -q_k (x_k - m_t mu_k) / (m_t^2 c_k + s_t^2 q_k).

    This is the closed form used by the exact-score tests (issue: "exact-score test").
    """

    def __init__(self, sde: LinearSDE, basis: CosineBasis, q: torch.Tensor, c: torch.Tensor,
                 mean_coeffs: torch.Tensor | None = None):
        n = basis.n_points
        if q.shape[-1] != n or c.shape[-1] != n:
            raise ValueError(f"need {n} eigenvalues for a {n}-point grid, got q {tuple(q.shape)}, c {tuple(c.shape)}")
        self.sde, self.basis = sde, basis
        self.q, self.c = q.double(), c.double()
        self.mu = torch.zeros(n, dtype=torch.float64) if mean_coeffs is None else mean_coeffs.double()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.expand(x.shape[0]) if t.ndim == 0 else t
        m = self.sde.mean_coeff(tt.double())[:, None]
        s = self.sde.std(tt.double())[:, None]
        a = self.basis.analysis(x.double())
        rho = -self.q * (a - m * self.mu) / (m**2 * self.c + s**2 * self.q)
        return self.basis.synthesis(rho).to(x.dtype)

    def data_covariance(self) -> torch.Tensor:
        E = self.basis.matrix.double()
        return (E * self.c) @ E.T

    def data_mean(self) -> torch.Tensor:
        return self.basis.synthesis(self.mu[None])[0]
