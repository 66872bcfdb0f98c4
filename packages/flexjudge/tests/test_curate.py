"""Seed-data curation (spec §2.2) on hand-made records, including failing and malformed traces."""

import random

import pytest
from mlrepro_flexjudge import curate as C


def row(rid, prompt, text, ref, n_tokens=None, a1="answer one", a2="answer two", q="q?"):
    return {"id": rid, "prompt": prompt, "text": text, "ref": ref, "n_tokens": n_tokens or len(text.split()),
            "question": q, "answer1": a1, "answer2": a2}


PAIR = ("Assistant 1 explains the steps well and is right.\n\nAssistant 2 makes an error in step two.\n"
        "</think>\n<answer>8</answer><answer>3</answer>")


@pytest.mark.parametrize("text,ref,ok", [
    ("<answer>8</answer><answer>3</answer>", [8, 3], True),
    ("<answer>8</answer><answer>3</answer>", [8, 4], False),
    ("<answer>8</answer><answer>3</answer><answer>1</answer>", [8, 3], True),   # only the first two count
    ("<answer>8</answer>", [8, 3], False),                                        # malformed: one answer
    ("<answer>8.0</answer><answer>3</answer>", [8, 3], False),
    ("no tags", [8, 3], False),
    ("<answer>8</answer><answer>3</answer>", None, False),                        # missing reference
    ("<answer>8</answer><answer>3</answer>", ["8", "3"], True),
])
def test_exact_match(text, ref, ok):
    assert C.passes_exact_match(text, ref) is ok


def test_filter_and_dedup_longest():
    rows = [row("a", "P1", "short <answer>8</answer><answer>3</answer>", [8, 3], 5),
            row("a", "P1", "a much longer trace <answer>8</answer><answer>3</answer>", [8, 3], 20),
            row("a", "P1", "the longest but wrong <answer>2</answer><answer>3</answer>", [8, 3], 90),
            row("b", "P2", "tie one <answer>5</answer><answer>5</answer>", [5, 5], 7),
            row("b", "P2", "tie two <answer>5</answer><answer>5</answer>", [5, 5], 7)]
    kept, stats = C.filter_exact_match(rows)
    assert stats == {"generated": 5, "exact_match": 4, "dropped": 1}
    pool = C.dedup_longest(kept)
    assert [r["text"].split()[0] for r in pool] == ["a", "tie"]
    assert pool[0]["n_tokens"] == 20
    assert pool[1]["text"].startswith("tie one")   # a length tie keeps the first seen
    assert C.dedup_longest([{"prompt": "p", "tokens": [1, 2]}, {"prompt": "p", "tokens": [1, 2, 3]}])[0]["tokens"] == [1, 2, 3]


def test_split_at_assistant2_granularities():
    assert C.split_at_assistant2("A1 is fine.\n\nAssistant 2 errs.") == "A1 is fine."
    assert C.split_at_assistant2("Intro.\nAssistant 1 ok.\nAssistant 2 bad.\nSummary.") == "Intro.\nAssistant 1 ok."
    # first paragraph mentions both: fall back to lines, then sentences
    assert C.split_at_assistant2("Assistant 1 is right. Assistant 2 is wrong.") == "Assistant 1 is right."
    assert C.split_at_assistant2("Assistant 2 first. Then Assistant 1.") is None
    assert C.split_at_assistant2("Only Assistant 1 here.") is None
    assert C.split_at_assistant2("Look at the first answer.\nThe second assistant is worse.") == "Look at the first answer."


def test_to_single_reasoning_rewrites_names():
    r = "Solve it.\nAssistant 1 says 4, correct. So Assistant 1's answer is good.\nAssistant 2 says 5."
    assert C.to_single_reasoning(r) == "Solve it.\nThe assistant says 4, correct. So the assistant's answer is good."


def test_rescale_bins():
    assert [C.rescale_score(s) for s in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError):
        C.rescale_score(0)


def test_select_pairwise_threshold_and_order():
    pool = [row(str(i), f"P{i}", " ".join(["w"] * n) + "\nAssistant 2 x.\n</think>\n<answer>7</answer><answer>2</answer>",
                [7, 2]) for i, n in enumerate([5, 50, 30, 80, 10])]
    sel = C.select_pairwise(pool, n=2, min_tokens=20)
    assert [e["id"] for e in sel] == ["3", "1"]
    assert sel[0]["kind"] == "pair" and sel[0]["scores"] == [7, 2] and sel[0]["answers"] == ["answer one", "answer two"]
    assert len(C.select_pairwise(pool, n=10, min_tokens=20)) == 3


def test_select_single_excludes_and_converts():
    pool = [row("x", "P", PAIR, [8, 3]), row("y", "Q", "Assistant 1 and Assistant 2 both.\n</think>\n"
                                                        "<answer>8</answer><answer>3</answer>", [8, 3])]
    sel = C.select_single(pool, n=5, min_tokens=3)
    assert [e["id"] for e in sel] == ["x"]
    e = sel[0]
    assert e["reasoning"] == "The assistant explains the steps well and is right."
    assert e["scores"] == [8] and e["answers"] == ["answer one"] and e["kind"] == "single"
    assert C.select_single(pool, n=5, min_tokens=3, exclude=["x"]) == []
    assert C.select_single(pool, n=5, min_tokens=100) == []


def test_scale_change_is_seeded_and_fractional():
    ex = [{"kind": "pair", "scores": [9, 2], "scale": 10} for _ in range(200)]
    a = C.apply_scale_change(ex, 0.5, random.Random(3))
    b = C.apply_scale_change(ex, 0.5, random.Random(3))
    assert a == b
    n5 = sum(e["scale"] == 5 for e in a)
    assert 70 < n5 < 130
    assert all(e["scores"] == [5, 1] for e in a if e["scale"] == 5)
    assert all(e["scale"] == 10 for e in C.apply_scale_change(ex, 0.0, random.Random(0)))
    assert ex[0]["scale"] == 10  # inputs untouched


def test_render_example_layout_and_mask_boundary():
    e = {"id": "1", "kind": "single", "question": "Q?", "answers": ["A."], "reasoning": "R.", "scores": [4],
         "scale": 5}
    r = C.render_example(e, style="paper")
    assert r["prompt"].startswith("<|im_start|>system\n") and r["prompt"].endswith("<|im_start|>assistant\n")
    assert "[Question]\nQ?\n\n[Assistant's Answer]\nA.<|im_end|>" in r["prompt"]
    assert "1 to 5" in r["prompt"]
    assert r["completion"] == "<think>\nR.\n</think>\n<answer>4</answer><|im_end|>"
    assert r["text"] == "R.\n</think>\n<answer>4</answer>"
    af = C.render_example(dict(e, kind="pair", answers=["A.", "B."], scores=[8, 3], scale=10), answer_first=True,
                          eos=None)
    assert af["completion"] == "<answer>8</answer><answer>3</answer>\n<think>\nR.\n</think>"
    assert "[Assistant 2's Answer]\nB." in af["prompt"] and "1 to 10" in af["prompt"]


def test_curate_pipeline_counts():
    rows = []
    for i in range(30):
        good = f"Assistant 1 is right {i}.\n\nAssistant 2 is wrong.\n</think>\n<answer>9</answer><answer>2</answer>"
        rows.append(row(f"r{i}", f"P{i}", good, [9, 2], 10 + i))
        rows.append(row(f"r{i}", f"P{i}", "bad <answer>1</answer>", [9, 2]))
    ex, stats = C.curate(rows, n_pair=10, n_single=10, min_pair_tokens=0, min_single_tokens=0, rescale_fraction=0.5,
                         seed=0)
    assert stats["generated"] == 60 and stats["exact_match"] == 30 and stats["dedup"] == 30
    assert stats["pair"] == 10 and stats["single"] == 10
    ids = [e["id"] for e in ex]
    assert len(set(ids)) == 20  # the single subset avoids the pairwise prompts
