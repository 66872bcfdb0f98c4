"""OT-CFM path / target / loss and the fixed-step solvers against closed forms."""

import math

import pytest
import torch
from mlrepro_mavflow.method.cfm import (
    cfm_loss,
    gaussian_ot_velocity,
    nfe_per_step,
    ot_path,
    ot_target,
    sample_ode,
    solve_adaptive,
    solve_fixed,
)


def test_path_endpoints_and_target_is_time_derivative():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    s = 1e-4
    assert torch.allclose(ot_path(x0, x1, torch.zeros(3), s), x0)
    assert torch.allclose(ot_path(x0, x1, torch.ones(3), s), s * x0 + x1, atol=1e-5)
    t = torch.tensor([0.2, 0.5, 0.9])
    h = 1e-3
    fd = (ot_path(x0, x1, t + h, s) - ot_path(x0, x1, t - h, s)) / (2 * h)
    assert torch.allclose(fd, ot_target(x0, x1, s), atol=1e-3)
    # sigma_min = 0.1 hand value: phi_0.5 = (1 - 0.9 * 0.5) x0 + 0.5 x1
    assert torch.allclose(ot_path(x0, x1, torch.full((3,), 0.5), 0.1), 0.55 * x0 + 0.5 * x1)


def test_loss_masked_hand_value_and_zero_at_optimum():
    u = torch.zeros(1, 2, 3)
    v = torch.tensor([[[1.0, 2.0, 100.0], [3.0, 0.0, 100.0]]])
    mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    # (1 + 4 + 9 + 0) / (2 frames * 2 feats)
    assert cfm_loss(v, u, mask).item() == pytest.approx(14 / 4)
    assert cfm_loss(u + 1, u + 1, mask).item() == 0.0


def test_solvers_on_linear_ode_match_hand_formulas():
    lam, n = -1.3, 8
    x0 = torch.ones(1, 1)
    f = lambda x, t: lam * x  # noqa: E731
    h = 1.0 / n
    xe, nfe_e = solve_fixed(f, x0, n, "euler")
    xm, nfe_m = solve_fixed(f, x0, n, "midpoint")
    xh, nfe_h = solve_fixed(f, x0, n, "heun")
    assert xe.item() == pytest.approx((1 + lam * h) ** n, rel=1e-6)
    assert xm.item() == pytest.approx((1 + lam * h + (lam * h) ** 2 / 2) ** n, rel=1e-6)
    assert xh.item() == pytest.approx((1 + lam * h + (lam * h) ** 2 / 2) ** n, rel=1e-6)
    assert (nfe_e, nfe_m, nfe_h) == (n, 2 * n, 2 * n) == (n * nfe_per_step("euler"), n * 2, n * 2)
    # second order beats first order against exp(lam)
    assert abs(xm.item() - math.exp(lam)) < abs(xe.item() - math.exp(lam)) / 5
    with pytest.raises(ValueError):
        solve_fixed(f, x0, 2, "rk9")


def test_time_dependent_ode_midpoint_exact_for_linear_in_t():
    # dx/dt = 2t: midpoint is exact for polynomials of degree <= 2 in x(t)
    x, _ = solve_fixed(lambda x, t: 2 * t[:, None] * torch.ones_like(x), torch.zeros(2, 1), 3, "midpoint")
    assert torch.allclose(x, torch.ones(2, 1), atol=1e-6)


@pytest.mark.parametrize("method,steps", [("euler", 200), ("midpoint", 20)])
def test_exact_gaussian_velocity_transports_noise_to_target_law(method, steps):
    m, s, sig = 1.5, 0.4, 1e-4
    v = gaussian_ot_velocity(m, s, sig)
    g = torch.Generator().manual_seed(0)
    x1, nfe = sample_ode(v, (20000, 1), steps, method, temperature=1.0, generator=g)
    assert nfe == steps * nfe_per_step(method)
    assert x1.mean().item() == pytest.approx(m, abs=0.02)
    assert x1.std().item() == pytest.approx(math.sqrt(s**2 + sig**2), abs=0.02)


def test_adaptive_reference_agrees_with_fine_fixed_steps():
    v = gaussian_ot_velocity(0.5, 0.7, 1e-4)
    x0 = torch.linspace(-2, 2, 9)[:, None]
    xa, nfe = solve_adaptive(v, x0, rtol=1e-7, atol=1e-7)
    xf, _ = solve_fixed(v, x0, 400, "midpoint")
    assert nfe > 0
    assert torch.allclose(xa, xf, atol=1e-4)
    # closed form of the exact flow for a Gaussian target: x1 = m + s_T * x0 with s_T = sqrt(s^2 + sig^2)
    assert torch.allclose(xa, 0.5 + math.sqrt(0.49 + 1e-8) * x0, atol=1e-4)
