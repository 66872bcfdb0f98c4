"""Loaders, prompt builders and answer extractors for the six benchmarks, on rows the tests make."""

import json

import pytest
from mlrepro_adastar.data import (
    BENCHMARKS,
    arithmetic_records,
    format_question,
    load_benchmark,
    load_exemplars,
    number_to_gold,
    sampling_prompt,
    train_example,
    zero_shot_prompt,
)
from mlrepro_adastar.evaluate import best_iteration, evaluate_texts, extract, is_correct

ROWS = {
    "arc_challenge": [
        {"id": "a1", "question": "Which gas do plants take in?", "choices": {"text": ["oxygen", "carbon dioxide", "helium", "neon"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
        {"id": "a2", "question": "Pick the metal.", "choices": {"text": ["wood", "glass", "iron", "paper"], "label": ["1", "2", "3", "4"]}, "answerKey": "3"},
    ],
    "cqa": [{"id": "c1", "question": "Where do you keep milk cold?", "question_concept": "milk",
             "choices": {"label": list("ABCDE"), "text": ["oven", "fridge", "roof", "car", "shoe"]}, "answerKey": "B"}],
    "cladder": [{"id": 7, "prompt": "Suppose rain causes wet grass. Does rain cause wet grass?", "label": "Yes"}],
    "anli_r1": [{"uid": "n1", "premise": "A dog runs.", "hypothesis": "An animal moves.", "label": 0, "reason": ""}],
    "gsm8k": [{"question": "Tom has 3 pens and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"}],
    "svamp": [{"ID": "s1", "Body": "Sam had 10 apples.", "Question": "He ate 4. How many are left?", "Equation": "( 10 - 4 )",
               "Answer": 6.0, "Type": "Subtraction", "question_concat": "Sam had 10 apples. He ate 4. How many are left?"}],
}


def _write(tmp_path, task):
    p = tmp_path / f"{task}.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in ROWS[task]))
    return str(p)


@pytest.mark.parametrize("task", sorted(ROWS))
def test_loaders_on_local_files(tmp_path, task):
    recs = load_benchmark(task, "train", path=_write(tmp_path, task))
    assert len(recs) == len(ROWS[task])
    for r in recs:
        assert set(r) >= {"id", "question", "answer", "options", "task"} and r["task"] == task


def test_loader_fields(tmp_path):
    arc = load_benchmark("arc_challenge", "test", path=_write(tmp_path, "arc_challenge"))
    assert [r["answer"] for r in arc] == ["B", "C"]  # numeric label "3" -> third option -> C
    assert arc[0]["options"][1] == "carbon dioxide"
    assert load_benchmark("cqa", "test", path=_write(tmp_path, "cqa"))[0]["answer"] == "B"
    assert load_benchmark("cladder", "test", path=_write(tmp_path, "cladder"))[0]["answer"] == "yes"
    anli = load_benchmark("anli_r1", "test", path=_write(tmp_path, "anli_r1"))[0]
    assert anli["answer"] == "0" and "Hypothesis: An animal moves." in anli["question"]
    assert load_benchmark("gsm8k", "test", path=_write(tmp_path, "gsm8k"))[0]["answer"] == "7"
    sv = load_benchmark("svamp", "test", path=_write(tmp_path, "svamp"))[0]
    assert sv["answer"] == "6" and sv["question"].endswith("How many are left?")


def test_loader_limit_and_errors(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"#### {i}"}) + "\n" for i in range(30)))
    recs = load_benchmark("gsm8k", "train", path=str(p), limit=10, seed=10)
    assert len(recs) == 10 and recs == load_benchmark("gsm8k", "train", path=str(p), limit=10, seed=10)
    with pytest.raises(ValueError):
        load_benchmark("nope", "train")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(ValueError, match="####"):
        load_benchmark("gsm8k", "train", path=str(bad))
    assert BENCHMARKS["anli_r1"]["train_limit"] == 10000


def test_number_to_gold():
    assert number_to_gold(18.0) == "18" and number_to_gold("1,000") == "1000" and number_to_gold(2.5) == "2.5"
    assert number_to_gold("7.00") == "7"


def zero_shot_prompt_builders():
    rec = {"question": "Pick one.", "answer": "B", "options": ["x", "y"], "task": "cqa"}
    assert format_question(rec) == "Pick one.\nOptions:\n(A) x\n(B) y"
    assert format_question(rec, hint=True).startswith("Pick one. (B)\nOptions:")  # hint before the options
    assert zero_shot_prompt(rec) == "Q: Pick one.\nOptions:\n(A) x\n(B) y\nA:"
    ex = [{"question": "Is 2 even?", "rationale": "2 = 2 * 1. #### yes", "answer": "yes", "options": []}]
    p = sampling_prompt({"question": "Is 4 even?", "answer": "yes", "options": []}, ex)
    assert p == "Q: Is 2 even?\nA: 2 = 2 * 1. #### yes\n\nQ: Is 4 even?\nA:"
    ph = sampling_prompt({"question": "Is 4 even?", "answer": "yes", "options": []}, ex, hint=True)
    assert ph.endswith("Q: Is 4 even? (yes)\nA:") and "Is 2 even? (yes)" in ph
    te = train_example({"question": "1+1?", "answer": "2", "options": []}, " 1 + 1 = 2\n#### 2 ")
    assert te == {"prompt": "Q: 1+1?\nA:", "completion": " 1 + 1 = 2\n#### 2"}


def test_load_exemplars(tmp_path):
    assert load_exemplars(None, "gsm8k") == []
    p = tmp_path / "ex.json"
    p.write_text(json.dumps([{"question": "q", "rationale": "r", "answer": "1"}]))
    assert load_exemplars(str(p), "gsm8k")[0]["options"] == []
    p.write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(ValueError):
        load_exemplars(str(p), "gsm8k")
    with pytest.raises(FileNotFoundError):
        load_exemplars(str(tmp_path / "missing.json"), "gsm8k")


def test_arithmetic_records_deterministic():
    a, b = arithmetic_records(5, 3), arithmetic_records(5, 3)
    assert a == b and all(r["solution"].endswith(f"#### {r['answer']}") for r in a)


# ---- extraction (spec §2.9) ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("task,text,want", [
    ("arc_challenge", "The gas is carbon dioxide, so B.", "B"),
    ("arc_challenge", "A is wrong; C is wrong; the answer is D", "D"),
    ("arc_challenge", "#### C\nQ: next question A", "C"),
    ("cqa", "Milk goes in the fridge. #### B", "B"),
    ("cqa", "Eventually E.", "E"),
    ("anli_r1", "The premise implies it, so 0", "0"),
    ("anli_r1", "no label here", None),
    ("cladder", "Rain causes it. Yes", "yes"),
    ("cladder", "NO.", "no"),
    ("gsm8k", "3 + 4 = 7\n#### 7", "7"),
    ("gsm8k", "#### 18.0", "18.0"),
    ("gsm8k", "it costs 1,000 dollars", "000"),  # the code's regex breaks on thousands commas
    ("svamp", "10 - 4 = 6. Q: another 99", "6."),  # the code regex keeps a trailing dot
    ("svamp", "10 - 4 = 6\nQ: another 99", "6"),
    ("arithmetic", "5 + 3 = 8\n8 * 2 = 16\n#### 16", "16"),
    ("arithmetic", "", None),
])
def test_extract(task, text, want):
    assert extract(text, task) == want


def test_string_comparison_and_evaluate_texts():
    assert is_correct("18", "18") and not is_correct("18.0", "18") and not is_correct(None, "1")
    recs = [{"answer": "7", "difficulty": 1}, {"answer": "6", "difficulty": 2}, {"answer": "5", "difficulty": 2}]
    ev = evaluate_texts(recs, ["#### 7", "#### 6.0", "nothing"], "gsm8k")
    assert ev["accuracy"] == pytest.approx(1 / 3) and ev["unparsed"] == 1
    assert ev["accuracy_shared_grader"] == pytest.approx(2 / 3)  # math-verify accepts 6.0 == 6
    assert ev["accuracy_by_difficulty"] == {"1": 1.0, "2": 0.0}
    with pytest.raises(ValueError):
        extract("x", "unknown")
    assert best_iteration([0.1, 0.5, 0.5]) == 1


def test_misread_solution_and_rate():
    import random

    from mlrepro_adastar.data import misread_rate, misread_solution

    sol = "3 + 2 = 5\n5 * 3 = 15\n15 - 4 = 11\n#### 11"
    # always misread: 5 * 3 becomes 5 + 3 = 8, and the slip propagates (8 - 4 = 4)
    bad, n = misread_solution(sol, random.Random(0), 1.0)
    assert n == 1 and bad == "3 + 2 = 5\n5 + 3 = 8\n8 - 4 = 4\n#### 4"
    assert misread_solution(sol, random.Random(0), 0.0) == (sol, 0)
    no_mul = "3 + 2 = 5\n5 - 1 = 4\n#### 4"
    assert misread_solution(no_mul, random.Random(0), 1.0) == (no_mul, 0)
    rng = random.Random(1)
    share = sum(misread_solution(sol, rng, 0.6)[1] for _ in range(2000)) / 2000
    assert abs(share - 0.6) < 0.05
    recs = [{"solution": sol}, {"solution": no_mul}, {"question": "no gold"}]
    assert misread_rate(recs, [bad, no_mul, "x"]) == (1, 1)
    assert misread_rate(recs, [sol, no_mul, "x"]) == (0, 1)
    assert misread_rate(recs, ["3 + 2 = 5", "", ""]) == (0, 1)  # too short: not counted as the misconception
