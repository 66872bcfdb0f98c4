import math

import numpy as np
import pytest

from mlrepro.grading import extract_answer, grade, is_equiv, normalize_number
from mlrepro.metrics import (
    accuracy,
    bootstrap_ci,
    count_tokens,
    pass_at_k,
    pearson,
    spearman,
    two_order_win_rate,
    win_rates,
)


@pytest.mark.parametrize("text,fmt,want", [
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "gsm8k", "72"),
    ("so the total is \\boxed{\\frac{3}{4}}.", "boxed", "\\frac{3}{4}"),
    ("nested \\boxed{x^{2}+1} end", "boxed", "x^{2}+1"),
    ("Thus, the answer is 17.", "answer_is", "17"),
    ("The answer is \\boxed{5}", "auto", "5"),
    ("first 3 then 1,250 apples", "last_number", "1,250"),
    ("no answer here", "auto", None),
    ("\\boxed{unclosed", "boxed", None),
])
def test_extract(text, fmt, want):
    assert extract_answer(text, fmt) == want


def test_extract_bad_format():
    with pytest.raises(ValueError):
        extract_answer("x", "nope")


def test_equivalence():
    assert is_equiv("1,250", "1250") and is_equiv("0.5", "1/2") and is_equiv("\\frac{1}{2}", "0.5")
    assert is_equiv("2x+1", "1+2x") and not is_equiv("3", "4") and not is_equiv(None, "4")
    assert normalize_number("$1,000") == 1000 and normalize_number("abc") is None
    g = grade("I think so", "4")
    assert g.parsed is False and g.correct is False
    assert grade("#### 4", "4").correct


def test_no_eval_of_model_output():
    # a malicious "answer" must not be executed
    assert not is_equiv("__import__('os').system('echo pwned')", "0")


def brute_pass_at_k(n, c, k):
    # probability that a uniformly random k-subset of n samples contains at least one of c correct
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize("n,c,k", [(10, 0, 1), (10, 3, 1), (10, 3, 5), (5, 5, 2), (20, 1, 20), (16, 4, 8)])
def test_pass_at_k_matches_combinatorics(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k))


def test_accuracy_ci_rates():
    assert accuracy([True, False, True, True]) == 0.75
    s, lo, hi = bootstrap_ci(np.r_[np.zeros(50), np.ones(50)], seed=1)
    assert s == 0.5 and lo < 0.5 < hi and hi - lo < 0.3
    r = win_rates(["win", "tie", "loss", "win"])
    assert r["win"] == 0.5 and r["win_rate_ties_half"] == 0.625
    t = two_order_win_rate(["win", "win", "loss"], ["win", "loss", "loss"])
    assert t["win_rate"] == pytest.approx((1 + 0.5 + 0) / 3) and t["consistency"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        win_rates(["draw"])


def test_correlations():
    x = [1, 2, 3, 4, 5]
    assert pearson(x, [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    assert spearman(x, [1, 4, 9, 16, 100]) == pytest.approx(1.0)
    assert math.isnan(pearson(x, [1, 1, 1, 1, 1]))
    assert count_tokens(["a b c", "d"]) == [3, 1]
