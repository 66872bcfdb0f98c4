"""Samplers with the exact Gaussian score (issue 4 "exact-score test"), time grids and NFE accounting."""

import pytest
import torch
from mlrepro_pfode.method.exact import gaussian_problem, ode_pushforward_moments, relative_cov_error
from mlrepro_pfode.method.noise import CosineBasis
from mlrepro_pfode.method.samplers import n_steps_for, sample, time_grid
from mlrepro_pfode.method.score import GaussianScore
from mlrepro_pfode.method.sde import make_sde

NFES = [5, 10, 20, 50, 100, 1000]
VP_LINEAR = dict(schedule="linear", T=1.0, eps=1e-3)


def _cov_errors(method, sde, grid, nfes=NFES, n_points=64):
    noise, basis, score, C, _ = gaussian_problem(sde, n_points)
    q = noise.eigenvalues(n_points)
    return [relative_cov_error(ode_pushforward_moments(method, sde, score, basis, q, n, grid)[1], C) for n in nfes]


@pytest.mark.parametrize("method", ["ode_euler", "ode_heun"])
@pytest.mark.parametrize("grid", ["uniform", "power", "logsnr"])
def test_pfode_exact_score_covariance(method, grid):
    """Issue 4: with the exact score the PF-ODE at 20 NFE reproduces the data covariance within 5% and its error
    falls as NFE grows (exact pushforward: no Monte-Carlo noise)."""
    err = dict(zip(NFES, _cov_errors(method, make_sde("vp", **VP_LINEAR), grid)))
    assert err[20] < 0.05, err
    assert err[1000] < err[20] < err[5], err
    assert err[1000] < 2e-3, err
    # non-increasing up to the eps-truncation floor
    vals = [err[n] for n in NFES]
    assert all(b <= a + 1e-4 for a, b in zip(vals, vals[1:])), err


@pytest.mark.parametrize("kind,kw,method,grid", [
    ("vp", dict(schedule="cosine", T=0.9946, eps=1e-5), "ode_euler", "logsnr"),
    ("vp", dict(schedule="cosine", T=0.9946, eps=1e-5), "ode_heun", "logsnr"),
    ("subvp", VP_LINEAR, "ode_euler", "uniform"),
    ("subvp", VP_LINEAR, "ode_heun", "power"),
])
def test_pfode_other_sdes_at_20_nfe(kind, kw, method, grid):
    e20, e1000 = _cov_errors(method, make_sde(kind, **kw), grid, [20, 1000])
    assert e20 < 0.05 and e1000 < e20


@pytest.mark.parametrize("method", ["ode_heun", "ode_ddim"])
def test_ve_pfode_converges_at_high_nfe(method):
    e50, e1000 = _cov_errors(method, make_sde("ve", sigma_min=0.01, sigma_max=20.0), "uniform", [50, 1000])
    assert e1000 < 0.01 and e1000 < e50


def test_ddim_is_exact_for_a_point_mass():
    """For data concentrated at 0 the PF-ODE solution is x_t = (s_t/s_T) x_T; DDIM reproduces it in one step."""
    n = 8
    basis = CosineBasis(n, dtype=torch.float64)
    q = torch.linspace(1.0, 0.1, n, dtype=torch.float64)
    for kind, kw in [("vp", VP_LINEAR), ("ve", {})]:
        sde = make_sde(kind, **kw)
        score = GaussianScore(sde, basis, q, torch.zeros(n, dtype=torch.float64))
        x = torch.randn(3, n, dtype=torch.float64)
        out, info = sample("ode_ddim", sde, score, x, 1)
        ratio = float(sde.std(torch.tensor(sde.eps, dtype=torch.float64)) / sde.std(torch.tensor(sde.T, dtype=torch.float64)))
        assert info["nfe"] == 1
        assert torch.allclose(out, ratio * x, rtol=1e-10)
        euler, _ = sample("ode_euler", sde, score, x, 1)
        assert not torch.allclose(euler, ratio * x, rtol=1e-3)


@pytest.mark.parametrize("method", ["sde_em", "sde_pc"])
def test_reverse_sde_exact_score_high_nfe(method):
    """Issue 4: the SDE samplers reproduce the covariance at high NFE (Monte Carlo, 6000 paths, 16-point grid)."""
    sde = make_sde("vp", **VP_LINEAR)
    noise, basis, score, C, m = gaussian_problem(sde, 16)
    g = torch.Generator().manual_seed(0)
    errs = {}
    for nfe in (20, 400):
        x_T = noise.sample(6000, 16, g, torch.float64)
        x, info = sample(method, sde, score, x_T, nfe, noise=noise.sampler(16, torch.float64), generator=g)
        assert info["nfe"] == nfe
        errs[nfe] = relative_cov_error(torch.cov(x.T), C)
        if nfe == 400:
            assert float((x.mean(0) - m).pow(2).mean().sqrt()) < 0.03
    assert errs[400] < 0.05, errs
    assert errs[400] < errs[20], errs


def test_time_grids():
    for kind, kw in [("vp", VP_LINEAR), ("vp", dict(schedule="cosine", T=0.9946, eps=1e-5)), ("ve", {})]:
        sde = make_sde(kind, **kw)
        for grid in ("uniform", "power", "logsnr"):
            ts = time_grid(sde, 7, grid)
            assert len(ts) == 8 and float(ts[0]) == sde.T and float(ts[-1]) == sde.eps
            assert torch.all(ts[1:] < ts[:-1])
        lam = sde.log_snr(time_grid(sde, 6, "logsnr"))
        assert torch.allclose(lam[1:] - lam[:-1], (lam[-1] - lam[0]) / 6 * torch.ones(6, dtype=torch.float64), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown time grid"):
        time_grid(make_sde("vp"), 4, "cosine")


@pytest.mark.parametrize("method,nfe,steps", [("ode_euler", 7, 7), ("ode_heun", 5, 3), ("ode_heun", 10, 5),
                                              ("sde_pc", 5, 3), ("sde_em", 3, 3), ("ode_ddim", 4, 4)])
def test_nfe_counter_is_exact(method, nfe, steps):
    sde = make_sde("vp", **VP_LINEAR)
    noise, basis, score, _, _ = gaussian_problem(sde, 8)
    x = noise.sample(4, 8, torch.Generator().manual_seed(0), torch.float64)
    out, info = sample(method, sde, score, x, nfe, noise=noise.sampler(8, torch.float64))
    assert n_steps_for(method, nfe) == steps and info["steps"] == steps and info["nfe"] == nfe
    assert torch.isfinite(out).all()


def test_sampler_errors_and_clamp():
    sde = make_sde("vp", **VP_LINEAR)
    noise, basis, score, _, _ = gaussian_problem(sde, 8)
    x = 100.0 * noise.sample(4, 8, torch.Generator().manual_seed(0), torch.float64)
    with pytest.raises(ValueError, match="noise sampler"):
        sample("sde_em", sde, score, x, 4)
    with pytest.raises(ValueError, match="unknown sampler"):
        n_steps_for("rk45", 4)
    out, info = sample("ode_euler", sde, score, x, 2, clamp_norm=1e-3)
    assert info["clamped"] > 0
    assert torch.all(out.pow(2).mean(-1).sqrt() <= 1e-3 + 1e-12)
