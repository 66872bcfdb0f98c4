"""Optimal-transport conditional flow matching (OT-CFM) for mel-spectrograms (spec §2.2).

Notation follows the spec: X0 ~ N(0, I) is noise, X1 the target mel, t ~ U(0, 1).

- path (eq. "phi_t"):   phi_t(X0, X1) = (1 - (1 - sigma_min) t) X0 + t X1
- target velocity:      u_t = X1 - (1 - sigma_min) X0
- loss:                 L = E ||u_t - nu_theta(phi_t, t; ...)||^2, computed as a masked sum of squares divided by
                        (sum(mask) * n_mels) as in Matcha-TTS ``BASECFM.compute_loss``.
- sampling:             integrate dx/dt = nu(x, t) from t = 0 to 1 starting at x0 = temperature * N(0, I).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ot_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """phi_t = (1 - (1 - sigma_min) t) x0 + t x1; ``t`` broadcasts over the batch dim (shape [B] or scalar)."""
    t = _bcast(t, x0)
    return (1.0 - (1.0 - sigma_min) * t) * x0 + t * x1


def ot_target(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """u_t = d phi_t / dt = x1 - (1 - sigma_min) x0 (independent of t for the OT path)."""
    return x1 - (1.0 - sigma_min) * x0


def cfm_loss(v_pred: torch.Tensor, u: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Masked OT-CFM loss: sum(mask * (v - u)^2) / (sum(mask) * n_feats). Shapes [B, F, L]; mask [B, 1, L]."""
    if mask is None:
        mask = torch.ones_like(v_pred[:, :1])
    n_feats = v_pred.shape[1]
    return ((v_pred - u) ** 2 * mask).sum() / (mask.sum() * n_feats).clamp_min(1.0)


def _bcast(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    return t.reshape(-1, *([1] * (like.ndim - 1)))


class NFECounter:
    """Wraps a velocity function and counts its evaluations (number of function evaluations, NFE)."""

    def __init__(self, fn: Velocity):
        self.fn = fn
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.fn(x, t)


def solve_fixed(fn: Velocity, x0: torch.Tensor, n_steps: int, method: str = "euler",
                t0: float = 0.0, t1: float = 1.0) -> tuple[torch.Tensor, int]:
    """Fixed-step ODE solve of dx/dt = fn(x, t) from t0 to t1. Returns (x(t1), NFE).

    euler:    x <- x + h f(x, t)                                   (1 NFE / step; Matcha's solver)
    midpoint: x <- x + h f(x + h/2 f(x, t), t + h/2)               (2 NFE / step)
    heun:     x <- x + h/2 [f(x, t) + f(x + h f(x, t), t + h)]     (2 NFE / step)
    """
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    f = NFECounter(fn)
    h = (t1 - t0) / n_steps
    x = x0
    for i in range(n_steps):
        t = torch.full((x.shape[0],), t0 + i * h, dtype=x.dtype, device=x.device)
        if method == "euler":
            x = x + h * f(x, t)
        elif method == "midpoint":
            k1 = f(x, t)
            x = x + h * f(x + 0.5 * h * k1, t + 0.5 * h)
        elif method == "heun":
            k1 = f(x, t)
            k2 = f(x + h * k1, t + h)
            x = x + 0.5 * h * (k1 + k2)
        else:
            raise ValueError(f"unknown solver {method!r} (euler, midpoint, heun)")
    return x, f.nfe


def nfe_per_step(method: str) -> int:
    return {"euler": 1, "midpoint": 2, "heun": 2}[method]


def solve_adaptive(fn: Velocity, x0: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-6,
                   method: str = "dopri5") -> tuple[torch.Tensor, int]:
    """Adaptive reference solve with torchdiffeq (used as the 'exact' ODE solution in tests and sweeps)."""
    from torchdiffeq import odeint

    f = NFECounter(fn)

    def rhs(t, x):
        return f(x, t.expand(x.shape[0]))

    ts = torch.tensor([0.0, 1.0], dtype=x0.dtype, device=x0.device)
    xs = odeint(rhs, x0, ts, rtol=rtol, atol=atol, method=method)
    return xs[-1], f.nfe


def sample_ode(fn: Velocity, shape: tuple[int, ...], n_steps: int = 10, method: str = "euler",
               temperature: float = 0.667, generator: torch.Generator | None = None,
               x0: torch.Tensor | None = None, device: str | torch.device = "cpu") -> tuple[torch.Tensor, int]:
    """Draw x0 = temperature * N(0, I) (or use the given ``x0``) and integrate to t = 1. Returns (x1, NFE)."""
    if x0 is None:
        x0 = torch.randn(shape, generator=generator, device=device) * temperature
    return solve_fixed(fn, x0, n_steps, method)


def gaussian_ot_velocity(m: float, s: float, sigma_min: float) -> Velocity:
    """Exact marginal OT-CFM velocity when X1 ~ N(m, s^2) per coordinate (closed form for tests).

    x_t = a x0 + t x1 with a = 1 - (1 - sigma_min) t, so x_t ~ N(t m, a^2 + t^2 s^2) and
    E[u | x_t = x] = m + (t s^2 - (1 - sigma_min) a) / (a^2 + t^2 s^2) * (x - t m).
    """

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = _bcast(t, x)
        a = 1.0 - (1.0 - sigma_min) * tt
        k = (tt * s * s - (1.0 - sigma_min) * a) / (a * a + tt * tt * s * s)
        return m + k * (x - tt * m)

    return v
