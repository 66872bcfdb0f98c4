"""Forward SDEs (method/sde.py) and the score (method/score.py)."""

import math

import pytest
import torch
from mlrepro_pfode.method.noise import CosineBasis
from mlrepro_pfode.method.score import GaussianScore, NFECounter, conditional_score, dsm_loss, sample_times
from mlrepro_pfode.method.sde import make_sde

SDES = [
    ("vp", dict(schedule="linear", T=1.0, eps=1e-3)),
    ("vp", dict(schedule="cosine", T=0.9946, eps=1e-5)),
    ("subvp", dict(schedule="linear", T=1.0, eps=1e-3)),
    ("subvp", dict(schedule="cosine", T=0.9946, eps=1e-5)),
    ("ve", dict(sigma_min=0.01, sigma_max=20.0)),
]


@pytest.mark.parametrize("kind,kw", SDES)
def test_moment_equations(kind, kw):
    """d log m/dt = f and d(s^2)/dt = 2 f s^2 + g^2: the kernel N(m_t x0, s_t^2 Q) solves the SDE."""
    sde = make_sde(kind, **kw)
    t = torch.linspace(0.05, 0.9, 9, dtype=torch.float64)
    h = 1e-6
    dlogm = (torch.log(sde.mean_coeff(t + h)) - torch.log(sde.mean_coeff(t - h))) / (2 * h)
    ds2 = (sde.std(t + h) ** 2 - sde.std(t - h) ** 2) / (2 * h)
    assert torch.allclose(dlogm, sde.f(t), rtol=1e-5, atol=1e-7)
    assert torch.allclose(ds2, 2 * sde.f(t) * sde.std(t) ** 2 + sde.g2(t), rtol=1e-5, atol=1e-7)


def test_schedule_values():
    vp = make_sde("vp", schedule="cosine", T=0.9946, eps=1e-5)
    assert float(vp.mean_coeff(torch.tensor(0.0, dtype=torch.float64))) == pytest.approx(1.0)
    assert float(vp.beta(torch.tensor(0.9946, dtype=torch.float64))) > 300  # stiff near T (spec 2.2)
    lin = make_sde("vp", schedule="linear")
    assert float(lin.log_alpha(torch.tensor(1.0, dtype=torch.float64))) == pytest.approx(-0.5 * (0.1 + 9.95))
    sub = make_sde("subvp", schedule="linear")
    t = torch.tensor(0.3, dtype=torch.float64)
    assert float(sub.std(t)) == pytest.approx(1 - float(lin.mean_coeff(t)) ** 2)
    ve = make_sde("ve")
    assert float(ve.std(torch.tensor(1.0))) == pytest.approx(math.sqrt(20.0**2 - 0.01**2))
    assert ve.prior_std() == pytest.approx(20.0, rel=1e-6)


def test_bad_sde_settings_fail():
    with pytest.raises(ValueError, match="cosine schedule needs T < 1"):
        make_sde("vp", schedule="cosine", T=1.0)
    with pytest.raises(ValueError, match="unknown sde"):
        make_sde("rectified")
    with pytest.raises(ValueError, match="eps"):
        make_sde("ve", eps=2.0)


def test_conditional_score_and_dsm_optimum():
    """The conditional score is -xi/s_t; the exact noise predictor E[xi|x_t] has a lower DSM loss than others."""
    sde = make_sde("vp", schedule="linear")
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    xi = torch.randn(3, 8, dtype=torch.float64)
    assert torch.allclose(conditional_score(sde, t, xi), -xi / sde.std(t)[:, None])
    assert float(dsm_loss(lambda x, tt: xi, sde, torch.zeros(3, 8, dtype=torch.float64), xi, t)) == 0.0


def test_marginal_score_is_the_conditional_expectation():
    """Tweedie/denoising identity on Gaussian data: regressing -xi/s_t on x_t recovers the closed-form score."""
    n = 16
    basis = CosineBasis(n, dtype=torch.float64)
    k = torch.arange(n, dtype=torch.float64)
    q = (1 + 0.01 * (math.pi * k) ** 2) ** -2.0
    c = 0.5 * (1 + 0.02 * (math.pi * k) ** 2) ** -2.5
    sde = make_sde("vp", schedule="linear")
    gs = GaussianScore(sde, basis, q, c)
    g = torch.Generator().manual_seed(0)
    N = 200000
    t = torch.full((N,), 0.3, dtype=torch.float64)
    x0 = basis.synthesis(torch.randn(N, n, generator=g, dtype=torch.float64) * c.sqrt())
    xi = basis.synthesis(torch.randn(N, n, generator=g, dtype=torch.float64) * q.sqrt())
    xt = sde.perturb(x0, t, xi)
    a_x, a_target = basis.analysis(xt), basis.analysis(conditional_score(sde, t, xi))
    slope = (a_x * a_target).mean(0) / (a_x * a_x).mean(0)  # per-mode least squares (modes are independent)
    exact = basis.analysis(gs(basis.synthesis(torch.eye(n, dtype=torch.float64)), t[:n])).diagonal()
    assert torch.allclose(slope[:6], exact[:6], rtol=0.03)


def test_sample_times_and_counter():
    sde = make_sde("vp", schedule="cosine", T=0.9946, eps=1e-5)
    t = sample_times(sde, 1000, torch.Generator().manual_seed(0))
    assert float(t.min()) >= 1e-5 and float(t.max()) <= 0.9946
    c = NFECounter(lambda x, t: x)
    for _ in range(3):
        c(torch.zeros(2, 2), torch.tensor(0.5))
    assert c.nfe == 3
