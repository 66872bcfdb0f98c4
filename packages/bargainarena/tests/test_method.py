"""method.py against the spec's worked vectors (§2.5), closed forms and brute force."""

import math

import numpy as np
import pytest
from mlrepro_bargainarena.method import (
    WEIGHTS,
    consumer_surplus,
    file_metrics,
    fit_preference_weights,
    mean_std,
    negotiation_power,
    og_price,
    pairwise_accuracy,
    predict_og_vs_floor,
    score_deal,
)

CAM = dict(budget=500, list_price=550, cost=400)


@pytest.mark.parametrize("price,cs,np_,score", [
    (450, 0.5, 2 / 3, 2.1993),   # spec §2.5
    (400, 1.0, 1.0, 3.0),        # at cost
    (500, 0.0, 1 / 3, 1.3986),   # at budget
    (560, 0.0, 0.0, 1.1049),     # above list
    (350, 1.0, 1.0, 3.0),        # below cost clamps to 1
])
def test_single_product_vectors(price, cs, np_, score):
    s = score_deal(price, **CAM)
    assert s.deal and s.ar == 1.0
    assert s.cs == pytest.approx(cs) and s.np == pytest.approx(np_)
    assert round(s.score, 4) == score


def test_multi_product_vectors():
    # Digital Camera (B 500, I 430, C 300, AR 0.7783) at 400; DSLR (550/400/1.0) at 480
    assert round(score_deal(400, 500, 430, 300, 0.7783).score, 4) == 1.5702
    assert round(score_deal(480, 500, 550, 400, 1.0).score, 4) == 1.7189


def test_weights_sum_to_three_and_max_score():
    assert sum(WEIGHTS) == pytest.approx(3.0, abs=1e-12)
    assert score_deal(0, **CAM).score == pytest.approx(3.0)


def test_no_deal_and_file_metrics():
    nd = score_deal(None, **CAM)
    assert not nd.deal and nd.score == 0.0
    assert not score_deal(float("nan"), **CAM).deal
    fm = file_metrics([score_deal(450, **CAM), score_deal(400, **CAM)] + [nd] * 8)
    assert round(fm["avg_total"], 4) == 0.5199 and fm["deal_rate"] == 20.0
    assert fm["avg_deal_price"] == 425.0 and fm["n_sessions"] == 10
    assert file_metrics([nd])["avg_deal_price"] is None
    with pytest.raises(ValueError):
        file_metrics([])


def test_cs_np_piecewise_linear():
    for p in np.linspace(380, 570, 39):
        cs = consumer_surplus(p, 500, 400)
        np_ = negotiation_power(p, 550, 400)
        assert 0 <= cs <= 1 and 0 <= np_ <= 1
        if 400 < p < 500:
            assert cs == pytest.approx((500 - p) / 100)
        if 400 < p < 550:
            assert np_ == pytest.approx((550 - p) / 150)


def test_mean_std_population_and_nan_as_zero():
    m, s = mean_std([1.0, 3.0, float("nan")])
    assert m == pytest.approx(4 / 3) and s == pytest.approx(np.std([1.0, 3.0, 0.0]))


def test_og_price_ramp():
    assert og_price(500, 0, 10) == 250.0
    assert og_price(500, 9, 10) == 475.0
    assert og_price(33.33, 3, 7) == round(33.33 * (0.5 + 0.5 * 3 / 7), 2)
    with pytest.raises(ValueError):
        og_price(500, -1, 10)


@pytest.mark.parametrize("budget", [30, 50, 80, 100, 150, 400, 500, 600, 800, 33.33])
@pytest.mark.parametrize("rounds", [1, 3, 10])
def test_og_vs_floor_closed_form_equals_brute_force(budget, rounds):
    for floor in np.linspace(0.2 * budget, 1.1 * budget, 61):
        t, p = predict_og_vs_floor(budget, float(floor), rounds)
        brute = next((u for u in range(rounds) if og_price(budget, u, rounds) >= floor - 1e-9), None)
        assert t == brute
        assert p == (None if brute is None else og_price(budget, brute, rounds))
    # a floor exactly on a ramp price closes on that turn
    assert predict_og_vs_floor(500, 450.0, 10) == (8, 450.0)


def test_preference_fit_recovers_weights_and_accuracy():
    rng = np.random.default_rng(0)
    n = 20000
    x1, x2 = rng.uniform(0, 1, (n, 3)), rng.uniform(0, 1, (n, 3))
    w = np.array([1.5, -0.5, 2.0])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(x1 - x2) @ w))).astype(int)
    fit = fit_preference_weights(x1, x2, y)
    assert np.all(np.abs(fit.weights - w) < 4 * fit.stderr)
    assert fit.stderr.max() < 0.1 and fit.iterations < 20
    assert fit.accuracy == pytest.approx(pairwise_accuracy(fit.weights, x1, x2, y))
    assert fit.normalised.sum() == pytest.approx(3.0)


def test_preference_fit_gradient_zero_at_optimum_and_intercept():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(500, 3)), rng.normal(size=(500, 3))
    y = (rng.uniform(size=500) < 1 / (1 + np.exp(-(0.7 + (x1 - x2) @ np.array([1.0, 0.5, -1.0]))))).astype(int)
    fit = fit_preference_weights(x1, x2, y, intercept=True)
    d = np.hstack([x1 - x2, np.ones((500, 1))])
    p = 1 / (1 + np.exp(-(d @ np.append(fit.weights, fit.intercept))))
    assert np.abs(d.T @ (y - p)).max() < 1e-6
    assert fit.intercept > 0.3
    reg = fit_preference_weights(x1, x2, y, l2=1e6)
    assert np.abs(reg.weights).max() < 1e-2  # heavy ridge shrinks to zero


def test_preference_fit_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_preference_weights(np.zeros((3, 3)), np.zeros((2, 3)), [0, 1, 0])
    with pytest.raises(ValueError):
        fit_preference_weights(np.zeros((2, 3)), np.zeros((2, 3)), [0, 2])
    assert math.isfinite(fit_preference_weights(np.eye(3), np.zeros((3, 3)), [1, 1, 0]).log_likelihood)
