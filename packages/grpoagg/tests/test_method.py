"""method.py against closed forms, brute force, finite differences and hand values (digest §6.4)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from mlrepro_grpoagg import method as M
from mlrepro_grpoagg.data import binary_problem, margin_problem, random_problem

INF = math.inf


# ------------------------------------------------------------------------------------------------ advantages


def test_group_advantages_hand_values():
    A = M.group_advantages([1.0, 0.0])
    np.testing.assert_allclose(A, [1.0, -1.0])  # G=2, population std: sign of the difference
    A = M.group_advantages([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(A, [math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3)])
    np.testing.assert_allclose(M.group_advantages([2.0, 2.0, 2.0]), 0.0)  # 0/0 := 0
    np.testing.assert_allclose(M.group_advantages([0.1, 0.1, 0.1], "sample", std_eps=1e-4), 0.0)
    np.testing.assert_allclose(M.group_advantages([3.0, 1.0], "none"), [1.0, -1.0])


def test_group_advantages_pairwise_form_and_invariance():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(50, 6))
    A = M.group_advantages(r)
    G = r.shape[1]
    num = (r[:, :, None] - r[:, None, :]).sum(-1) / G
    den = np.sqrt(((r[:, :, None] - r[:, None, :]) ** 2).sum((1, 2)) / (2 * G * G))[:, None]
    np.testing.assert_allclose(A, num / den, atol=1e-12)
    np.testing.assert_allclose(M.group_advantages(3.5 * r - 7), A, atol=1e-12)  # positive affine invariance
    np.testing.assert_allclose(M.group_advantages(r, "sample"), A * math.sqrt((G - 1) / G), atol=1e-12)
    np.testing.assert_allclose(A.sum(1), 0.0, atol=1e-12)


def test_group_advantages_match_trl_formula():
    torch = pytest.importorskip("torch")
    r = np.array([[1.0, 0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.3, 0.3, 0.3]])
    t = torch.tensor(r)
    trl = (t - t.mean(1, keepdim=True)) / (t.std(1, keepdim=True) + 1e-4)  # TRL scale_rewards="group"
    np.testing.assert_allclose(M.group_advantages(r, "sample", std_eps=1e-4), trl.numpy(), atol=1e-12)


# ------------------------------------------------------------------------------------------ preference model


def brute_force_preference(pi, rm, G, normalization="pop", std_eps=0.0):
    """Enumerate every ordered tuple of (other outputs, their reward levels) and the own reward level."""
    K, Mv = rm.K, rm.M
    P = np.zeros(K)
    members = [(o, m, pi[o] * rm.probs[o, m]) for o in range(K) for m in range(Mv) if pi[o] * rm.probs[o, m] > 0]
    for o in range(K):
        for m0 in range(Mv):
            w0 = rm.probs[o, m0]
            if w0 == 0:
                continue
            for tup in itertools.product(members, repeat=G - 1):
                w = w0 * np.prod([t[2] for t in tup])
                r = np.array([rm.levels[m0], *[rm.levels[t[1]] for t in tup]])
                P[o] += w * M.group_advantages(r, normalization, std_eps)[0]
    return P


@pytest.mark.parametrize("G", [2, 3, 4])
@pytest.mark.parametrize("normalization", ["pop", "sample", "none"])
def test_preference_exact_vs_brute_force(G, normalization):
    rng = np.random.default_rng(G)
    pi = rng.dirichlet(np.ones(3))
    for rm in (M.RewardModel.deterministic([1.0, 0.5, 0.5]), M.RewardModel.bernoulli([0.9, 0.4, 0.1]),
               M.RewardModel([0.0, 0.5, 2.0], [[0.2, 0.3, 0.5], [0.6, 0.4, 0.0], [0.1, 0.1, 0.8]])):
        exact = M.preference_model(pi, rm, G, normalization)
        np.testing.assert_allclose(exact, brute_force_preference(pi, rm, G, normalization), atol=1e-12)


def test_preference_std_eps_vs_brute_force():
    pi = np.array([0.5, 0.3, 0.2])
    rm = M.RewardModel.deterministic([1.0, 0.2, 0.0])
    for G in (2, 3):
        exact = M.preference_model(pi, rm, G, "sample", std_eps=1e-2)
        np.testing.assert_allclose(exact, brute_force_preference(pi, rm, G, "sample", 1e-2), atol=1e-12)


def test_preference_g2_is_pairwise_margin():
    # §2.3: P_2(o|pi) = sum_o' pi(o') [P(o > o') - P(o' > o)]
    rm = M.RewardModel.bernoulli([0.8, 0.3])
    p = 0.37
    P = M.preference_model([p, 1 - p], rm, 2)
    gamma = rm.pairwise_margin(0, 1)
    assert gamma == pytest.approx(0.5)
    np.testing.assert_allclose(P, [gamma * (1 - p), -gamma * p], atol=1e-15)
    # deterministic rewards: only the order matters
    np.testing.assert_allclose(M.preference_model([p, 1 - p], [10.0, -3.0], 2), [1 - p, -p], atol=1e-15)


def test_preference_large_g_limit():
    pi = np.array([0.2, 0.5, 0.3])
    r = np.array([1.0, 0.4, 0.0])
    mu = pi @ r
    sd = math.sqrt(pi @ (r - mu) ** 2)
    np.testing.assert_allclose(M.preference_model(pi, r, INF), (r - mu) / sd, atol=1e-14)
    # finite G approaches the limit (binary: exact binomial enumeration)
    p_inf = M.preference_model([0.3, 0.7], [1, 0], INF)
    errs = [np.max(np.abs(M.preference_model([0.3, 0.7], [1, 0], G) - p_inf)) for G in (8, 64, 512)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01


def test_shift_only_formula():
    # §3: E_{o~pi'}[P_G(o|pi)] = (1 - 1/G)(E_pi' r - E_pi r) for shift-only advantages
    pi, pi2 = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.1, 0.3])
    rm = M.RewardModel.bernoulli([0.9, 0.5, 0.2])
    for G in (2, 5):
        P = M.preference_model(pi, rm, G, "none")
        assert pi2 @ P == pytest.approx((1 - 1 / G) * (pi2 @ rm.mean - pi @ rm.mean), abs=1e-14)


def test_expected_preference_is_zero():
    rng = np.random.default_rng(1)
    for _ in range(10):
        K = int(rng.integers(2, 6))
        pi = rng.dirichlet(np.ones(K))
        rm = M.RewardModel.deterministic(rng.integers(0, 3, K).astype(float))  # ties included
        for G in (2, 3, 6, INF):
            for norm in M.NORMALIZATIONS:
                assert abs(M.expected_preference(pi, rm, G, norm)) < 1e-13


def test_preference_monte_carlo_matches_exact():
    pi = [0.1, 0.2, 0.3, 0.4]
    r = [1.0, 0.5, 0.0, 0.0]
    exact = M.preference_model(pi, r, 4)
    est, se = M.preference_model(pi, r, 4, method="mc", n_samples=60_000, seed=0, return_stderr=True)
    assert np.all(np.abs(est - exact) < 5 * se + 1e-12)
    with pytest.raises(ValueError):
        M.preference_model(pi, r, INF, method="mc")


def test_preference_bad_inputs():
    with pytest.raises(ValueError):
        M.preference_model([0.5, 0.6], [1, 0])
    with pytest.raises(ValueError):
        M.preference_model([0.5, 0.5], [1, 0], G=1)
    with pytest.raises(ValueError):
        M.preference_model([0.5, 0.5], [1, 0], normalization="zscore")
    with pytest.raises(ValueError):
        M.preference_model([0.5, 0.5], [1, 0, 2])
    with pytest.raises(ValueError, match="use method='mc'"):
        M.preference_model(np.full(60, 1 / 60), np.arange(60.0), 8)


# ---------------------------------------------------------------------------------------------------- penalty


def test_k3_expectation_is_kl_at_pi_old():
    rng = np.random.default_rng(2)
    pi, ref = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    assert M.kl0(pi, ref, pi) == pytest.approx(M.direct_kl(pi, ref), abs=1e-14)
    assert M.kl0(pi, ref, ref) != pytest.approx(M.direct_kl(pi, ref), abs=1e-3)


def test_kl0_gradient_finite_differences_and_eq10():
    rng = np.random.default_rng(3)
    pi, ref, old = (rng.dirichlet(np.ones(4)) for _ in range(3))
    g = M.kl0_grad(pi, ref, old)
    h = 1e-7
    for o in range(4):
        e = np.zeros(4)
        e[o] = h
        fd = (M.kl0(pi + e, ref, old) - M.kl0(pi - e, ref, old)) / (2 * h)
        assert g[o] == pytest.approx(fd, rel=1e-6)
    # eq. 10: at pi_old = pi the gradient is 1 - pi_ref/pi, the reverse-KL gradient plus a constant
    np.testing.assert_allclose(M.kl0_grad(pi, ref, pi), 1 - ref / pi)
    np.testing.assert_allclose(M.penalty_grad(pi, ref, "reverse"), 1 - ref / pi)
    for o in range(4):
        e = np.zeros(4)
        e[o] = h
        fd = (M.reverse_kl(pi + e, ref) - M.reverse_kl(pi - e, ref)) / (2 * h)
        assert M.penalty_grad(pi, ref, "reverse")[o] - 1 == pytest.approx(fd, rel=1e-6)
        fd = (np.sum((pi + e) * np.log((pi + e) / ref)) - np.sum((pi - e) * np.log((pi - e) / ref))) / (2 * h)
        assert M.penalty_grad(pi, ref, "direct")[o] == pytest.approx(fd, rel=1e-6)


# ----------------------------------------------------------------------------------------------- closed forms

TABLE = {  # digest §6.4, eq. 14 (rows p_ref, columns beta/gamma 0.1, 0.5, 1, 2)
    0.05: [0.905522, 0.545804, 0.223607, 0.091608],
    0.30: [0.932183, 0.710977, 0.547723, 0.421954],
    0.70: [0.972015, 0.892262, 0.836660, 0.784523],
}


def test_eq14_reference_table():
    for p, row in TABLE.items():
        np.testing.assert_allclose(M.binary_g2(p, np.array([0.1, 0.5, 1.0, 2.0])), row, atol=5e-7)


def test_closed_forms_reference_values_beta_half():
    p = np.array([1e-4, 0.01, 0.1, 0.5, 0.9])
    np.testing.assert_allclose(M.binary_g2(p, 0.5), [0.500100, 0.509808, 0.585410, 0.809017, 0.965891], atol=5e-7)
    np.testing.assert_allclose(M.binary_ginf(p, 0.5), [0.800040, 0.803975, 0.837612, 0.947214, 0.997612], atol=5e-7)
    np.testing.assert_allclose(M.binary_direct_g2(p, 0.5), [0.000738, 0.069453, 0.450853, 0.880797, 0.985186],
                               atol=5e-7)
    rlhf = [M.log_pooling([x, 1 - x], [1.0, 0.0], 0.5)[0] for x in p]
    np.testing.assert_allclose(M.binary_direct_g2(p, 0.5), rlhf, atol=1e-14)


def test_closed_form_properties():
    p = np.linspace(0.001, 0.999, 101)
    for b in (0.04, 0.3, 1.0, 3.0):
        y = M.binary_g2(p, b)
        assert np.all(y >= np.maximum(1 - b, p) - 1e-12)  # floor of eq. 14
        assert np.all(np.diff(y) > 0)  # increasing in p_ref
        y2 = M.binary_ginf(p, b)
        assert np.all(y2 >= np.maximum(1 / (1 + b * b), p) - 1e-12)  # floor of eq. 15
        assert np.all(y2 >= y - 1e-12)  # large G is more reward-biased than G = 2
        # eq. 19 holds with the square root: beta (p - p_ref) = sqrt(p (1 - p))
        np.testing.assert_allclose(b * (y2 - p), np.sqrt(y2 * (1 - y2)), atol=1e-12)
        # eq. 17: beta (p - p_ref) / (p (1 - p)) = gamma (gamma = 1)
        np.testing.assert_allclose(b * (y - p) / (y * (1 - y)), 1.0, rtol=1e-9)
    np.testing.assert_allclose(M.binary_g2(p, 1.0), np.sqrt(p), atol=1e-14)  # beta = gamma -> sqrt(p_ref)
    assert float(M.binary_g2(0.0, 0.5)) == 0.0 and float(M.binary_ginf(0.0, 0.5)) == 0.0  # support
    assert float(M.binary_g2(1e-12, 0.5)) == pytest.approx(0.5, abs=1e-9)  # the jump at 0
    assert float(M.binary_direct_g2(1e-12, 0.5)) < 1e-10  # no jump for direct KL
    # decreasing in beta, towards p_ref as beta -> inf and 1 as beta -> 0
    ys = [float(M.binary_g2(0.3, b)) for b in (0.01, 0.1, 1, 10, 1e4)]
    assert all(a > b for a, b in zip(ys, ys[1:])) and ys[0] > 0.99 and ys[-1] == pytest.approx(0.3, abs=1e-4)
    # stable evaluation for large beta/gamma (no cancellation)
    assert float(M.binary_g2(0.3, 1e8)) == pytest.approx(0.3, abs=1e-8)
    assert M.binary_lower_bound(0.04, 1.0, 2) == pytest.approx(0.96)
    assert M.binary_lower_bound(0.04, 1.0, INF) == pytest.approx(0.9984, abs=5e-5)


def test_binary_stationary_dispatch():
    assert M.binary_stationary(0.3, 0.5, 0.0) == pytest.approx(0.3)  # tie
    assert M.binary_stationary(0.3, 0.5, -1.0) == pytest.approx(1 - M.binary_g2(0.7, 0.5))
    assert M.binary_stationary(0.3, 0.5, 0.5, 2) == pytest.approx(M.binary_g2(0.3, 1.0))
    assert M.binary_stationary(0.3, 0.5, 1.0, 2, normalization="sample") == pytest.approx(M.binary_g2(0.3, 0.5 * 2**0.5))
    assert M.binary_stationary(0.3, 0.5, 1.0, INF, normalization="sample") == pytest.approx(M.binary_ginf(0.3, 0.5))
    assert M.binary_stationary(0.3, 0.5, 1.0, 4, normalization="none") == pytest.approx(M.binary_g2(0.3, 0.5 / 0.75))
    with pytest.raises(ValueError, match="no closed form"):
        M.binary_stationary(0.3, 0.5, 1.0, 4)


def test_direct_large_g_critical_beta_and_roots():
    crit = [M.direct_large_g_critical_beta(p) for p in (0.1, 0.3, 0.5, 0.7)]
    np.testing.assert_allclose(crit, [0.6970, 1.0819, 1.5089, 2.1849], atol=1e-4)
    np.testing.assert_allclose(M.direct_large_g_roots(0.3, 2.0), [0.53886, 0.99224], atol=1e-5)
    np.testing.assert_allclose(M.direct_large_g_roots(0.5, 5.0), [0.60070, 0.99922], atol=1e-5)
    assert M.direct_large_g_roots(0.3, 1.0) is None
    b = 1.7
    xs = M.direct_large_g_xstar(b)
    xx = np.linspace(0.01, 0.99, 999)
    assert xx[np.argmin(M.direct_large_g_h(xx, 0.3, b))] == pytest.approx(xs, abs=2e-3)
    assert M.binary_stationary(0.3, 2.0, 1.0, INF, penalty="direct") == pytest.approx(0.53886, abs=1e-5)
    assert M.binary_stationary(0.3, 0.5, 1.0, INF, penalty="direct") == 1.0


# ---------------------------------------------------------------------------------------------------- solver


@pytest.mark.parametrize("G,value", [(2, 0.71098), (4, 0.81038), (16, 0.87844), (64, 0.89619), (256, 0.89910),
                                     (INF, 0.9)])
def test_solver_finite_g_reference(G, value):
    res = M.stationary_policy(*binary_problem(0.3), 0.5, G)
    assert res.converged and res.pi[0] == pytest.approx(value, abs=5e-6)
    assert res.eq_residual < 1e-12


def test_solver_general_k_example():
    pi_ref = np.array([0.1, 0.2, 0.3, 0.4])
    r = np.array([1.0, 0.5, 0.0, 0.0])
    res = M.stationary_policy(pi_ref, r, 0.5, 4)
    np.testing.assert_allclose(res.pi, [0.73150, 0.07408, 0.08332, 0.11110], atol=5e-6)
    assert res.pi[2] / res.pi[3] == pytest.approx(0.75)  # equal rewards keep the reference ratio
    P = M.preference_model(res.pi, r, 4)
    np.testing.assert_allclose((1 - (P - res.pi @ P) / 0.5) * res.pi, pi_ref, atol=1e-12)  # eq. 11


def test_solver_matches_closed_forms_on_grid():
    for b in (0.04, 0.5, 3.0):
        for p in (0.02, 0.4, 0.9):
            for gam in (0.3, 1.0):
                pr, rm = margin_problem(p, gam)
                assert M.stationary_policy(pr, rm, b, 2).pi[0] == pytest.approx(M.binary_g2(p, b / gam), abs=1e-10)
                assert M.stationary_policy(pr, rm, b, 2, penalty="direct").pi[0] == pytest.approx(
                    M.binary_direct_g2(p, b / gam), abs=1e-10)
            pr, rd = binary_problem(p, (5.0, 2.0))
            assert M.stationary_policy(pr, rd, b, INF).pi[0] == pytest.approx(M.binary_ginf(p, b), abs=1e-10)


def test_solver_normalisation_identities():
    pi_ref, r = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.5, 0.0, 0.0])
    for G in (2, 3, 6):
        a = M.stationary_policy(pi_ref, r, 0.5, G, normalization="sample").pi
        b = M.stationary_policy(pi_ref, r, M.beta_effective_sample_std(0.5, G), G).pi
        np.testing.assert_allclose(a, b, atol=1e-12)
        a = M.stationary_policy(pi_ref, r, 0.5, G, normalization="none", penalty="direct").pi
        np.testing.assert_allclose(a, M.log_pooling(pi_ref, r, 0.5 * G / (G - 1)), atol=1e-12)
    # scale-normalised GRPO is invariant to r -> c r + d; shift-only is not
    base = M.stationary_policy(pi_ref, r, 0.5, 4).pi
    np.testing.assert_allclose(M.stationary_policy(pi_ref, 3 * r + 1, 0.5, 4).pi, base, atol=1e-12)
    s1 = M.stationary_policy(pi_ref, r, 0.5, 4, normalization="none").pi
    s2 = M.stationary_policy(pi_ref, 3 * r, 0.5, 4, normalization="none").pi
    assert np.max(np.abs(s1 - s2)) > 0.05


def test_solver_support_and_direct_boundary():
    res = M.stationary_policy([0.0, 0.4, 0.6], [1.0, 0.5, 0.0], 0.5, 3)
    assert res.pi[0] == 0.0 and res.converged and res.pi.sum() == pytest.approx(1.0)
    res = M.stationary_policy(*binary_problem(0.3), 0.5, INF, penalty="direct")
    assert res.converged and res.pi[0] == 1.0 and res.boundary == [1] and "boundary" in res.message


def test_solver_convergence_error_has_diagnostics():
    with pytest.raises(M.ConvergenceError) as ei:
        M.stationary_policy(*binary_problem(0.3), 0.5, 4, max_iter=2, newton_fallback=False)
    r = ei.value.result
    assert not r.converged and r.iterations == 2 and len(r.history) == 2 and "residual" in str(ei.value)
    r = M.stationary_policy(*binary_problem(0.3), 0.5, 4, max_iter=2, newton_fallback=False, raise_on_failure=False)
    assert not r.converged
    with pytest.raises(ValueError):
        M.stationary_policy([0.3, 0.7], [1, 0], -1.0)
    with pytest.raises(ValueError):
        M.stationary_policy([0.3, 0.6], [1, 0], 1.0)


def test_solver_large_space_fast():
    pi_ref, rm = random_problem(1000, seed=0)
    for G in (2, INF):
        res = M.stationary_policy(pi_ref, rm, 0.1, G)
        assert res.converged and res.eq_residual < 1e-10 and res.time_s < 2.0


# ---------------------------------------------------------------------------------------------- log pooling


def test_log_pooling_is_rlhf_optimum():
    from scipy.optimize import minimize

    pi_ref, r, b = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.5, 0.0, -0.3]), 0.7
    pool = M.log_pooling(pi_ref, r, b)

    def negJ(z):
        pi = np.exp(z - z.max())
        pi /= pi.sum()
        return -(pi @ r - b * M.direct_kl(pi, pi_ref))

    z = minimize(negJ, np.zeros(4), method="BFGS", options={"gtol": 1e-12}).x
    pi = np.exp(z - z.max())
    np.testing.assert_allclose(pi / pi.sum(), pool, atol=1e-6)
    softmax_r = np.exp(r) / np.exp(r).sum()
    np.testing.assert_allclose(M.log_opinion_pool([pi_ref, softmax_r], [1.0, 1 / b]), pool, atol=1e-14)


# --------------------------------------------------------------------------------------------- simulated GRPO


def _J(theta, theta_old, pi_ref, r, beta, G, penalty):
    """The per-context GRPO objective (§2.5) as a function of the logits, with pi_old frozen."""
    pi = np.exp(theta - theta.max())
    pi /= pi.sum()
    old = np.exp(theta_old - theta_old.max())
    old /= old.sum()
    P = M.preference_model(old, r, G)
    if penalty == "reverse":
        pen = M.kl0(pi, pi_ref, old)
    else:
        pen = M.direct_kl(pi, pi_ref)
    return pi @ P - beta * pen


@pytest.mark.parametrize("penalty", ["reverse", "direct"])
def test_expected_gradient_finite_differences(penalty):
    rng = np.random.default_rng(4)
    theta = rng.normal(size=4)
    pi_ref, r = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.5, 0.0, 0.0])
    g = M.expected_grpo_gradient(theta, pi_ref, r, 0.5, 3, penalty)
    h = 1e-6
    for k in range(4):
        e = np.zeros(4)
        e[k] = h
        fd = (_J(theta + e, theta, pi_ref, r, 0.5, 3, penalty) - _J(theta - e, theta, pi_ref, r, 0.5, 3, penalty)) / (2 * h)
        assert g[k] == pytest.approx(fd, abs=1e-8)


@pytest.mark.parametrize("penalty", ["reverse", "direct"])
def test_numpy_gradient_equals_trl_loss_autograd(penalty):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    theta = rng.normal(size=5)
    pi_old = np.exp(theta + 0.3 * rng.normal(size=5))
    pi_old /= pi_old.sum()
    pi_ref = rng.dirichlet(np.ones(5))
    outs = rng.integers(0, 5, size=(6, 4))
    adv = M.group_advantages(rng.random((6, 4)))
    g = M.grpo_sample_gradient(theta, outs, adv, pi_old, pi_ref, 0.3, penalty, clip_eps=0.1)
    th = torch.tensor(theta, requires_grad=True)
    o = torch.as_tensor(outs.ravel())
    loss = M.grpo_loss_torch(th, o, torch.as_tensor(np.log(pi_old[outs.ravel()])),
                             torch.as_tensor(np.log(pi_ref[outs.ravel()])), torch.as_tensor(adv.ravel()), 0.3,
                             penalty, 0.1)
    loss.backward()
    np.testing.assert_allclose(g, -th.grad.numpy(), atol=1e-12)


def test_simulate_expected_converges():
    pi_ref, r = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.5, 0.0, 0.0])
    for penalty in ("reverse", "direct"):
        fp = M.stationary_policy(pi_ref, r, 0.5, 4, penalty=penalty).pi
        res = M.simulate_grpo(pi_ref, r, 0.5, 4, mode="expected", steps=5000, lr=1.0, penalty=penalty, target=fp,
                              stop_tol=1e-9)
        assert np.max(np.abs(res.pi_final - fp)) < 1e-8 and res.converged_step is not None


def test_simulate_sampled_converges_and_backends_agree():
    pi_ref, rm = binary_problem(0.3)
    fp = M.stationary_policy(pi_ref, rm, 0.5, 2).pi
    res = M.simulate_grpo(pi_ref, rm, 0.5, 2, mode="sampled", steps=600, lr=0.1, batch_groups=256, seed=1)
    assert np.max(np.abs(res.pi_avg - fp)) < 0.02
    assert 0 < res.n_zero_std_groups < res.n_groups  # groups with equal rewards are counted
    kw = dict(mode="sampled", steps=20, lr=0.1, batch_groups=8, seed=3, inner_steps=2, clip_eps=0.05)
    a = M.simulate_grpo(pi_ref, rm, 0.5, 3, **kw)
    pytest.importorskip("torch")
    b = M.simulate_grpo(pi_ref, rm, 0.5, 3, backend="torch", **kw)
    np.testing.assert_allclose(a.pi_final, b.pi_final, atol=1e-12)
    with pytest.raises(ValueError):
        M.simulate_grpo(pi_ref, rm, 0.5, INF, mode="sampled")
