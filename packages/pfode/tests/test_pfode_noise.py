"""Trace-class noise and the cosine basis (method/noise.py)."""

import math

import pytest
import torch
from mlrepro_pfode.method.noise import CosineBasis, TraceClassNoise, spectrum


def test_basis_is_orthonormal_and_invertible():
    b = CosineBasis(48, (-10.0, 10.0), torch.float64)
    E = b.matrix
    assert torch.allclose(E.T @ E / 48, torch.eye(48, dtype=torch.float64), atol=1e-12)
    v = torch.randn(5, 48, dtype=torch.float64)
    assert torch.allclose(b.synthesis(b.analysis(v)), v, atol=1e-12)
    assert b.points[0] == pytest.approx(-10 + 20 / 96) and b.points[-1] == pytest.approx(10 - 20 / 96)


def test_mode_coefficients_do_not_depend_on_the_grid():
    # a band-limited function: its first coefficients are the same on a 32- and a 128-point grid
    coeffs = torch.tensor([[0.3, -1.0, 0.5, 0.0, 0.25]], dtype=torch.float64)
    lo, hi = CosineBasis(32, dtype=torch.float64), CosineBasis(128, dtype=torch.float64)
    a_lo = lo.analysis(lo.synthesis(coeffs))[0, :5]
    a_hi = hi.analysis(hi.synthesis(coeffs))[0, :5]
    assert torch.allclose(a_lo, coeffs[0]) and torch.allclose(a_hi, coeffs[0])
    # the L2(dx/L) norm equals the l2 norm of the coefficients at any resolution
    assert float(lo.l2_norm(lo.synthesis(coeffs))) == pytest.approx(float(coeffs.norm()), rel=1e-12)
    assert float(hi.l2_norm(hi.synthesis(coeffs))) == pytest.approx(float(coeffs.norm()), rel=1e-12)


@pytest.mark.parametrize("kind", ["bessel", "se"])
def test_trace_is_gain_and_independent_of_resolution(kind):
    q = TraceClassNoise(kind, length=0.1, smoothness=1.5, gain=2.0)
    assert q.trace() == pytest.approx(2.0, rel=1e-6)
    ev = q.eigenvalues(256)
    assert torch.all(ev[1:] <= ev[:-1]) and torch.all(ev >= 0) and ev[0] > 0
    assert torch.allclose(q.eigenvalues(64), ev[:64])  # the same q_k at every resolution
    # partial traces converge to the full trace as the grid is refined
    assert q.trace(16) <= q.trace(64) <= q.trace(256) <= q.trace() + 1e-12
    assert q.trace(4) < q.trace(64)


def test_white_noise_is_rejected():
    with pytest.raises(ValueError, match="trace class"):
        TraceClassNoise("bessel", length=0.1, smoothness=0.5)
    with pytest.raises(ValueError, match="unknown noise spectrum"):
        spectrum("matern", torch.zeros(3), 1.0)


def test_sample_covariance_matches_the_kernel():
    q = TraceClassNoise("se", length=0.8, domain=(-10.0, 10.0))
    g = torch.Generator().manual_seed(0)
    x = q.sample(20000, 24, g, torch.float64)
    C_emp = torch.cov(x.T)
    C = q.covariance_matrix(24)
    assert float(torch.linalg.norm(C_emp - C) / torch.linalg.norm(C)) < 0.05
    # the SE spectrum is the spectral form of hdm-official's kernel exp(-r^2 / l^2): in the interior of a fine
    # grid the covariance operator's kernel is that kernel
    Cf = q.covariance_matrix(200)
    pts = q.basis(200, torch.float64).points
    for j in (1, 4, 8):
        r = float(pts[100 + j] - pts[100])
        assert float(Cf[100, 100 + j] / Cf[100, 100]) == pytest.approx(math.exp(-(r**2) / 0.8**2), rel=1e-6)
    # the sampler closure draws the same law
    y = q.sampler(24, torch.float64)(20000, g)
    assert float(torch.linalg.norm(torch.cov(y.T) - C) / torch.linalg.norm(C)) < 0.05
