import random

import pytest
from mlrepro_concise.method import (
    Candidate,
    augment,
    budget_matched,
    direct_text,
    expected_shortest_correct,
    expected_shortest_correct_bruteforce,
    few_shot_messages,
    filter_candidates,
    gsm8k_label,
    math_candidates,
    math_equal,
    parse_answer_gsm8k,
    reduction,
    relative,
    select,
    zero_shot_messages,
)

from mlrepro.grading import is_equiv


@pytest.mark.parametrize("text,want", [
    ("She has 3 + 4 = 7 left. The answer is 7.", "7"),
    ("The answer is 1,250 dollars and 3 cents", "1250"),      # first number after "answer is", commas removed
    ("12 then 18.00", "18"),                                   # no anchor: last number; trailing decimal zeros
    ("the answer is 5. But wait, the answer is 6 or 7", "6"),  # last "answer is" piece, first number in it
    ("-3 degrees", "-3"),
    ("no digits at all", None),
    ("The answer is x.", None),                                # anchor present, no number after it
    ("Total 2.50", "2.5"),
])
def test_parse_answer_gsm8k(text, want):
    assert parse_answer_gsm8k(text) == want


def test_gsm8k_label():
    assert gsm8k_label("a\nb\n#### 1,000") == "1000"
    assert gsm8k_label("#### 18.00") == "18"
    with pytest.raises(ValueError):
        gsm8k_label("no marker")


@pytest.mark.parametrize("out,label", [
    ("so \\boxed{\\frac12}", "\\frac{1}{2}"),
    ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}"),
    ("The answer is 1/2.", "\\frac{1}{2}"),
    ("The answer is 0.5.", "\\frac{1}{2}"),
    ("The answer is 3 bolts.", "3"),
    ("\\boxed{x = 5}", "5"),
    ("\\boxed{30^\\circ}", "30"),
    ("\\boxed{25\\%}", "25"),
    ("The answer is (B).", "B"),
    ("\\boxed{1,000}", "1000"),
])
def test_math_equal_true(out, label):
    assert math_equal(out, label)


@pytest.mark.parametrize("out,label", [("\\boxed{\\frac{1}{3}}", "\\frac{1}{2}"), ("The answer is 4.", "5"), ("nothing", "5")])
def test_math_equal_false(out, label):
    assert not math_equal(out, label)


def test_math_candidates_agree_with_shared_grader_on_simple_cases():
    # the paper-faithful parser and the shared math-verify grader agree on plain cases
    for out, label in [("\\boxed{\\frac{1}{2}}", "0.5"), ("The answer is 7.", "7"), ("\\boxed{12}", "12")]:
        pred = sorted(math_candidates(out))[0]
        assert is_equiv(pred, label) and math_equal(out, label)


def test_prompt_builders():
    zs = zero_shot_messages("What is 2+2?")
    assert [m["role"] for m in zs] == ["system", "user"] and zs[1]["content"] == "Question: What is 2+2?\nSolution:"
    gem = zero_shot_messages("Q?", system_role=False)
    assert len(gem) == 1 and gem[0]["content"].endswith("Question: Q?\nSolution:") and "\n" in gem[0]["content"]
    ex = [{"question": f"q{i}", "solution": f"s{i}"} for i in range(8)]
    fs = few_shot_messages("target", ex, random.Random(0))
    assert len(fs) == 17 and fs[-1]["content"] == "Question: target\nSolution:"
    assert all(m["role"] != "system" for m in fs)
    assert sorted(m["content"] for m in fs[1:-1:2]) == sorted(e["solution"] for e in ex)  # all 8 used once
    orders = {tuple(m["content"] for m in few_shot_messages("t", ex, random.Random(s))[1::2]) for s in range(5)}
    assert len(orders) > 1  # a fresh random order per call
    with pytest.raises(ValueError):
        few_shot_messages("t", ex[:3], random.Random(0))
    assert direct_text("Q", "R", bos="<s>", eos="</s>") == ("<s>Q", " R</s>")
    assert direct_text("Q", "R", bos=None, eos="E") == ("Q", " RE")


def C(qid, text, ans, n, label="5", src="zs"):
    return Candidate(qid, text, ans, n, label, src)


def test_filter_and_select_by_hand():
    cands = [
        C("a", "long right", "5", 30), C("a", "short right", "5", 10), C("a", "wrong", "4", 3),
        C("a", "short right", "5", 10),                      # exact duplicate: removed
        C("a", "tie right", "5", 10),                       # ties with "short right": first in order wins
        C("b", "capped", "5", 127, label="5"),               # 127 >= cap - 1 (=127): truncated
        C("b", "nope", None, 5),                             # unparseable: incorrect
        C("c", "ok", "9", 50, label="9"),
    ]
    kept, stats = filter_candidates(cands, max_tokens=128)
    assert stats == {"total": 8, "incorrect": 2, "duplicate": 1, "truncated": 1, "kept": 4}
    chosen = select(kept)
    assert [(c.qid, c.rationale) for c in chosen] == [("a", "short right"), ("c", "ok")]  # question b is dropped
    assert len(select(kept, "all")) == 4
    with pytest.raises(ValueError):
        select(kept, "best")


def test_augment_and_budget():
    fs = [C("a", f"f{i}", "5", i, src="fs") for i in range(4)] + [C("b", f"g{i}", "5", i, src="fs") for i in range(4)]
    zs = [C("a", f"z{i}", "5", i, src="zs") for i in range(4)]
    assert augment(fs, zs) == fs + zs
    bm = budget_matched(fs, zs, 2, 1)
    assert [c.rationale for c in bm] == ["f0", "f1", "g0", "g1", "z0"]


def test_relative_and_reduction():
    assert relative(75.88, 78.06) == pytest.approx(97.207, abs=1e-3)
    assert reduction(153.38, 241.87) == pytest.approx(36.586, abs=1e-3)
    with pytest.raises(ZeroDivisionError):
        relative(1, 0)


@pytest.mark.parametrize("seed", range(6))
def test_expected_shortest_matches_bruteforce(seed):
    rng = random.Random(seed)
    m = rng.randint(3, 9)
    lengths = [rng.randint(5, 40) for _ in range(m)]  # ties allowed
    correct = [rng.random() < 0.5 for _ in range(m)]
    for n in range(1, m + 1):
        a = expected_shortest_correct(lengths, correct, n)
        b = expected_shortest_correct_bruteforce(lengths, correct, n)
        assert (a is None and b is None) or a == pytest.approx(b)


def test_expected_shortest_closed_forms():
    # n = M: the overall shortest correct; n = 1: the mean correct length
    lengths, correct = [10, 20, 30, 40], [True, False, True, True]
    assert expected_shortest_correct(lengths, correct, 4) == 10
    assert expected_shortest_correct(lengths, correct, 1) == pytest.approx((10 + 30 + 40) / 3)
    assert expected_shortest_correct(lengths, [False] * 4, 2) is None
    with pytest.raises(ValueError):
        expected_shortest_correct(lengths, correct, 5)
