"""Recipes, CLI, paper dry run, smoke end to end and kill-and-resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlrepro_distillm2 import reproduce as R
from mlrepro_distillm2.cli import main
from mlrepro_distillm2.config import Config

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of

RECIPES = recipes_dir_of("mlrepro_distillm2")


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load(recipe):
    cfg = load_config(Config, recipe, recipes_dir=RECIPES)
    assert cfg.method.loss == "distillm_v2"
    if recipe == "paper":
        assert cfg.experiment == "llm" and cfg.model.teacher == "Qwen/Qwen2-7B-Instruct"
        assert cfg.peft.use_dora and cfg.train.accelerate_config == "zero3" and cfg.sampling.backend == "vllm"
        assert {e["metric"] for e in cfg.expected} >= {"eval.alpaca_eval.win_rate_pct"}
    else:
        assert cfg.experiment == "synthetic"


def test_bad_recipes_fail(tmp_path, capsys):
    with pytest.raises(ConfigError, match="methd"):
        load_config(Config, {"methd": {"loss": "kd"}})
    with pytest.raises(ConfigError, match="method.loss"):
        load_config(Config, "smoke", ["method.loss=kdd"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="train.epoch"):
        load_config(Config, "paper", ["train.epoch=4"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError):
        load_config(Config, "smoke", ["synthetic.seeds=oops"], recipes_dir=RECIPES)
    bad = tmp_path / "bad.yaml"
    bad.write_text("inherit: smoke\nsynthetic:\n  runs:\n    - {name: a, loss: nope}\n")
    assert main(["print-config", "--recipe", str(bad)]) == 2
    assert "synthetic.runs.0.loss" in capsys.readouterr().err


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "paper"]) == 0
    out = capsys.readouterr().out
    assert "distillm_v2" in out and "UCLA-AGI/SPIN_iter1" in out


def test_paper_dry_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "dry"
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    m = res["metrics"]
    assert m["dry_run"] and m["pairs"] == 8 and m["peft"] == "PeftModelForCausalLM"
    assert "zero3.yaml" in " ".join(m["launch_command"]) and m["eval_records"] == 8
    assert m["trainer_loss"] == m["trainer_loss"]  # finite


def test_smoke_end_to_end_and_resume(tmp_path, monkeypatch):
    """Smoke recipe end to end; then a crash in the second distillation run and a resume that skips every DONE
    stage (the first run is not recomputed)."""
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "smoke"
    real = R._distill_synthetic
    calls = []

    def flaky(cfg, run, spec, seed, d, *a, **k):
        calls.append(spec.name)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        return real(cfg, run, spec, seed, d, *a, **k)

    monkeypatch.setattr(R, "_distill_synthetic", flaky)
    with pytest.raises(KeyboardInterrupt):
        main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"])
    stages = out / "stages"
    done_before = {p.parent.name: p.stat().st_mtime for p in stages.glob("*/DONE")}
    assert "teacher" in done_before and "distill_distillm_v2_s0" in done_before
    assert "distill_kd_s0" not in done_before
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out), "--no-export"]) == 0
    assert calls == ["distillm_v2", "kd", "kd", "dpkd"]  # distillm_v2 not rerun
    for name, t in done_before.items():
        assert (stages / name / "DONE").stat().st_mtime == t, name
    res = json.loads((out / "results.json").read_text())
    assert res["seeds"] == [0] and "wall_time_s" in res
    ids = {c["id"] for c in res["claims"]}
    assert ids == {"kl_distillm2_lowest", "contrastive_effect", "dpkd_reward_hacking"}
    for c in res["claims"]:
        assert isinstance(c["holds"], bool) and c["measured"] is not None
    runs = res["metrics"]["runs"]
    assert set(runs) == {"distillm_v2", "kd", "dpkd"}
    assert runs["kd"]["curve_kl"]["step"][0] == 0 and len(runs["kd"]["curve_kl"]["step"]) > 3
    # the on-policy KL (fresh student samples at each epoch start and the end) and the mistake share
    assert runs["kd"]["curve_kl_student_samples"]["x"] == [0.0, 1.0, 2.0]
    assert 0 <= runs["kd"]["final_mistake_frac"]["mean"] <= 1
    kl_claim = next(c for c in res["claims"] if c["id"] == "kl_distillm2_lowest")
    assert kl_claim["measured"]["kl_on"] == "student_samples"
    assert kl_claim["measured"]["kd"] == round(runs["kd"]["final_kl_student_samples"]["mean"], 4)
    for png in ("kl_vs_step.png", "likelihood_curves.png", "final_kl.png", "own_sample_errors.png"):
        assert (Path(out) / "plots" / png).stat().st_size > 1000


def test_llm_pipeline_on_tiny_models(tmp_path, monkeypatch, tiny_lm_path):
    """The paper recipe's code path end to end on CPU: prompts from a file, hf sampling of tiny teacher/student,
    2 epochs of Algorithm 1 in-process with DoRA (merged between epochs), judging through the openai backend
    against a loopback server, claims against the recipe's expected block."""
    from mlrepro.runs import RunDir
    from mlrepro.testing import openai_stub, tiny_lm

    teacher = tiny_lm(arch="qwen2", hidden=32, seed=1)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {w}."}) + "\n"
                               for w in ("cats", "rain", "maps", "tea", "boats", "bread")))
    evalset = tmp_path / "alpaca.jsonl"
    evalset.write_text("".join(json.dumps({"instruction": f"Name {i} colours.", "output": "red"}) + "\n"
                               for i in range(3)))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    overrides = [f"model.student={tiny_lm_path}", f"model.teacher={teacher}", "model.attn_implementation=null",
                 "model.dtype=float32", f"data.prompts={prompts}", "data.num_prompts=6", "data.max_length=96",
                 "data.max_prompt_length=48", "sampling.backend=hf", "sampling.max_new_tokens=6",
                 "sampling.engine.dtype=float32", "train.num_epochs=2", "train.launcher=none", "peft.r=2", "peft.lora_alpha=4",
                 "train.trainer.bf16=false", "train.trainer.gradient_checkpointing=false", "train.trainer.use_cpu=true",
                 "train.trainer.per_device_train_batch_size=2", "train.trainer.gradient_accumulation_steps=1",
                 "train.trainer.disable_tqdm=true", "eval.student_max_new_tokens=6",
                 f"eval.sets=[{{kind: alpaca_eval, source: {evalset}, judge_model: judge}}]"]
    cfg = load_config(Config, "paper", overrides, recipes_dir=RECIPES)
    run = RunDir.create("distillm2", "paper", tmp_path / "runs", tmp_path / "run")
    with openai_stub(lambda body: "A is better. [[A]]") as url:  # the judge always answers [[A]]
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        res = R.reproduce_llm(cfg, run, None)
    stages = tmp_path / "run" / "stages"
    for name in ("prompts", "epoch1_generate", "epoch1_train", "epoch2_generate", "epoch2_train", "eval"):
        assert (stages / name / "DONE").exists(), name
    assert (stages / "epoch2_train" / "merged" / "config.json").exists()
    assert json.loads((stages / "epoch1_train" / "alpha_reference.json").read_text())["chosen"] is not None
    wr = res["metrics"]["eval"]["alpaca_eval"]
    assert wr["win_rate"] == pytest.approx(0.5) and wr["n"] == 3  # an always-[[A]] judge: 1 then 0
    assert [c["id"] for c in res["claims"]] == ["win_rate_alpaca_eval"] and res["claims"][0]["holds"] is False
