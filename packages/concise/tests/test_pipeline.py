import json
from pathlib import Path

import pytest
from mlrepro_concise.cli import main
from mlrepro_concise.config import Config

from mlrepro.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_recipes_load_and_validate():
    for name in ("paper", "mini", "smoke"):
        cfg = load_config(Config, name, recipes_dir=RECIPES)
        assert cfg.sampling.temperature == 0.7 and cfg.sampling.top_k == 40 and cfg.sampling.top_p == 0.95
    with pytest.raises(ConfigError, match="method.methods"):
        load_config(Config, "mini", ["method.methods=[magic]"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="bon_n"):
        load_config(Config, "mini", ["method.bon_n=[64]"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="fs_bon_faithful"):
        load_config(Config, "mini", ["data.dataset=gsm8k"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="n_zero_shot"):
        load_config(Config, "mini", ["sampling.n_zero_shot=many"], recipes_dir=RECIPES)


def test_paper_recipe_dry_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(tmp_path / "dry")]) == 0
    info = json.loads((tmp_path / "dry" / "dry_run.json").read_text())
    assert info["dry_run"] and info["prompts"] == 8 and set(info["pools"]) == {"naive_bon", "fs", "fs_bon", "fs_bon_budget"}
    assert info["sft_kwargs"]["learning_rate"] == 1e-5


def test_smoke_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "run"
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert {c["id"] for c in res["claims"]} >= {"bon_reduction_grows_with_n"}
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    assert res["metrics"]["base"]["n"] == 8 and "unparseable" in res["metrics"]["base"]
    # the precondition check on the base model: zero-shot greedy equals the base evaluation; one row per style
    bsa = res["metrics"]["base_style_accuracy"]
    assert set(bsa) == {"zero_shot", "few_shot_terse", "few_shot_medium", "few_shot_verbose"}
    assert bsa["zero_shot"] == res["metrics"]["base"]["accuracy"]
    assert isinstance(res["metrics"]["premise_met"], bool)
    assert (out / "plots" / "accuracy_vs_tokens.png").exists()
    assert (out / "stages" / "sample_s0" / "candidates.jsonl").exists()
    # resume after a "kill" during the last stages: only the stages without DONE rerun (the base is not re-trained)
    killed = [out / "stages" / n for n in ("sft_fs_bon_budget_s0", "eval_fs_bon_budget_s0")]
    for k in killed:
        (k / "DONE").unlink()
    mtimes = {p: p.stat().st_mtime for p in (out / "stages").rglob("DONE")}
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out)]) == 0
    assert {p: p.stat().st_mtime for p in (out / "stages").rglob("DONE") if p.parent not in killed} == mtimes
    assert all((k / "DONE").exists() for k in killed)


def test_grading_helpers_and_faithful_fraction():
    from mlrepro_concise import data as D
    from mlrepro_concise.evaluate import shared_grade
    from mlrepro_concise.method import Candidate
    from mlrepro_concise.reproduce import _graded_answer, faithful_fraction

    # the graded verdict of the sampling stage decides Candidate.correct (MATH verdicts need not be string equality)
    assert _graded_answer({"correct": True, "answer": "0.5", "label": "\\frac{1}{2}"}) == "\\frac{1}{2}"
    assert _graded_answer({"correct": False, "answer": "3", "label": "4"}) == "3"
    assert _graded_answer({"correct": False, "answer": "4", "label": "4"}) is None
    # the shared grader agrees with the paper parser on the miniature's answer format
    assert shared_grade("1 + 2 = 3\nThe answer is 3.", {"answer": "3"}, "synthetic")
    assert not shared_grade("The answer is 4.", {"answer": "3"}, "synthetic")
    # faithful = the path's equations are exactly the true steps; a lucky final answer does not count
    recs = D.synthetic_records(3, 0, [1, 2], "terse", world={"max_value": 9, "max_operand": 3, "kinds": ["add", "sub"]})
    good = [Candidate(r["id"], r["solution"], r["answer"], 5, r["answer"]) for r in recs]
    assert faithful_fraction(good, recs) == 1.0
    p = recs[0]["_problem"]
    lucky = Candidate(recs[0]["id"], f"{p.start} + 0 = {p.start}\nThe answer is {p.answer}.", str(p.answer), 3, str(p.answer))
    assert faithful_fraction([lucky, *good[1:]], recs) == 2 / 3
    assert faithful_fraction([], recs) is None


def test_premise_check_and_style_classifier():
    from mlrepro_concise import data as D
    from mlrepro_concise.method import PREMISE_MAX_GAP, premise_gap, premise_met

    assert PREMISE_MAX_GAP == 5.0
    assert premise_gap(91.0, 96.0) == -5.0 and premise_met(91.0, 96.0) and not premise_met(90.9, 96.0)
    assert premise_met(99.0, 96.0) and not premise_met(35.3, 96.0)
    w = {"max_value": 9, "max_operand": 3, "kinds": ["add", "sub"]}
    for st in D.STYLES:
        assert {D.classify_style(r["solution"]) for r in D.synthetic_records(6, 3, [1, 2, 3], st, world=w)} == {st}
    assert D.classify_style("Ben has") == "other" and D.classify_style("The answer is 3.") == "other"
    assert D.classify_style("Ben gives away 1 books: 5 - 1 = 4.\n4 - 2\nThe answer is 2.") == "other"
