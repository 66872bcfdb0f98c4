"""Forward SDEs in Hilbert space with scalar coefficients (spec §2.2).

Every SDE here has the form

    dX_t = f(t) X_t dt + g(t) dW^Q_t,        W^Q a Q-Wiener process, Q trace class,

so its perturbation kernel is Gaussian, ``X_t | X_0 ~ N(m_t X_0, s_t^2 Q)``, with scalar ``m_t`` and ``s_t``
linked to ``f`` and ``g`` by the moment equations ``d log m_t/dt = f(t)`` and
``d(s_t^2)/dt = 2 f(t) s_t^2 + g(t)^2`` (tested in ``test_pfode_sde.py``). Instances (spec §2.2, summary
of the paper: "VPSDE, VESDE and sub-VPSDE"):

* VP:     f = -beta/2, g^2 = beta,                 m = alpha_t, s^2 = 1 - alpha_t^2, prior N(0, Q)
* sub-VP: f = -beta/2, g^2 = beta (1 - alpha_t^4), m = alpha_t, s = 1 - alpha_t^2,   prior N(0, Q)
* VE:     f = 0,       g^2 = d sigma_t^2 / dt,      m = 1, s^2 = sigma_t^2 - sigma_min^2, prior N(0, s_T^2 Q)

with ``alpha_t = exp(-1/2 int_0^t beta)``. Schedules: ``linear`` beta(t) = b0 + (b1 - b0) t (Song et al.) and
``cosine`` (hdm-official's 1-D default, Nichol & Dhariwal): ``log alpha_t = log cos(pi/2 (t+s)/(1+s)) -
log cos(pi/2 s/(1+s))``, s = 0.008, integrated on ``[eps, T] = [1e-5, 0.9946]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["LinearSDE", "VPSDE", "SubVPSDE", "VESDE", "make_sde", "SDE_KINDS", "SCHEDULES"]

SDE_KINDS = ("vp", "subvp", "ve")
SCHEDULES = ("linear", "cosine")


def _t(t, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(t, torch.Tensor):
        return t
    return torch.as_tensor(t, dtype=torch.float64 if like is None else like.dtype)


@dataclass
class LinearSDE:
    """Base class: scalar drift ``f(t)``, diffusion ``g(t)^2`` and kernel coefficients ``m_t``, ``s_t``."""

    T: float = 1.0
    eps: float = 1e-3

    def validate(self) -> None:
        if not 0 < self.eps < self.T:
            raise ValueError(f"need 0 < eps < T, got eps={self.eps}, T={self.T}")

    # to override ---------------------------------------------------------------------------------------
    def mean_coeff(self, t):  # m_t
        raise NotImplementedError

    def std(self, t):  # s_t
        raise NotImplementedError

    def f(self, t):  # drift coefficient: B(t, x) = f(t) x
        raise NotImplementedError

    def g2(self, t):  # g(t)^2, the scalar A(t)
        raise NotImplementedError

    # derived -------------------------------------------------------------------------------------------
    def prior_std(self) -> float:
        """Std multiplier of the prior ``N(0, prior_std^2 Q)`` the reverse processes start from."""
        return float(self.std(torch.tensor(self.T, dtype=torch.float64)))

    def log_snr(self, t):
        """``lambda_t = log(m_t^2 / s_t^2)``: decreasing in t (used for the log-SNR time grid)."""
        t = _t(t)
        return 2.0 * (torch.log(self.mean_coeff(t)) - torch.log(self.std(t)))

    def perturb(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = m_t x0 + s_t xi`` with ``xi ~ N(0, Q)`` given as ``noise`` (t has shape (B,))."""
        m, s = self.mean_coeff(t).to(x0.dtype), self.std(t).to(x0.dtype)
        return m[:, None] * x0 + s[:, None] * noise

    def pf_ode_drift(self, x: torch.Tensor, t: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        """The paper's PF-ODE velocity ``B(t, x) - 1/2 A(t) rho(t, x)`` (spec §2.4) given the score ``rho``."""
        return _b(self.f(t), x) * x - 0.5 * _b(self.g2(t), x) * rho

    def reverse_sde_drift(self, x: torch.Tensor, t: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        """Drift of the time-reversed SDE ``B(t, x) - A(t) rho(t, x)`` (run backwards in time)."""
        return _b(self.f(t), x) * x - _b(self.g2(t), x) * rho


def _b(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar/(B,) coefficient against ``x`` of shape (B, N)."""
    c = c.to(x.dtype)
    return c[:, None] if c.ndim == 1 else c


@dataclass
class _BetaSchedule(LinearSDE):
    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_s: float = 0.008

    def validate(self) -> None:
        super().validate()
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.schedule == "cosine" and self.T >= 1.0:
            raise ValueError("the cosine schedule needs T < 1 (beta(1) is infinite); hdm-official uses 0.9946")
        if self.schedule == "linear" and not 0 <= self.beta_min < self.beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {self.beta_min}, {self.beta_max}")

    def beta(self, t):
        t = _t(t)
        if self.schedule == "linear":
            return self.beta_min + (self.beta_max - self.beta_min) * t
        s = self.cosine_s
        return (math.pi / (1 + s)) * torch.tan((t + s) / (1 + s) * math.pi / 2)

    def log_alpha(self, t):
        """``log alpha_t = -1/2 int_0^t beta``."""
        t = _t(t)
        if self.schedule == "linear":
            return -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)
        s = self.cosine_s
        return torch.log(torch.cos((t + s) / (1 + s) * math.pi / 2)) - math.log(math.cos(s / (1 + s) * math.pi / 2))

    def mean_coeff(self, t):
        return torch.exp(self.log_alpha(t))

    def f(self, t):
        return -0.5 * self.beta(t)


@dataclass
class VPSDE(_BetaSchedule):
    def std(self, t):
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def g2(self, t):
        return self.beta(t)

    def prior_std(self) -> float:
        return 1.0


@dataclass
class SubVPSDE(_BetaSchedule):
    def std(self, t):
        return -torch.expm1(2.0 * self.log_alpha(t))

    def g2(self, t):
        return self.beta(t) * (-torch.expm1(4.0 * self.log_alpha(t)))

    def prior_std(self) -> float:
        return 1.0


@dataclass
class VESDE(LinearSDE):
    sigma_min: float = 0.01
    sigma_max: float = 20.0
    eps: float = 1e-5

    def validate(self) -> None:
        super().validate()
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    def sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** _t(t)

    def mean_coeff(self, t):
        return torch.ones_like(_t(t))

    def std(self, t):
        sig = self.sigma(t)
        return torch.sqrt(sig**2 - self.sigma_min**2)

    def f(self, t):
        return torch.zeros_like(_t(t))

    def g2(self, t):
        return 2.0 * self.sigma(t) ** 2 * math.log(self.sigma_max / self.sigma_min)


def make_sde(kind: str, **kw) -> LinearSDE:
    """Build and validate an SDE: ``kind`` in ``vp | subvp | ve``; unused keyword groups are ignored."""
    if kind in ("vp", "subvp"):
        keys = ("T", "eps", "schedule", "beta_min", "beta_max", "cosine_s")
        sde = (VPSDE if kind == "vp" else SubVPSDE)(**{k: v for k, v in kw.items() if k in keys})
    elif kind == "ve":
        keys = ("T", "eps", "sigma_min", "sigma_max")
        sde = VESDE(**{k: v for k, v in kw.items() if k in keys})
    else:
        raise ValueError(f"unknown sde {kind!r}; choose one of {SDE_KINDS}")
    sde.validate()
    return sde
