"""The synthetic step world, its rule-checked labels, and the MATH-500 / GSM8K loaders on test-made records."""

from __future__ import annotations

import random

import pytest
from mlrepro_smart.data import (
    CORRUPTIONS,
    corrupt_solution,
    fake_rows,
    load_eval_records,
    local_step_check,
    make_world,
    step_labels,
    write_jsonl,
)

W = {"difficulties": (2, 3), "max_value": 15, "max_operand": 3, "kinds": ("add", "sub")}


def test_world_records_and_gold_labels():
    recs = make_world(50, 0, **W)
    assert len(recs) == 50
    for r in recs:
        assert r["solution"].split("\n\n") == r["steps"]
        assert r["steps"][-1] == f"\\boxed{{{r['answer']}}}"
        assert len(r["steps"]) == len(r["ops"]) + 1 and len(r["ops"]) in (3, 4)
        assert all(step_labels(r, r["steps"]))
        v = r["start"]
        for kind, b in r["ops"]:
            v = v + b if kind == "add" else v - b
            assert 0 <= v <= 15 and 1 <= b <= 3
        assert str(v) == r["answer"]
    assert make_world(5, 3, **W) == make_world(5, 3, **W)  # deterministic
    ev = make_world(30, 1, **W)
    tr = make_world(200, 0, exclude={r["question"] for r in ev}, **W)
    assert not {r["question"] for r in ev} & {r["question"] for r in tr}


def test_local_step_check_hand_cases():
    r = {"start": 5, "ops": [["add", 3], ["sub", 2]], "answer": "6"}
    assert local_step_check(r, 0, "5 + 3 = 8", 5) == (True, 8)
    assert local_step_check(r, 0, "5 + 3 = 9", 5) == (False, 9)  # arithmetic
    assert local_step_check(r, 0, "5 + 2 = 7", 5)[0] is False  # wrong operand
    assert local_step_check(r, 0, "5 - 3 = 2", 5)[0] is False  # wrong operation
    assert local_step_check(r, 0, "4 + 3 = 7", 5)[0] is False  # does not start from the previous value
    assert local_step_check(r, 0, "5 + 3 = 8, 8 - 2 = 6", 5)[0] is False  # two equations in one step
    assert local_step_check(r, 1, "9 - 2 = 7", 9) == (True, 7)  # right given what was written before
    assert local_step_check(r, 2, "\\boxed{7}", 7) == (True, 7)
    assert local_step_check(r, 2, "\\boxed{6}", 7)[0] is False
    assert local_step_check(r, 1, "\\boxed{8}", 8)[0] is False  # premature answer
    assert local_step_check(r, 3, "\\boxed{6}", 6)[0] is False  # extra step
    # process labels are prefix labels: everything after the first mistake is bad
    assert step_labels(r, ["5 + 3 = 9", "9 - 2 = 7", "\\boxed{7}"]) == [False, False, False]
    assert step_labels(r, ["5 + 3 = 8", "8 - 2 = 6", "\\boxed{6}"]) == [True, True, True]
    assert step_labels(r, ["5 + 3 = 8", "8 - 2 = 5", "\\boxed{5}"]) == [True, False, False]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruptions_are_caught_by_the_checker(kind):
    rng = random.Random(0)
    for r in make_world(40, 2, **W):
        steps = corrupt_solution(r, rng, kind)
        labels = step_labels(r, steps)
        assert not all(labels), (kind, r["question"], steps)
        first_bad = labels.index(False)
        assert all(labels[:first_bad]) and not any(labels[first_bad:])


def test_loaders_on_test_made_records(tmp_path):
    for kind, n in (("math500", 3), ("gsm8k", 4)):
        rows = fake_rows(kind, n, seed=1)
        p = write_jsonl(rows, tmp_path / f"{kind}.jsonl")
        recs = load_eval_records(kind, str(p), "test")
        assert len(recs) == n
        for row, rec in zip(rows, recs):
            assert rec["question"] and rec["answer"]
            if kind == "gsm8k":
                assert rec["answer"] == row["answer"].split("####")[-1].strip()
            else:
                assert rec["answer"] == row["answer"] and rec["id"] == row["unique_id"]
        assert len(load_eval_records(kind, str(p), "test", limit=2)) == 2
    syn = load_eval_records("synthetic", n=7, seed=1, world=W)
    assert len(syn) == 7
    with pytest.raises(ValueError):
        load_eval_records("aime", "x")
    with pytest.raises(ValueError):
        fake_rows("aime")
