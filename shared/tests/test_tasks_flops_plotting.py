import json

from mlrepro.flops import FlopsCounter, inference_flops, train_flops
from mlrepro.grading import extract_answer
from mlrepro.tasks import check_step, generate_problems, load_gsm8k, load_math, parse_steps, verify_answer


def test_problems_deterministic_and_correct():
    a = generate_problems(50, seed=3, difficulties=(1, 2, 3), styles=("terse", "medium", "verbose"))
    b = generate_problems(50, seed=3, difficulties=(1, 2, 3), styles=("terse", "medium", "verbose"))
    assert a == b
    assert generate_problems(50, seed=4) != a
    for r in a:
        steps = parse_steps(r["solution"])
        assert len(steps) == r["difficulty"] + 1
        prev = None
        for s in r["steps"]:
            assert check_step(s, prev) is True
            prev = parse_steps(s)[0][3]
        assert str(prev) == r["answer"] == extract_answer(r["solution"], "gsm8k")
        assert verify_answer(r, r["answer"]) and not verify_answer(r, str(int(r["answer"]) + 1))


def test_styles_differ_in_length():
    recs = {s: generate_problems(30, seed=0, styles=(s,)) for s in ("terse", "medium", "verbose")}
    mean = {s: sum(len(r["solution"]) for r in v) / len(v) for s, v in recs.items()}
    assert mean["terse"] < mean["medium"] < mean["verbose"]


def test_check_step_labels():
    assert check_step("3 * 4 = 12") is True
    assert check_step("3 * 4 = 13") is False
    assert check_step("5 + 1 = 6", previous_value=4) is False
    assert check_step("no equation") is None


def test_loaders_on_local_files(tmp_path):
    g = tmp_path / "gsm.jsonl"
    g.write_text(json.dumps({"question": "Two plus two?", "answer": "2 + 2 = 4\n#### 4"}) + "\n")
    recs = load_gsm8k(str(g))
    assert recs[0]["answer"] == "4" and recs[0]["question"] == "Two plus two?"
    m = tmp_path / "math.jsonl"
    m.write_text(json.dumps({"problem": "Half of one?", "solution": "It is $\\boxed{\\frac12}$.", "level": "Level 2"}) + "\n")
    recs = load_math(str(m))
    assert recs[0]["answer"] == "\\frac12" and recs[0]["difficulty"] == 2


def test_flops():
    assert train_flops(1e9, 1e6) == 6e15 and inference_flops(1e9, 1e6) == 2e15
    c = FlopsCounter(n_params=10)
    c.add_train(5)
    c.add_inference(5)
    assert c.as_dict() == {"n_params": 10, "train_flops": 300.0, "inference_flops": 100.0, "total_flops": 400.0}


def test_plotting_writes_png(tmp_path):
    from mlrepro.plotting import line_plot

    p = line_plot({"a": ([1, 2, 3], [1, 4, 9])}, tmp_path / "f.png", xlabel="x", ylabel="y")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [q.name for q in tmp_path.iterdir()] == ["f.png"]
