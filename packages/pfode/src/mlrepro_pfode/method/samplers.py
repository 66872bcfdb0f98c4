"""Samplers: the paper's probability-flow ODE and the reverse-SDE baselines, with an NFE counter.

All samplers integrate *backwards* from ``t_0 = T`` to ``t_K = eps`` on a decreasing time grid and take a
Q-preconditioned score ``rho(x, t)`` (``method.score``). One call of ``rho`` on a batch is one NFE.

* ``ode_euler`` / ``ode_heun``: the PF-ODE ``dY/dt = f(t) Y - 1/2 g(t)^2 rho(Y, t)`` (spec §2.4, the paper's
  equation ``dY = [B - 1/2 A rho] dt``) with explicit Euler or Heun (trapezoidal predictor-corrector). A Heun
  budget of ``n`` NFE uses ``ceil(n/2)`` steps; when ``n`` is odd the last step is an Euler step, so the NFE is
  exactly ``n``.
* ``ode_ddim``: the exponential integrator of the PF-ODE (DDIM / DPM-Solver-1, spec §2.4 "useful exact
  solver"): freezing ``eps = -s_t rho`` over a step gives ``x_s = m_s x0_hat + s_s eps_hat`` exactly. It needs
  only scalar coefficients, so it is valid verbatim in Hilbert space.
* ``sde_em``: Euler-Maruyama for the reverse SDE ``dY = [f Y - g^2 rho] dt + g dW^Q`` (hdm-official's sampler;
  with ``dt < 0`` its update is ``Y <- (1 + beta D/2) Y + beta D rho + sqrt(beta D) xi`` for VP).
* ``sde_pc``: predictor-corrector (Song et al. 2021): an ``sde_em`` predictor step followed by one
  Q-preconditioned Langevin corrector step at the new time, ``Y <- Y + eta rho + sqrt(2 eta) xi`` (a Langevin
  chain whose invariant law is mu_t). Step size ``eta = 2 r^2 s_t^2`` (r = ``snr``). This is the
  discretisation-independent limit of Song et al.'s rule ``eta = 2 (r ||z||/||grad||)^2`` computed with
  *whitened* (Q^{-1/2}) norms: as the grid is refined the ratio tends to ``s_t^2``. Song's rule with plain L2
  norms is unstable under a non-identity Q (a mode with small q_k but large q_k/Var_k gets a per-mode step far
  above 2), so it is not used. With this eta each mode's relaxation factor is ``2 r^2 q_k s_t^2 / Var_t,k <=
  2 r^2``. ``ceil(n/2)`` steps; the last corrector is skipped if ``n`` is odd.

Time grids (``time_grid``): ``uniform`` in t; ``power`` ``t_i = eps + (T - eps) u_i^rho`` with ``u`` uniform
from 1 to 0 (rho = 2 by default: steps shrink near ``eps``, where the score changes fastest, and stay moderate
near T where the cosine beta(t) explodes); ``logsnr`` uniform in ``lambda_t = log(m_t^2/s_t^2)``.

Optional ``clamp_norm``: hdm-official rescales any sample whose norm exceeds a threshold after each step; here
the norm is the discretisation-independent L2(dx/L) norm. Off (``None``) by default; the count of clamped
functions is returned in the info dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .score import NFECounter, ScoreFn
from .sde import LinearSDE

__all__ = ["SAMPLERS", "TIME_GRIDS", "time_grid", "n_steps_for", "sample", "sample_ode_euler",
           "sample_ode_heun", "sample_ode_ddim", "sample_sde_em", "sample_sde_pc"]

SAMPLERS = ("sde_em", "sde_pc", "ode_euler", "ode_heun", "ode_ddim")
TIME_GRIDS = ("uniform", "power", "logsnr")

NoiseFn = Callable[[int, "torch.Generator | None"], torch.Tensor]


def time_grid(sde: LinearSDE, n_steps: int, kind: str = "uniform", rho: float = 2.0) -> torch.Tensor:
    """Decreasing float64 grid ``T = t_0 > t_1 > ... > t_K = eps`` with ``K = n_steps``."""
    if n_steps < 1:
        raise ValueError(f"need at least one step, got {n_steps}")
    u = torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
    if kind == "uniform":
        ts = sde.eps + (sde.T - sde.eps) * u
    elif kind == "power":
        if rho <= 0:
            raise ValueError(f"power grid needs rho > 0, got {rho}")
        ts = sde.eps + (sde.T - sde.eps) * u**rho
    elif kind == "logsnr":
        lam_T = float(sde.log_snr(torch.tensor(sde.T, dtype=torch.float64)))
        lam_e = float(sde.log_snr(torch.tensor(sde.eps, dtype=torch.float64)))
        targets = lam_T + (lam_e - lam_T) * (1 - u)
        ts = _invert_monotone(lambda t: sde.log_snr(t), targets, sde.eps, sde.T)
    else:
        raise ValueError(f"unknown time grid {kind!r}; choose one of {TIME_GRIDS}")
    ts[0], ts[-1] = sde.T, sde.eps
    return ts


def _invert_monotone(fn, targets: torch.Tensor, lo: float, hi: float, iters: int = 100) -> torch.Tensor:
    """Bisection for ``fn(t) = target`` with ``fn`` decreasing on [lo, hi]."""
    a = torch.full_like(targets, lo)
    b = torch.full_like(targets, hi)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        above = fn(mid) > targets  # fn decreasing: root is to the right
        a = torch.where(above, mid, a)
        b = torch.where(above, b, mid)
    return 0.5 * (a + b)


def n_steps_for(method: str, nfe: int) -> int:
    """Number of time steps a sampler takes for an NFE budget (1 NFE/step, or ceil(n/2) for Heun and PC)."""
    if nfe < 1:
        raise ValueError(f"NFE budget must be >= 1, got {nfe}")
    if method in ("ode_heun", "sde_pc"):
        return math.ceil(nfe / 2)
    if method in ("ode_euler", "ode_ddim", "sde_em"):
        return nfe
    raise ValueError(f"unknown sampler {method!r}; choose one of {SAMPLERS}")


def _tt(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64).expand(x.shape[0])


def _clamp(x: torch.Tensor, clamp_norm: float | None, info: dict) -> torch.Tensor:
    if clamp_norm is None:
        return x
    norm = x.pow(2).mean(-1, keepdim=True).sqrt()
    over = norm > clamp_norm
    info["clamped"] = info.get("clamped", 0) + int(over.sum())
    return torch.where(over, x * (clamp_norm / norm.clamp_min(1e-12)), x)


def sample_ode_euler(sde, score: ScoreFn, x: torch.Tensor, ts: torch.Tensor, clamp_norm=None, info=None):
    info = {} if info is None else info
    for i in range(len(ts) - 1):
        t, s = ts[i], ts[i + 1]
        tb = _tt(t, x)
        x = x + (s - t).to(x.dtype) * sde.pf_ode_drift(x, tb, score(x, tb))
        x = _clamp(x, clamp_norm, info)
    return x


def sample_ode_heun(sde, score: ScoreFn, x: torch.Tensor, ts: torch.Tensor, n_euler_last: int = 0,
                    clamp_norm=None, info=None):
    """Heun on every step except the last ``n_euler_last`` steps (Euler there)."""
    info = {} if info is None else info
    K = len(ts) - 1
    for i in range(K):
        t, s = ts[i], ts[i + 1]
        h = (s - t).to(x.dtype)
        tb, sb = _tt(t, x), _tt(s, x)
        d1 = sde.pf_ode_drift(x, tb, score(x, tb))
        x_e = x + h * d1
        if i >= K - n_euler_last:
            x = x_e
        else:
            d2 = sde.pf_ode_drift(x_e, sb, score(x_e, sb))
            x = x + 0.5 * h * (d1 + d2)
        x = _clamp(x, clamp_norm, info)
    return x


def sample_ode_ddim(sde, score: ScoreFn, x: torch.Tensor, ts: torch.Tensor, clamp_norm=None, info=None):
    info = {} if info is None else info
    for i in range(len(ts) - 1):
        t, s = ts[i], ts[i + 1]
        tb = _tt(t, x)
        m_t, s_t = sde.mean_coeff(t).to(x.dtype), sde.std(t).to(x.dtype)
        m_s, s_s = sde.mean_coeff(s).to(x.dtype), sde.std(s).to(x.dtype)
        eps_hat = -s_t * score(x, tb)
        x0_hat = (x - s_t * eps_hat) / m_t
        x = m_s * x0_hat + s_s * eps_hat
        x = _clamp(x, clamp_norm, info)
    return x


def _em_step(sde, score, x, t, s, noise: NoiseFn, generator):
    h = (s - t).to(x.dtype)  # negative
    tb = _tt(t, x)
    g2 = sde.g2(t).to(x.dtype)
    x_mean = x + h * sde.reverse_sde_drift(x, tb, score(x, tb))
    return x_mean + torch.sqrt(g2 * (-h)) * noise(x.shape[0], generator).to(x.dtype), x_mean


def sample_sde_em(sde, score: ScoreFn, x: torch.Tensor, ts: torch.Tensor, noise: NoiseFn,
                  generator=None, clamp_norm=None, info=None, last_mean: bool = False):
    """Euler-Maruyama; ``last_mean`` drops the noise of the final step (off by default, as in hdm-official)."""
    info = {} if info is None else info
    K = len(ts) - 1
    for i in range(K):
        x_new, x_mean = _em_step(sde, score, x, ts[i], ts[i + 1], noise, generator)
        x = _clamp(x_mean if (last_mean and i == K - 1) else x_new, clamp_norm, info)
    return x


def sample_sde_pc(sde, score: ScoreFn, x: torch.Tensor, ts: torch.Tensor, noise: NoiseFn,
                  generator=None, snr: float = 0.16, n_skip_corrector_last: int = 0, clamp_norm=None,
                  info=None):
    info = {} if info is None else info
    K = len(ts) - 1
    for i in range(K):
        s = ts[i + 1]
        x, _ = _em_step(sde, score, x, ts[i], s, noise, generator)
        x = _clamp(x, clamp_norm, info)
        if i >= K - n_skip_corrector_last:
            continue
        sb = _tt(s, x)
        rho = score(x, sb)
        z = noise(x.shape[0], generator).to(x.dtype)
        eta = 2.0 * snr**2 * sde.std(s).to(x.dtype) ** 2
        x = x + eta * rho + torch.sqrt(2.0 * eta) * z
        x = _clamp(x, clamp_norm, info)
    return x


@torch.no_grad()
def sample(method: str, sde: LinearSDE, score: ScoreFn, x_T: torch.Tensor, nfe: int,
           grid: str = "uniform", grid_rho: float = 2.0, noise: NoiseFn | None = None,
           generator: torch.Generator | None = None, snr: float = 0.16, clamp_norm: float | None = None
           ) -> tuple[torch.Tensor, dict]:
    """Run ``method`` from ``x_T`` (already drawn from the prior) with an NFE budget ``nfe``.

    Returns ``(samples, info)`` with ``info = {"nfe": counted evaluations, "steps": K, "clamped": ...}``.
    """
    K = n_steps_for(method, nfe)
    ts = time_grid(sde, K, grid, grid_rho)
    counter = NFECounter(score)
    info: dict = {"clamped": 0}
    if method.startswith("sde") and noise is None:
        raise ValueError(f"sampler {method} needs a noise sampler (draws of N(0, Q))")
    if method == "ode_euler":
        x = sample_ode_euler(sde, counter, x_T, ts, clamp_norm, info)
    elif method == "ode_heun":
        x = sample_ode_heun(sde, counter, x_T, ts, 2 * K - nfe, clamp_norm, info)
    elif method == "ode_ddim":
        x = sample_ode_ddim(sde, counter, x_T, ts, clamp_norm, info)
    elif method == "sde_em":
        x = sample_sde_em(sde, counter, x_T, ts, noise, generator, clamp_norm, info)
    elif method == "sde_pc":
        x = sample_sde_pc(sde, counter, x_T, ts, noise, generator, snr, 2 * K - nfe, clamp_norm, info)
    else:  # pragma: no cover - n_steps_for already raised
        raise ValueError(method)
    info.update(nfe=counter.nfe, steps=K)
    return x, info
