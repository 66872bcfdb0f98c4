"""Data families (data.py): statistics, PDE solvers against closed forms, resolution consistency."""

import math

import numpy as np
import pytest
from mlrepro_pfode.data import (
    GaussianProcess,
    HeatEquation,
    Normalizer,
    Quadratic,
    cell_centred,
    cosine_modes,
    make_family,
    solve_fisher_kpp,
    solve_heat_neumann,
)


def test_quadratic_matches_hdm_definition():
    y = Quadratic().sample(4000, 64, np.random.default_rng(0))
    x = cell_centred(64, (-10.0, 10.0))
    a = np.sign(y[:, 0] - y[:, 32])  # edges above the centre <=> a = +1
    assert abs((a > 0).mean() - 0.5) < 0.03  # a in {-1, +1} equiprobable
    offsets = y - a[:, None] * x[None, :] ** 2
    assert np.allclose(offsets, offsets[:, :1])  # one shared offset per function
    assert abs(offsets[:, 0].std() - 1.0) < 0.05 and abs(offsets[:, 0].mean()) < 0.05


def test_gp_covariance_and_resolution_consistency():
    gp = GaussianProcess(kind="bessel", length=0.1, smoothness=2.0, gain=1.0, n_modes=64)
    c = gp.eigenvalues()
    assert c.sum() == pytest.approx(1.0, rel=1e-3)
    y = gp.sample(20000, 32, np.random.default_rng(0))
    E = cosine_modes((np.arange(32) + 0.5) / 32, 64)
    C = (E * c) @ E.T
    assert np.linalg.norm(np.cov(y, rowvar=False) - C) / np.linalg.norm(C) < 0.05
    # the same draws evaluated on two grids are the same functions
    a = gp.sample(3, 32, np.random.default_rng(5))
    b = gp.sample(3, 64, np.random.default_rng(5))
    E32 = cosine_modes((np.arange(32) + 0.5) / 32, 64)
    E64 = cosine_modes((np.arange(64) + 0.5) / 64, 64)
    coef = np.linalg.lstsq(E64, b.T, rcond=None)[0]
    assert np.allclose(E32 @ coef, a.T, atol=1e-8)


def test_heat_solution_closed_form_and_law():
    heat = HeatEquation(nu=0.01, t_final=0.1, n_modes=64)
    a0 = np.random.default_rng(0).standard_normal((2, 64))
    aT = solve_heat_neumann(a0, 0.01, 0.1)
    k = np.arange(64)
    assert np.allclose(aT, a0 * np.exp(-0.01 * (math.pi * k) ** 2 * 0.1))
    y = heat.sample(20000, 64, np.random.default_rng(1))
    E = cosine_modes((np.arange(64) + 0.5) / 64, 64)
    coeffs = y @ E / 64
    assert np.allclose(coeffs.var(0)[:8], heat.eigenvalues(8), rtol=0.06)


def test_fisher_kpp_reduces_to_heat_and_logistic():
    M = 64
    u0 = 0.5 + 0.2 * np.cos(math.pi * 3 * (np.arange(M) + 0.5) / M)[None]
    # rho = 0: exact heat flow of the cosine mode
    u = solve_fisher_kpp(u0, nu=0.01, rho=0.0, t_final=0.5, n_steps=3)
    expected = 0.5 + 0.2 * math.exp(-0.01 * (3 * math.pi) ** 2 * 0.5) * np.cos(math.pi * 3 * (np.arange(M) + 0.5) / M)
    assert np.allclose(u[0], expected, atol=1e-12)
    # constant initial state: the logistic curve u0 e^{rho t} / (1 + u0 (e^{rho t} - 1))
    c = solve_fisher_kpp(np.full((1, M), 0.2), nu=0.01, rho=2.0, t_final=1.0, n_steps=5)
    g = math.exp(2.0)
    assert np.allclose(c, 0.2 * g / (1 + 0.2 * (g - 1)), atol=1e-12)


def test_fisher_kpp_strang_is_second_order():
    M = 64
    rng = np.random.default_rng(0)
    u0 = 1 / (1 + np.exp(-GaussianProcess(length=0.1, gain=4.0, n_modes=M).sample(2, M, rng)))
    ref = solve_fisher_kpp(u0, 0.002, 1.0, 1.0, 800)
    e1 = np.abs(solve_fisher_kpp(u0, 0.002, 1.0, 1.0, 10) - ref).max()
    e2 = np.abs(solve_fisher_kpp(u0, 0.002, 1.0, 1.0, 20) - ref).max()
    assert e2 < e1 / 3.0  # ~4x for a second-order scheme


def test_reacdiff_is_resolution_consistent_and_bounded():
    fam = make_family("reacdiff", {"solver_points": 128, "n_steps": 20})
    a = fam.sample(4, 32, np.random.default_rng(3))
    b = fam.sample(4, 128, np.random.default_rng(3))
    assert np.all(b > 0) and np.all(b < 1)
    # coarse values = cosine series of the fine solution: the first modes agree
    Ea, Eb = cosine_modes((np.arange(32) + 0.5) / 32, 8), cosine_modes((np.arange(128) + 0.5) / 128, 8)
    assert np.allclose(a @ Ea / 32, b @ Eb / 128, atol=2e-3)
    with pytest.raises(ValueError, match="finer than the solver grid"):
        fam.sample(1, 256, np.random.default_rng(0))


def test_family_errors_and_normalizer():
    with pytest.raises(ValueError, match="no parameter"):
        make_family("heat", {"viscosity": 1.0})
    with pytest.raises(ValueError, match="unknown data family"):
        make_family("navier_stokes")
    with pytest.raises(ValueError, match="smoothness"):
        make_family("gp", {"smoothness": 0.4}).sample(1, 8, np.random.default_rng(0))
    y = np.random.default_rng(0).normal(3.0, 2.0, (100, 8))
    n = Normalizer.fit("standard", y)
    assert abs(n(y).mean()) < 1e-12 and abs(n(y).std() - 1) < 1e-12
    assert np.allclose(n.inverse(n(y)), y)
    assert Normalizer.fit("scale", y, 50.0).scale == 50.0


def test_hub_family_reads_a_local_dataset(tmp_path):
    from mlrepro_pfode.dryrun import _fake_hub_dataset

    path = _fake_hub_dataset(tmp_path / "ds", n=6, n_t=3, n_x=40)
    fam = make_family("hub", {"path": path, "subset": None})
    y = fam.sample(4, 20, np.random.default_rng(0))
    assert y.shape == (4, 20) and np.isfinite(y).all()
    with pytest.raises(ValueError, match="has 6"):
        fam.sample(10, 20, np.random.default_rng(0))
