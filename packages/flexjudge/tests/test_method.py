"""method.py against hand-computed values, brute force and the official rules (spec §2.5-2.7)."""

import itertools
import math
import random

import numpy as np
import pytest
from mlrepro_flexjudge import method as M


@pytest.mark.parametrize("text,verdict,ok", [
    ("<think>x</think><answer>8</answer><answer>3</answer>", "A", True),
    ("<answer>3</answer><answer>8</answer>", "B", True),
    ("<answer>5</answer><answer>5</answer>", "C", True),                       # tie
    ("<answer>5</answer>", "C", False),                                          # one answer -> C
    ("no tags at all, Assistant 1 is better", "C", False),
    ("<answer>7</answer><answer>2</answer><answer>9</answer>", "A", True),       # extra tags: first two
    ("<answer>7.5</answer><answer>2</answer>", "C", False),                      # decimal: \d+ misses it -> 1 int
    ("<answer> 7</answer><answer>2</answer>", "C", False),                       # spaces break the official regex
    ("<answer>10</answer><answer>9</answer>", "A", True),
])
def test_parse_pair(text, verdict, ok):
    j = M.parse_pair(text)
    assert (j.value, j.ok) == (verdict, ok)


def test_parse_score_and_open_answer():
    assert M.parse_score("<answer>4</answer><answer>2</answer>").value == 4
    assert M.parse_score("reasoning only").value == -1
    assert not M.parse_score("reasoning only").ok
    # stopped at "</answer>" by a sampler that cuts the stop string
    assert M.parse_score("<think>r</think>\n<answer>3").value == 3
    assert M.close_open_answer("<answer>3") == "<answer>3</answer>"
    assert M.close_open_answer("<answer>x") == "<answer>x"          # not a number: untouched
    assert M.close_open_answer("<answer>3</answer>") == "<answer>3</answer>"


def test_batch_letters_ties_break_to_later_letter():
    assert M.batch_letters([3, 8, 6]) == "BCA"
    assert M.batch_letters([5, 5, 1]) == "BAC"      # equal scores: later letter first
    assert M.batch_letters([2, 2, 2, 2]) == "DCBA"
    j = M.parse_batch("<answer>3</answer><answer>8</answer><answer>6</answer><answer>1</answer>", 4)
    assert (j.value, j.ok) == ("BCAD", True)
    j = M.parse_batch("<answer>3</answer><answer>8</answer>", 3)
    assert (j.value, j.ok) == ("BA", False)
    assert M.parse_batch("nothing", 3).value == ""


def test_vlrb_unswap():
    a_wins = "<answer>9</answer><answer>2</answer>"
    assert M.parse_vlrb(a_wins, swapped=False).value == [0, 1]
    assert M.parse_vlrb(a_wins, swapped=True).value == [1, 0]
    assert M.parse_vlrb("<answer>2</answer><answer>9</answer>", swapped=True).value == [0, 1]
    assert M.parse_vlrb("<answer>5</answer><answer>5</answer>", swapped=False).value == [0, 0]
    assert M.parse_vlrb("garbage", swapped=True).value == [0, 0]


def test_mjbench_flip():
    assert M.parse_mjbench("<answer>9</answer><answer>2</answer>", False).value == 0
    assert M.parse_mjbench("<answer>9</answer><answer>2</answer>", True).value == 1
    assert M.parse_mjbench("<answer>2</answer><answer>9</answer>", True).value == 0
    assert M.parse_mjbench("<answer>4</answer><answer>4</answer>", True).value == 2
    assert M.parse_mjbench("?", True).value == 2


@pytest.mark.parametrize("text,vote", [
    ("<answer>[[A>B]]</answer>", "leftvote"), ("<answer>[[B<A]]</answer>", "leftvote"),
    ("<answer>[[A<B]]</answer>", "rightvote"), ("<answer>[[B>A]]</answer>", "rightvote"),
    ("<answer>[[A=B=Good]]</answer>", "tievote"), ("<answer>[[A=B=Bad]]</answer>", "bothbad_vote"),
    ("<answer>[[C]]</answer>", "bothbad_vote"), ("<answer>A>B</answer>", None),
    ("<answer>[[B>A]]</answer> then <answer>[[A>B]]</answer>", "rightvote"),
])
def test_parse_genai(text, vote):
    assert M.parse_genai(text).value == vote


def test_audio_and_bvcc_fallbacks():
    assert M.parse_audio("<answer>3.8</answer>").value == 3.8
    assert M.parse_audio("<answer>4</answer>").value == 4.0
    assert M.parse_audio("none").value == 3.0
    assert M.parse_audio("none", fallback=3.5).value == 3.5
    assert M.parse_bvcc("<answer>2.5</answer>").value == 2.5
    assert M.parse_bvcc("I think the score is 4.2 overall").value == 4.2
    assert M.parse_bvcc("Rating: 3").value == 3.0
    assert M.parse_bvcc("clip 12 of 40 sounds like 2.5 to me").value == 2.5
    assert M.parse_bvcc("clip 12 of 40").value == 0.0


def test_molecule_parsers():
    assert M.parse_molecule_score("<answer>7.5</answer>").value == 7.5
    assert M.parse_molecule_score("<answer>x</answer>").value is None
    assert M.parse_molecule_pair("<answer>7.5</answer><answer>6</answer>").value == 0
    assert M.parse_molecule_pair("<answer>6</answer><answer>7.5</answer>").value == 1
    assert M.parse_molecule_pair("<answer>6</answer><answer>6.0</answer>").value == -1


def test_split_think():
    assert M.split_think("<think>\nabc\n</think>\n<answer>1</answer>") == ("abc", "\n<answer>1</answer>")
    assert M.split_think("abc <answer>1</answer>") == ("abc", "<answer>1</answer>")


def _lev_brute(a, b):
    # shortest path over edit scripts by BFS on small strings (brute force reference)
    from collections import deque

    alphabet = set(a) | set(b)
    seen, q = {a: 0}, deque([a])
    while q:
        s = q.popleft()
        if s == b:
            return seen[s]
        nxt = {s[:i] + s[i + 1:] for i in range(len(s))}
        nxt |= {s[:i] + c + s[i:] for i in range(len(s) + 1) for c in alphabet}
        nxt |= {s[:i] + c + s[i + 1:] for i in range(len(s)) for c in alphabet}
        for t in nxt:
            if t not in seen and len(t) <= max(len(a), len(b)) + 1:
                seen[t] = seen[s] + 1
                q.append(t)
    raise AssertionError


def test_levenshtein_brute_force():
    for a, b in [("ABCD", "BADC"), ("AB", ""), ("", ""), ("CADB", "CABD"), ("ABC", "CBA")]:
        assert M.levenshtein(a, b) == _lev_brute(a, b)
    for p in itertools.permutations("ABC"):
        assert M.levenshtein("".join(p), "ABC") == _lev_brute("".join(p), "ABC")
    assert M.normalized_levenshtein("ABCD", "ABCD") == 0.0
    assert M.normalized_levenshtein("ABDC", "ABCD") == 0.5
    assert M.normalized_levenshtein("", "ABC") == 1.0
    assert M.normalized_levenshtein("", "") == 0.0


def test_correlations_nan_to_zero():
    assert M.pearson0([1, 1, 1], [1, 2, 3]) == 0.0
    assert M.pearson0([1], [2]) == 0.0
    assert M.pearson0([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert M.spearman0([1, 2, 3], [1, 4, 9]) == pytest.approx(1.0)
    # -1 for missing answers stays in the correlation (official rule)
    x, y = [-1, 4, 5], [3, 4, 5]
    assert M.pearson0(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_pair_accuracy_with_and_without_ties():
    r = M.pair_accuracy(["A", "C", "B", "A"], ["A", "C", "A", "C"])
    assert r["w_tie"] == 0.5 and r["wo_tie"] == 0.5 and r["n_wo_tie"] == 2
    r = M.mjbench_accuracy([0, 2, 1, 0], [0, 0, 0, 0])
    assert r["w_tie"] == 0.5 and r["wo_tie"] == pytest.approx(2 / 3)


def test_text_judge_agreement_hand_values():
    r = M.text_judge_agreement(["A", "A", "B", "C"], ["A", "B", "B", "C"])
    assert r["agreement"] == 0.75
    # A: p=1/2 r=1; B: p=1 r=1/2; C: p=1 r=1
    assert r["precision"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert r["recall"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert r["f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_votes():
    assert M.vote_pair_sign(["A", "A", "B"]) == "A"
    assert M.vote_pair_sign(["A", "B", "C"]) == "C"
    assert M.vote_pair_sign(["B", "C", "C"]) == "B"
    assert M.vote_mode(["x", "y", "y", "x"]) == "x"      # tie: first seen wins (Counter.most_common)
    assert M.vote_mode([None, None, "a"]) is None
    assert M.vote_score([4, 5, -1]) == 4.5
    assert M.vote_score([-1, -1]) == -1
    assert M.vote_score([3, 3, 5], "mode") == 3


def test_aggregations_paper_vs_code():
    assert M.aggregate_score_runs([0.1, 0.5, float("nan")], "paper") == pytest.approx(0.2)
    assert M.aggregate_score_runs([0.1, 0.5, float("nan")], "code") == pytest.approx(0.1)
    gold = ["A", "B", "C"]
    runs = [["A", "B", "A"], ["A", "A", "B"], ["B", "B", "C"]]
    paper = M.aggregate_pair_runs(runs, gold, "paper")
    assert paper["w_tie"] == pytest.approx(np.mean([2 / 3, 1 / 3, 2 / 3]))
    code = M.aggregate_pair_runs(runs, gold, "code")  # votes: A(-1-1+1) = A; B(1-1+1) = B; C(-1+1+0) = C
    assert code["w_tie"] == 1.0
    d = [[0.5, 0.5], [0.0, 0.0], [1.0, 1.0]]
    assert M.aggregate_batch_runs(d, "paper") == pytest.approx(0.5)
    # accumulated means: 0.5, 0.25, 0.5 -> max 0.5; a different order shows the quirk
    assert M.aggregate_batch_runs([[1.0], [0.0], [0.0]], "code") == 1.0
    assert M.aggregate_batch_runs([[1.0], [0.0], [0.0]], "paper") == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        M.aggregate_batch_runs(d, "median")


def test_system_level():
    assert M.system_level([1, 3, 5], ["s1", "s1", "s2"]) == {"s1": 2.0, "s2": 5.0}


def test_budget_force_control_flow():
    calls = []

    def stub(prefix, stop):
        calls.append((prefix, stop))
        if stop:  # tries to end thinking after a short thought
            return (f"thought{len(calls)} ", "stop")
        return ("final</think><answer>7</answer>", "stop")

    r = M.budget_force(stub, 2)
    assert r["forced"] == 2 and r["calls"] == 3
    assert r["text"] == "thought1 Waitthought2 Waitfinal</think><answer>7</answer>"
    assert calls[1][0] == "thought1 Wait"
    r0 = M.budget_force(stub, 0)
    assert r0["forced"] == 0 and r0["calls"] == 1

    def hits_length(prefix, stop):
        return ("long", "length") if stop else ("<answer>1</answer>", "stop")

    r = M.budget_force(hits_length, 3)
    assert r["forced"] == 0 and r["calls"] == 2 and r["text"] == "long<answer>1</answer>"


def test_best_of_n_random_ties():
    rng = random.Random(0)
    picks = {M.best_of_n([5.0, 9.0, 9.0, None], rng) for _ in range(50)}
    assert picks == {1, 2}
    assert M.best_of_n([None, None], random.Random(1)) in (0, 1)


def test_completion_only_labels_hand_values():
    # tokens: 1=<|im_start|> 2=user 3=assistant 9=\n ; response template [1,3,9], instruction [1,2]
    ids = [1, 2, 50, 51, 1, 3, 9, 60, 61, 62]
    lab = M.completion_only_labels(ids, [1, 3, 9], [1, 2])
    assert lab == [-100] * 7 + [60, 61, 62]
    # two turns: the second user turn is masked again, the second answer trained
    ids2 = ids + [1, 2, 70, 1, 3, 9, 80]
    lab2 = M.completion_only_labels(ids2, [1, 3, 9], [1, 2])
    assert lab2 == [-100] * 7 + [60, 61, 62] + [-100] * 6 + [80]
    assert M.completion_only_labels([5, 6, 7], [1, 3, 9]) == [-100] * 3


def test_reorder_answer_first():
    t = "<think>\nR\n</think>\n<answer>9</answer><answer>2</answer>"
    assert M.reorder_answer_first(t) == "<answer>9</answer><answer>2</answer>\n<think>\nR\n</think>"
    with pytest.raises(ValueError):
        M.reorder_answer_first("no answer")


def test_int_answers_order_and_math():
    assert M.int_answers("<answer>3</answer> x <answer>10</answer>") == [3, 10]
    assert math.isnan(M.pair_accuracy([], [])["w_tie"])
