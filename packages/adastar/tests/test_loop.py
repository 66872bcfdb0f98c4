"""The STaR outer loop with a fake model (scripted sampler, skill counter) — every method, and resume."""

import json
import math
import random
from pathlib import Path

import pytest
from mlrepro_adastar.config import Config
from mlrepro_adastar.data import arithmetic_records
from mlrepro_adastar.loop import run_star
from mlrepro_adastar.method import METHODS, method_spec, steps_schedule

from mlrepro.config import load_config
from mlrepro.sampling import get_sampler

RECIPES = Path(__file__).resolve().parents[1] / "src" / "mlrepro_adastar" / "recipes"


class FakeOps:
    """model = {"skill": s}; P(correct) = sigmoid(3 s - difficulty + 2); training adds 0.05 per step."""

    tokenizer = None

    def __init__(self, records):
        self.by_q = {r["question"]: r for r in records}
        self.loads = 0

    def load_base(self):
        self.loads += 1
        return {"skill": 0.0}

    def load(self, path):
        return json.loads((Path(path) / "m.json").read_text())

    def save(self, model, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "m.json").write_text(json.dumps(model))

    def sampler(self, model, path):
        skill = model["skill"]

        def fn(prompt, params, i):
            q = prompt.split("Q: ")[-1].split("\nA:")[0]
            hinted = q.endswith(")") and q.rsplit(" (", 1)[0] in self.by_q
            rec = self.by_q[q.rsplit(" (", 1)[0] if hinted else q]
            p = 1 / (1 + math.exp(-(3 * skill - rec["difficulty"] + 2 + (1 if hinted else 0))))
            if params.temperature == 0:
                ok = p > 0.5
            else:
                ok = random.Random(f"{params.seed}|{prompt}|{i}").random() < p
            return f"some steps\n#### {rec['answer'] if ok else 'x'}"

        return get_sampler("scripted", fn=fn)

    def train(self, model, examples, steps, seed):
        model["skill"] += 0.05 * steps
        return {"steps": steps, "examples": steps * 2, "train_tokens": 10 * steps * 2, "loss": 1.0}

    def n_params(self, model):
        return 1000


def _cfg(**over):
    ov = ["star.n_iters=3", "star.start_steps=2", "star.batch_size=2", "sampling.batch_size=4", *[f"{k}={v}" for k, v in over.items()]]
    return load_config(Config, "mini", ov, recipes_dir=RECIPES)


@pytest.fixture(scope="module")
def data():
    return arithmetic_records(24, 1, (1, 2, 3)), arithmetic_records(10, 2, (1, 2, 3))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs(tmp_path, data, name):
    train, test = data
    cfg = _cfg()
    ops = FakeOps(train + test)
    s = run_star(method_spec(name), cfg, train, test, ops, tmp_path, seed=0, progress=False)
    h = s["history"]
    assert [x["t"] for x in h] == [0, 1, 2, 3]
    assert all(b["train_flops"] >= a["train_flops"] for a, b in zip(h, h[1:]))
    assert sum(s["counts"]) == sum(x["n_trained_examples"] for x in h[1:])
    assert s["n_params"] == 1000 and h[-1]["total_flops"] == h[-1]["train_flops"] + h[-1]["inference_flops"]
    spec = method_spec(name)
    for x in h[1:]:
        if spec.budget == "beta" and x["n_correct"] > 0:
            assert x["steps"] == steps_schedule(x["t"], 2, 1.2)
        if spec.sampler == "adastar":
            assert x["num_updated"] == x["expected_num_updated"]
        else:
            assert x["m"] == len(train)


def test_adastar_samples_less_than_star_acc(tmp_path, data):
    train, test = data
    cfg = _cfg()
    a = run_star(method_spec("adastar"), cfg, train, test, FakeOps(train + test), tmp_path / "a", 0, progress=False)
    b = run_star(method_spec("star_acc"), cfg, train, test, FakeOps(train + test), tmp_path / "b", 0, progress=False)
    assert sum(x["attempts"] for x in a["history"][1:]) < sum(x["attempts"] for x in b["history"][1:])
    assert a["history"][-1]["inference_flops"] < b["history"][-1]["inference_flops"]


def test_reset_vs_accumulate(tmp_path, data):
    train, test = data
    cfg = _cfg()
    ops = FakeOps(train + test)
    run_star(method_spec("star"), cfg, train, test, ops, tmp_path / "r", 0, progress=False)
    assert ops.loads == 1 + 3  # initial + one fresh base per iteration (reset)
    m = ops.load(tmp_path / "r" / "model_t3")
    assert m["skill"] == pytest.approx(0.05 * steps_schedule(3, 2, 1.2))
    ops = FakeOps(train + test)
    run_star(method_spec("star_acc"), cfg, train, test, ops, tmp_path / "c", 0, progress=False)
    assert ops.loads == 1
    assert ops.load(tmp_path / "c" / "model_t3")["skill"] == pytest.approx(0.05 * sum(steps_schedule(t, 2, 1.2) for t in (1, 2, 3)))


@pytest.mark.parametrize("name", ["adastar", "star_acc"])
def test_resume_inside_a_method_matches_straight_run(tmp_path, data, name):
    train, test = data
    straight = run_star(method_spec(name), _cfg(), train, test, FakeOps(train + test), tmp_path / "s", 0, progress=False)
    run_star(method_spec(name), _cfg(**{"star.n_iters": 2}), train, test, FakeOps(train + test), tmp_path / "k", 0,
             progress=False)  # "killed" after iteration 2
    resumed = run_star(method_spec(name), _cfg(), train, test, FakeOps(train + test), tmp_path / "k", 0, progress=False)
    strip = lambda h: [{k: v for k, v in x.items() if k != "time"} for x in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(straight["history"])
    assert resumed["counts"] == straight["counts"]


def test_false_positive_rationale_check():
    from mlrepro_adastar.loop import false_positive, rationale_of

    rec = {"solution": "3 + 4 = 7\n7 * 2 = 14\n#### 14"}
    assert false_positive(rec, " 3 + 4 = 7\n7 * 2 = 14\n#### 14") is False
    assert false_positive(rec, " 3 + 5 = 7\n7 * 2 = 14\n#### 14") is True  # right answer, wrong step
    assert false_positive(rec, " 3 + 4 = 7\n7 + 7 = 14\n#### 14") is True  # valid arithmetic, wrong operation
    rec2 = {"solution": "3 + 9 = 12\n12 + 2 = 14\n#### 14"}
    assert false_positive(rec2, " 3 + 2 = 5\n5 + 9 = 14\n#### 14") is False  # reordered additions are valid
    assert false_positive({"answer": "1"}, "#### 1") is None
    assert rationale_of(" a\n#### 2\nQ: next") == "a\n#### 2"
