"""Recipes (load, validation, bad keys), the smoke recipe end to end, resume after a kill, and the paper dry run."""

import json
from pathlib import Path

import pytest
from mlrepro_flexjudge import reproduce as R
from mlrepro_flexjudge.cli import main
from mlrepro_flexjudge.config import Config

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of

RECIPES = recipes_dir_of("mlrepro_flexjudge")


@pytest.mark.parametrize("name", ["paper", "paper_omni", "mini", "smoke"])
def test_recipes_load(name):
    cfg = load_config(Config, name, [], recipes_dir=RECIPES)
    assert cfg.curate.n_pair == 500 or name == "smoke"
    if name == "paper_omni":
        assert cfg.model.arch == "qwen2.5-omni" and cfg.trainer["learning_rate"] == 7e-6 and "voxsim" in cfg.eval.sets
    if name == "paper":
        assert cfg.model.name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct" and cfg.trainer["learning_rate"] == 1e-5
        assert cfg.train.launcher == "accelerate" and cfg.seed_data.teacher == "nuojohnchen/JudgeLRM-7B"
        assert {e["metric"] for e in cfg.expected} >= {"trained.mllm_judge_score.pearson"}


@pytest.mark.parametrize("override,key", [
    (["curate.n_pairs=3"], "n_pairs"), (["model.arch=gpt"], "model.arch"), (["eval.sets=[bogus]"], "eval.sets"),
    (["eval.aggregation=mean"], "eval.aggregation"), (["curate.rescale_fraction=2"], "rescale_fraction"),
    (["train.launcher=slurm"], "train.launcher"), (["eval.runs=zero"], "runs"),
    (["eval.sets=[nisqa]"], "eval.paths"),
])
def test_bad_configs_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        load_config(Config, "mini", override, recipes_dir=RECIPES)


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "seed_data:" in out and "teacher: rule" in out


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"]) == 0
    return out


def test_smoke_end_to_end(smoke_run):
    res = json.loads((smoke_run / "results.json").read_text())
    ids = {c["id"] for c in res["claims"]}
    assert {"sft_raises_pair_accuracy", "sft_raises_score_correlation", "parse_failures_fall"} <= ids
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    m = res["metrics"]
    for name in ("base", "trained"):
        for s in ("text_pair", "text_score", "text_batch", "image_pair", "image_score"):
            assert 0.0 <= m[name][s]["parse_fail_rate"] <= 1.0
    assert m["curation"]["pair"] == 40 and m["train"]["steps"] == 4
    assert (smoke_run / "samples_trained.jsonl").exists() and list((smoke_run / "plots").glob("*.png"))
    assert res["seeds"] == [0] and res["wall_time_s"] > 0


def test_resume_skips_done_stages(smoke_run, monkeypatch):
    # simulate a kill after training: the later stages lose their DONE markers
    for st in ("eval_trained", "tts"):
        (smoke_run / "stages" / st / "DONE").unlink()

    def boom(*a, **k):
        raise AssertionError("finished stage rerun")

    monkeypatch.setattr(R, "stage_seed_data", boom)
    monkeypatch.setattr(R, "stage_curate", boom)
    monkeypatch.setattr(R, "stage_train", boom)
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(smoke_run), "--no-export"]) == 0
    assert (smoke_run / "stages" / "eval_trained" / "DONE").exists()
    assert json.loads((smoke_run / "results.json").read_text())["claims"]


def test_paper_dry_run(tmp_path, capsys):
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "accelerate" in out and "accelerate_zero3_offload.yaml" in out and '"formats_run": 5' in out
    assert Path(tmp_path / "dry" / "config.yaml").exists()


def test_train_and_eval_subcommands(tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--recipe", "smoke", "--output-dir", str(out), "--no-export"]) == 0
    assert (out / "stages" / "train" / "model" / "model.safetensors").exists()
    ev = tmp_path / "e"
    assert main(["eval", "--recipe", "smoke", "--output-dir", str(ev), "--no-export", "eval.sets=[text_pair]",
                 "tts.enabled=false"]) == 0
    res = json.loads((ev / "results.json").read_text())
    assert "text_pair" in res["metrics"]["trained"]
